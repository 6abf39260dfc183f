using IommuActors.Ioasid.Pasid;

namespace IommuActors.Notifier.Bus;

/// <summary>
/// Which published events (rounds) may be delivered now. The rules of the bus, with no actor around them:
/// <list type="number">
/// <item>Rounds of one PASID of one set run one at a time, in publication order;</item>
/// <item>except that UNBINDs of a PASID published while its FREE is the oldest round of that PASID run before
/// the FREE (the driver unbinds its devices inside its FREE handling and waits for that UNBIND), even when a
/// SET_FREED was published between them: nobody sees a FREE before the UNBIND of a bind it saw;</item>
/// <item>a SET_FREED of a set runs once every round of the set published before it has completed, and the
/// rounds of the set published after it wait until it has completed (it stands for the FREE of every PASID
/// the set held).</item>
/// </list>
/// Round numbers are the bus's publication numbers: a later publication has a larger number.
/// </summary>
public sealed class RoundOrder
{
    private sealed class SetRounds
    {
        // Every round of the set not yet completed, and those that are SET_FREED.
        public readonly SortedSet<long> Pending = new();
        public readonly SortedSet<long> SetFrees = new();
        public readonly Dictionary<int, List<(long Round, IoasidEventKind Kind)>> ByPasid = new();
    }

    private readonly Dictionary<string, SetRounds> _sets = new(StringComparer.Ordinal);
    private readonly Dictionary<long, IoasidEvent> _events = new();

    public int Count => _events.Count;

    /// <summary>Records a newly published round; answers it if it may run now (an arrival never lets another round run).</summary>
    public IReadOnlyList<long> Add(long round, IoasidEvent e)
    {
        if (!_sets.TryGetValue(e.SetKey, out var set))
            _sets[e.SetKey] = set = new SetRounds();
        _events[round] = e;
        set.Pending.Add(round);
        if (e.Kind == IoasidEventKind.SetFreed)
        {
            set.SetFrees.Add(round);
            return set.Pending.Min == round ? [round] : [];
        }
        if (!set.ByPasid.TryGetValue(e.Pasid, out var list))
            set.ByPasid[e.Pasid] = list = new List<(long, IoasidEventKind)>();
        list.Add((round, e.Kind));
        return Runnable(set, e.Pasid).Contains(round) ? [round] : [];
    }

    /// <summary>
    /// Forgets a completed round; answers every round that may run now among those it could have held back (some may
    /// be running already: the caller skips those).
    /// </summary>
    public IReadOnlyList<long> Complete(long round)
    {
        if (!_events.Remove(round, out var e))
            return [];
        var set = _sets[e.SetKey];
        set.Pending.Remove(round);
        if (e.Kind == IoasidEventKind.SetFreed)
            set.SetFrees.Remove(round);
        else
        {
            var list = set.ByPasid[e.Pasid];
            list.RemoveAll(r => r.Round == round);
            if (list.Count == 0)
                set.ByPasid.Remove(e.Pasid);
        }
        if (set.Pending.Count == 0)
        {
            _sets.Remove(e.SetKey);
            return [];
        }
        var runnable = new List<long>();
        // The oldest pending round may be a SET_FREED that waited for this one.
        if (set.SetFrees.Count > 0 && set.SetFrees.Min == set.Pending.Min)
            runnable.Add(set.Pending.Min);
        if (e.Kind == IoasidEventKind.SetFreed)
            foreach (var pasid in set.ByPasid.Keys)
                runnable.AddRange(Runnable(set, pasid));
        else if (set.ByPasid.ContainsKey(e.Pasid))
            runnable.AddRange(Runnable(set, e.Pasid));
        return runnable;
    }

    /// <summary>Whether the round may go on now (a FREE whose UNBINDs came in behind it may not, until they are done).</summary>
    public bool MayRun(long round)
    {
        if (!_events.TryGetValue(round, out var e))
            return false;
        var set = _sets[e.SetKey];
        return e.Kind == IoasidEventKind.SetFreed ? set.Pending.Min == round : Runnable(set, e.Pasid).Contains(round);
    }

    /// <summary>Every round that may run now (for checks; the bus uses the answers of Add and Complete).</summary>
    public IReadOnlyList<long> AllRunnable()
    {
        var all = new List<long>();
        foreach (var set in _sets.Values)
        {
            if (set.SetFrees.Count > 0 && set.SetFrees.Min == set.Pending.Min)
                all.Add(set.Pending.Min);
            foreach (var pasid in set.ByPasid.Keys)
                all.AddRange(Runnable(set, pasid));
        }
        all.Sort();
        return all;
    }

    private static List<long> Runnable(SetRounds set, int pasid)
    {
        var list = set.ByPasid[pasid];
        var barrier = set.SetFrees.Count > 0 ? set.SetFrees.Min : long.MaxValue;
        var head = list[0];
        if (head.Round > barrier)
            return [];
        if (head.Kind == IoasidEventKind.Free)
        {
            // Even past a SET_FREED: the FREE it waits for may be waiting for these.
            var unbinds = list.Skip(1).Where(r => r.Kind == IoasidEventKind.Unbind).Select(r => r.Round).ToList();
            if (unbinds.Count > 0)
                return unbinds;
        }
        return [head.Round];
    }

    /// <summary>Delivery order of one round: priority (vCPUs, then IOMMU, then devices), then name.</summary>
    public static IEnumerable<T> InDeliveryOrder<T>(IEnumerable<T> subscribers, Func<T, SubscriberPriority> priority, Func<T, string> name) =>
        subscribers.OrderBy(priority).ThenBy(name, StringComparer.Ordinal);
}
