using Akka.Actor;
using Akka.Configuration;
using Akka.TestKit.Xunit2;
using IommuActors.Hardware.Platform;
using IommuActors.Hardware.Units;
using IommuActors.TestSupport;
using Xunit;
using static IommuActors.Hardware.Units.UnitProtocol;

namespace IommuActors.Hardware.Tests;

/// <summary>
/// Devices hot-plugged behind a unit (the selftest's mock devices): they attach and translate as
/// platform devices do, leave only when no context entry names them, and survive a restart.
/// </summary>
public sealed class HotPlugSpecs() : TestKit(SpecConfig.InMemory)
{
    private const string U = "mock0";
    private const string PlatformMock = "0000:f0:00.0";
    private static readonly PlatformSpec Box = HardwareModule.LoadPlatform(Config.Empty);
    private static readonly DeviceSpec Mock = new("iommufd_mock7", 0, 0, U, 1 << 30, 20, true, false, "");

    private IActorRef Unit() => Sys.ActorOf(HardwareModule.UnitProps(Box)(U));

    private void Ok(IActorRef unit, object command)
    {
        unit.Tell(command);
        ExpectMsg(new Done(U));
    }

    private void Refused(IActorRef unit, object command, int errno)
    {
        unit.Tell(command);
        ExpectMsg(new Failed(U, errno));
    }

    private int Alloc(IActorRef unit, bool dirty = false)
    {
        unit.Tell(new AllocateDomain(U, DomainKind.Paging, 0, dirty, false, []));
        return ExpectMsg<DomainAllocatedReply>().DomainId;
    }

    [Fact]
    public void An_unknown_device_cannot_attach_until_it_is_added_and_then_translates_through_its_domain()
    {
        var unit = Unit();
        var d = Alloc(unit);
        Ok(unit, new MapRange(U, d, 0x1000000, 0x1000, 0x7000_0000, Access.ReadWrite));
        Refused(unit, new AttachDevice(U, Mock.Pci, NoPasid, d), Errno.ENODEV);

        Ok(unit, new AddDevice(U, Mock));
        Ok(unit, new AttachDevice(U, Mock.Pci, NoPasid, d));
        Ok(unit, new AttachDevice(U, Mock.Pci, 100, d));
        unit.Tell(new Dma(U, Mock.Pci, 100, 0x1000800, 0x10, DmaDirection.Read));
        ExpectMsg<DmaCompleted>(c => c.Segments.SequenceEqual(new[] { new Segment(0x1000800, 0x7000_0800, 0x10) }));
    }

    [Fact]
    public void Adding_the_same_device_again_is_a_no_op_and_another_device_under_its_name_or_a_platform_name_is_EEXIST()
    {
        var unit = Unit();
        Ok(unit, new AddDevice(U, Mock));
        Ok(unit, new AddDevice(U, Mock));
        Refused(unit, new AddDevice(U, Mock with { PasidWidth = 0 }), Errno.EEXIST);
        Refused(unit, new AddDevice(U, Mock with { Pci = PlatformMock }), Errno.EEXIST);
        Refused(unit, new AddDevice(U, Mock with { Pci = "iommufd_mock8", Unit = "dmar0" }), Errno.EINVAL);
    }

    [Fact]
    public void A_device_leaves_only_when_no_context_entry_names_it_and_platform_devices_never_leave()
    {
        var unit = Unit();
        var d = Alloc(unit);
        Ok(unit, new AddDevice(U, Mock));
        Ok(unit, new AttachDevice(U, Mock.Pci, 5, d));
        Refused(unit, new RemoveDevice(U, Mock.Pci), Errno.EBUSY);
        Ok(unit, new DetachDevice(U, Mock.Pci, 5));
        Ok(unit, new RemoveDevice(U, Mock.Pci));

        Refused(unit, new RemoveDevice(U, Mock.Pci), Errno.ENOENT);
        Refused(unit, new RemoveDevice(U, PlatformMock), Errno.EPERM);
        Refused(unit, new AttachDevice(U, Mock.Pci, NoPasid, d), Errno.ENODEV);
    }

    [Fact]
    public void MarkDirty_sets_the_dirty_bit_of_each_mapped_leaf_and_counts_only_mapped_IOVAs()
    {
        var unit = Unit();
        var d = Alloc(unit, dirty: true);
        Ok(unit, new MapRange(U, d, 0x1000000, 0x800, 0x7000_0000, Access.ReadWrite));
        Ok(unit, new MapRange(U, d, 0x1000800, 0x800, 0x7000_0800, Access.ReadWrite));
        unit.Tell(new MarkDirty(U, d, [0x1000800, 0x2000000]));
        ExpectMsg(new DirtyMarked(U, d, 1));
        unit.Tell(new ReadDirty(U, d, 0x1000000, 0x1000, true));
        ExpectMsg<DirtyPages>(p => p.Iovas.SequenceEqual(new ulong[] { 0x1000800 }));
        Refused(unit, new MarkDirty(U, 99, [0x1000000]), Errno.ENOENT);
    }

    [Fact]
    public void A_mock_domain_maps_in_2_KiB_leaves_so_a_dirty_bit_covers_2_KiB_even_of_a_4_KiB_aligned_range()
    {
        var unit = Unit();
        var d = Alloc(unit, dirty: true);
        Ok(unit, new MapRange(U, d, 0x1000000, 0x2000, 0x7000_0000, Access.ReadWrite));
        unit.Tell(new GetDomainMappings(U, d));
        ExpectMsg<DomainMappings>(m => m.Mappings.Select(p => p.PageSize).SequenceEqual(new ulong[] { 0x800, 0x800, 0x800, 0x800 }));
        unit.Tell(new MarkDirty(U, d, [0x1000000, 0x1001000]));
        ExpectMsg(new DirtyMarked(U, d, 2));
        unit.Tell(new ReadDirty(U, d, 0x1000000, 0x2000, false));
        ExpectMsg<DirtyPages>(p => p.Iovas.SequenceEqual(new ulong[] { 0x1000000, 0x1001000 }) && p.Sizes.SequenceEqual(new ulong[] { 0x800, 0x800 }));
    }

    [Fact]
    public void A_domain_allocated_with_the_huge_page_maps_1_MiB_leaves_where_aligned_and_a_dirty_bit_covers_the_whole_leaf()
    {
        var unit = Unit();
        unit.Tell(new AllocateDomain(U, DomainKind.Paging, 0, true, false, [], 0x800 | 0x100000));
        var d = ExpectMsg<DomainAllocatedReply>().DomainId;
        Ok(unit, new MapRange(U, d, 0x1000000, 0x100800, 0x7010_0000, Access.ReadWrite));
        unit.Tell(new GetDomainMappings(U, d));
        ExpectMsg<DomainMappings>(m => m.Mappings.Select(p => (p.Iova, p.PageSize))
            .SequenceEqual(new[] { (0x1000000UL, 0x100000UL), (0x1100000UL, 0x800UL) }));
        unit.Tell(new MarkDirty(U, d, [0x10ff800]));
        ExpectMsg(new DirtyMarked(U, d, 1));
        unit.Tell(new ReadDirty(U, d, 0x1000000, 0x100800, true));
        ExpectMsg<DirtyPages>(p => p.Iovas.SequenceEqual(new ulong[] { 0x1000000 }) && p.Sizes.SequenceEqual(new ulong[] { 0x100000 }));
    }

    [Fact]
    public void A_map_outside_the_mock_aperture_of_16_MiB_to_2_GiB_is_EINVAL()
    {
        var unit = Unit();
        var d = Alloc(unit);
        Refused(unit, new MapRange(U, d, 0xfff800, 0x800, 0x7000_0000, Access.ReadWrite), Errno.EINVAL);
        Refused(unit, new MapRange(U, d, 0x7fff_f800, 0x1000, 0x7000_0000, Access.ReadWrite), Errno.EINVAL);
        Ok(unit, new MapRange(U, d, 0x7fff_f800, 0x800, 0x7000_0000, Access.ReadWrite));
    }

    [Fact]
    public async Task Hot_plugged_devices_and_their_context_entries_come_back_after_a_restart_through_a_snapshot_and_through_events()
    {
        var store = SpecConfig.FreshSqliteStore("hardware-hotplug");
        var other = Mock with { Pci = "iommufd_mock9", PasidWidth = 0 };
        int d;
        var first = ActorSystem.Create("first", SpecConfig.With(store));
        try
        {
            var unit = first.ActorOf(HardwareModule.UnitProps(Box, snapshotFloor: 3)(U), "unit");
            d = (await unit.Ask<DomainAllocatedReply>(new AllocateDomain(U, DomainKind.Paging, 0, false, false, []))).DomainId;
            await unit.Ask<Done>(new AddDevice(U, Mock));
            await unit.Ask<Done>(new AttachDevice(U, Mock.Pci, NoPasid, d));
            await unit.Ask<Done>(new AddDevice(U, other));
            await unit.Ask<Done>(new AddDevice(U, other with { Pci = "iommufd_mock10" }));
            await unit.Ask<Done>(new RemoveDevice(U, "iommufd_mock10"));
        }
        finally
        {
            await first.Terminate();
        }

        var second = ActorSystem.Create("second", SpecConfig.With(store));
        try
        {
            var unit = second.ActorOf(HardwareModule.UnitProps(Box, snapshotFloor: 3)(U), "unit");
            Assert.Equal(new Failed(U, Errno.EBUSY), await unit.Ask<object>(new RemoveDevice(U, Mock.Pci)));
            Assert.Equal(new Done(U), await unit.Ask<object>(new AttachDevice(U, other.Pci, NoPasid, d)));
            Assert.Equal(new Failed(U, Errno.EOPNOTSUPP), await unit.Ask<object>(new AttachDevice(U, other.Pci, 3, d)));
            Assert.Equal(new Failed(U, Errno.ENOENT), await unit.Ask<object>(new RemoveDevice(U, "iommufd_mock10")));
            Assert.Equal(new Done(U), await unit.Ask<object>(new AddDevice(U, Mock)));
        }
        finally
        {
            await second.Terminate();
        }
    }
}
