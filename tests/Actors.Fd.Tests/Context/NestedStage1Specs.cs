using System.Buffers.Binary;
using IommuActors.Fd.Tests.Support;
using IommuActors.Hardware.Units;
using IommuActors.Uapi;
using IommuActors.Uapi.Structs;
using Xunit;
using static IommuActors.Fd.Files.FileProtocol;

namespace IommuActors.Fd.Tests.Context;

/// <summary>
/// DMA through a nested HWPT (VT-d stage 1 over a nest parent): the guest's first-level table is
/// read from guest memory, guest-physical addresses are the nest parent's IOVAs, and the device
/// sees the guest's mappings with the guest's permissions on top of the parent's.
/// </summary>
public sealed class NestedStage1Specs : FdSpec
{
    private const string Pci = "0000:00:02.0";
    private const uint RW = IoasMapFlags.Readable | IoasMapFlags.Writeable | IoasMapFlags.FixedIova;
    private const ulong P = 1, W = 2, PS = 0x80;
    private const ulong GuestRam = 0x200000;

    private readonly Akka.TestKit.TestProbe _device;

    public NestedStage1Specs() => _device = CreateTestProbe();

    /// <summary>Guest RAM: GPA g is client memory Mem + g.</summary>
    private void Entry(ulong table, int index, ulong value)
    {
        var bytes = new byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, value);
        Poke(Mem + table + (ulong)index * 8, bytes);
    }

    /// <summary>PML4 at GPA 0x1000 -> PDPT 0x2000 -> page directory 0x3000, for IOVAs below 1 GiB.</summary>
    private void RootToDirectory()
    {
        Entry(0x1000, 0, 0x2000 | P | W);
        Entry(0x2000, 0, 0x3000 | P | W);
    }

    private (string Ctx, string Dev, uint DevId, uint Parent) Boot()
    {
        var (ctx, fd) = Open("/dev/iommu");
        var ioas = NewIoas(ctx);
        Assert.Equal(0, Ioctl(ctx, Ioctls.IOMMU_IOAS_MAP, new IommuIoasMap(40, RW, ioas, 0, Mem, GuestRam, 0)).Errno);
        var (dev, _) = Open("/dev/vfio/devices/vfio0");
        var devId = Bind(dev, fd);
        var parent = Back<IommuHwptAlloc>(Ioctl(ctx, Ioctls.IOMMU_HWPT_ALLOC,
            new IommuHwptAlloc(44, HwptAllocFlags.NestParent, devId, ioas, 0, 0, 0, 0, 0, 0, 0))).OutHwptId;
        return (ctx, dev, devId, parent);
    }

    /// <summary>iommu_hwpt_vtd_s1 at Mem + 0x3f0000 (client memory outside guest RAM): flags 0, the root, 48 bits.</summary>
    private IoctlDone AllocNested(string ctx, uint devId, uint parent, ulong root)
    {
        var data = new byte[24];
        BinaryPrimitives.WriteUInt64LittleEndian(data.AsSpan(8), root);
        BinaryPrimitives.WriteUInt32LittleEndian(data.AsSpan(16), 48);
        Poke(Mem + 0x3f0000, data);
        return Ioctl(ctx, Ioctls.IOMMU_HWPT_ALLOC, new IommuHwptAlloc(44, 0, devId, parent, 0, 0, HwptDataType.VtdS1, 24, Mem + 0x3f0000, 0, 0));
    }

    private object Dma(ulong iova, DmaDirection direction) => Dma(_device, "dmar0", Pci, iova, direction);

    private static Segment Translated(object reply) => Assert.Single(Assert.IsType<UnitProtocol.DmaCompleted>(reply).Segments);

    private static FaultKind Faulted(object reply) => Assert.IsType<UnitProtocol.DmaFaulted>(reply).Fault.Kind;

    [Fact]
    public void DMA_through_a_nested_HWPT_walks_the_guests_first_level_table_then_the_nest_parent()
    {
        RootToDirectory();
        // PD[1]: a page table at 0x4000 for IOVA 0x200000.., PT[0] writeable to GPA 0x80000, PT[1] read-only to 0x81000.
        Entry(0x3000, 1, 0x4000 | P | W);
        Entry(0x4000, 0, 0x80000 | P | W);
        Entry(0x4000, 1, 0x81000 | P);
        // PD[2]: a 2 MiB read-only page at IOVA 0x400000 onto GPA 0.
        Entry(0x3000, 2, 0x0 | P | PS);
        // PD[3]: a read-only table whose writeable entry stays read-only.
        Entry(0x3000, 3, 0x5000 | P);
        Entry(0x5000, 0, 0x90000 | P | W);
        // PD[4]: a table at a GPA the nest parent does not map.
        Entry(0x3000, 4, 0x300000 | P | W);

        var (ctx, dev, devId, parent) = Boot();
        var nested = Back<IommuHwptAlloc>(AllocNested(ctx, devId, parent, 0x1000)).OutHwptId;
        Assert.Equal(0, Attach(dev, nested).Errno);

        Assert.Equal(new Segment(0x200000, Mem + 0x80000, 0x1000), Translated(Dma(0x200000, DmaDirection.Write)));
        Assert.Equal(new Segment(0x201000, Mem + 0x81000, 0x1000), Translated(Dma(0x201000, DmaDirection.Read)));
        Assert.Equal(FaultKind.Permission, Faulted(Dma(0x201000, DmaDirection.Write)));
        Assert.Equal(FaultKind.NotPresent, Faulted(Dma(0x202000, DmaDirection.Read)));
        Assert.Equal(new Segment(0x401000, Mem + 0x1000, 0x1000), Translated(Dma(0x401000, DmaDirection.Read)));
        Assert.Equal(FaultKind.Permission, Faulted(Dma(0x600000, DmaDirection.Write)));
        Assert.Equal(new Segment(0x600000, Mem + 0x90000, 0x1000), Translated(Dma(0x600000, DmaDirection.Read)));
        Assert.Equal(FaultKind.NotPresent, Faulted(Dma(0x800000, DmaDirection.Read)));
    }

    [Fact]
    public void After_the_guest_changes_its_table_the_old_translation_stays_cached_until_it_invalidates_the_nested_HWPT()
    {
        RootToDirectory();
        Entry(0x3000, 1, 0x4000 | P | W);
        Entry(0x4000, 0, 0x80000 | P | W);
        var (ctx, dev, devId, parent) = Boot();
        var nested = Back<IommuHwptAlloc>(AllocNested(ctx, devId, parent, 0x1000)).OutHwptId;
        Assert.Equal(0, Attach(dev, nested).Errno);
        Assert.Equal(new Segment(0x200000, Mem + 0x80000, 0x1000), Translated(Dma(0x200000, DmaDirection.Read)));

        // The guest moves the page and maps another; the IOTLB still holds the old translation.
        Entry(0x4000, 0, 0x82000 | P | W);
        Entry(0x4000, 2, 0x83000 | P);
        Assert.Equal(new Segment(0x200000, Mem + 0x80000, 0x1000), Translated(Dma(0x200000, DmaDirection.Read)));

        // iommu_hwpt_vtd_s1_invalidate of everything: addr 0, npages U64_MAX.
        var entry = new byte[24];
        BinaryPrimitives.WriteUInt64LittleEndian(entry.AsSpan(8), ulong.MaxValue);
        Poke(Mem + 0x3e0000, entry);
        var back = Ioctl(ctx, Ioctls.IOMMU_HWPT_INVALIDATE, new IommuHwptInvalidate(32, nested, Mem + 0x3e0000, 0, 24, 1, 0));
        Assert.Equal(1u, Back<IommuHwptInvalidate>(back).EntryNum);
        Assert.Equal(new Segment(0x200000, Mem + 0x82000, 0x1000), Translated(Dma(0x200000, DmaDirection.Read)));
        Assert.Equal(new Segment(0x202000, Mem + 0x83000, 0x1000), Translated(Dma(0x202000, DmaDirection.Read)));
        Assert.Equal(FaultKind.Permission, Faulted(Dma(0x202000, DmaDirection.Write)));
    }

    [Fact]
    public void A_stage_1_table_the_nest_parent_does_not_map_leaves_every_DMA_faulting()
    {
        var (ctx, dev, devId, parent) = Boot();
        var nested = Back<IommuHwptAlloc>(AllocNested(ctx, devId, parent, 0x300000)).OutHwptId;
        Assert.Equal(0, Attach(dev, nested).Errno);
        Assert.Equal(FaultKind.NotPresent, Faulted(Dma(0, DmaDirection.Read)));
    }

    [Fact]
    public void A_stage_1_table_past_the_emulators_leaf_limit_is_ENOMEM_and_nothing_is_allocated()
    {
        RootToDirectory();
        var tables = Fd.Hwpts.Stage1Limits.MaxLeaves / 512 + 1;
        for (var t = 0; t < tables; t++)
        {
            var pt = 0x100000ul + (ulong)t * 0x1000;
            Entry(0x3000, t, pt | P | W);
            for (var i = 0; i < 512; i++)
                Entry(pt, i, 0x80000 | P | W);
        }
        var (ctx, _, devId, parent) = Boot();
        Assert.Equal(Errno.ENOMEM, AllocNested(ctx, devId, parent, 0x1000).Errno);
        // The ID the failed allocation would have had is the next one handed out.
        Assert.Equal(parent + 1, Back<IommuIoasAlloc>(Ioctl(ctx, Ioctls.IOMMU_IOAS_ALLOC, new IommuIoasAlloc(12, 0, 0))).OutIoasId);
    }
}
