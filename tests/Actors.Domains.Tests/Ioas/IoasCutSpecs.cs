using Akka.Actor;
using Akka.TestKit;
using IommuActors.Domains.Ioas;
using IommuActors.Domains.Pages;
using IommuActors.Domains.Tests.Hwpt;
using IommuActors.Hardware.Units;
using IommuActors.TestSupport;
using static IommuActors.Domains.Hwpt.HwptProtocol;
using static IommuActors.Domains.Ioas.IoasProtocol;

namespace IommuActors.Domains.Tests.Ioas;

/// <summary>
/// A VFIO type1 (v1) unmap (UnmapRange with CutFirst) on an IOAS whose large pages are disabled: its
/// domain is mapped page by page, the unmap cuts the area and takes out only the piece asked for,
/// the account gives back just those pages, and all of it survives a restart from the journal.
/// </summary>
public sealed class IoasCutSpecs
{
    private static readonly Hardware.Platform.UnitSpec Unit = Platform.Vtd("vtd0");
    private static readonly Hardware.Platform.DeviceSpec Device = Platform.Device("0000:00:01.0", "vtd0", 1);
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);
    private const ulong M2 = 0x200000, Piece = 0x40000;

    private sealed record World(IActorRef Ioas, IActorRef Accounts, IActorRef Units);

    private static World Start(ActorSystem system)
    {
        var unit = system.ActorOf(UnitActor.Props(Unit, [Device], 1000), "unit-vtd0");
        var routes = new Dictionary<string, IActorRef> { ["vtd0"] = unit };
        var units = system.ActorOf(Props.Create(() => new UnitRouter(routes)), "units");
        var accounts = system.ActorOf(AccountActor.Props("cut", 1UL << 40, 1000), "accounts");
        var ioas = system.ActorOf(IoasActor.Props("cut", 1UL << 40, 1000, units: units,
            account: new AccountBinding(accounts, "user-1000", "process-1")), "cut");
        return new World(ioas, accounts, units);
    }

    private static async Task<(Mappings Areas, ulong Charged, MappingRecordsView Domain)> Read(World w)
    {
        var areas = await w.Ioas.Ask<Mappings>(new GetMappings("cut"), Timeout);
        var account = await w.Accounts.Ask<AccountProtocol.AccountView>(new AccountProtocol.GetAccount("user-1000"), Timeout);
        var hwpts = await w.Ioas.Ask<Hwpts>(new GetHwpts("cut"), Timeout);
        var domain = await w.Units.Ask<UnitProtocol.DomainMappings>(new UnitProtocol.GetDomainMappings("vtd0", hwpts.Items[0].DomainId), Timeout);
        return (areas, account.ChargedPages, new MappingRecordsView([.. domain.Mappings]));
    }

    private sealed record MappingRecordsView(UnitProtocol.MappingRecord[] Leaves);

    private static void Prepare(ActorSystem system, World w, bool disableLargePages)
    {
        var probe = new TestProbe(system, new Akka.TestKit.Xunit2.XunitAssertions());
        if (disableLargePages)
        {
            w.Ioas.Tell(new SetOption("cut", OptionHugePages, 0), probe.Ref);
            Assert.Equal(0, probe.ExpectMsg<OptionResult>(Timeout).Errno);
        }
        w.Ioas.Tell(new AttachToIoas("cut", Platform.Ref(Device, Unit), Unit, NoPasid, 1, false), probe.Ref);
        Assert.Equal(0, probe.ExpectMsg<AttachResult>(Timeout).Errno);
        w.Ioas.Tell(new MapRange("cut", 0x7f00_0020_0000, M2, Protection.Read | Protection.Write, true, M2), probe.Ref);
        Assert.Equal(0, probe.ExpectMsg<MapResult>(Timeout).Errno);
    }

    private static UnmapResult Unmap(ActorSystem system, World w, ulong iova, ulong length, bool cut)
    {
        var probe = new TestProbe(system, new Akka.TestKit.Xunit2.XunitAssertions());
        w.Ioas.Tell(new UnmapRange("cut", iova, length, CutFirst: cut), probe.Ref);
        return probe.ExpectMsg<UnmapResult>(Timeout);
    }

    [Fact]
    public async Task A_type1_unmap_takes_a_piece_out_of_a_mapping_and_the_cut_survives_a_restart()
    {
        var config = SpecConfig.With(SpecConfig.FreshSqliteStore("ioas-cut"));
        (Mappings Areas, ulong Charged, MappingRecordsView Domain) before;
        var system = ActorSystem.Create("ioas-cut", config);
        try
        {
            var w = Start(system);
            Prepare(system, w, disableLargePages: true);
            // Large pages disabled: the domain holds the 2 MiB in 4 KiB leaves, not one 2 MiB leaf.
            Assert.Equal(512, (await Read(w)).Domain.Leaves.Length);

            Assert.Equal(new UnmapResult("cut", 0, Piece), Unmap(system, w, M2 + Piece, Piece, cut: true));
            // Without the cut a piece of the remaining right part is still refused, as IOAS_UNMAP does.
            Assert.Equal(Errno.ENOENT, Unmap(system, w, M2 + 2 * Piece, Piece, cut: false).Errno);

            before = await Read(w);
            Assert.Equal([(M2, Piece), (M2 + 2 * Piece, M2 - 2 * Piece)], before.Areas.Areas.Select(a => (a.Iova, a.Length)));
            Assert.Equal(512UL - 64, before.Charged);
            Assert.Equal(512 - 64, before.Domain.Leaves.Length);
            Assert.DoesNotContain(before.Domain.Leaves, l => l.Iova >= M2 + Piece && l.Iova < M2 + 2 * Piece);
        }
        finally
        {
            await system.Terminate();
        }

        var revived = ActorSystem.Create("ioas-cut", config);
        try
        {
            var w = Start(revived);
            var after = await Read(w);
            Assert.Equal(before.Areas.Areas.ToArray(), after.Areas.Areas.ToArray());
            Assert.Equal(before.Charged, after.Charged);
            Assert.Equal(before.Domain.Leaves, after.Domain.Leaves);
            // The recovered halves can be cut and unmapped again.
            Assert.Equal(new UnmapResult("cut", 0, Piece), Unmap(revived, w, M2 + 3 * Piece, Piece, cut: true));
        }
        finally
        {
            await revived.Terminate();
        }
    }

    [Fact]
    public async Task With_large_pages_allowed_a_type1_unmap_does_not_cut_and_a_piece_is_ENOENT()
    {
        var system = ActorSystem.Create("ioas-nocut", SpecConfig.InMemory);
        try
        {
            var w = Start(system);
            Prepare(system, w, disableLargePages: false);
            Assert.Single((await Read(w)).Domain.Leaves);
            Assert.Equal(new UnmapResult("cut", Errno.ENOENT, 0), Unmap(system, w, M2 + Piece, Piece, cut: true));
            Assert.Single((await Read(w)).Areas.Areas);
        }
        finally
        {
            await system.Terminate();
        }
    }
}
