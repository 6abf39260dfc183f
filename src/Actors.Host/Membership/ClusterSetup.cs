using System.Collections.Immutable;
using Akka.Actor;
using Akka.Cluster;
using Akka.Configuration;
using IommuActors.Core.Persistence;
using Microsoft.Extensions.Logging;

namespace IommuActors.Host.Membership;

/// <summary>How a node takes its place: the address it listens on, whom it joins, and the store's cluster lease.</summary>
public static class ClusterSetup
{
    /// <summary>
    /// Over hocon/cluster.conf: the remoting address of the node (Iommu:Hostname, Iommu:Port) and the
    /// split-brain resolver's lease-majority with its lease in the store; keep-oldest (the file's) on the in-memory store.
    /// </summary>
    public static Config ConfigFor(HostSettings settings) => ConfigurationFactory.ParseString(
        $"akka.remote.dot-netty.tcp.hostname = {Quote(settings.Membership.Hostname)}\n" +
        $"akka.remote.dot-netty.tcp.port = {settings.Membership.Port}\n" +
        (settings.Store.Kind == StoreKind.InMemory
            ? ""
            : "akka.cluster.split-brain-resolver.active-strategy = lease-majority\n" +
              $"iommu.store-lease.store = {settings.Store.Kind.ToString().ToLowerInvariant()}\n" +
              $"iommu.store-lease.connection-string = {Quote(settings.Store.ConnectionString)}\n"));

    private static string Quote(string value) => "\"" + value.Replace("\\", "\\\\").Replace("\"", "\\\"") + "\"";

    /// <summary>
    /// Joins the cluster: a node that may found (no seeds, or the first of them) takes the store's
    /// cluster lease first, and when another live cluster holds it, joins its other seeds instead or,
    /// with none, refuses to start (a <see cref="SettingsException"/>: one line, exit code 2). Then the
    /// lease keeper renews the lease while this node is the oldest; <paramref name="lost"/> is called if it is lost.
    /// </summary>
    public static void Join(ActorSystem system, HostSettings settings, Config config, ILogger log, Action<string> lost)
    {
        var cluster = Cluster.Get(system);
        var membership = settings.Membership;
        var lease = LeaseOf(settings.Store, config);
        var self = cluster.SelfAddress;
        ImmutableArray<Address> seeds = membership.Alone ? [self] : [.. membership.Seeds.Select(s => s == membership.Self ? self : s)];
        if (membership.MayFound && lease is not null)
        {
            var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
            switch (lease.TryFound(LeaseClaimant.ThisProcess(ClusterLeaseKeeper.HolderOf(cluster.SelfUniqueAddress)), now, ClusterLeaseKeeper.EndpointOf(self),
                membership.Others.Select(ClusterLeaseKeeper.EndpointOf)))
            {
                case ClusterLease.Founding.Refused { Row: var row } when membership.Others.IsEmpty:
                    throw new SettingsException(ClusterLease.RefusalLine(row, now));
                case ClusterLease.Founding.Refused { Row: var row }:
                    log.LogInformation("The store's cluster lease is held by {Holder}: this node joins its seeds and founds no cluster", row.Holder);
                    seeds = membership.Others;
                    break;
            }
        }
        if (seeds is [var only] && only == self)
            cluster.Join(self);
        else
        {
            log.LogInformation("Joining the cluster through {Seeds}", string.Join(", ", seeds));
            cluster.JoinSeedNodes(seeds);
        }
        if (lease is null) return;
        system.ActorOf(ClusterLeaseKeeper.Props(lease, config.GetTimeSpan("iommu.cluster-lease.renew-every"), lost), ClusterLeaseKeeper.Name);
        CoordinatedShutdown.Get(system).AddTask(CoordinatedShutdown.PhaseBeforeActorSystemTerminate, "give-back-cluster-lease",
            () => Task.Run(() => GiveBack(cluster, lease)).ContinueWith(_ => Akka.Done.Instance));
    }

    /// <summary>The last node of a cluster stopping cleanly gives the lease back: the next start on this store, from any machine, need not wait it out.</summary>
    private static void GiveBack(Cluster cluster, ClusterLease lease)
    {
        if (cluster.State.Members.Any(m => m.Status is MemberStatus.Up or MemberStatus.WeaklyUp && !m.UniqueAddress.Equals(cluster.SelfUniqueAddress)))
            return;
        lease.GiveBack(LeaseClaimant.ThisProcess(ClusterLeaseKeeper.HolderOf(cluster.SelfUniqueAddress)));
    }

    /// <summary>The store's cluster lease; none on the in-memory store, which no other process shares.</summary>
    public static ClusterLease? LeaseOf(StoreOptions store, Config config) => store.Kind == StoreKind.InMemory
        ? null
        : new ClusterLease(new LeaseTable(store), config.GetTimeSpan("iommu.cluster-lease.time-to-live"));
}
