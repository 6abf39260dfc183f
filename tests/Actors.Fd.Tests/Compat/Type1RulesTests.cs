using System.Buffers.Binary;
using IommuActors.Domains.Ioas;
using IommuActors.Fd.Compat;
using IommuActors.Uapi;
using IommuActors.Uapi.Structs;
using Xunit;
using Errno = IommuActors.Uapi.Errno;

namespace IommuActors.Fd.Tests.Compat;

public sealed class Type1RulesTests
{
    [Fact]
    public void The_type1_extensions_are_there_and_cache_coherency_needs_the_compat_IOAS()
    {
        Assert.Equal((0, 1L), Type1Rules.CheckExtension(Ioctls.VFIO_TYPE1_IOMMU, null));
        Assert.Equal((0, 1L), Type1Rules.CheckExtension(Ioctls.VFIO_TYPE1v2_IOMMU, null));
        Assert.Equal((0, 1L), Type1Rules.CheckExtension(Ioctls.VFIO_UNMAP_ALL, null));
        Assert.Equal((Errno.ENODEV, 0L), Type1Rules.CheckExtension(Ioctls.VFIO_DMA_CC_IOMMU, null));
        Assert.Equal((0, 1L), Type1Rules.CheckExtension(Ioctls.VFIO_DMA_CC_IOMMU, true));
        Assert.Equal((0, 0L), Type1Rules.CheckExtension(Ioctls.VFIO_DMA_CC_IOMMU, false));
        Assert.Equal((0, 0L), Type1Rules.CheckExtension(99, true));
    }

    [Fact]
    public void Only_the_type1_models_are_set_and_plain_type1_turns_huge_pages_off()
    {
        Assert.Equal(0, Type1Rules.SetIommuErrno(Ioctls.VFIO_TYPE1_IOMMU));
        Assert.Equal(0, Type1Rules.SetIommuErrno(Ioctls.VFIO_TYPE1v2_IOMMU));
        Assert.Equal(Errno.EINVAL, Type1Rules.SetIommuErrno(Ioctls.VFIO_UNMAP_ALL));
        Assert.True(Type1Rules.TurnsOffHugePages(Ioctls.VFIO_TYPE1_IOMMU));
        Assert.False(Type1Rules.TurnsOffHugePages(Ioctls.VFIO_TYPE1v2_IOMMU));
    }

    [Fact]
    public void A_map_takes_read_and_write_only_and_refuses_U64_MAX()
    {
        Assert.Equal(0, Type1Rules.MapFlagsErrno(VfioIommuType1DmaMap.FlagRead | VfioIommuType1DmaMap.FlagWrite));
        Assert.Equal(Errno.EINVAL, Type1Rules.MapFlagsErrno(VfioIommuType1DmaMap.FlagVaddr));
        Assert.Equal(Protection.Read | Protection.Write, Type1Rules.ProtectionOf(VfioIommuType1DmaMap.FlagRead | VfioIommuType1DmaMap.FlagWrite));
        Assert.Equal(Protection.None, Type1Rules.ProtectionOf(0));
        Assert.Equal(Errno.EOVERFLOW, Type1Rules.MapRangeErrno(ulong.MaxValue, 0x1000));
        Assert.Equal(Errno.EOVERFLOW, Type1Rules.MapRangeErrno(0, ulong.MaxValue));
        Assert.Equal(0, Type1Rules.MapRangeErrno(ulong.MaxValue - 1, ulong.MaxValue - 1));
    }

    [Fact]
    public void Unmap_all_is_everything_and_takes_no_range()
    {
        Assert.Equal(Errno.EINVAL, Type1Rules.UnmapFlagsErrno(VfioIommuType1DmaUnmap.FlagGetDirtyBitmap));
        Assert.Equal(0, Type1Rules.UnmapFlagsErrno(VfioIommuType1DmaUnmap.FlagAll));
        Assert.Equal((0, 0x1000ul, 0x2000ul), Type1Rules.UnmapRange(new VfioIommuType1DmaUnmap(24, 0, 0x1000, 0x2000)));
        Assert.Equal((0, 0ul, ulong.MaxValue), Type1Rules.UnmapRange(new VfioIommuType1DmaUnmap(24, VfioIommuType1DmaUnmap.FlagAll, 0, 0)));
        Assert.Equal(Errno.EINVAL, Type1Rules.UnmapRange(new VfioIommuType1DmaUnmap(24, VfioIommuType1DmaUnmap.FlagAll, 0, 0x1000)).Errno);
        Assert.Equal(Errno.EINVAL, Type1Rules.UnmapRange(new VfioIommuType1DmaUnmap(24, VfioIommuType1DmaUnmap.FlagAll, 0x1000, 0)).Errno);
    }

    [Fact]
    public void Page_sizes_are_what_every_domain_maps_with_folded_to_PAGE_SIZE_and_at_least_the_alignment()
    {
        Assert.Equal(0x1000ul | 0x200000, Type1Rules.PageSizes([0x1000ul | 0x200000 | 0x40000000, 0x1000ul | 0x200000], 1));
        Assert.Equal(~0xfffUL, Type1Rules.PageSizes([], 1));
        Assert.Equal(0x1000ul | 0x100000, Type1Rules.PageSizes([0x800ul | 0x100000], 1));
        Assert.Equal(ulong.MaxValue - 1, Type1Rules.PageSizes([0x1000ul], ulong.MaxValue - 1));
    }

    [Fact]
    public void Info_caps_are_DMA_AVAIL_then_IOVA_RANGE_and_the_offset_only_when_all_fit()
    {
        IoasProtocol.IovaSpan[] ranges = [new(0, 0xfff_ffff), new(0x2000_0000, ulong.MaxValue)];
        var all = Type1Rules.Caps(ranges, 1024);
        Assert.Equal((24u + 12 + 16 + 32, 24u, 12 + 16 + 32), (all.Argsz, all.CapOffset, all.Caps.Length));
        Assert.Equal(Type1Rules.CapDmaAvail, BinaryPrimitives.ReadUInt16LittleEndian(all.Caps));
        Assert.Equal(36u, BinaryPrimitives.ReadUInt32LittleEndian(all.Caps.AsSpan(4)));
        Assert.Equal(uint.MaxValue, BinaryPrimitives.ReadUInt32LittleEndian(all.Caps.AsSpan(8)));
        Assert.Equal(Type1Rules.CapIovaRange, BinaryPrimitives.ReadUInt16LittleEndian(all.Caps.AsSpan(12)));
        Assert.Equal(2u, BinaryPrimitives.ReadUInt32LittleEndian(all.Caps.AsSpan(20)));
        Assert.Equal(0x2000_0000ul, BinaryPrimitives.ReadUInt64LittleEndian(all.Caps.AsSpan(44)));
        Assert.Equal(ulong.MaxValue, BinaryPrimitives.ReadUInt64LittleEndian(all.Caps.AsSpan(52)));

        // A caller's argsz short of the whole answer: the pieces that fit, no offset, the argsz needed.
        var part = Type1Rules.Caps(ranges, 24 + 12 + 16 + 16 + 8);
        Assert.Equal((84u, 0u, 12 + 16 + 16), (part.Argsz, part.CapOffset, part.Caps.Length));
        var header = Type1Rules.Caps(ranges, 16);
        Assert.Equal((0u, 0), (header.CapOffset, header.Caps.Length));
    }
}
