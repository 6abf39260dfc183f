namespace IommuActors.Host.Membership;

/// <summary>
/// The store's "cluster" lease: the one cluster that writes the store holds it, its oldest node
/// renewing it (<see cref="ClusterLeaseKeeper"/>). A node founds a cluster only after taking it,
/// so a second cluster never starts on a store a live one uses. Blocking: for start-up and tasks.
/// </summary>
public sealed class ClusterLease(LeaseTable table, TimeSpan timeToLive, Func<int, bool>? processAlive = null, Func<string, bool>? listens = null)
{
    public const string Name = "cluster";

    private readonly Func<int, bool> _processAlive = processAlive ?? LeaseRules.ProcessAlive;
    private readonly Func<string, bool> _listens = listens ?? LeaseRules.Listens;

    public TimeSpan TimeToLive => timeToLive;

    /// <summary>What founding a cluster as <paramref name="claimant"/> came to.</summary>
    public abstract record Founding
    {
        /// <summary>The lease is ours: found the cluster.</summary>
        public sealed record Taken(LeaseRow Row) : Founding;

        /// <summary>Another cluster's node holds it and may be alive: do not found.</summary>
        public sealed record Refused(LeaseRow Row) : Founding;
    }

    /// <summary>
    /// Takes the lease unless a live holder has it; a lost race reads the row again. <paramref name="self"/>:
    /// this node's host:port, which the row may list among a dead holder's members (this node restarted).
    /// <paramref name="seeds"/>: the other seeds this node joins, probed like the row's members.
    /// </summary>
    public Founding TryFound(LeaseClaimant claimant, long now, string? self = null, IEnumerable<string>? seeds = null)
    {
        for (var attempt = 0; ; attempt++)
        {
            var row = table.Read(Name);
            if (LeaseRules.Standing(row, claimant, now, _processAlive, _listens, self, seeds) == LeaseStanding.HeldElsewhere)
                return new Founding.Refused(row!);
            var next = claimant.Row(Name, now + (long)timeToLive.TotalMilliseconds);
            if (table.Replace(row, next)) return new Founding.Taken(next);
            if (attempt == 3) return new Founding.Refused(table.Read(Name) ?? next);
        }
    }

    /// <summary>What one renewal by the cluster's oldest node came to.</summary>
    public abstract record Renewal
    {
        /// <summary>The lease is ours until the row's time.</summary>
        public sealed record Held(LeaseRow Row) : Renewal;

        /// <summary>A node of another cluster holds the lease now: this cluster must stop writing.</summary>
        public sealed record Lost(LeaseRow Row) : Renewal;
    }

    /// <summary>
    /// Renews the lease as <paramref name="claimant"/>, the oldest node of its cluster: it is ours, free,
    /// abandoned, or held by a node our cluster has had as a member (<paramref name="ourMembers"/>, removed ones
    /// too: the oldest node that died, or the one before us), then it is taken over; otherwise it is lost.
    /// <paramref name="others"/>: the other nodes of the cluster now, as host:port, written into the row.
    /// </summary>
    public Renewal Renew(LeaseClaimant claimant, long now, Func<string, bool> ourMembers, IEnumerable<string>? others = null)
    {
        var members = string.Join(',', others ?? []);
        for (var attempt = 0; ; attempt++)
        {
            var row = table.Read(Name);
            // A holder of another cluster is taken to live while its time runs: no probing of its members here.
            if (LeaseRules.Standing(row, claimant, now, _processAlive) == LeaseStanding.HeldElsewhere && !ourMembers(row!.Holder))
                return new Renewal.Lost(row);
            var next = claimant.Row(Name, now + (long)timeToLive.TotalMilliseconds, members);
            if (table.Replace(row, next)) return new Renewal.Held(next);
            if (attempt == 3) return new Renewal.Lost(table.Read(Name) ?? next);
        }
    }

    /// <summary>Removes the row if <paramref name="claimant"/> holds it.</summary>
    public void GiveBack(LeaseClaimant claimant)
    {
        var row = table.Read(Name);
        if (row is not null && LeaseRules.Standing(row, claimant, 0, _processAlive) == LeaseStanding.Ours)
            table.Delete(row);
    }

    /// <summary>The one line a node that may not found says (exit code 2).</summary>
    public static string RefusalLine(LeaseRow row, long now) =>
        $"another live cluster uses this store: its node {row.Holder} (pid {row.Pid} on {row.Machine}) holds the store's cluster lease " +
        $"for {Math.Max(0, row.ExpiresAt - now) / 1000.0:0.#} s more; start this node with Iommu:Seeds naming that cluster's nodes, or stop that cluster first.";
}
