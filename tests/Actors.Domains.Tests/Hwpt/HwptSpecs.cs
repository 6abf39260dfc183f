using System.Buffers.Binary;
using System.Collections.Immutable;
using Akka.Actor;
using Akka.TestKit.Xunit2;
using IommuActors.Domains.Ioas;
using IommuActors.Domains.Pages;
using IommuActors.Hardware.Platform;
using IommuActors.Hardware.Units;
using IommuActors.TestSupport;
using static IommuActors.Domains.Hwpt.HwptProtocol;
using static IommuActors.Domains.Ioas.IoasProtocol;
using static IommuActors.Domains.Tests.Hwpt.Platform;
using U = IommuActors.Hardware.Units.UnitProtocol;

namespace IommuActors.Domains.Tests.Hwpt;

public sealed class HwptSpecs : TestKit
{
    private const Protection RW = Protection.Read | Protection.Write;
    private const ulong User = 0x7f0000000000;
    private static readonly UnitSpec Vtd0 = Vtd("vtd0");
    private static readonly UnitSpec Vtd1 = Vtd("vtd1", addressWidth: 39);
    private static readonly UnitSpec Mock0 = Mock("mock0");
    private static readonly DeviceSpec A = Device("0000:00:01.0", "vtd0", 1);
    private static readonly DeviceSpec B = Device("0000:00:02.0", "vtd0", 2);
    private static readonly DeviceSpec C = Device("0000:00:03.0", "vtd1", 3);
    private static readonly DeviceSpec M = Device("0000:00:04.0", "mock0", 4);
    private static readonly DeviceSpec R = Device("0000:00:05.0", "bad0", 5);
    private readonly IActorRef _units;

    public HwptSpecs() : base(SpecConfig.InMemory)
    {
        DeviceSpec[] devices = [A, B, C, M, R];
        var map = new Dictionary<string, IActorRef>
        {
            ["vtd0"] = Sys.ActorOf(UnitActor.Props(Vtd0, devices), "unit-vtd0"),
            ["vtd1"] = Sys.ActorOf(UnitActor.Props(Vtd1, devices), "unit-vtd1"),
            ["mock0"] = Sys.ActorOf(UnitActor.Props(Mock0, devices), "unit-mock0"),
            ["bad0"] = Sys.ActorOf(Props.Create(() => new RefusingUnit()), "unit-bad0"),
        };
        _units = Sys.ActorOf(Props.Create(() => new UnitRouter(map)), "units");
    }

    private IActorRef NewIoas(string id, AccountBinding? account = null, ulong limit = 1 << 20) =>
        Sys.ActorOf(IoasActor.Props(id, limit, units: _units, account: account), id);

    private void Map(IActorRef ioas, string id, ulong iova, ulong length, ulong user = User)
    {
        ioas.Tell(new MapRange(id, user + iova, length, RW, true, iova));
        ExpectMsg(new MapResult(id, 0, iova));
    }

    private AttachResult Attach(IActorRef ioas, string id, DeviceSpec d, UnitSpec u, uint newId)
    {
        ioas.Tell(new AttachToIoas(id, Ref(d, u), u, NoPasid, newId, false));
        return ExpectMsg<AttachResult>();
    }

    private object Dma(string unit, string pci, ulong iova, DmaDirection dir = DmaDirection.Read)
    {
        _units.Tell(new U.Dma(unit, pci, NoPasid, iova, Page, dir));
        return ExpectMsg<object>(m => m is U.DmaCompleted or U.DmaFaulted);
    }

    [Fact]
    public void Attach_to_an_IOAS_with_mappings_fills_a_new_automatic_domain_first()
    {
        var ioas = NewIoas("a1");
        Map(ioas, "a1", 0x100000, 2 * Page);
        Assert.Equal(new AttachResult("a1", A.Pci, NoPasid, 0, 7, true, 1), Attach(ioas, "a1", A, Vtd0, 7));
        var done = Assert.IsType<U.DmaCompleted>(Dma("vtd0", A.Pci, 0x101000));
        Assert.Equal(User + 0x101000, done.Segments[0].Address);
    }

    [Fact]
    public void A_second_device_on_the_same_unit_reuses_the_automatic_domain()
    {
        var ioas = NewIoas("a2");
        Attach(ioas, "a2", A, Vtd0, 7);
        Assert.Equal(new AttachResult("a2", B.Pci, NoPasid, 0, 7, false, 1), Attach(ioas, "a2", B, Vtd0, 8));
    }

    [Fact]
    public void A_device_on_another_unit_gets_its_own_automatic_domain()
    {
        var ioas = NewIoas("a3");
        Attach(ioas, "a3", A, Vtd0, 7);
        Assert.Equal(new AttachResult("a3", C.Pci, NoPasid, 0, 8, true, 1), Attach(ioas, "a3", C, Vtd1, 8));
    }

    [Fact]
    public void A_DMA_right_after_the_map_reply_translates_in_every_domain()
    {
        var ioas = NewIoas("m1");
        Attach(ioas, "m1", A, Vtd0, 7);
        Attach(ioas, "m1", C, Vtd1, 8);
        Map(ioas, "m1", 0x200000, Page);
        Assert.IsType<U.DmaCompleted>(Dma("vtd0", A.Pci, 0x200000));
        Assert.IsType<U.DmaCompleted>(Dma("vtd1", C.Pci, 0x200000));
    }

    [Fact]
    public void A_DMA_right_after_the_unmap_reply_faults_not_present()
    {
        var ioas = NewIoas("m2");
        Attach(ioas, "m2", A, Vtd0, 7);
        Map(ioas, "m2", 0x200000, Page);
        Assert.IsType<U.DmaCompleted>(Dma("vtd0", A.Pci, 0x200000));
        ioas.Tell(new UnmapRange("m2", 0x200000, Page));
        ExpectMsg(new UnmapResult("m2", 0, Page));
        var fault = Assert.IsType<U.DmaFaulted>(Dma("vtd0", A.Pci, 0x200000));
        Assert.Equal(FaultKind.NotPresent, fault.Fault.Kind);
    }

    [Fact]
    public void Map_that_one_domain_refuses_is_rolled_back_in_every_domain()
    {
        var ioas = NewIoas("r1");
        Attach(ioas, "r1", A, Vtd0, 7);
        ioas.Tell(new AllocatePaging("r1", 9, Ref(R, Vtd("bad0")), Vtd("bad0"), 0, ActorRefs.Nobody));
        ExpectMsg(new HwptAllocated("r1", 9, 0, 100));
        ioas.Tell(new MapRange("r1", User, Page, RW, true, 0x300000));
        ExpectMsg(new MapResult("r1", Errno.EINVAL, 0));
        ioas.Tell(new GetMappings("r1"));
        ExpectMsg<Mappings>(m => m.Areas.IsEmpty && m.ChargedPages == 0);
        _units.Tell(new U.GetDomainMappings("vtd0", 1));
        ExpectMsg<U.DomainMappings>(m => m.Mappings.IsEmpty);
    }

    [Fact]
    public void Unmap_that_one_domain_refuses_leaves_the_area_in_every_domain()
    {
        var ioas = NewIoas("r2");
        Attach(ioas, "r2", A, Vtd0, 7);
        Map(ioas, "r2", 0x300000, Page);
        ioas.Tell(new AllocatePaging("r2", 9, Ref(R, Vtd("bad0")), Vtd("bad0"), 0, ActorRefs.Nobody));
        // Filling the refusing domain with the existing area fails, so the HWPT is not created either.
        ExpectMsg(new HwptAllocated("r2", 9, Errno.EINVAL, 0));
        ioas.Tell(new GetHwpts("r2"));
        ExpectMsg<Hwpts>(h => h.Items.Length == 1 && h.Items[0].HwptId == 7);
        Assert.IsType<U.DmaCompleted>(Dma("vtd0", A.Pci, 0x300000));
    }

    [Fact]
    public void Attach_whose_reserved_regions_cover_an_area_fails_with_EADDRINUSE_and_creates_nothing()
    {
        var ioas = NewIoas("v1");
        Map(ioas, "v1", Msi, Page);
        Assert.Equal(new AttachResult("v1", A.Pci, NoPasid, Errno.EADDRINUSE, 0, false), Attach(ioas, "v1", A, Vtd0, 7));
        ioas.Tell(new GetHwpts("v1"));
        ExpectMsg<Hwpts>(h => h.Items.IsEmpty);
        _units.Tell(new U.GetUnitInfo("vtd0"));
        ExpectMsg<U.UnitInfo>(i => i.Domains == 0);
    }

    [Fact]
    public void An_attach_whose_device_regions_and_fill_both_fail_answers_EADDRINUSE_as_the_device_comes_first()
    {
        var ioas = NewIoas("v5", limit: 1);
        Map(ioas, "v5", Msi, 2 * Page);
        Assert.Equal(new AttachResult("v5", A.Pci, NoPasid, Errno.EADDRINUSE, 0, false), Attach(ioas, "v5", A, Vtd0, 7));
    }

    [Fact]
    public void A_replace_whose_fill_and_device_regions_both_fail_answers_ENOMEM_as_the_fill_comes_first()
    {
        // The device is attached in another IOAS; this one gets a fresh automatic domain, filled before the device moves.
        var own = NewIoas("v6", limit: 1);
        Map(own, "v6", Msi, 2 * Page);
        own.Tell(new AttachToIoas("v6", Ref(A, Vtd0), Vtd0, NoPasid, 7, true));
        ExpectMsg(new AttachResult("v6", A.Pci, NoPasid, Errno.ENOMEM, 0, false));

        var accounts = Sys.ActorOf(AccountActor.Props("acc-v7", 1), "acc-v7");
        var shared = NewIoas("v7", new AccountBinding(accounts, "user-1000", "process-42"));
        Map(shared, "v7", Msi, 2 * Page);
        shared.Tell(new AttachToIoas("v7", Ref(A, Vtd0), Vtd0, NoPasid, 7, true));
        ExpectMsg(new AttachResult("v7", A.Pci, NoPasid, Errno.ENOMEM, 0, false));
    }

    [Fact]
    public void An_IOAS_bound_in_per_process_mode_charges_the_process_from_its_first_pin_without_an_option_event()
    {
        // The iommufd's mode comes with the binding, so an IOAS that never journaled an OPTION (a
        // crash right after the iommufd recorded it) still charges the right account.
        var accounts = Sys.ActorOf(AccountActor.Props("acc-m1", 100), "acc-m1");
        var ioas = NewIoas("m1", new AccountBinding(accounts, "user-1000", "process-42", RlimitMode.PerProcess));
        Map(ioas, "m1", 0x100000, 2 * Page);
        ioas.Tell(new AttachToIoas("m1", Ref(B, Vtd0), Vtd0, NoPasid, 7, false));
        ExpectMsg<AttachResult>(r => r.Errno == 0);
        accounts.Tell(new AccountProtocol.GetAccount("process-42"));
        ExpectMsg(new AccountProtocol.AccountView("process-42", 2, 100, 1));
        accounts.Tell(new AccountProtocol.GetAccount("user-1000"));
        ExpectMsg(new AccountProtocol.AccountView("user-1000", 0, 100, 0));
    }

    [Fact]
    public void A_replace_refused_by_the_device_regions_after_the_fill_was_charged_gives_the_charge_back()
    {
        var accounts = Sys.ActorOf(AccountActor.Props("acc-v8", 100), "acc-v8");
        var ioas = NewIoas("v8", new AccountBinding(accounts, "user-1000", "process-42"));
        Map(ioas, "v8", Msi, 2 * Page);
        ioas.Tell(new AttachToIoas("v8", Ref(A, Vtd0), Vtd0, NoPasid, 7, true));
        ExpectMsg(new AttachResult("v8", A.Pci, NoPasid, Errno.EADDRINUSE, 0, false));
        accounts.Tell(new AccountProtocol.GetAccount("user-1000"));
        ExpectMsg(new AccountProtocol.AccountView("user-1000", 0, 100, 0));
        ioas.Tell(new GetHwpts("v8"));
        ExpectMsg<Hwpts>(h => h.Items.IsEmpty);
    }

    [Fact]
    public void A_replace_that_fails_after_the_unit_switched_the_device_restores_the_old_context_entry()
    {
        var unit = Vtd("vtd9");
        var d = Device("0000:00:09.0", "vtd9", 9);
        var real = Sys.ActorOf(UnitActor.Props(unit, [d]), "unit-vtd9");
        var map = new Dictionary<string, IActorRef> { ["vtd9"] = Sys.ActorOf(Props.Create(() => new FreeRefusingUnit(real)), "door-vtd9") };
        var units = Sys.ActorOf(Props.Create(() => new UnitRouter(map)), "units-vtd9");
        var ioas = Sys.ActorOf(IoasActor.Props("r9", 1 << 20, units: units), "r9");
        Map(ioas, "r9", 0, Page);
        ioas.Tell(new AttachToIoas("r9", Ref(d, unit), unit, NoPasid, 7, false));
        var auto = ExpectMsg<AttachResult>(r => r.Errno == 0 && r.Created);
        ioas.Tell(new AllocatePaging("r9", 8, Ref(d, unit), unit, 0, ActorRefs.Nobody));
        ExpectMsg<HwptAllocated>(r => r.Errno == 0);
        ioas.Tell(new GetHwpts("r9"));
        var oldDomain = ExpectMsg<Hwpts>().Items.Single(h => h.HwptId == auto.HwptId).DomainId;

        // The unit moves the device to HWPT 8, then refuses to free the abandoned automatic domain.
        ioas.Tell(new AttachToHwpt("r9", 8, Ref(d, unit), unit, NoPasid, true));
        ExpectMsg(new AttachResult("r9", d.Pci, NoPasid, Errno.EBUSY, 0, false));

        real.Tell(new U.Dma("vtd9", d.Pci, NoPasid, 0x100000, Page, DmaDirection.Read));
        ExpectMsg<U.DmaFaulted>(f => f.Fault.Kind == FaultKind.NotPresent && f.Fault.DomainId == oldDomain);
        ioas.Tell(new GetHwpts("r9"));
        ExpectMsg<Hwpts>(h => h.Items.Single(x => x.HwptId == auto.HwptId).Devices.Contains(new AttachmentView(d.Pci, NoPasid)));
    }

    [Fact]
    public void A_HWPT_narrower_than_an_existing_area_fails_with_EADDRINUSE()
    {
        var ioas = NewIoas("v2");
        Map(ioas, "v2", 1UL << 40, Page);
        Assert.Equal(new AttachResult("v2", C.Pci, NoPasid, Errno.EADDRINUSE, 0, false), Attach(ioas, "v2", C, Vtd1, 7));
    }

    [Fact]
    public void A_HWPT_whose_aperture_would_narrow_the_allowed_IOVAs_fails_with_EADDRINUSE_and_the_allowed_ranges_stay()
    {
        var ioas = NewIoas("v3");
        ioas.Tell(new AllowIovas("v3", [new IovaSpan(0, (1UL << 40) - 1)]));
        ExpectMsg(new AllowIovasResult("v3", 0));
        Assert.Equal(new AttachResult("v3", C.Pci, NoPasid, Errno.EADDRINUSE, 0, false), Attach(ioas, "v3", C, Vtd1, 7));
        // The allowed range still reaches past the 39-bit aperture the refused domain would have cut it at.
        ioas.Tell(new MapRange("v3", User, Page, RW, true, 1UL << 39));
        ExpectMsg(new MapResult("v3", 0, 1UL << 39));
    }

    [Fact]
    public void Map_beyond_the_aperture_of_an_attached_domain_fails_with_EINVAL()
    {
        var ioas = NewIoas("v3");
        Attach(ioas, "v3", C, Vtd1, 7);
        ioas.Tell(new MapRange("v3", User, Page, RW, true, 1UL << 40));
        ExpectMsg(new MapResult("v3", Errno.EINVAL, 0));
    }

    [Fact]
    public void Detach_of_the_last_device_destroys_the_automatic_HWPT_and_its_domain()
    {
        var ioas = NewIoas("d1");
        Attach(ioas, "d1", A, Vtd0, 7);
        Attach(ioas, "d1", B, Vtd0, 8);
        ioas.Tell(new DetachDevice("d1", A.Pci, NoPasid));
        ExpectMsg(new DetachResult("d1", A.Pci, NoPasid, 0, 7, false));
        ioas.Tell(new DetachDevice("d1", B.Pci, NoPasid));
        ExpectMsg(new DetachResult("d1", B.Pci, NoPasid, 0, 7, true));
        _units.Tell(new U.GetUnitInfo("vtd0"));
        ExpectMsg<U.UnitInfo>(i => i.Domains == 0 && i.ContextEntries == 0);
    }

    [Fact]
    public void Destroy_of_a_HWPT_with_a_device_attached_fails_with_EBUSY()
    {
        var ioas = NewIoas("d2");
        ioas.Tell(new AllocatePaging("d2", 9, Ref(A, Vtd0), Vtd0, 0, ActorRefs.Nobody));
        ExpectMsg<HwptAllocated>(r => r.Errno == 0);
        ioas.Tell(new AttachToHwpt("d2", 9, Ref(A, Vtd0), Vtd0, NoPasid, false));
        ExpectMsg(new AttachResult("d2", A.Pci, NoPasid, 0, 9, false));
        ioas.Tell(new DestroyHwpt("d2", 9));
        ExpectMsg(new HwptDestroyResult("d2", 9, Errno.EBUSY));
    }

    [Fact]
    public void A_manual_HWPT_stays_after_its_last_device_detaches_and_is_never_picked_for_an_IOAS_attach()
    {
        var ioas = NewIoas("d3");
        ioas.Tell(new AllocatePaging("d3", 9, Ref(A, Vtd0), Vtd0, 0, ActorRefs.Nobody));
        ExpectMsg<HwptAllocated>(r => r.Errno == 0);
        Assert.Equal(new AttachResult("d3", A.Pci, NoPasid, 0, 10, true, 2), Attach(ioas, "d3", A, Vtd0, 10));
    }

    [Fact]
    public void Paging_HWPT_with_unknown_flags_fails_with_EOPNOTSUPP()
    {
        var ioas = NewIoas("f1");
        ioas.Tell(new AllocatePaging("f1", 9, Ref(A, Vtd0), Vtd0, 0x100, ActorRefs.Nobody));
        ExpectMsg(new HwptAllocated("f1", 9, Errno.EOPNOTSUPP, 0));
    }

    private static ImmutableArray<byte> VtdS1(uint addressWidth, int extra = 0, byte tail = 0)
    {
        var b = new byte[24 + extra];
        BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(8), 0x1000);
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(16), addressWidth);
        if (extra > 0) b[^1] = tail;
        return [.. b];
    }

    private void NestParent(IActorRef ioas, string id, uint hwpt, UnitSpec unit, DeviceSpec dev)
    {
        ioas.Tell(new AllocatePaging(id, hwpt, Ref(dev, unit), unit, AllocNestParent | AllocDirtyTracking, ActorRefs.Nobody));
        ExpectMsg<HwptAllocated>(r => r.Errno == 0);
    }

    [Fact]
    public void Nested_HWPT_over_a_parent_without_NEST_PARENT_fails_with_EINVAL()
    {
        var ioas = NewIoas("n1");
        ioas.Tell(new AllocatePaging("n1", 9, Ref(A, Vtd0), Vtd0, 0, ActorRefs.Nobody));
        ExpectMsg<HwptAllocated>(r => r.Errno == 0);
        ioas.Tell(new AllocateNested("n1", 10, 9, Ref(A, Vtd0), Vtd0, 0, DataVtdS1, VtdS1(48), [], ActorRefs.Nobody));
        ExpectMsg(new HwptAllocated("n1", 10, Errno.EINVAL, 0));
    }

    [Fact]
    public void Nested_VTd_data_shorter_than_the_struct_fails_with_EINVAL_and_a_non_zero_tail_with_E2BIG()
    {
        var ioas = NewIoas("n2");
        NestParent(ioas, "n2", 9, Vtd0, A);
        ioas.Tell(new AllocateNested("n2", 10, 9, Ref(A, Vtd0), Vtd0, 0, DataVtdS1, [.. VtdS1(48).Take(20)], [], ActorRefs.Nobody));
        ExpectMsg(new HwptAllocated("n2", 10, Errno.EINVAL, 0));
        ioas.Tell(new AllocateNested("n2", 10, 9, Ref(A, Vtd0), Vtd0, 0, DataVtdS1, VtdS1(48, 8, 1), [], ActorRefs.Nobody));
        ExpectMsg(new HwptAllocated("n2", 10, Errno.E2BIG, 0));
        // A data type the VT-d driver does not take: EOPNOTSUPP; none at all: EINVAL.
        ioas.Tell(new AllocateNested("n2", 10, 9, Ref(A, Vtd0), Vtd0, 0, DataSelftest, [1, 0, 0, 0], [], ActorRefs.Nobody));
        ExpectMsg(new HwptAllocated("n2", 10, Errno.EOPNOTSUPP, 0));
        ioas.Tell(new AllocateNested("n2", 10, 9, Ref(A, Vtd0), Vtd0, 0, DataNone, [1, 0, 0, 0], [], ActorRefs.Nobody));
        ExpectMsg(new HwptAllocated("n2", 10, Errno.EINVAL, 0));
    }

    [Theory]
    [InlineData(DataSelftest, DataSelftest, 0)]
    [InlineData(DataSelftest, DataSelftest + 1, Errno.EOPNOTSUPP)]
    [InlineData(DataSelftest, DataVtdS1, Errno.EOPNOTSUPP)]
    [InlineData(DataSelftest, DataNone, Errno.EINVAL)]
    [InlineData(DataVtdS1, DataArmSmmuV3, Errno.EOPNOTSUPP)]
    public void Nested_data_of_no_type_is_EINVAL_and_of_a_type_the_driver_does_not_take_EOPNOTSUPP(uint unitType, uint dataType, int errno) =>
        Assert.Equal(errno, IommuActors.Domains.Hwpt.VendorData.CheckNestedData(unitType, dataType, new byte[unitType == DataVtdS1 ? 24 : 4]));

    [Fact]
    public void A_DMA_through_a_nested_HWPT_walks_stage_1_then_the_parent_IOAS()
    {
        var ioas = NewIoas("n3");
        NestParent(ioas, "n3", 9, Vtd0, A);
        Map(ioas, "n3", 0x40000000, Page); // guest-physical page
        ioas.Tell(new AllocateNested("n3", 10, 9, Ref(A, Vtd0), Vtd0, 0, DataVtdS1, VtdS1(48),
            [new Stage1Entry(0x1000, 0x40000000, Page, Access.ReadWrite)], ActorRefs.Nobody));
        ExpectMsg<HwptAllocated>(r => r.Errno == 0);
        ioas.Tell(new AttachToHwpt("n3", 10, Ref(A, Vtd0), Vtd0, NoPasid, false));
        ExpectMsg(new AttachResult("n3", A.Pci, NoPasid, 0, 10, false));
        var done = Assert.IsType<U.DmaCompleted>(Dma("vtd0", A.Pci, 0x1000));
        Assert.Equal(User + 0x40000000, done.Segments[0].Address);
        ioas.Tell(new DestroyHwpt("n3", 9));
        ExpectMsg(new HwptDestroyResult("n3", 9, Errno.EBUSY));
    }

    [Fact]
    public void Attach_to_a_nested_VTd_HWPT_with_a_3_level_address_width_fails_with_EINVAL()
    {
        var ioas = NewIoas("n4");
        NestParent(ioas, "n4", 9, Vtd0, A);
        ioas.Tell(new AllocateNested("n4", 10, 9, Ref(A, Vtd0), Vtd0, 0, DataVtdS1, VtdS1(39), [], ActorRefs.Nobody));
        ExpectMsg<HwptAllocated>(r => r.Errno == 0);
        ioas.Tell(new AttachToHwpt("n4", 10, Ref(A, Vtd0), Vtd0, NoPasid, false));
        ExpectMsg(new AttachResult("n4", A.Pci, NoPasid, Errno.EINVAL, 0, false));
    }

    private static ImmutableArray<byte> MockInvalidations(params (uint Flags, uint Id)[] entries)
    {
        var b = new byte[entries.Length * 8];
        for (var i = 0; i < entries.Length; i++)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(i * 8), entries[i].Flags);
            BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(i * 8 + 4), entries[i].Id);
        }
        return [.. b];
    }

    private IActorRef MockNested(string id)
    {
        var ioas = NewIoas(id);
        NestParent(ioas, id, 9, Mock0, M);
        ioas.Tell(new AllocateNested(id, 10, 9, Ref(M, Mock0), Mock0, 0, DataSelftest, [0xef, 0xbe, 0xad, 0x0b], [], ActorRefs.Nobody));
        ExpectMsg<HwptAllocated>(r => r.Errno == 0);
        return ioas;
    }

    [Fact]
    public void Invalidation_stops_at_the_first_bad_entry_and_reports_the_entries_done()
    {
        var ioas = MockNested("i1");
        ioas.Tell(new InvalidateHwpt("i1", 10, InvalidateSelftest, 8, 3, MockInvalidations((0, 1), (2, 0), (0, 2))));
        ExpectMsg(new InvalidateResult("i1", 10, Errno.EOPNOTSUPP, 1));
        ioas.Tell(new GetHwpts("i1"));
        ExpectMsg<Hwpts>(h => h.Items.Single(x => x.HwptId == 10).MockIotlb.SequenceEqual(new uint[] { 0xbadbeef, 0, 0xbadbeef, 0xbadbeef }));
    }

    [Fact]
    public void Invalidation_entries_longer_or_shorter_than_the_struct_fail_with_EINVAL_even_with_a_zero_tail()
    {
        var ioas = MockNested("i5");
        ioas.Tell(new InvalidateHwpt("i5", 10, InvalidateSelftest, 9, 1, [.. MockInvalidations((0, 1)), 0]));
        ExpectMsg(new InvalidateResult("i5", 10, Errno.EINVAL, 0));
        ioas.Tell(new InvalidateHwpt("i5", 10, InvalidateSelftest, 1, 1, [0]));
        ExpectMsg(new InvalidateResult("i5", 10, Errno.EINVAL, 0));
        ioas.Tell(new InvalidateHwpt("i5", 10, InvalidateSelftest, 8, 1, MockInvalidations((0, 1))));
        ExpectMsg(new InvalidateResult("i5", 10, 0, 1));
    }

    [Fact]
    public void Invalidation_of_an_IOTLB_index_past_the_last_fails_with_EINVAL()
    {
        var ioas = MockNested("i2");
        ioas.Tell(new InvalidateHwpt("i2", 10, InvalidateSelftest, 8, 1, MockInvalidations((0, 4))));
        ExpectMsg(new InvalidateResult("i2", 10, Errno.EINVAL, 0));
    }

    [Fact]
    public void Invalidation_with_the_wrong_data_type_fails_with_EINVAL_and_of_a_paging_HWPT_with_EINVAL()
    {
        var ioas = MockNested("i3");
        ioas.Tell(new InvalidateHwpt("i3", 10, InvalidateVtdS1, 8, 1, MockInvalidations((1, 0))));
        ExpectMsg(new InvalidateResult("i3", 10, Errno.EINVAL, 0));
        ioas.Tell(new InvalidateHwpt("i3", 9, InvalidateSelftest, 8, 1, MockInvalidations((1, 0))));
        ExpectMsg(new InvalidateResult("i3", 9, Errno.EINVAL, 0));
        ioas.Tell(new InvalidateHwpt("i3", 99, InvalidateSelftest, 8, 1, MockInvalidations((1, 0))));
        ExpectMsg(new InvalidateResult("i3", 99, Errno.ENOENT, 0));
    }

    [Fact]
    public void Invalidate_all_clears_every_mock_IOTLB_entry()
    {
        var ioas = MockNested("i4");
        ioas.Tell(new InvalidateHwpt("i4", 10, InvalidateSelftest, 8, 1, MockInvalidations((1, 0))));
        ExpectMsg(new InvalidateResult("i4", 10, 0, 1));
        ioas.Tell(new GetHwpts("i4"));
        ExpectMsg<Hwpts>(h => h.Items.Single(x => x.HwptId == 10).MockIotlb.All(v => v == 0));
    }

    [Fact]
    public void Dirty_tracking_on_a_HWPT_allocated_without_it_fails_with_EOPNOTSUPP_and_on_a_nested_one_with_ENOENT()
    {
        var ioas = MockNested("t1");
        ioas.Tell(new SetDirtyTracking("t1", 10, 1));
        ExpectMsg(new DirtyTrackingResult("t1", 10, Errno.ENOENT));
        ioas.Tell(new AllocatePaging("t1", 11, Ref(M, Mock0), Mock0, 0, ActorRefs.Nobody));
        ExpectMsg<HwptAllocated>(r => r.Errno == 0);
        ioas.Tell(new SetDirtyTracking("t1", 11, 1));
        ExpectMsg(new DirtyTrackingResult("t1", 11, Errno.EOPNOTSUPP));
    }

    [Fact]
    public void Dirty_bitmap_shows_a_written_page_keeps_it_with_NO_CLEAR_and_clears_it_otherwise()
    {
        var ioas = NewIoas("t2");
        ioas.Tell(new AllocatePaging("t2", 9, Ref(A, Vtd0), Vtd0, AllocDirtyTracking, ActorRefs.Nobody));
        ExpectMsg<HwptAllocated>(r => r.Errno == 0);
        ioas.Tell(new AttachToHwpt("t2", 9, Ref(A, Vtd0), Vtd0, NoPasid, false));
        ExpectMsg<AttachResult>(r => r.Errno == 0);
        Map(ioas, "t2", 0x10000, 4 * Page);
        ioas.Tell(new SetDirtyTracking("t2", 9, 1));
        ExpectMsg(new DirtyTrackingResult("t2", 9, 0));
        Assert.IsType<U.DmaCompleted>(Dma("vtd0", A.Pci, 0x12000, DmaDirection.Write));
        ImmutableArray<byte> Expected(byte b) => [b, 0, 0, 0, 0, 0, 0, 0];
        ioas.Tell(new GetDirtyBitmap("t2", 9, 0x10000, 4 * Page, Page, DirtyNoClear));
        var first = ExpectMsg<DirtyBitmap>();
        Assert.Equal(0, first.Errno);
        Assert.Equal(Expected(0b100).ToArray(), first.Bitmap.ToArray());
        ioas.Tell(new GetDirtyBitmap("t2", 9, 0x10000, 4 * Page, Page, 0));
        ExpectMsg<DirtyBitmap>(d => d.Errno == 0 && d.Bitmap.SequenceEqual(Expected(0b100)));
        ioas.Tell(new GetDirtyBitmap("t2", 9, 0x10000, 4 * Page, Page, 0));
        ExpectMsg<DirtyBitmap>(d => d.Errno == 0 && d.Bitmap.SequenceEqual(Expected(0)));
    }

    [Fact]
    public void Dirty_bitmap_checks_overflow_then_alignment_then_page_size_then_coverage()
    {
        var ioas = NewIoas("t3");
        ioas.Tell(new AllocatePaging("t3", 9, Ref(A, Vtd0), Vtd0, AllocDirtyTracking, ActorRefs.Nobody));
        ExpectMsg<HwptAllocated>(r => r.Errno == 0);
        Map(ioas, "t3", 0x10000, 4 * Page);
        ioas.Tell(new GetDirtyBitmap("t3", 9, 0x10000, 4 * Page, Page, 2));
        ExpectMsg(new DirtyBitmap("t3", 9, Errno.EOPNOTSUPP, []));
        ioas.Tell(new GetDirtyBitmap("t3", 9, ulong.MaxValue - Page, 4 * Page, Page, 0));
        ExpectMsg(new DirtyBitmap("t3", 9, Errno.EOVERFLOW, []));
        ioas.Tell(new GetDirtyBitmap("t3", 9, 0x10800, 4 * Page, Page, 0));
        ExpectMsg(new DirtyBitmap("t3", 9, Errno.EINVAL, []));
        ioas.Tell(new GetDirtyBitmap("t3", 9, 0x10000, 4 * Page, 0, 0));
        ExpectMsg(new DirtyBitmap("t3", 9, Errno.EINVAL, []));
        ioas.Tell(new GetDirtyBitmap("t3", 9, 0x10000, 8 * Page, Page, 0));
        ExpectMsg(new DirtyBitmap("t3", 9, Errno.EINVAL, []));
        ioas.Tell(new GetDirtyBitmap("t3", 8, 0x10000, 4 * Page, Page, 0));
        ExpectMsg(new DirtyBitmap("t3", 8, Errno.ENOENT, []));
    }

    [Fact]
    public void Dirty_bitmap_of_a_covered_range_is_EINVAL_while_tracking_is_off_and_served_once_it_is_on()
    {
        var ioas = NewIoas("t4");
        ioas.Tell(new AllocatePaging("t4", 9, Ref(A, Vtd0), Vtd0, AllocDirtyTracking, ActorRefs.Nobody));
        ExpectMsg<HwptAllocated>(r => r.Errno == 0);
        Map(ioas, "t4", 0x10000, 4 * Page);
        ioas.Tell(new GetDirtyBitmap("t4", 9, 0x10000, 4 * Page, Page, 0));
        ExpectMsg(new DirtyBitmap("t4", 9, Errno.EINVAL, []));
        ioas.Tell(new SetDirtyTracking("t4", 9, 1));
        ExpectMsg(new DirtyTrackingResult("t4", 9, 0));
        ioas.Tell(new GetDirtyBitmap("t4", 9, 0x10000, 4 * Page, Page, 0));
        ExpectMsg<DirtyBitmap>(d => d.Errno == 0 && d.Bitmap.SequenceEqual(new byte[8]));
        ioas.Tell(new SetDirtyTracking("t4", 9, 0));
        ExpectMsg(new DirtyTrackingResult("t4", 9, 0));
        ioas.Tell(new GetDirtyBitmap("t4", 9, 0x10000, 4 * Page, Page, 0));
        ExpectMsg(new DirtyBitmap("t4", 9, Errno.EINVAL, []));
    }

    [Fact]
    public void Locked_memory_is_charged_across_IOAS_and_the_limit_fails_with_ENOMEM()
    {
        var accounts = Sys.ActorOf(AccountActor.Props("acc1", 3), "acc1");
        var binding = new AccountBinding(accounts, "user-1000", "process-42");
        var one = NewIoas("c1", binding);
        var two = NewIoas("c2", binding);
        Attach(one, "c1", A, Vtd0, 1);
        Attach(two, "c2", B, Vtd0, 2);
        Map(one, "c1", 0, 2 * Page);
        two.Tell(new MapRange("c2", User + 0x100000, 2 * Page, RW, true, 0));
        ExpectMsg(new MapResult("c2", Errno.ENOMEM, 0));
        two.Tell(new GetMappings("c2"));
        ExpectMsg<Mappings>(m => m.Areas.IsEmpty);
        Map(two, "c2", 0, Page, User + 0x100000);
        accounts.Tell(new AccountProtocol.GetAccount("user-1000"));
        ExpectMsg(new AccountProtocol.AccountView("user-1000", 3, 3, 2));
    }

    [Fact]
    public void Pages_shared_by_a_copy_are_charged_once_and_given_back_with_their_last_holder()
    {
        var accounts = Sys.ActorOf(AccountActor.Props("acc2", 100), "acc2");
        var binding = new AccountBinding(accounts, "user-1000", "process-42");
        var src = NewIoas("s1", binding);
        var dst = NewIoas("s2", binding);
        Attach(src, "s1", A, Vtd0, 1);
        Attach(dst, "s2", B, Vtd0, 2);
        Map(src, "s1", 0, 4 * Page);
        dst.Tell(new CopyRange("s2", src, 0, 4 * Page, Protection.Read, true, 0x100000));
        ExpectMsg(new CopyResult("s2", 0, 0x100000));
        accounts.Tell(new AccountProtocol.GetAccount("user-1000"));
        ExpectMsg(new AccountProtocol.AccountView("user-1000", 4, 100, 1));
        src.Tell(new UnmapRange("s1", 0, ulong.MaxValue));
        ExpectMsg(new UnmapResult("s1", 0, 4 * Page));
        accounts.Tell(new AccountProtocol.GetAccount("user-1000"));
        ExpectMsg(new AccountProtocol.AccountView("user-1000", 4, 100, 1));
        dst.Tell(new UnmapRange("s2", 0, ulong.MaxValue));
        ExpectMsg(new UnmapResult("s2", 0, 4 * Page));
        accounts.Tell(new AccountProtocol.GetAccount("user-1000"));
        ExpectMsg(new AccountProtocol.AccountView("user-1000", 0, 100, 0));
    }

    [Fact]
    public void In_process_mode_the_charge_goes_to_the_process_account()
    {
        var accounts = Sys.ActorOf(AccountActor.Props("acc3", 100), "acc3");
        var ioas = NewIoas("p1", new AccountBinding(accounts, "user-1000", "process-42"));
        ioas.Tell(new SetOption("p1", OptionRlimitMode, 1));
        ExpectMsg(new OptionResult("p1", 0));
        Attach(ioas, "p1", A, Vtd0, 1);
        Map(ioas, "p1", 0, 2 * Page);
        accounts.Tell(new AccountProtocol.GetAccount("process-42"));
        ExpectMsg(new AccountProtocol.AccountView("process-42", 2, 100, 1));
        accounts.Tell(new AccountProtocol.GetAccount("user-1000"));
        ExpectMsg(new AccountProtocol.AccountView("user-1000", 0, 100, 0));
    }
}
