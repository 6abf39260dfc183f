using System.Collections.Immutable;
using Akka.Actor;
using Akka.Persistence;
using Akka.TestKit.Xunit2;
using IommuActors.Domains.Ioas;
using IommuActors.Domains.Pages;
using IommuActors.TestSupport;
using static IommuActors.Domains.Hwpt.HwptProtocol;
using static IommuActors.Domains.Ioas.IoasProtocol;

namespace IommuActors.Domains.Tests.Ioas;

/// <summary>
/// The IOAS snapshot with its areas packed: the areas come back exactly (pages shared by areas stay
/// one object, ids of any form), the packed form goes through its own serializer, and a snapshot of
/// the form written before still recovers and is followed by a packed one.
/// </summary>
public sealed class PackedIoasSnapshotSpecs() : TestKit(SpecConfig.InMemory)
{
    private const ulong Page = 4096;
    private const Protection RW = Protection.Read | Protection.Write;
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    private static IoPageTable NewTable() => new(new LockedMemoryAccount(1 << 20));

    /// <summary>Own maps, a copy of foreign pages split over two areas, ids the short form cannot carry, a map not in whole pages.</summary>
    private static IoPageTable Filled()
    {
        var t = NewTable();
        for (var i = 0; i < 5; i++)
            Assert.Equal(0, t.Map($"io/{i}", 0x7f0000000000UL + (ulong)i * 2 * Page, Page, i % 2 == 0 ? RW : Protection.Read, 0x100000UL + (ulong)i * 3 * Page, out _));
        Assert.Equal(0, t.Map("io/007", 0x10000, 2 * Page, Protection.Read, 0x900000, out _));
        Assert.Equal(0, t.Map("io/", 0x20000, Page, Protection.Write, 0x980000, out _));
        // Neither the IOVA, the length nor the user address whole pages (the table's alignment is 1).
        Assert.Equal(0, t.Map("io/5", 0x7f0000100123, 0x1800, RW, 0x600800, out _));
        var foreign = new PinnedPages("other/3", 0x500000, 4 * Page, true);
        Assert.Equal(0, t.MapSlices([new PagesSlice(foreign, Page, Page), new PagesSlice(foreign, 3 * Page, Page)], Protection.Read, 0x400000, out _));
        return t;
    }

    private static object[] Shape(IoPageTable t) => [.. t.Areas.Select(a => (a.Iova, a.Length, a.Protection, a.PagesOffset,
        a.Pages.Id, a.Pages.UserAddress, a.Pages.Length, a.Pages.Writable))];

    [Fact]
    public void Packed_areas_come_back_exactly_and_into_a_fresh_table_in_one_go()
    {
        var before = Filled();
        var bytes = PackedAreas.Pack("io", before.Areas);
        var restored = NewTable();
        restored.RestoreAreas(PackedAreas.Unpack("io", bytes));

        Assert.Equal(Shape(before), Shape(restored));
        // The two areas over the foreign pages share one pages object, as after the copy.
        var foreign = restored.Areas.Where(a => a.Pages.Id == "other/3").ToList();
        Assert.Equal(2, foreign.Count);
        Assert.Same(foreign[0].Pages, foreign[1].Pages);
        Assert.Equal(2, foreign[0].Pages.Users);
        Assert.Equal(before.PinnedPages.Keys.Order(), restored.PinnedPages.Keys.Order());
        // The restored table behaves as the original: an overlapping map is EEXIST, an unmap frees.
        Assert.Equal(Errno.EEXIST, restored.Map("io/99", 0x30000, Page, RW, 0x100000, out _));
        Assert.Equal(0, restored.Unmap(0x400000, 2 * Page, out var unmapped));
        Assert.Equal(2 * Page, unmapped);
        Assert.DoesNotContain("other/3", restored.PinnedPages.Keys);
    }

    [Fact]
    public void An_own_4_KiB_map_packs_into_six_bytes_or_fewer()
    {
        var t = NewTable();
        const int n = 1000;
        for (var i = 0; i < n; i++)
            Assert.Equal(0, t.Map($"io/{i}", 0x7f0000000000UL + (ulong)i * 2 * Page, Page, RW, 0x100000UL + (ulong)i * 2 * Page, out _));
        Assert.InRange(PackedAreas.Pack("io", t.Areas).Length, n, 6 * n);
    }

    [Fact]
    public void Restoring_areas_refuses_a_table_that_has_areas_and_areas_that_overlap()
    {
        var pages = new PinnedPages("io/0", 0x10000, 2 * Page, true);
        var overlapping = new List<IoArea> { new(0x1000, 2 * Page, pages, 0, RW), new(0x2000, Page, pages, 0, RW) };
        Assert.Throws<ArgumentException>(() => NewTable().RestoreAreas(overlapping));
        var full = Filled();
        Assert.Throws<InvalidOperationException>(() => full.RestoreAreas([]));
    }

    [Fact]
    public void A_packed_snapshot_goes_through_its_own_serializer_and_back()
    {
        var rest = new IoasHwptTableSnapshot(new IoasTableSnapshot([], [new IovaSpan(0, 0xffffffff)],
            ImmutableDictionary<string, ImmutableArray<IovaSpan>>.Empty.Add("dev", [new IovaSpan(0xfee00000, 0xfeefffff)]),
            ImmutableDictionary<string, ulong>.Empty.Add("hwpt-1", Page), true, 1, 42), []);
        var snapshot = new PackedIoasSnapshot(rest, PackedAreas.Pack("io", Filled().Areas));
        var serializer = Sys.Serialization.FindSerializerFor(snapshot);
        Assert.Equal(IoasSnapshotSerializer.Id, serializer.Identifier);
        var back = Assert.IsType<PackedIoasSnapshot>(Sys.Serialization.Deserialize(serializer.ToBinary(snapshot), serializer.Identifier,
            Akka.Serialization.Serialization.ManifestFor(serializer, snapshot)));
        Assert.Equal(snapshot.Areas, back.Areas);
        Assert.Equal(rest.Ioas.Allowed.ToArray(), back.Rest.Ioas.Allowed.ToArray());
        Assert.Equal(rest.Ioas.Reserved["dev"].ToArray(), back.Rest.Ioas.Reserved["dev"].ToArray());
        Assert.Equal(rest.Ioas.Alignments, back.Rest.Ioas.Alignments);
        Assert.Equal((true, 1, 42L), (back.Rest.Ioas.LargePagesDisabled, back.Rest.Ioas.RlimitMode, back.Rest.Ioas.PagesCounter));
    }

    [Fact]
    public async Task A_snapshot_written_before_packed_areas_still_recovers_and_the_next_one_is_packed()
    {
        var store = SpecConfig.FreshSqliteStore("ioas-old-snapshot");
        // The form written before: area records, by Hyperion; a pages counter ahead of its areas.
        var old = new IoasHwptTableSnapshot(new IoasTableSnapshot(
            [new PinnedAreaRecord(0x100000, RW, new PinnedSliceRecord("old/0", 0x7f0000000000, Page, true, 0, Page)),
             new PinnedAreaRecord(0x200000, Protection.Read, new PinnedSliceRecord("elsewhere/5", 0x7f0000100000, 4 * Page, false, Page, 2 * Page))],
            [], ImmutableDictionary<string, ImmutableArray<IovaSpan>>.Empty, ImmutableDictionary<string, ulong>.Empty, false, 0, 3), []);

        async Task InSystem(Func<ActorSystem, Task> body)
        {
            var system = ActorSystem.Create("ioas-old-snapshot", SpecConfig.With(store));
            try
            {
                await body(system);
            }
            finally
            {
                await system.Terminate();
            }
        }

        MappingView[] expected = [new(0x100000, Page, RW, "old/0", 0), new(0x200000, 2 * Page, Protection.Read, "elsewhere/5", Page)];
        await InSystem(async system =>
        {
            var writer = system.ActorOf(OldJournal.Props("ioas-old", [], old));
            Assert.Equal("written", await writer.Ask<string>("write", Timeout));
        });
        await InSystem(async system =>
        {
            var ioas = system.ActorOf(IoasActor.Props("old", 1 << 20, snapshotFloor: 1), "old");
            Assert.Equal(expected, (await ioas.Ask<Mappings>(new GetMappings("old"), Timeout)).Areas.ToArray());
            for (var i = 0; i < 2; i++)
                Assert.Equal(0, (await ioas.Ask<MapResult>(new MapRange("old", 0x7f0000200000UL + (ulong)i * Page, Page, RW, true, 0x300000UL + (ulong)i * Page), Timeout)).Errno);
            // With a floor of one event the policy snapshots at the next event when none is being
            // written: an option that changes nothing is journaled until a snapshot holds all four.
            var snapshots = Persistence.Instance.Apply(system).SnapshotStoreFor(null);
            await AwaitAssertAsync(async () =>
            {
                var loaded = await snapshots.Ask<LoadSnapshotResult>(new LoadSnapshot("ioas-old", SnapshotSelectionCriteria.Latest, long.MaxValue), Timeout);
                if (loaded.Snapshot?.Snapshot is not PackedIoasSnapshot { } packed || PackedAreas.Unpack("old", packed.Areas).Count != 4)
                {
                    Assert.Equal(0, (await ioas.Ask<OptionResult>(new SetOption("old", OptionHugePages, 1), Timeout)).Errno);
                    Assert.Fail("no packed snapshot of the four areas yet");
                }
            }, Timeout);
        });
        await InSystem(async system =>
        {
            var ioas = system.ActorOf(IoasActor.Props("old", 1 << 20, snapshotFloor: 1), "old");
            MappingView[] all = [.. expected, new(0x300000, Page, RW, "old/3", 0), new(0x301000, Page, RW, "old/4", 0)];
            Assert.Equal(all, (await ioas.Ask<Mappings>(new GetMappings("old"), Timeout)).Areas.ToArray());
            // The read-only foreign pages stay read-only: a writeable copy of them is refused.
            var destination = system.ActorOf(IoasActor.Props("destination", 1 << 20), "destination");
            Assert.Equal(Errno.EPERM, (await destination.Ask<CopyResult>(new CopyRange("destination", ioas, 0x200000, 2 * Page, RW, true, 0x80000), Timeout)).Errno);
        });
    }
}
