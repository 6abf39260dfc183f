namespace IommuActors.Host.Membership;

/// <summary>
/// Who holds a named lease of the store, until when, and the process that wrote it: one row of the
/// store's iommu_lease table (<see cref="LeaseTable"/>).
/// </summary>
/// <param name="Holder">The holder's name: a node's address with its incarnation (akka.tcp://iommu@host:port#uid).</param>
/// <param name="Machine">The machine the holder runs on (its host name).</param>
/// <param name="Pid">The holder's process id on that machine.</param>
/// <param name="ExpiresAt">Unix milliseconds after which the lease is free unless renewed.</param>
/// <param name="Members">
/// The other nodes of the holder's cluster as host:port, comma-separated (the cluster lease; empty for
/// others): while one of them listens, the holder's cluster lives on even if the holder's process ended.
/// </param>
public sealed record LeaseRow(string Name, string Holder, string Machine, int Pid, long ExpiresAt, string Members = "")
{
    public IEnumerable<string> MemberEndpoints => Members.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
}

/// <summary>The claim a process makes: its name for the lease, its machine and process id.</summary>
public sealed record LeaseClaimant(string Holder, string Machine, int Pid)
{
    /// <summary>This process under the given holder name.</summary>
    public static LeaseClaimant ThisProcess(string holder) => new(holder, Environment.MachineName, Environment.ProcessId);

    public LeaseRow Row(string name, long expiresAt, string members = "") => new(name, Holder, Machine, Pid, expiresAt, members);
}

/// <summary>What a claimant may do with a lease row as it stands.</summary>
public enum LeaseStanding
{
    /// <summary>No row yet: the first to insert one holds it.</summary>
    Free,

    /// <summary>The claimant holds it already: it may renew.</summary>
    Ours,

    /// <summary>
    /// Its holder is gone (the lease ran out, or its process on this machine has ended and none of the
    /// other nodes of its cluster listens): anyone may take it over.
    /// </summary>
    Abandoned,

    /// <summary>Someone else holds it and may still be alive.</summary>
    HeldElsewhere,
}

/// <summary>
/// The one rule of every lease of the store: a lease is its holder's until it runs out, except
/// that a holder on this machine whose process has ended holds nothing (a node restarted after
/// kill -9 need not wait out its own lease). Clocks are the machines' (UTC milliseconds): nodes on
/// several machines must keep them within a small part of the lease's time to live.
/// </summary>
public static class LeaseRules
{
    /// <param name="processAlive">Whether a process of this machine runs.</param>
    /// <param name="listens">Whether a node listens at host:port (never asked of the claimant's own endpoint, <paramref name="self"/>).</param>
    /// <param name="seeds">
    /// The other seed nodes the claimant was started with, as host:port: while one of them listens, the
    /// cluster of a gone holder lives on there (it may not have written itself into the row yet), so the
    /// claimant joins it rather than taking the lease.
    /// </param>
    public static LeaseStanding Standing(LeaseRow? row, LeaseClaimant claimant, long now, Func<int, bool> processAlive,
        Func<string, bool>? listens = null, string? self = null, IEnumerable<string>? seeds = null)
    {
        if (row is null) return LeaseStanding.Free;
        if (row.Holder == claimant.Holder && row.Machine == claimant.Machine && row.Pid == claimant.Pid) return LeaseStanding.Ours;
        var expired = row.ExpiresAt <= now;
        var holderEnded = row.Machine == claimant.Machine && row.Pid != claimant.Pid && !processAlive(row.Pid);
        if (!expired && !holderEnded) return LeaseStanding.HeldElsewhere;
        var survivors = (expired ? [] : row.MemberEndpoints).Concat(seeds ?? []).Where(m => m != self).Distinct();
        return survivors.Any(listens ?? (_ => false)) ? LeaseStanding.HeldElsewhere : LeaseStanding.Abandoned;
    }

    /// <summary>Whether something accepts a TCP connection at host:port within a second: a node of a cluster that lives.</summary>
    public static bool Listens(string endpoint)
    {
        var colon = endpoint.LastIndexOf(':');
        if (colon < 0 || !int.TryParse(endpoint[(colon + 1)..], out var port)) return false;
        try
        {
            using var client = new System.Net.Sockets.TcpClient();
            return client.ConnectAsync(endpoint[..colon], port).Wait(TimeSpan.FromSeconds(1)) && client.Connected;
        }
        catch (Exception e) when (e is AggregateException or System.Net.Sockets.SocketException) { return false; }
    }

    /// <summary>Whether a process of this machine runs (kill(pid, 0) as /proc shows it).</summary>
    public static bool ProcessAlive(int pid) => pid > 0 && Directory.Exists($"/proc/{pid}");
}
