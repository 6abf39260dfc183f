using Akka.Actor;
using Akka.TestKit.Xunit2;
using IommuActors.Domains.Ioas;
using IommuActors.Domains.Pages;
using IommuActors.Domains.Tests.Hwpt;
using IommuActors.Hardware.Platform;
using IommuActors.Hardware.Units;
using IommuActors.TestSupport;
using static IommuActors.Domains.Hwpt.HwptProtocol;
using static IommuActors.Domains.Ioas.IoasProtocol;
using static IommuActors.Domains.Tests.Hwpt.Platform;

namespace IommuActors.Domains.Tests.Ioas;

/// <summary>
/// When pages are pinned and charged: IOAS_MAP only records them; a domain filled from the IOAS or
/// an access pinning them pins them, and the locked-memory charge follows the pin.
/// </summary>
public sealed class IoasPinningSpecs : TestKit
{
    private const Protection RW = Protection.Read | Protection.Write;
    private const ulong User = 0x7f0000000000;
    private const string Account = "user-1000";
    private static readonly UnitSpec Vtd0 = Vtd("vtd0");
    private static readonly UnitSpec Vtd1 = Vtd("vtd1");
    private static readonly DeviceSpec A = Device("0000:00:01.0", "vtd0", 1);
    private static readonly DeviceSpec C = Device("0000:00:03.0", "vtd1", 3);
    private readonly IActorRef _units;

    public IoasPinningSpecs() : base(SpecConfig.InMemory)
    {
        DeviceSpec[] devices = [A, C];
        var map = new Dictionary<string, IActorRef>
        {
            ["vtd0"] = Sys.ActorOf(UnitActor.Props(Vtd0, devices), "unit-vtd0"),
            ["vtd1"] = Sys.ActorOf(UnitActor.Props(Vtd1, devices), "unit-vtd1"),
        };
        _units = Sys.ActorOf(Props.Create(() => new UnitRouter(map)), "units");
    }

    private (IActorRef Ioas, IActorRef Accounts) NewIoas(string id, ulong limit)
    {
        var accounts = Sys.ActorOf(AccountActor.Props("acc-" + id, limit), "acc-" + id);
        var ioas = Sys.ActorOf(IoasActor.Props(id, 1 << 20, units: _units, account: new AccountBinding(accounts, Account, "process-42")), id);
        return (ioas, accounts);
    }

    private void Map(IActorRef ioas, string id, ulong iova, ulong length)
    {
        ioas.Tell(new MapRange(id, User + iova, length, RW, true, iova));
        ExpectMsg(new MapResult(id, 0, iova));
    }

    private void Attach(IActorRef ioas, string id, DeviceSpec d, UnitSpec u, uint newId, int errno = 0)
    {
        ioas.Tell(new AttachToIoas(id, Ref(d, u), u, NoPasid, newId, false));
        ExpectMsg<AttachResult>(r => r.Errno == errno);
    }

    private void ExpectCharged(IActorRef accounts, ulong pages, ulong limit, int objects)
    {
        accounts.Tell(new AccountProtocol.GetAccount(Account));
        ExpectMsg(new AccountProtocol.AccountView(Account, pages, limit, objects));
    }

    [Fact]
    public void Map_into_an_IOAS_without_a_domain_holds_the_pages_unpinned_and_charges_nothing()
    {
        var (ioas, accounts) = NewIoas("n1", 100);
        Map(ioas, "n1", 0, 4 * Page);
        ExpectCharged(accounts, 0, 100, 0);
        ioas.Tell(new GetMappings("n1"));
        ExpectMsg<Mappings>(m => m.Areas.Length == 1 && m.ChargedPages == 0);
    }

    [Fact]
    public void Attaching_the_first_domain_pins_and_charges_every_area()
    {
        var (ioas, accounts) = NewIoas("f1", 100);
        Map(ioas, "f1", 0, 2 * Page);
        Map(ioas, "f1", 0x100000, 3 * Page);
        Attach(ioas, "f1", A, Vtd0, 1);
        ExpectCharged(accounts, 5, 100, 2);
        ioas.Tell(new GetMappings("f1"));
        ExpectMsg<Mappings>(m => m.ChargedPages == 5);
    }

    [Fact]
    public void Attaching_the_first_domain_over_the_limit_fails_with_ENOMEM_and_leaves_no_HWPT()
    {
        var (ioas, accounts) = NewIoas("f2", 3);
        Map(ioas, "f2", 0, 4 * Page);
        Attach(ioas, "f2", A, Vtd0, 1, Errno.ENOMEM);
        ioas.Tell(new GetHwpts("f2"));
        ExpectMsg<Hwpts>(h => h.Items.IsEmpty);
        ExpectCharged(accounts, 0, 3, 0);
        ioas.Tell(new GetMappings("f2"));
        ExpectMsg<Mappings>(m => m.Areas.Length == 1 && m.ChargedPages == 0);
    }

    [Fact]
    public void Allocating_the_first_domain_over_the_IOAS_own_limit_fails_with_ENOMEM()
    {
        var ioas = Sys.ActorOf(IoasActor.Props("f3", 3, units: _units), "f3");
        Map(ioas, "f3", 0, 4 * Page);
        ioas.Tell(new AllocatePaging("f3", 1, Ref(A, Vtd0), Vtd0, 0, ActorRefs.Nobody));
        ExpectMsg(new HwptAllocated("f3", 1, Errno.ENOMEM, 0));
        ioas.Tell(new GetHwpts("f3"));
        ExpectMsg<Hwpts>(h => h.Items.IsEmpty);
        ioas.Tell(new GetMappings("f3"));
        ExpectMsg<Mappings>(m => m.ChargedPages == 0);
    }

    [Fact]
    public void A_second_domain_is_filled_from_pages_already_pinned_and_charges_nothing_more()
    {
        var (ioas, accounts) = NewIoas("f4", 4);
        Map(ioas, "f4", 0, 4 * Page);
        Attach(ioas, "f4", A, Vtd0, 1);
        Attach(ioas, "f4", C, Vtd1, 2);
        ExpectCharged(accounts, 4, 4, 1);
    }

    [Fact]
    public void Map_with_a_domain_attached_pins_at_once_and_over_the_limit_fails_with_ENOMEM()
    {
        var (ioas, accounts) = NewIoas("m1", 3);
        Attach(ioas, "m1", A, Vtd0, 1);
        Map(ioas, "m1", 0, 2 * Page);
        ExpectCharged(accounts, 2, 3, 1);
        ioas.Tell(new MapRange("m1", User + 0x100000, 2 * Page, RW, true, 0x100000));
        ExpectMsg(new MapResult("m1", Errno.ENOMEM, 0));
        ioas.Tell(new GetMappings("m1"));
        ExpectMsg<Mappings>(m => m.Areas.Length == 1 && m.ChargedPages == 2);
    }

    [Fact]
    public void Detaching_the_last_device_of_the_last_domain_unpins_the_areas_and_gives_the_charge_back()
    {
        var (ioas, accounts) = NewIoas("d1", 100);
        Attach(ioas, "d1", A, Vtd0, 1);
        Map(ioas, "d1", 0, 4 * Page);
        ioas.Tell(new DetachDevice("d1", A.Pci, NoPasid));
        ExpectMsg<DetachResult>(r => r.Errno == 0 && r.AutoDestroyed);
        ExpectCharged(accounts, 0, 100, 0);
        ioas.Tell(new GetMappings("d1"));
        ExpectMsg<Mappings>(m => m.Areas.Length == 1 && m.ChargedPages == 0);
        Attach(ioas, "d1", A, Vtd0, 2);
        ExpectCharged(accounts, 4, 100, 1);
    }

    [Fact]
    public void Destroying_the_last_manual_domain_unpins_the_areas_and_gives_the_charge_back()
    {
        var (ioas, accounts) = NewIoas("d2", 100);
        Map(ioas, "d2", 0, 4 * Page);
        ioas.Tell(new AllocatePaging("d2", 7, Ref(A, Vtd0), Vtd0, 0, ActorRefs.Nobody));
        ExpectMsg<HwptAllocated>(r => r.Errno == 0);
        ExpectCharged(accounts, 4, 100, 1);
        ioas.Tell(new DestroyHwpt("d2", 7));
        ExpectMsg(new HwptDestroyResult("d2", 7, 0));
        ExpectCharged(accounts, 0, 100, 0);
    }

    [Fact]
    public void An_access_pins_and_charges_only_the_pages_it_pins_and_gives_them_back_when_it_unpins()
    {
        var (ioas, accounts) = NewIoas("a1", 100);
        var access = CreateTestProbe();
        Map(ioas, "a1", 0, 4 * Page);
        ioas.Tell(new PinPages("a1", "acc-1", access.Ref, Page, Page, false));
        ExpectMsg(new PinResult("a1", "acc-1", 0));
        ExpectCharged(accounts, 1, 100, 1);
        ioas.Tell(new GetMappings("a1"));
        ExpectMsg<Mappings>(m => m.ChargedPages == 1);
        ioas.Tell(new UnpinPages("a1", "acc-1", Page, Page));
        ExpectMsg(new UnpinResult("a1", "acc-1", 0));
        ExpectCharged(accounts, 0, 100, 0);
    }

    [Fact]
    public void An_access_pin_over_the_limit_fails_with_ENOMEM_and_holds_nothing()
    {
        var (ioas, accounts) = NewIoas("a2", 3);
        var access = CreateTestProbe();
        Map(ioas, "a2", 0, 4 * Page);
        ioas.Tell(new PinPages("a2", "acc-1", access.Ref, 0, 4 * Page, false));
        ExpectMsg(new PinResult("a2", "acc-1", Errno.ENOMEM));
        ExpectCharged(accounts, 0, 3, 0);
        // Nothing holds the area: the unmap needs no access to let go.
        ioas.Tell(new UnmapRange("a2", 0, 4 * Page));
        ExpectMsg(new UnmapResult("a2", 0, 4 * Page));
        access.ExpectNoMsg(TimeSpan.FromMilliseconds(100));
    }

    [Fact]
    public void Pages_an_access_holds_stay_charged_when_the_last_domain_goes()
    {
        var (ioas, accounts) = NewIoas("a3", 100);
        var access = CreateTestProbe();
        Attach(ioas, "a3", A, Vtd0, 1);
        Map(ioas, "a3", 0, 4 * Page);
        Map(ioas, "a3", 0x100000, 2 * Page);
        ioas.Tell(new PinPages("a3", "acc-1", access.Ref, 0, Page, false));
        ExpectMsg(new PinResult("a3", "acc-1", 0));
        ioas.Tell(new DetachDevice("a3", A.Pci, NoPasid));
        ExpectMsg<DetachResult>(r => r.Errno == 0 && r.AutoDestroyed);
        ExpectCharged(accounts, 1, 100, 1);
        ioas.Tell(new UnpinPages("a3", "acc-1", 0, Page));
        ExpectMsg(new UnpinResult("a3", "acc-1", 0));
        ExpectCharged(accounts, 0, 100, 0);
    }

    [Fact]
    public void An_access_over_pages_a_domain_already_pinned_charges_nothing_more()
    {
        var (ioas, accounts) = NewIoas("a4", 4);
        var access = CreateTestProbe();
        Attach(ioas, "a4", A, Vtd0, 1);
        Map(ioas, "a4", 0, 4 * Page);
        ioas.Tell(new PinPages("a4", "acc-1", access.Ref, 0, 4 * Page, false));
        ExpectMsg(new PinResult("a4", "acc-1", 0));
        ExpectCharged(accounts, 4, 4, 1);
    }

    [Fact]
    public void Accesses_over_the_same_page_of_one_area_charge_it_once()
    {
        var (ioas, accounts) = NewIoas("a5", 100);
        var one = CreateTestProbe();
        var two = CreateTestProbe();
        Map(ioas, "a5", 0, 4 * Page);
        ioas.Tell(new PinPages("a5", "acc-1", one.Ref, 0, 2 * Page, false));
        ExpectMsg(new PinResult("a5", "acc-1", 0));
        ioas.Tell(new PinPages("a5", "acc-2", two.Ref, Page, 2 * Page, false));
        ExpectMsg(new PinResult("a5", "acc-2", 0));
        ExpectCharged(accounts, 3, 100, 1);
        ioas.Tell(new UnpinPages("a5", "acc-1", 0, 2 * Page));
        ExpectMsg(new UnpinResult("a5", "acc-1", 0));
        ExpectCharged(accounts, 2, 100, 1);
    }

    [Fact]
    public void A_domain_fills_a_partial_copy_charging_only_the_pages_under_it_and_the_source_later_only_the_rest()
    {
        var accounts = Sys.ActorOf(AccountActor.Props("acc-pc", 100), "acc-pc");
        var binding = new AccountBinding(accounts, Account, "process-42");
        var src = Sys.ActorOf(IoasActor.Props("pc1", 1 << 20, units: _units, account: binding), "pc1");
        var dst = Sys.ActorOf(IoasActor.Props("pc2", 1 << 20, units: _units, account: binding), "pc2");
        Map(src, "pc1", 0, 8 * Page);
        Attach(dst, "pc2", C, Vtd1, 1);
        dst.Tell(new CopyRange("pc2", src, 2 * Page, 3 * Page, Protection.Read, true, 0x100000));
        ExpectMsg(new CopyResult("pc2", 0, 0x100000));
        ExpectCharged(accounts, 3, 100, 1);
        Attach(src, "pc1", A, Vtd0, 2);
        ExpectCharged(accounts, 8, 100, 1);
        dst.Tell(new UnmapRange("pc2", 0, ulong.MaxValue));
        ExpectMsg(new UnmapResult("pc2", 0, 3 * Page));
        ExpectCharged(accounts, 8, 100, 1);
    }

    [Fact]
    public void An_area_that_starts_and_ends_inside_pages_charges_every_page_it_touches()
    {
        var ioas = Sys.ActorOf(IoasActor.Props("sub", 1 << 20, units: _units), "sub");
        // 0x800 bytes into a page, 2 pages long: it touches three pages.
        ioas.Tell(new MapRange("sub", User + 0x800, 2 * Page, RW, true, 0x800));
        ExpectMsg(new MapResult("sub", 0, 0x800));
        ioas.Tell(new PinPages("sub", "acc-1", CreateTestProbe().Ref, 0x800, 2 * Page, false));
        ExpectMsg(new PinResult("sub", "acc-1", 0));
        ioas.Tell(new GetMappings("sub"));
        ExpectMsg<Mappings>(m => m.ChargedPages == 3);
    }

    [Fact]
    public void The_summary_counts_mappings_and_bytes_and_after_a_domain_and_an_access_each_pinned_page_once_and_the_charge()
    {
        var (ioas, _) = NewIoas("s1", 100);
        var access = CreateTestProbe();
        Map(ioas, "s1", 0, 2 * Page);
        Map(ioas, "s1", 0x100000, 3 * Page);
        ioas.Tell(new GetSummary("s1"));
        ExpectMsg(new Summary("s1", 2, 5 * Page, 0, 0));

        ioas.Tell(new PinPages("s1", "acc-1", access.Ref, Page, Page, false));
        ExpectMsg(new PinResult("s1", "acc-1", 0));
        ioas.Tell(new GetSummary("s1"));
        ExpectMsg(new Summary("s1", 2, 5 * Page, 1, 1));

        // The domain pins every area's pages: the page the access holds is still one page.
        Attach(ioas, "s1", A, Vtd0, 1);
        ioas.Tell(new GetSummary("s1"));
        ExpectMsg(new Summary("s1", 2, 5 * Page, 5, 5));
    }
}
