using IommuActors.Core.Persistence;
using IommuActors.Host.Membership;
using IommuActors.TestSupport;
using Xunit;

namespace IommuActors.Host.Tests.Membership;

/// <summary>The store's cluster lease on SQLite and PostgreSQL alike: one founder, renewals, takeover, loss.</summary>
public abstract class ClusterLeaseSpecs
{
    private static readonly TimeSpan Ttl = TimeSpan.FromSeconds(20);
    private static readonly LeaseClaimant A = new("node-a#1", "box", 1001), B = new("node-b#2", "box", 1002), Stray = new("stray#3", "box", 1003);

    protected abstract Task<StoreOptions> FreshStoreAsync();

    private async Task<ClusterLease> LeaseAsync(Func<int, bool>? alive = null) =>
        new(new LeaseTable(await FreshStoreAsync()), Ttl, alive ?? (_ => true), _ => false);

    [Fact]
    public async Task The_first_founder_takes_the_lease_and_a_second_is_refused_naming_the_holder()
    {
        var lease = await LeaseAsync();

        var taken = Assert.IsType<ClusterLease.Founding.Taken>(lease.TryFound(A, 1_000));
        var refused = Assert.IsType<ClusterLease.Founding.Refused>(lease.TryFound(Stray, 2_000));

        Assert.Equal(A.Row(ClusterLease.Name, 21_000), taken.Row);
        Assert.Equal(taken.Row, refused.Row);
        Assert.StartsWith("another live cluster uses this store: its node node-a#1 (pid 1001 on box) holds the store's cluster lease for 19 s more;",
            ClusterLease.RefusalLine(refused.Row, 2_000));
    }

    [Fact]
    public async Task A_founder_takes_a_lease_whose_holder_process_has_ended_at_once()
    {
        var lease = await LeaseAsync(pid => pid != A.Pid);
        lease.TryFound(A, 1_000);

        Assert.IsType<ClusterLease.Founding.Taken>(lease.TryFound(Stray, 2_000));
    }

    [Fact]
    public async Task A_founder_takes_a_lease_that_ran_out()
    {
        var lease = await LeaseAsync();
        lease.TryFound(A, 1_000);

        Assert.IsType<ClusterLease.Founding.Taken>(lease.TryFound(Stray, 21_000));
    }

    [Fact]
    public async Task The_holder_renews_and_the_next_oldest_member_takes_it_over()
    {
        var lease = await LeaseAsync();
        lease.TryFound(A, 1_000);

        Assert.Equal(A.Row(ClusterLease.Name, 25_000), Assert.IsType<ClusterLease.Renewal.Held>(lease.Renew(A, 5_000, _ => false)).Row);
        Assert.Equal(B.Row(ClusterLease.Name, 26_000),
            Assert.IsType<ClusterLease.Renewal.Held>(lease.Renew(B, 6_000, h => h is "node-a#1" or "node-b#2")).Row);
    }

    [Fact]
    public async Task The_renewal_lists_the_other_nodes_and_a_founder_finds_the_cluster_alive_through_them_when_the_holder_died()
    {
        var table = new LeaseTable(await FreshStoreAsync());
        var lease = new ClusterLease(table, Ttl, pid => pid != A.Pid, e => e == "127.0.0.1:4054");
        lease.TryFound(A, 1_000);
        lease.Renew(A, 2_000, _ => false, ["127.0.0.1:4054"]);

        Assert.Equal("127.0.0.1:4054", table.Read(ClusterLease.Name)!.Members);
        Assert.IsType<ClusterLease.Founding.Refused>(lease.TryFound(Stray, 3_000));
    }

    [Fact]
    public async Task A_cluster_whose_lease_another_cluster_holds_has_lost_it()
    {
        var lease = await LeaseAsync();
        lease.TryFound(A, 1_000);
        lease.TryFound(Stray, 30_000); // A's cluster stalled past the lease's time; a stray founder took it

        var lost = Assert.IsType<ClusterLease.Renewal.Lost>(lease.Renew(A, 31_000, h => h == "node-a#1"));
        Assert.Equal("stray#3", lost.Row.Holder);
    }

    [Fact]
    public async Task Two_founders_racing_on_a_free_lease_take_it_once()
    {
        var lease = await LeaseAsync();

        var results = await Task.WhenAll(Enumerable.Range(0, 8).Select(i =>
            Task.Run(() => lease.TryFound(new LeaseClaimant($"racer-{i}", "box", 2000 + i), 1_000))));

        Assert.Single(results.OfType<ClusterLease.Founding.Taken>());
    }
}

public sealed class SqliteClusterLeaseSpecs : ClusterLeaseSpecs
{
    protected override Task<StoreOptions> FreshStoreAsync()
    {
        var store = SpecConfig.FreshSqliteStore("lease");
        PersistenceSetup.PrepareSqliteFile(store.SqliteFile());
        return Task.FromResult(store);
    }
}

[Collection(PostgresCollection.Name)]
public sealed class PostgresClusterLeaseSpecs(PostgresFixture postgres) : ClusterLeaseSpecs
{
    protected override Task<StoreOptions> FreshStoreAsync() => postgres.FreshStoreAsync("lease");
}
