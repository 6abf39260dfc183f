namespace IommuActors.Host.FrontDoor;

/// <summary>
/// Keeps the wire rule "replies to requests on the same fd come back in request order" while
/// requests run concurrently: each request takes a slot in its fd's lane when it arrives, and a
/// reply leaves only once every earlier slot of that lane has left.
/// </summary>
public sealed class ReplyLanes<TReply> where TReply : class
{
    private sealed class Slot(int lane, ulong seq)
    {
        public int Lane { get; } = lane;
        public ulong Seq { get; } = seq;
        public TReply? Reply { get; set; }
    }

    private readonly Dictionary<int, Queue<Slot>> _lanes = new();
    private readonly Dictionary<long, Slot> _slots = new();
    private long _nextSlot;

    public int Pending => _slots.Count;

    /// <summary>Takes the next slot of the fd's lane for the request with this seq; returns the slot id.</summary>
    public long Enter(int fd, ulong seq)
    {
        var slot = new Slot(fd, seq);
        if (!_lanes.TryGetValue(fd, out var lane)) _lanes[fd] = lane = new Queue<Slot>();
        lane.Enqueue(slot);
        var id = ++_nextSlot;
        _slots[id] = slot;
        return id;
    }

    /// <summary>Whether this fd's lane has a request in flight.</summary>
    public bool IsBusy(int fd) => _lanes.ContainsKey(fd);

    /// <summary>Fills a slot; returns the replies now free to go, in order (possibly none). Unknown slots are ignored.</summary>
    public IReadOnlyList<(ulong Seq, TReply Reply)> Complete(long slotId, TReply reply)
    {
        if (!_slots.Remove(slotId, out var slot)) return [];
        slot.Reply = reply;
        var lane = _lanes[slot.Lane];
        var ready = new List<(ulong, TReply)>();
        while (lane.Count > 0 && lane.Peek().Reply is { } done)
        {
            ready.Add((lane.Dequeue().Seq, done));
        }
        if (lane.Count == 0) _lanes.Remove(slot.Lane);
        return ready;
    }
}
