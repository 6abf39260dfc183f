using Akka.Actor;
using Akka.TestKit;
using IommuActors.Core.Persistence;
using IommuActors.Domains.Ioas;
using IommuActors.TestSupport;
using static IommuActors.Domains.Ioas.IoasProtocol;

namespace IommuActors.Domains.Tests.Ioas;

/// <summary>Maps many ranges with unmaps and copies mixed in, kills the system, and compares the recovered state exactly.</summary>
public static class IoasRecovery
{
    private const ulong Page = 4096;
    private const int Window = 500;

    private static int CountFailures(TestProbe replies, int count)
    {
        var failures = 0;
        for (var i = 0; i < count; i++)
        {
            failures += replies.ReceiveOne(TimeSpan.FromSeconds(30)) switch
            {
                MapResult r => r.Errno == 0 ? 0 : 1,
                UnmapResult r => r.Errno == 0 && r.Unmapped == Page ? 0 : 1,
                CopyResult r => r.Errno == 0 ? 0 : 1,
                _ => 1,
            };
        }
        return failures;
    }

    public static async Task MapsUnmapsAndCopiesSurviveARestart(StoreOptions store, int operations)
    {
        var config = SpecConfig.With(store);
        (Mappings Source, Mappings Destination) before;
        var system = ActorSystem.Create("ioas-recovery", config);
        try
        {
            var snapshotEvery = system.Settings.Config.GetInt("iommu.snapshot-every");
            var source = system.ActorOf(IoasActor.Props("src", 1UL << 40, snapshotEvery), "src");
            var destination = system.ActorOf(IoasActor.Props("dst", 1UL << 40, snapshotEvery), "dst");
            var replies = new TestProbe(system, new Akka.TestKit.Xunit2.XunitAssertions());
            var failures = 0;
            for (var i = 0; i < operations; i++)
            {
                var iova = (ulong)i * 2 * Page;
                if (i % 10 == 9)
                    source.Tell(new UnmapRange("src", iova - 2 * Page, Page), replies.Ref);
                else if (i % 10 == 5)
                    destination.Tell(new CopyRange("dst", source, iova - 2 * Page, Page, Protection.Read, true, iova), replies.Ref);
                else
                    source.Tell(new MapRange("src", 0x10000000000 + iova, Page, Protection.Read | Protection.Write, true, iova), replies.Ref);
                // A bounded window of commands in flight keeps the journal within its call timeout.
                if (i % Window == Window - 1 || i == operations - 1)
                    failures += CountFailures(replies, i % Window + 1);
            }
            Assert.Equal(0, failures);
            before = (await source.Ask<Mappings>(new GetMappings("src")), await destination.Ask<Mappings>(new GetMappings("dst")));
            // Every tenth operation unmaps one map and another copies one, out of a count that is a multiple of ten.
            Assert.Equal(operations - 3 * (operations / 10), before.Source.Areas.Length);
            Assert.Equal(operations / 10, before.Destination.Areas.Length);
        }
        finally
        {
            await system.Terminate();
        }

        var revived = ActorSystem.Create("ioas-recovery", config);
        try
        {
            var snapshotEvery = revived.Settings.Config.GetInt("iommu.snapshot-every");
            var source = revived.ActorOf(IoasActor.Props("src", 1UL << 40, snapshotEvery), "src");
            var destination = revived.ActorOf(IoasActor.Props("dst", 1UL << 40, snapshotEvery), "dst");
            var after = (await source.Ask<Mappings>(new GetMappings("src"), TimeSpan.FromSeconds(60)),
                await destination.Ask<Mappings>(new GetMappings("dst"), TimeSpan.FromSeconds(60)));
            Assert.Equal(before.Source.ChargedPages, after.Item1.ChargedPages);
            Assert.Equal(before.Destination.ChargedPages, after.Item2.ChargedPages);
            Assert.Equal(before.Source.Areas.ToArray(), after.Item1.Areas.ToArray());
            Assert.Equal(before.Destination.Areas.ToArray(), after.Item2.Areas.ToArray());
        }
        finally
        {
            await revived.Terminate();
        }
    }
}

public sealed class IoasSqliteRecoverySpecs
{
    /// <summary>100,000 overran the journal call timeout; 50,000 takes about 25 s on SQLite on a 2-core machine.</summary>
    public const int Operations = 50_000;

    [Fact]
    public Task Mappings_and_accounting_recover_exactly_after_the_system_is_killed_on_SQLite() =>
        IoasRecovery.MapsUnmapsAndCopiesSurviveARestart(SpecConfig.FreshSqliteStore("ioas"), Operations);
}

[Collection(PostgresCollection.Name)]
public sealed class IoasPostgresRecoverySpecs(PostgresFixture fixture)
{
    [Fact]
    public async Task Mappings_and_accounting_recover_exactly_after_the_system_is_killed_on_PostgreSQL() =>
        await IoasRecovery.MapsUnmapsAndCopiesSurviveARestart(await fixture.FreshStoreAsync("ioas"), IoasSqliteRecoverySpecs.Operations);
}
