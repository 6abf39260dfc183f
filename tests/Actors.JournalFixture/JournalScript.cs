using System.Collections.Immutable;
using Akka.Actor;
using IommuActors.Core.Messaging;
using IommuActors.Core.Persistence;
using IommuActors.Domains.Ioas;
using IommuActors.Domains.Pages;
using IommuActors.Hardware.Platform;
using IommuActors.Hardware.Units;
using IommuActors.Ioasid.Pasid;
using IommuActors.TestSupport;
using static IommuActors.Domains.Ioas.IoasProtocol;

namespace IommuActors.JournalFixture;

/// <summary>
/// A short life of the persistent entities whose events are hot: two IOAS (maps, unmaps, a copy,
/// an option) charging a shared account, one unit page table (domain, maps, unmaps, attach), and a
/// PASID set over its space (allocs, a bind, a free and its acknowledgement). Snapshots are taken
/// every few events, so a journal holds snapshots and events behind and after them. Read answers
/// the state of all of them as text lines, for an exact comparison.
/// </summary>
public static class JournalScript
{
    public const string Unit = "dmar0";
    public const string SetKey = "pasid-set-vm1";
    private const int SnapshotFloor = 4;
    private const ulong Page = 4096;
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    private static readonly UnitSpec UnitSpec = new(Unit, UnitKind.IntelVtd, 0x1000 | 0x200000 | 0x40000000, 48, 20, true,
        "vtd-s1", true, true, true, [], HwInfoTypes.IntelVtd, []);
    private static readonly DeviceSpec[] Devices =
        [new("0000:00:01.0", 0x8086, 0x1000, Unit, 1, 20, false, false, "vfio-0000:00:01.0")];

    public sealed record Entities(IActorRef Source, IActorRef Destination, IActorRef Accounts, IActorRef Unit, IActorRef Space, IActorRef Set);

    /// <summary>The entities over whatever the system's store holds; they recover when first addressed.</summary>
    public static Entities Start(ActorSystem system)
    {
        var accounts = system.ActorOf(AccountActor.Props("fixture", 1UL << 40, SnapshotFloor), "accounts");
        var binding = new AccountBinding(accounts, "user-1000", "process-1");
        var unit = system.ActorOf(UnitActor.Props(UnitSpec, Devices, SnapshotFloor), "unit-" + Unit);
        var source = system.ActorOf(IoasActor.Props("src", 1UL << 40, SnapshotFloor, account: binding), "src");
        var destination = system.ActorOf(IoasActor.Props("dst", 1UL << 40, SnapshotFloor, account: binding), "dst");
        var bus = system.ActorOf(Props.Create(() => new Absorber()), "bus");
        var space = system.ActorOf(PasidSpaceActor.Props("fixture", 1, 1000, 1000, SnapshotFloor), "space");
        var set = system.ActorOf(PasidSetActor.Props(SetKey, 64, space, bus, SnapshotFloor), "set");
        return new Entities(source, destination, accounts, unit, space, set);
    }

    /// <summary>Runs the script on a fresh store and answers the state it left.</summary>
    public static async Task<IReadOnlyList<string>> WriteAsync(StoreOptions store)
    {
        var system = ActorSystem.Create("journal-fixture", SpecConfig.With(store));
        try
        {
            var e = Start(system);
            await RunAsync(e);
            var state = await ReadAsync(e);
            // The last snapshots are written after their replies; let them land before the system stops.
            await Task.Delay(TimeSpan.FromSeconds(2));
            return state;
        }
        finally
        {
            await system.Terminate();
        }
    }

    public static async Task RunAsync(Entities e)
    {
        for (var i = 0UL; i < 10; i++)
            Expect(await e.Source.Ask<MapResult>(new MapRange("src", 0x7f00_0000_0000 + i * 2 * Page, 2 * Page,
                Protection.Read | Protection.Write, true, 0x10_0000 + i * 2 * Page), Timeout), r => r.Errno);
        Expect(await e.Source.Ask<UnmapResult>(new UnmapRange("src", 0x10_0000 + 2 * Page, 2 * Page), Timeout), r => r.Errno);
        Expect(await e.Source.Ask<UnmapResult>(new UnmapRange("src", 0x10_0000 + 6 * Page, 4 * Page), Timeout), r => r.Errno);
        Expect(await e.Destination.Ask<CopyResult>(new CopyRange("dst", e.Source, 0x10_0000 + 10 * Page, 4 * Page,
            Protection.Read, true, 0x40_0000), Timeout), r => r.Errno);
        Expect(await e.Destination.Ask<MapResult>(new MapRange("dst", 0x7f10_0000_0000, Page, Protection.Read, false, 0), Timeout), r => r.Errno);
        Expect(await e.Destination.Ask<OptionResult>(new SetOption("dst", OptionHugePages, 0), Timeout), r => r.Errno);
        Expect(await e.Source.Ask<MapResult>(new MapRange("src", 0x7f20_0000_0000, 3 * Page, Protection.Read, true, 0x80_0000), Timeout), r => r.Errno);

        var domain = (await e.Unit.Ask<UnitProtocol.DomainAllocatedReply>(
            new UnitProtocol.AllocateDomain(Unit, DomainKind.Paging, 0, false, false, []), Timeout)).DomainId;
        for (var i = 0UL; i < 9; i++)
            await e.Unit.Ask<UnitProtocol.Done>(new UnitProtocol.MapRange(Unit, domain, 0x20_0000 + i * Page, Page,
                0x5000_0000 + i * Page, i % 3 == 0 ? Access.Read : Access.ReadWrite), Timeout);
        await e.Unit.Ask<UnitProtocol.Unmapped>(new UnitProtocol.UnmapRange(Unit, domain, 0x20_0000 + 3 * Page, 2 * Page, true), Timeout);
        await e.Unit.Ask<UnitProtocol.Done>(new UnitProtocol.AttachDevice(Unit, Devices[0].Pci, UnitProtocol.NoPasid, domain), Timeout);
        await e.Unit.Ask<UnitProtocol.Done>(new UnitProtocol.MapRange(Unit, domain, 0x30_0000, 2 * Page, 0x6000_0000, Access.Write), Timeout);

        var pasids = new List<int>();
        for (var i = 0; i < 5; i++)
            pasids.Add(Expect(await e.Set.Ask<PasidSetProtocol.PasidAllocated>(new PasidSetProtocol.AllocPasid(SetKey), Timeout), r => r.Errno).Pasid);
        Expect(await e.Set.Ask<PasidSetProtocol.PasidResult>(new PasidSetProtocol.BindPasid(SetKey, pasids[1], 77, "kvm"), Timeout), r => r.Errno);
        Expect(await e.Set.Ask<PasidSetProtocol.PasidResult>(new PasidSetProtocol.GetPasid(SetKey, pasids[2], "vdcm"), Timeout), r => r.Errno);
        // A FREE is answered once the subscribers acknowledged it: the acknowledgement goes right behind it.
        var freed = e.Set.Ask<PasidSetProtocol.PasidResult>(new PasidSetProtocol.FreePasid(SetKey, pasids[0]), Timeout);
        e.Set.Tell(new PasidSetProtocol.FreeAcknowledged(SetKey, pasids[0]));
        Expect(await freed, r => r.Errno);
        // The last FREE is never acknowledged: its PASID stays pending (the reads that follow queue behind it).
        e.Set.Tell(new PasidSetProtocol.FreePasid(SetKey, pasids[3]));
    }

    /// <summary>Every entity's state as lines of text, in a fixed order.</summary>
    public static async Task<IReadOnlyList<string>> ReadAsync(Entities e)
    {
        var lines = new List<string>();
        foreach (var (name, ioas) in new[] { ("src", e.Source), ("dst", e.Destination) })
        {
            var m = await ioas.Ask<Mappings>(new GetMappings(name), Timeout);
            lines.Add($"ioas {name} charged {m.ChargedPages}");
            lines.AddRange(m.Areas.Select(a => $"ioas {name} area {a.Iova:x} {a.Length:x} {a.Protection} {a.PagesId} {a.PagesOffset:x}"));
            var r = await ioas.Ask<IovaRanges>(new GetIovaRanges(name), Timeout);
            lines.Add($"ioas {name} ranges {string.Join(",", r.Ranges.Select(s => $"{s.Start:x}-{s.Last:x}"))} alignment {r.Alignment:x}");
            var p = await ioas.Ask<Pinned>(new GetPinned(name), Timeout);
            lines.AddRange(p.Pages.Select(v => $"ioas {name} pinned {v.PagesId} {v.UserAddress:x} {v.Length:x}"));
        }
        var account = await e.Accounts.Ask<AccountProtocol.AccountView>(new AccountProtocol.GetAccount("user-1000"), Timeout);
        lines.Add($"account {Describe(account)}");
        var info = await e.Unit.Ask<UnitProtocol.UnitInfo>(new UnitProtocol.GetUnitInfo(Unit), Timeout);
        lines.Add($"unit domains {info.Domains} contexts {info.ContextEntries}");
        for (var domain = 0; domain < 4; domain++)
        {
            var reply = await e.Unit.Ask<object>(new UnitProtocol.GetDomainMappings(Unit, domain), Timeout);
            if (reply is UnitProtocol.DomainMappings d)
                lines.AddRange(d.Mappings.Select(m => $"unit domain {domain} {m.Iova:x} {m.Address:x} {m.PageSize:x} {m.Access}"));
        }
        var refs = await e.Unit.Ask<UnitProtocol.PasidReferences>(new UnitProtocol.GetPasidReferences(Unit, UnitProtocol.NoPasid), Timeout);
        lines.AddRange(refs.Contexts.Select(c => $"unit context {c.Pci} {c.Pasid} {c.DomainId}"));
        var set = await e.Set.Ask<PasidSetProtocol.SetState>(new PasidSetProtocol.GetSet(SetKey), Timeout);
        lines.Add($"set quota {set.Quota}");
        lines.AddRange(set.Entries.OrderBy(x => x.Pasid).Select(x => $"set pasid {x.Pasid} {x.State} refs {x.Refs} binds {x.Binds} spid {x.Spid} acks {x.AwaitingAcks}"));
        var holds = await e.Set.Ask<PasidSetProtocol.Holds>(new PasidSetProtocol.GetHolds(SetKey, ""), Timeout);
        lines.AddRange(holds.Entries.OrderBy(h => h.Pasid).ThenBy(h => h.Holder, StringComparer.Ordinal)
            .Select(h => $"set hold {h.Pasid} '{h.Holder}' {h.Refs} {h.Binds} {h.Spid} {h.State}"));
        var space = await e.Space.Ask<PasidSpaceProtocol.SpaceState>(new PasidSpaceProtocol.GetSpace(), Timeout);
        lines.Add($"space in-use {space.InUse} quarantined {string.Join(",", space.Quarantined)}");
        lines.AddRange(space.Owners.OrderBy(o => o.Key).Select(o => $"space owner {o.Key} {o.Value}"));
        return lines;
    }

    private static string Describe(object view) => view.ToString() ?? "";

    private static T Expect<T>(T reply, Func<T, int> errno)
    {
        if (errno(reply) != 0)
            throw new InvalidOperationException($"The journal script expected success and got {reply}.");
        return reply;
    }

    /// <summary>Stands in for the IOASID bus: the script acknowledges FREEs itself.</summary>
    /// <summary>A bus with no subscribers: an event published with an id is applied at once; FREE acknowledgements are the script's.</summary>
    private sealed class Absorber : ReceiveActor
    {
        public Absorber()
        {
            Receive<PublishIoasidEvent>(p =>
            {
                if (p.Id != 0)
                    Sender.Tell(new PasidSetProtocol.EventApplied(p.Event.SetKey, p.Id, p.Event, ImmutableArray<string>.Empty));
            });
            ReceiveAny(_ => { });
        }
    }
}
