using Akka.Actor;
using Akka.Coordination;
using Akka.Event;
using IommuActors.Core.Persistence;

namespace IommuActors.Host.Membership;

/// <summary>
/// An Akka.Coordination lease kept in the store's iommu_lease table (<see cref="LeaseTable"/>):
/// what the split-brain resolver's lease-majority strategy takes before it downs the other side, so
/// that of two halves of a cluster (or the two nodes of a 2-node cluster) exactly one survives,
/// whichever died. Held until released or until <c>heartbeat-timeout</c> passes with no renewal
/// (renewed every <c>heartbeat-interval</c> while held); a holder on this machine whose process
/// ended holds nothing. Configured under iommu.store-lease (hocon/cluster.conf), its store set by the host.
/// </summary>
public sealed class StoreLease : Lease
{
    private readonly LeaseTable _table;
    private readonly LeaseClaimant _claimant;
    private readonly TimeSpan _ttl, _heartbeat;
    private readonly ILoggingAdapter _log;
    private readonly object _gate = new();
    private Timer? _renewal;
    private Action<Exception>? _lost;
    private long _heldUntil;

    public StoreLease(LeaseSettings settings, ExtendedActorSystem system) : base(settings)
    {
        var config = settings.LeaseConfig;
        var store = new StoreOptions(StoreOptions.ParseKind(config.GetString("store")), config.GetString("connection-string"));
        _table = new LeaseTable(store);
        _claimant = LeaseClaimant.ThisProcess(settings.OwnerName);
        _ttl = settings.TimeoutSettings.HeartbeatTimeout;
        _heartbeat = settings.TimeoutSettings.HeartbeatInterval;
        _log = Logging.GetLogger(system, typeof(StoreLease));
    }

    public override Task<bool> Acquire() => Acquire(null!);

    public override Task<bool> Acquire(Action<Exception> leaseLostCallback) => Task.Run(() =>
    {
        if (!TryTake()) return false;
        lock (_gate)
        {
            _lost = leaseLostCallback;
            _renewal ??= new Timer(_ => Renew(), null, _heartbeat, _heartbeat);
        }
        return true;
    });

    public override Task<bool> Release() => Task.Run(() =>
    {
        StopRenewing();
        var row = _table.Read(Settings.LeaseName);
        if (row is not null && LeaseRules.Standing(row, _claimant, Now, LeaseRules.ProcessAlive) == LeaseStanding.Ours)
            _table.Delete(row);
        return true;
    });

    public override bool CheckLease() => Interlocked.Read(ref _heldUntil) > Now;

    private static long Now => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

    /// <summary>Takes or renews the row unless someone else holds it; whether this process holds it now.</summary>
    private bool TryTake()
    {
        for (var attempt = 0; attempt < 3; attempt++)
        {
            var now = Now;
            var row = _table.Read(Settings.LeaseName);
            if (LeaseRules.Standing(row, _claimant, now, LeaseRules.ProcessAlive) == LeaseStanding.HeldElsewhere) return false;
            var next = _claimant.Row(Settings.LeaseName, now + (long)_ttl.TotalMilliseconds);
            if (_table.Replace(row, next))
            {
                Interlocked.Exchange(ref _heldUntil, next.ExpiresAt);
                return true;
            }
        }
        return false;
    }

    private void Renew()
    {
        try
        {
            if (TryTake()) return;
            Interlocked.Exchange(ref _heldUntil, 0);
            Action<Exception>? lost;
            lock (_gate) lost = _lost;
            StopRenewing();
            lost?.Invoke(new LeaseException($"lease {Settings.LeaseName} is held by another owner now"));
        }
        catch (Exception e)
        {
            _log.Warning("Could not renew lease {0}: {1}", Settings.LeaseName, e.Message);
        }
    }

    private void StopRenewing()
    {
        lock (_gate)
        {
            _renewal?.Dispose();
            _renewal = null;
            _lost = null;
        }
    }
}
