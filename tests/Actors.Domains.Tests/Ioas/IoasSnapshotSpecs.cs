using Akka.Actor;
using Akka.TestKit.Xunit2;
using IommuActors.Core.Persistence;
using IommuActors.Domains.Ioas;
using IommuActors.TestSupport;
using Microsoft.Data.Sqlite;
using Xunit;
using static IommuActors.Domains.Ioas.IoasProtocol;

namespace IommuActors.Domains.Tests.Ioas;

/// <summary>
/// The snapshot policy on an IOAS under a steady map/unmap load at a constant number of live
/// mappings, on SQLite: the journal behind the newest snapshot and the older snapshots are deleted
/// (one snapshot kept, a bounded tail of events), and after the system is killed the IOAS recovers
/// exactly the mappings it had.
/// </summary>
public sealed class IoasSnapshotSpecs() : TestKit(SpecConfig.InMemory)
{
    private const ulong Page = 4096;
    private const int Live = 150;
    private const int Pairs = 500;
    private const int Floor = 20;
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Under_steady_map_and_unmap_one_snapshot_and_a_bounded_tail_stay_and_recovery_is_exact()
    {
        var store = SpecConfig.FreshSqliteStore("ioas-snapshots");
        Mappings before;
        var system = ActorSystem.Create("ioas-snapshots", SpecConfig.With(store));
        try
        {
            var ioas = system.ActorOf(IoasActor.Props("steady", ulong.MaxValue, snapshotFloor: Floor), "steady");
            for (var i = 0; i < Live; i++)
                await Map(ioas, i);
            for (var i = 0; i < Pairs; i++)
            {
                // The oldest mapping goes and a new one comes: always Live mappings.
                var unmapped = await ioas.Ask<UnmapResult>(new UnmapRange("steady", IovaOf(i), Page), Timeout);
                Assert.Equal((0, Page), (unmapped.Errno, unmapped.Unmapped));
                await Map(ioas, Live + i);
            }
            before = await ioas.Ask<Mappings>(new GetMappings("steady"), Timeout);
            Assert.Equal(Live, before.Areas.Length);

            // A snapshot holds Live entries, so fewer events than that stay behind it, plus those
            // journaled while it was being written (the policy writes one snapshot at a time and
            // takes the next at the next event after it): at most one more such span.
            var bound = 2 * Math.Max(Floor, Live);
            await AwaitAssertAsync(() =>
            {
                var (snapshots, events) = Rows(store, "ioas-steady");
                Assert.Equal(1, snapshots);
                Assert.InRange(events, 0, bound);
            }, Timeout);
        }
        finally
        {
            await system.Terminate();
        }

        var revived = ActorSystem.Create("ioas-snapshots", SpecConfig.With(store));
        try
        {
            var ioas = revived.ActorOf(IoasActor.Props("steady", ulong.MaxValue, snapshotFloor: Floor), "steady");
            var after = await ioas.Ask<Mappings>(new GetMappings("steady"), Timeout);
            Assert.Equal(before.Areas.ToArray(), after.Areas.ToArray());
            Assert.Equal(before.ChargedPages, after.ChargedPages);
            // The pages numbering goes on where it stopped: a new map gets a fresh pages id.
            var next = await ioas.Ask<MapResult>(new MapRange("steady", UserAddressOf(Live + Pairs), Page,
                Protection.Read | Protection.Write, true, IovaOf(Live + Pairs)), Timeout);
            Assert.Equal(0, next.Errno);
            var grown = await ioas.Ask<Mappings>(new GetMappings("steady"), Timeout);
            Assert.Equal($"steady/{Live + Pairs}", grown.Areas[^1].PagesId);
        }
        finally
        {
            await revived.Terminate();
        }
    }

    private static ulong IovaOf(int i) => 0x100000UL + (ulong)i * Page;

    private static ulong UserAddressOf(int i) => 0x7f0000000000UL + (ulong)i * Page;

    private static async Task Map(IActorRef ioas, int i)
    {
        var mapped = await ioas.Ask<MapResult>(new MapRange("steady", UserAddressOf(i), Page,
            Protection.Read | Protection.Write, true, IovaOf(i)), Timeout);
        Assert.Equal(0, mapped.Errno);
    }

    /// <summary>Snapshot rows and journal rows not marked deleted of one persistence id.</summary>
    private static (long Snapshots, long Events) Rows(StoreOptions store, string persistenceId)
    {
        using var connection = new SqliteConnection(store.ConnectionString);
        connection.Open();
        return (Count(connection, "SELECT COUNT(*) FROM snapshot WHERE persistence_id = $id", persistenceId),
            Count(connection, "SELECT COUNT(*) FROM journal WHERE persistence_id = $id AND deleted = 0", persistenceId));
    }

    private static long Count(SqliteConnection connection, string sql, string persistenceId)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.Parameters.AddWithValue("$id", persistenceId);
        return (long)command.ExecuteScalar()!;
    }
}
