using Akka.Actor;
using Akka.Cluster;
using Akka.Event;

namespace IommuActors.Host.Membership;

/// <summary>
/// Keeps the store's cluster lease while this node is the oldest Up member of its cluster (where
/// the singletons run): renews it every <c>renewEvery</c>, takes it over from a member that left or
/// died, and when a node of another cluster holds it, says so and calls <c>lost</c> (the host stops
/// with exit code 1). The table is read and written on a task; its answer comes back as a message.
/// </summary>
public sealed class ClusterLeaseKeeper : ReceiveActor, IWithTimers
{
    public const string Name = "cluster-lease";

    private sealed record Tick
    {
        public static readonly Tick Instance = new();
    }

    private sealed record Done(ClusterLease.Renewal? Renewal, string? Error);

    private readonly Cluster _cluster = Cluster.Get(Context.System);
    private readonly ILoggingAdapter _log = Context.GetLogger();
    /// <summary>Every member this node has seen in its cluster, removed ones too, by holder name.</summary>
    private readonly HashSet<string> _members = new();
    private bool _busy, _lost;
    private LeaseRow? _held;

    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(ClusterLease lease, TimeSpan renewEvery, Action<string> lost) =>
        Akka.Actor.Props.Create(() => new ClusterLeaseKeeper(lease, renewEvery, lost));

    /// <summary>The lease's name for a node: its address and incarnation.</summary>
    public static string HolderOf(UniqueAddress node) => $"{node.Address}#{node.Uid}";

    /// <summary>host:port of a node, as the lease row lists the members.</summary>
    public static string EndpointOf(Address node) => $"{node.Host}:{node.Port}";

    public ClusterLeaseKeeper(ClusterLease lease, TimeSpan renewEvery, Action<string> lost)
    {
        var self = LeaseClaimant.ThisProcess(HolderOf(_cluster.SelfUniqueAddress));
        _members.Add(self.Holder);
        Receive<ClusterEvent.CurrentClusterState>(s => { foreach (var m in s.Members) _members.Add(HolderOf(m.UniqueAddress)); });
        Receive<ClusterEvent.IMemberEvent>(e => _members.Add(HolderOf(e.Member.UniqueAddress)));
        Receive<Tick>(_ =>
        {
            if (_busy || _lost || !IsOldest()) return;
            _busy = true;
            var members = _members.ToHashSet();
            var others = _cluster.State.Members.Where(m => m.Status is MemberStatus.Up or MemberStatus.WeaklyUp or MemberStatus.Joining
                    && !m.UniqueAddress.Equals(_cluster.SelfUniqueAddress))
                .Select(m => EndpointOf(m.Address)).ToList();
            Task.Run(() => lease.Renew(self, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), members.Contains, others))
                .ContinueWith(t => t.IsCompletedSuccessfully ? new Done(t.Result, null) : new Done(null, t.Exception!.GetBaseException().Message))
                .PipeTo(Self);
        });
        Receive<Done>(d =>
        {
            _busy = false;
            switch (d.Renewal)
            {
                case ClusterLease.Renewal.Held held:
                    if (_held is null || _held.Holder != held.Row.Holder)
                        _log.Info("This node holds the store's cluster lease (renewed every {0}, {1} to live)", renewEvery, lease.TimeToLive);
                    _held = held.Row;
                    break;
                case ClusterLease.Renewal.Lost l:
                    _lost = true;
                    lost($"lost the store's cluster lease to {l.Row.Holder} (pid {l.Row.Pid} on {l.Row.Machine}), a node of another cluster: this node stops writing");
                    break;
                default:
                    _log.Warning("Could not renew the store's cluster lease: {0}", d.Error);
                    break;
            }
        });
        Timers.StartPeriodicTimer(Tick.Instance, Tick.Instance, TimeSpan.Zero, renewEvery);
    }

    private bool IsOldest()
    {
        var self = _cluster.SelfMember;
        if (self.Status != MemberStatus.Up) return false;
        return !_cluster.State.Members.Any(m => m.Status == MemberStatus.Up && m.IsOlderThan(self));
    }

    protected override void PreStart() =>
        _cluster.Subscribe(Self, ClusterEvent.SubscriptionInitialStateMode.InitialStateAsSnapshot, typeof(ClusterEvent.IMemberEvent));

    protected override void PostStop() => _cluster.Unsubscribe(Self);
}
