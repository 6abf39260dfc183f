using System.Collections.Immutable;
using Akka.Actor;
using Akka.Configuration;
using Akka.TestKit.Xunit2;
using IommuActors.Hardware;
using IommuActors.Hardware.Platform;
using IommuActors.Hardware.Units;
using IommuActors.TestSupport;
using Xunit;
using static IommuActors.Hardware.Units.UnitProtocol;

namespace IommuActors.Hardware.Tests;

public sealed class UnitSpecs() : TestKit(SpecConfig.InMemory)
{
    private const string U = "dmar0";
    private const string Gpu = "0000:00:02.0";     // PASID + PRI capable
    private const string Usb = "0000:00:14.0";     // no PASID
    private static readonly PlatformSpec Box = HardwareModule.LoadPlatform(Config.Empty);

    private IActorRef Unit() => Sys.ActorOf(HardwareModule.UnitProps(Box)(U));

    private int Alloc(IActorRef unit, DomainKind kind = DomainKind.Paging, bool dirty = false, bool iopf = false, int parent = 0, ImmutableArray<Stage1Entry> s1 = default)
    {
        unit.Tell(new AllocateDomain(U, kind, parent, dirty, iopf, s1.IsDefault ? [] : s1));
        return ExpectMsg<DomainAllocatedReply>().DomainId;
    }

    private void Ok(IActorRef unit, object command)
    {
        unit.Tell(command);
        ExpectMsg<Done>();
    }

    private void ExpectErrno(int errno) => ExpectMsg<Failed>(f => f.Errno == errno && f.Unit == U);

    [Fact]
    public void An_attached_device_translates_through_its_domain_split_at_mapping_boundaries_and_names_the_domain()
    {
        var unit = Unit();
        Alloc(unit);
        var d = Alloc(unit);
        Ok(unit, new MapRange(U, d, 0x10000, 0x1000, 0x7000_0000, Access.ReadWrite));
        Ok(unit, new MapRange(U, d, 0x11000, 0x1000, 0x9000_0000, Access.ReadWrite));
        Ok(unit, new AttachDevice(U, Usb, NoPasid, d));
        unit.Tell(new Dma(U, Usb, NoPasid, 0x10800, 0x1000, DmaDirection.Read));
        ExpectMsg<DmaCompleted>(c => c.DomainId == d && c.Segments.SequenceEqual(new[]
            { new Segment(0x10800, 0x7000_0800, 0x800), new Segment(0x11000, 0x9000_0000, 0x800) }));
    }

    [Fact]
    public void An_unmapped_page_faults_as_not_present_at_the_exact_address_and_reaches_the_handler()
    {
        var unit = Unit();
        var d = Alloc(unit);
        Ok(unit, new MapRange(U, d, 0x10000, 0x1000, 0x7000_0000, Access.ReadWrite));
        Ok(unit, new AttachDevice(U, Usb, NoPasid, d));
        var handler = CreateTestProbe();
        Ok(unit, new RegisterFaultHandler(U, d, handler));
        unit.Tell(new Dma(U, Usb, NoPasid, 0x10f00, 0x200, DmaDirection.Write));
        var expected = new Fault(FaultKind.NotPresent, Usb, NoPasid, d, 0x11000, Access.Write, 0);
        handler.ExpectMsg<FaultRaised>(f => f.Fault == expected);
        ExpectMsg<DmaFaulted>(f => f.Fault == expected);
    }

    [Fact]
    public void A_write_to_a_read_only_page_faults_with_permission()
    {
        var unit = Unit();
        var d = Alloc(unit);
        Ok(unit, new MapRange(U, d, 0x10000, 0x1000, 0x7000_0000, Access.Read));
        Ok(unit, new AttachDevice(U, Usb, NoPasid, d));
        unit.Tell(new Dma(U, Usb, NoPasid, 0x10000, 8, DmaDirection.Write));
        ExpectMsg<DmaFaulted>(f => f.Fault == new Fault(FaultKind.Permission, Usb, NoPasid, d, 0x10000, Access.Write, 0));
    }

    [Fact]
    public void A_device_on_a_blocking_domain_faults_blocked_and_one_without_context_faults_no_context()
    {
        var unit = Unit();
        var b = Alloc(unit, DomainKind.Blocking);
        Ok(unit, new AttachDevice(U, Usb, NoPasid, b));
        unit.Tell(new Dma(U, Usb, NoPasid, 0x1000, 8, DmaDirection.Read));
        ExpectMsg<DmaFaulted>(f => f.Fault.Kind == FaultKind.Blocked && f.Fault.DomainId == b);
        unit.Tell(new Dma(U, "0000:00:14.2", NoPasid, 0x1000, 8, DmaDirection.Read));
        ExpectMsg<DmaFaulted>(f => f.Fault.Kind == FaultKind.NoContext && f.Fault.DomainId == 0);
    }

    [Fact]
    public void An_identity_domain_passes_addresses_through()
    {
        var unit = Unit();
        var i = Alloc(unit, DomainKind.Identity);
        Ok(unit, new AttachDevice(U, Usb, NoPasid, i));
        unit.Tell(new Dma(U, Usb, NoPasid, 0x1234_5000, 0x3000, DmaDirection.Write));
        ExpectMsg<DmaCompleted>(c => c.Segments.SequenceEqual(new[] { new Segment(0x1234_5000, 0x1234_5000, 0x3000) }));
    }

    [Fact]
    public void An_unmap_without_flush_leaves_a_stale_iotlb_entry_served_until_invalidated()
    {
        var unit = Unit();
        var d = Alloc(unit);
        Ok(unit, new MapRange(U, d, 0x10000, 0x1000, 0x7000_0000, Access.ReadWrite));
        Ok(unit, new AttachDevice(U, Usb, NoPasid, d));
        unit.Tell(new Dma(U, Usb, NoPasid, 0x10000, 8, DmaDirection.Read));
        ExpectMsg<DmaCompleted>();
        unit.Tell(new UnmapRange(U, d, 0x10000, 0x1000, Flush: false));
        ExpectMsg<Unmapped>(u => u.Bytes == 0x1000);
        unit.Tell(new Dma(U, Usb, NoPasid, 0x10010, 8, DmaDirection.Read));
        ExpectMsg<DmaCompleted>(c => c.Segments.Single() == new Segment(0x10010, 0x7000_0010, 8));
        unit.Tell(new Invalidate(U, InvalidateScope.Range, d, 0x10000, 0x1000, NoPasid));
        ExpectMsg<Invalidated>(i => i.Entries == 1);
        unit.Tell(new Dma(U, Usb, NoPasid, 0x10010, 8, DmaDirection.Read));
        ExpectMsg<DmaFaulted>(f => f.Fault.Kind == FaultKind.NotPresent && f.Fault.Address == 0x10010);
    }

    [Fact]
    public void An_unmap_with_flush_is_seen_by_the_next_translation()
    {
        var unit = Unit();
        var d = Alloc(unit);
        Ok(unit, new MapRange(U, d, 0x10000, 0x1000, 0x7000_0000, Access.ReadWrite));
        Ok(unit, new AttachDevice(U, Usb, NoPasid, d));
        unit.Tell(new Dma(U, Usb, NoPasid, 0x10000, 8, DmaDirection.Read));
        ExpectMsg<DmaCompleted>();
        unit.Tell(new UnmapRange(U, d, 0x10000, 0x1000, Flush: true));
        ExpectMsg<Unmapped>(u => u.Bytes == 0x1000);
        unit.Tell(new Dma(U, Usb, NoPasid, 0x10000, 8, DmaDirection.Read));
        ExpectMsg<DmaFaulted>(f => f.Fault.Kind == FaultKind.NotPresent);
    }

    [Fact]
    public void A_pasid_context_translates_and_after_detach_leaves_no_references()
    {
        var unit = Unit();
        var d = Alloc(unit);
        Ok(unit, new MapRange(U, d, 0x10000, 0x1000, 0x7000_0000, Access.ReadWrite));
        Ok(unit, new AttachDevice(U, Gpu, 5, d));
        unit.Tell(new Dma(U, Gpu, 5, 0x10000, 8, DmaDirection.Read));
        ExpectMsg<DmaCompleted>();
        unit.Tell(new GetPasidReferences(U, 5));
        ExpectMsg<PasidReferences>(r => r.Contexts.Single() == new ContextRef(Gpu, 5, d) && r.IotlbEntries == 1);
        Ok(unit, new DetachDevice(U, Gpu, 5));
        unit.Tell(new GetPasidReferences(U, 5));
        ExpectMsg<PasidReferences>(r => r.Contexts.IsEmpty && r.IotlbEntries == 0);
        unit.Tell(new Dma(U, Gpu, 5, 0x10000, 8, DmaDirection.Read));
        ExpectMsg<DmaFaulted>(f => f.Fault.Kind == FaultKind.NoContext && f.Fault.Pasid == 5);
    }

    [Fact]
    public void DetachPasid_removes_that_PASIDs_entries_of_the_named_devices_only_and_a_replaced_entry_once()
    {
        const string Qat = "0000:01:00.0"; // the other PASID-capable device of dmar0
        var unit = Unit();
        var d = Alloc(unit);
        var e = Alloc(unit);
        Ok(unit, new AttachDevice(U, Qat, 5, d));
        Ok(unit, new AttachDevice(U, Gpu, 5, d));
        Ok(unit, new AttachDevice(U, Gpu, 5, e)); // a replace: still one entry
        Ok(unit, new AttachDevice(U, Gpu, 6, d));
        Ok(unit, new AttachDevice(U, Gpu, NoPasid, d));

        unit.Tell(new DetachPasid(U, 5, [Qat]));
        ExpectMsg<PasidDetached>(p => (p.Unit, p.Pasid, p.IotlbEntries) == (U, 5, 0) && p.Detached.SequenceEqual([Qat]));
        Ok(unit, new AttachDevice(U, Qat, 5, d));
        unit.Tell(new DetachPasid(U, 5, []));
        ExpectMsg<PasidDetached>(p => p.Detached.SequenceEqual([Gpu, Qat]));
        unit.Tell(new DetachPasid(U, 5, []));
        ExpectMsg<PasidDetached>(p => p.Detached.IsEmpty);
        unit.Tell(new GetPasidReferences(U, 6));
        ExpectMsg<PasidReferences>(r => r.Contexts.SequenceEqual([new ContextRef(Gpu, 6, d)]));
        unit.Tell(new GetUnitInfo(U));
        ExpectMsg<UnitInfo>(i => i.ContextEntries == 2);
    }

    [Fact]
    public void A_nested_domain_composes_stage_1_with_the_parent_stage_2()
    {
        var unit = Unit();
        var parent = Alloc(unit, DomainKind.NestParent);
        Ok(unit, new MapRange(U, parent, 0x8000_0000, 0x2000, 0x7f00_0000_0000, Access.ReadWrite));
        var nested = Alloc(unit, DomainKind.Nested, parent: parent, s1: [new Stage1Entry(0x4000, 0x8000_1000, 0x1000, Access.Read)]);
        Ok(unit, new AttachDevice(U, Usb, NoPasid, nested));
        unit.Tell(new Dma(U, Usb, NoPasid, 0x4010, 0x10, DmaDirection.Read));
        ExpectMsg<DmaCompleted>(c => c.Segments.Single() == new Segment(0x4010, 0x7f00_0000_1010, 0x10));
        unit.Tell(new Dma(U, Usb, NoPasid, 0x4010, 0x10, DmaDirection.Write));
        ExpectMsg<DmaFaulted>(f => f.Fault.Kind == FaultKind.Permission && f.Fault.DomainId == nested);
    }

    [Fact]
    public void Writes_set_dirty_bits_that_read_and_clear_returns_once()
    {
        var unit = Unit();
        var d = Alloc(unit, dirty: true);
        Ok(unit, new MapRange(U, d, 0x10000, 0x3000, 0x7000_0000, Access.ReadWrite));
        Ok(unit, new AttachDevice(U, Usb, NoPasid, d));
        unit.Tell(new Dma(U, Usb, NoPasid, 0x10000, 8, DmaDirection.Read));
        ExpectMsg<DmaCompleted>();
        unit.Tell(new Dma(U, Usb, NoPasid, 0x11ff0, 0x20, DmaDirection.Write));
        ExpectMsg<DmaCompleted>();
        unit.Tell(new ReadDirty(U, d, 0x10000, 0x3000, Clear: false));
        ExpectMsg<DirtyPages>(p => p.Iovas.SequenceEqual(new ulong[] { 0x11000, 0x12000 }));
        unit.Tell(new ReadDirty(U, d, 0x10000, 0x3000, Clear: true));
        ExpectMsg<DirtyPages>(p => p.Iovas.SequenceEqual(new ulong[] { 0x11000, 0x12000 }));
        unit.Tell(new ReadDirty(U, d, 0x10000, 0x3000, Clear: false));
        ExpectMsg<DirtyPages>(p => p.Iovas.IsEmpty);
    }

    [Fact]
    public void An_iopf_fault_keeps_the_dma_pending_until_a_successful_page_response_retries_it()
    {
        var unit = Unit();
        var d = Alloc(unit, iopf: true);
        Ok(unit, new AttachDevice(U, Gpu, 3, d));
        var handler = CreateTestProbe();
        Ok(unit, new RegisterFaultHandler(U, d, handler));
        unit.Tell(new Dma(U, Gpu, 3, 0x20000, 8, DmaDirection.Read));
        var raised = handler.ExpectMsg<FaultRaised>(f => f.Fault.Kind == FaultKind.NotPresent && f.Fault.Pasid == 3 && f.Fault.Cookie > 0);
        ExpectNoMsg(TimeSpan.FromMilliseconds(100));
        Ok(unit, new MapRange(U, d, 0x20000, 0x1000, 0x5000_0000, Access.Read));
        unit.Tell(new PageResponse(U, raised.Fault.Cookie, Success: true));
        ExpectMsg<Done>();
        ExpectMsg<DmaCompleted>(c => c.Segments.Single() == new Segment(0x20000, 0x5000_0000, 8));
    }

    [Fact]
    public void A_failed_page_response_fails_the_pending_dma()
    {
        var unit = Unit();
        var d = Alloc(unit, iopf: true);
        Ok(unit, new AttachDevice(U, Gpu, NoPasid, d));
        var handler = CreateTestProbe();
        Ok(unit, new RegisterFaultHandler(U, d, handler));
        unit.Tell(new Dma(U, Gpu, NoPasid, 0x20000, 8, DmaDirection.Read));
        var cookie = handler.ExpectMsg<FaultRaised>().Fault.Cookie;
        unit.Tell(new PageResponse(U, cookie, Success: false));
        ExpectMsg<Done>();
        ExpectMsg<DmaFaulted>(f => f.Fault == new Fault(FaultKind.PageResponseFailed, Gpu, NoPasid, d, 0x20000, Access.Read, cookie));
    }

    [Fact]
    public void A_map_not_aligned_to_the_smallest_page_fails_with_EINVAL()
    {
        var unit = Unit();
        var d = Alloc(unit);
        unit.Tell(new MapRange(U, d, 0x10800, 0x1000, 0x7000_0000, Access.Read));
        ExpectErrno(Errno.EINVAL);
    }

    [Fact]
    public void A_map_beyond_the_aperture_fails_with_EINVAL()
    {
        var unit = Unit();
        var d = Alloc(unit);
        unit.Tell(new MapRange(U, d, 1UL << 48, 0x1000, 0x7000_0000, Access.Read));
        ExpectErrno(Errno.EINVAL);
    }

    [Fact]
    public void A_map_over_a_mapped_page_fails_with_EEXIST_and_changes_nothing()
    {
        var unit = Unit();
        var d = Alloc(unit);
        Ok(unit, new MapRange(U, d, 0x10000, 0x1000, 0x7000_0000, Access.Read));
        unit.Tell(new MapRange(U, d, 0xf000, 0x2000, 0x9000_0000, Access.Read));
        ExpectErrno(Errno.EEXIST);
        unit.Tell(new GetDomainMappings(U, d));
        ExpectMsg<DomainMappings>(m => m.Mappings.Single() == new MappingRecord(0x10000, 0x7000_0000, 0x1000, Access.Read));
    }

    [Fact]
    public void An_unmap_of_nothing_fails_with_ENOENT()
    {
        var unit = Unit();
        var d = Alloc(unit);
        unit.Tell(new UnmapRange(U, d, 0x10000, 0x1000, true));
        ExpectErrno(Errno.ENOENT);
    }

    [Fact]
    public void Freeing_an_attached_domain_fails_with_EBUSY()
    {
        var unit = Unit();
        var d = Alloc(unit);
        Ok(unit, new AttachDevice(U, Usb, NoPasid, d));
        unit.Tell(new FreeDomain(U, d));
        ExpectErrno(Errno.EBUSY);
        Ok(unit, new DetachDevice(U, Usb, NoPasid));
        Ok(unit, new FreeDomain(U, d));
    }

    [Fact]
    public void A_pasid_attach_of_a_device_without_pasid_fails_with_EOPNOTSUPP_and_beyond_its_width_with_EINVAL()
    {
        var unit = Unit();
        var d = Alloc(unit);
        unit.Tell(new AttachDevice(U, Usb, 1, d));
        ExpectErrno(Errno.EOPNOTSUPP);
        unit.Tell(new AttachDevice(U, Gpu, 1 << 20, d));
        ExpectErrno(Errno.EINVAL);
    }

    [Fact]
    public void Attach_replaces_the_context_entry_atomically()
    {
        var unit = Unit();
        var a = Alloc(unit);
        var b = Alloc(unit);
        Ok(unit, new MapRange(U, a, 0x1000, 0x1000, 0xa000, Access.Read));
        Ok(unit, new MapRange(U, b, 0x1000, 0x1000, 0xb000, Access.Read));
        Ok(unit, new AttachDevice(U, Usb, NoPasid, a));
        Ok(unit, new AttachDevice(U, Usb, NoPasid, b));
        unit.Tell(new Dma(U, Usb, NoPasid, 0x1000, 4, DmaDirection.Read));
        ExpectMsg<DmaCompleted>(c => c.Segments.Single().Address == 0xb000);
        unit.Tell(new GetUnitInfo(U));
        ExpectMsg<UnitInfo>(i => i.ContextEntries == 1 && i.Domains == 2);
    }

    [Fact]
    public void Dirty_tracking_on_a_unit_without_it_fails_with_EOPNOTSUPP()
    {
        var unit = Sys.ActorOf(HardwareModule.UnitProps(Box)("dmar1"));
        unit.Tell(new AllocateDomain("dmar1", DomainKind.Paging, 0, true, false, []));
        ExpectMsg<Failed>(f => f.Errno == Errno.EOPNOTSUPP && f.Unit == "dmar1");
    }

    [Fact]
    public void A_flushed_unmap_of_the_parent_stage_2_drops_the_nested_childs_cached_translation()
    {
        var unit = Unit();
        var parent = Alloc(unit, DomainKind.NestParent);
        Ok(unit, new MapRange(U, parent, 0x8000_0000, 0x1000, 0x7f00_0000_0000, Access.ReadWrite));
        var nested = Alloc(unit, DomainKind.Nested, parent: parent, s1: [new Stage1Entry(0x4000, 0x8000_0000, 0x1000, Access.ReadWrite)]);
        Ok(unit, new AttachDevice(U, Usb, NoPasid, nested));
        unit.Tell(new Dma(U, Usb, NoPasid, 0x4000, 8, DmaDirection.Read));
        ExpectMsg<DmaCompleted>();
        unit.Tell(new UnmapRange(U, parent, 0x8000_0000, 0x1000, Flush: true));
        ExpectMsg<Unmapped>(u => u.Bytes == 0x1000);
        unit.Tell(new Dma(U, Usb, NoPasid, 0x4000, 8, DmaDirection.Read));
        ExpectMsg<DmaFaulted>(f => f.Fault == new Fault(FaultKind.NotPresent, Usb, NoPasid, nested, 0x4000, Access.Read, 0));
    }

    [Fact]
    public void Freeing_a_nest_parent_under_a_nested_child_fails_with_EBUSY()
    {
        var unit = Unit();
        var parent = Alloc(unit, DomainKind.NestParent);
        Alloc(unit, DomainKind.Nested, parent: parent);
        unit.Tell(new FreeDomain(U, parent));
        ExpectErrno(Errno.EBUSY);
    }

    [Fact]
    public void A_nested_domain_over_a_plain_paging_parent_fails_with_EINVAL()
    {
        var unit = Unit();
        var paging = Alloc(unit);
        unit.Tell(new AllocateDomain(U, DomainKind.Nested, paging, false, false, []));
        ExpectErrno(Errno.EINVAL);
    }

    [Fact]
    public void The_mock_unit_maps_at_its_2_KiB_granule()
    {
        const string M = "mock0", Dev = "0000:f0:00.0";
        var unit = Sys.ActorOf(HardwareModule.UnitProps(Box)(M));
        unit.Tell(new AllocateDomain(M, DomainKind.Paging, 0, false, false, []));
        var d = ExpectMsg<DomainAllocatedReply>().DomainId;
        unit.Tell(new MapRange(M, d, 0x1000800, 0x1800, 0x10800, Access.ReadWrite));
        ExpectMsg<Done>();
        unit.Tell(new GetDomainMappings(M, d));
        ExpectMsg<DomainMappings>(m => m.Mappings.SequenceEqual(new[]
        {
            new MappingRecord(0x1000800, 0x10800, 0x800, Access.ReadWrite),
            new MappingRecord(0x1001000, 0x11000, 0x800, Access.ReadWrite),
            new MappingRecord(0x1001800, 0x11800, 0x800, Access.ReadWrite),
        }));
        unit.Tell(new AttachDevice(M, Dev, NoPasid, d));
        ExpectMsg<Done>();
        unit.Tell(new Dma(M, Dev, NoPasid, 0x1000f00, 0x200, DmaDirection.Read));
        ExpectMsg<DmaCompleted>(c => c.Segments.SequenceEqual(new[] { new Segment(0x1000f00, 0x10f00, 0x100), new Segment(0x1001000, 0x11000, 0x100) }));
    }

    [Fact]
    public void A_dma_with_a_pasid_from_a_device_without_pasid_faults_pasid_not_allowed()
    {
        var unit = Unit();
        unit.Tell(new Dma(U, Usb, 4, 0x1000, 8, DmaDirection.Read));
        ExpectMsg<DmaFaulted>(f => f.Fault == new Fault(FaultKind.PasidNotAllowed, Usb, 4, 0, 0x1000, Access.Read, 0));
    }

    [Fact]
    public void A_nest_parent_domain_attaches_directly_and_translates_as_a_paging_domain()
    {
        var unit = Unit();
        var parent = Alloc(unit, DomainKind.NestParent);
        Ok(unit, new MapRange(U, parent, 0x10000, 0x1000, 0x7000_0000, Access.ReadWrite));
        Ok(unit, new AttachDevice(U, Usb, NoPasid, parent));
        unit.Tell(new Dma(U, Usb, NoPasid, 0x10010, 0x10, DmaDirection.Read));
        ExpectMsg<DmaCompleted>(c => c.Segments.Single() == new Segment(0x10010, 0x7000_0010, 0x10));
    }
}
