using IommuActors.Fd.Files;
using IommuActors.Fd.Tests.Support;
using IommuActors.Uapi;
using IommuActors.Uapi.Structs;
using Xunit;

namespace IommuActors.Fd.Tests.Context;

/// <summary>
/// The IOAS and context ioctl rules, with raw struct bytes: run in process against the file
/// region (<see cref="IoasIoctlSpecs"/>) and over a real host's socket (<see cref="IoasIoctlOverSocketSpecs"/>),
/// so what a client reaches is what is specified.
/// </summary>
public abstract class IoasIoctlRules : FdSpec
{
    private const uint RW = IoasMapFlags.Readable | IoasMapFlags.Writeable;

    protected string Context() => Open("/dev/iommu").FileId;

    private uint AllocIoas(string ctx) => Back<IommuIoasAlloc>(Ioctl(ctx, Ioctls.IOMMU_IOAS_ALLOC, new IommuIoasAlloc(12, 0, 0))).OutIoasId;

    [Fact]
    public void IOAS_ALLOC_writes_back_the_struct_with_the_first_ID_1()
    {
        var done = Ioctl(Context(), Ioctls.IOMMU_IOAS_ALLOC, new IommuIoasAlloc(12, 0, 0));
        Assert.Equal(0, done.Errno);
        Assert.Equal(UserStruct.Encode(new IommuIoasAlloc(12, 0, 1)), done.Writeback);
    }

    [Fact]
    public void IOAS_ALLOC_with_flags_is_EOPNOTSUPP()
    {
        Assert.Equal(Errno.EOPNOTSUPP, Ioctl(Context(), Ioctls.IOMMU_IOAS_ALLOC, new IommuIoasAlloc(12, 1, 0)).Errno);
    }

    [Fact]
    public void A_size_below_the_minimum_is_EINVAL()
    {
        Assert.Equal(Errno.EINVAL, Ioctl(Context(), Ioctls.IOMMU_IOAS_ALLOC, [11, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]).Errno);
    }

    [Fact]
    public void A_longer_struct_with_a_non_zero_tail_is_E2BIG_and_with_a_zero_tail_works()
    {
        var ctx = Context();
        var tail = new byte[13];
        tail[0] = 13;
        tail[12] = 1;
        Assert.Equal(Errno.E2BIG, Ioctl(ctx, Ioctls.IOMMU_IOAS_ALLOC, tail).Errno);
        tail[12] = 0;
        var done = Ioctl(ctx, Ioctls.IOMMU_IOAS_ALLOC, tail);
        Assert.Equal(0, done.Errno);
        Assert.Equal(12, done.Writeback.Length);
    }

    [Fact]
    public void A_wrong_number_in_the_iommufd_range_is_ENOTTY_but_a_missing_size_EFAULT_first()
    {
        var ctx = Context();
        // nr 0x80 with direction and size bits set: not the table's DESTROY.
        Assert.Equal(Errno.EFAULT, Ioctl(ctx, 0x40083b80, []).Errno);
        Assert.Equal(Errno.ENOTTY, Ioctl(ctx, 0x40083b80, [8, 0, 0, 0, 0, 0, 0, 0]).Errno);
    }

    [Fact]
    public void A_number_outside_the_iommufd_table_goes_to_the_VFIO_compat_layer_and_is_ENOTTY_there()
    {
        var ctx = Context();
        Assert.Equal(Errno.ENOTTY, Ioctl(ctx, 0x3b9f, []).Errno);
        Assert.Equal(Errno.ENOTTY, Ioctl(ctx, 0x3b7f, [8, 0, 0, 0, 0, 0, 0, 0]).Errno);
    }

    [Fact]
    public void DESTROY_of_an_unknown_ID_is_ENOENT()
    {
        Assert.Equal(Errno.ENOENT, Ioctl(Context(), Ioctls.IOMMU_DESTROY, new IommuDestroy(8, 7)).Errno);
    }

    [Fact]
    public void A_destroyed_IOAS_ID_is_handed_out_again()
    {
        var ctx = Context();
        AllocIoas(ctx);
        AllocIoas(ctx);
        Assert.Equal(0, Ioctl(ctx, Ioctls.IOMMU_DESTROY, new IommuDestroy(8, 1)).Errno);
        Assert.Equal(Errno.ENOENT, Ioctl(ctx, Ioctls.IOMMU_IOAS_MAP, new IommuIoasMap(40, RW, 1, 0, Mem, 4096, 0)).Errno);
        Assert.Equal(1u, AllocIoas(ctx));
    }

    [Fact]
    public void IOAS_MAP_writes_back_the_chosen_IOVA_and_UNMAP_the_length_unmapped()
    {
        var ctx = Context();
        var ioas = AllocIoas(ctx);
        var mapped = Back<IommuIoasMap>(Ioctl(ctx, Ioctls.IOMMU_IOAS_MAP, new IommuIoasMap(40, RW | IoasMapFlags.FixedIova, ioas, 0, Mem, 0x4000, 0x10000)));
        Assert.Equal(0x10000ul, mapped.Iova);
        var unmapped = Back<IommuIoasUnmap>(Ioctl(ctx, Ioctls.IOMMU_IOAS_UNMAP, new IommuIoasUnmap(24, ioas, 0, ulong.MaxValue)));
        Assert.Equal(0x4000ul, unmapped.Length);
    }

    [Fact]
    public void A_range_UNMAP_meeting_an_area_that_sticks_out_is_ENOENT_and_leaves_the_areas_before_it_unmapped()
    {
        var ctx = Context();
        var ioas = AllocIoas(ctx);
        Files.FileProtocol.IoctlDone Map(ulong iova, ulong length) =>
            Ioctl(ctx, Ioctls.IOMMU_IOAS_MAP, new IommuIoasMap(40, RW | IoasMapFlags.FixedIova, ioas, 0, Mem, length, iova));
        Assert.Equal(0, Map(0x10000, 0x1000).Errno);
        Assert.Equal(0, Map(0x12000, 0x1000).Errno);
        Assert.Equal(0, Map(0x14000, 0x2000).Errno);
        // [0x10000, 0x15000): the first two areas lie inside, the third sticks out of the end.
        var refused = Ioctl(ctx, Ioctls.IOMMU_IOAS_UNMAP, new IommuIoasUnmap(24, ioas, 0x10000, 0x5000));
        Assert.Equal((Errno.ENOENT, 0), (refused.Errno, refused.Writeback.Length));
        Assert.Equal(0, Map(0x10000, 0x1000).Errno);
        Assert.Equal(0, Map(0x12000, 0x1000).Errno);
        Assert.Equal(Errno.EEXIST, Map(0x14000, 0x1000).Errno);
    }

    [Fact]
    public void IOAS_MAP_without_FIXED_IOVA_writes_back_the_lowest_IOVA_aligned_to_the_length()
    {
        var ctx = Context();
        var ioas = AllocIoas(ctx);
        var first = Back<IommuIoasMap>(Ioctl(ctx, Ioctls.IOMMU_IOAS_MAP, new IommuIoasMap(40, RW, ioas, 0, Mem, 0x4000, 0)));
        Assert.Equal(0x4000ul, first.Iova);
        var second = Back<IommuIoasMap>(Ioctl(ctx, Ioctls.IOMMU_IOAS_MAP, new IommuIoasMap(40, RW, ioas, 0, Mem, 0x1000, 0)));
        Assert.Equal(0x1000ul, second.Iova);
    }

    [Fact]
    public void IOAS_MAP_checks_flags_then_overflow_then_permission_then_the_ID()
    {
        var ctx = Context();
        Assert.Equal(Errno.EOPNOTSUPP, Ioctl(ctx, Ioctls.IOMMU_IOAS_MAP, new IommuIoasMap(40, 8, 9, 0, Mem, ulong.MaxValue, 0)).Errno);
        Assert.Equal(Errno.EOVERFLOW, Ioctl(ctx, Ioctls.IOMMU_IOAS_MAP, new IommuIoasMap(40, 0, 9, 0, Mem, ulong.MaxValue, 0)).Errno);
        Assert.Equal(Errno.EINVAL, Ioctl(ctx, Ioctls.IOMMU_IOAS_MAP, new IommuIoasMap(40, 0, 9, 0, Mem, 4096, 0)).Errno);
        Assert.Equal(Errno.ENOENT, Ioctl(ctx, Ioctls.IOMMU_IOAS_MAP, new IommuIoasMap(40, RW, 9, 0, Mem, 4096, 0)).Errno);
    }

    [Fact]
    public void IOVA_RANGES_with_too_small_an_array_is_EMSGSIZE_and_still_reports_the_count()
    {
        var ctx = Context();
        var ioas = AllocIoas(ctx);
        var done = Ioctl(ctx, Ioctls.IOMMU_IOAS_IOVA_RANGES, new IommuIoasIovaRanges(32, ioas, 0, 0, Mem + 0x1000, 0), arg: Mem);
        Assert.Equal(Errno.EMSGSIZE, done.Errno);
        var back = IommuIoasIovaRanges.Read(Peek(Mem, 32));
        Assert.Equal(1u, back.NumIovas);
        Assert.Equal(1ul, back.OutIovaAlignment);
    }

    [Fact]
    public void IOVA_RANGES_of_a_fresh_IOAS_is_the_whole_space_written_to_the_array()
    {
        var ctx = Context();
        var ioas = AllocIoas(ctx);
        var back = Back<IommuIoasIovaRanges>(Ioctl(ctx, Ioctls.IOMMU_IOAS_IOVA_RANGES, new IommuIoasIovaRanges(32, ioas, 4, 0, Mem + 0x1000, 0)));
        Assert.Equal(1u, back.NumIovas);
        Assert.Equal(new IommuIovaRange(0, ulong.MaxValue), IommuIovaRange.Read(Peek(Mem + 0x1000, 16)));
    }

    [Fact]
    public void ALLOW_IOVAS_refuses_a_single_byte_range_with_EINVAL_and_an_unreadable_array_with_EFAULT()
    {
        var ctx = Context();
        var ioas = AllocIoas(ctx);
        Poke(Mem + 0x1000, UserStruct.Encode(new IommuIovaRange(0x5000, 0x5000)));
        Assert.Equal(Errno.EINVAL, Ioctl(ctx, Ioctls.IOMMU_IOAS_ALLOW_IOVAS, new IommuIoasAllowIovas(24, ioas, 1, 0, Mem + 0x1000)).Errno);
        Assert.Equal(Errno.EFAULT, Ioctl(ctx, Ioctls.IOMMU_IOAS_ALLOW_IOVAS, new IommuIoasAllowIovas(24, ioas, 1, 0, 0x10)).Errno);
    }

    [Fact]
    public void IOAS_COPY_maps_the_source_pages_into_the_destination()
    {
        var ctx = Context();
        var src = AllocIoas(ctx);
        var dst = AllocIoas(ctx);
        Ioctl(ctx, Ioctls.IOMMU_IOAS_MAP, new IommuIoasMap(40, RW | IoasMapFlags.FixedIova, src, 0, Mem, 0x2000, 0x10000));
        var copied = Back<IommuIoasCopy>(Ioctl(ctx, Ioctls.IOMMU_IOAS_COPY, new IommuIoasCopy(40, RW | IoasMapFlags.FixedIova, dst, src, 0x2000, 0x40000, 0x10000)));
        Assert.Equal(0x40000ul, copied.DstIova);
        Assert.Equal(Errno.ENOENT, Ioctl(ctx, Ioctls.IOMMU_IOAS_COPY, new IommuIoasCopy(40, RW | IoasMapFlags.FixedIova, 9, src, 0x2000, 0x80000, 0x10000)).Errno);
    }

    [Fact]
    public void IOAS_COPY_with_WRITEABLE_of_pages_mapped_without_it_is_EPERM_and_leaves_the_destination_IOVA_free()
    {
        var ctx = Context();
        var src = AllocIoas(ctx);
        var dst = AllocIoas(ctx);
        const uint readOnly = IoasMapFlags.Readable | IoasMapFlags.FixedIova;
        Assert.Equal(0, Ioctl(ctx, Ioctls.IOMMU_IOAS_MAP, new IommuIoasMap(40, readOnly, src, 0, Mem, 0x2000, 0x10000)).Errno);
        Assert.Equal(Errno.EPERM, Ioctl(ctx, Ioctls.IOMMU_IOAS_COPY, new IommuIoasCopy(40, RW | IoasMapFlags.FixedIova, dst, src, 0x2000, 0x40000, 0x10000)).Errno);
        var copied = Back<IommuIoasCopy>(Ioctl(ctx, Ioctls.IOMMU_IOAS_COPY, new IommuIoasCopy(40, readOnly, dst, src, 0x2000, 0x40000, 0x10000)));
        Assert.Equal(0x40000ul, copied.DstIova);
    }

    [Fact]
    public void OPTION_huge_pages_reads_back_what_was_set()
    {
        var ctx = Context();
        var ioas = AllocIoas(ctx);
        Assert.Equal(1ul, Back<IommuOption>(Ioctl(ctx, Ioctls.IOMMU_OPTION, new IommuOption(24, IommuOptions.HugePages, IommuOptions.OpGet, 0, ioas, 0))).Val64);
        Assert.Equal(0, Ioctl(ctx, Ioctls.IOMMU_OPTION, new IommuOption(24, IommuOptions.HugePages, IommuOptions.OpSet, 0, ioas, 0)).Errno);
        Assert.Equal(0ul, Back<IommuOption>(Ioctl(ctx, Ioctls.IOMMU_OPTION, new IommuOption(24, IommuOptions.HugePages, IommuOptions.OpGet, 0, ioas, 7))).Val64);
    }

    [Fact]
    public void OPTION_rlimit_mode_set_is_EBUSY_once_the_context_holds_an_object()
    {
        var ctx = Context();
        Assert.Equal(0, Ioctl(ctx, Ioctls.IOMMU_OPTION, new IommuOption(24, IommuOptions.RlimitMode, IommuOptions.OpSet, 0, 0, 1)).Errno);
        AllocIoas(ctx);
        Assert.Equal(Errno.EBUSY, Ioctl(ctx, Ioctls.IOMMU_OPTION, new IommuOption(24, IommuOptions.RlimitMode, IommuOptions.OpSet, 0, 0, 0)).Errno);
        Assert.Equal(1ul, Back<IommuOption>(Ioctl(ctx, Ioctls.IOMMU_OPTION, new IommuOption(24, IommuOptions.RlimitMode, IommuOptions.OpGet, 0, 0, 0))).Val64);
    }

    [Fact]
    public void VFIO_IOAS_get_without_a_compat_IOAS_is_ENODEV_and_after_set_names_it()
    {
        var ctx = Context();
        var ioas = AllocIoas(ctx);
        Assert.Equal(Errno.ENODEV, Ioctl(ctx, Ioctls.IOMMU_VFIO_IOAS, new IommuVfioIoas(12, 0, VfioIoasOps.Get, 0)).Errno);
        Assert.Equal(0, Ioctl(ctx, Ioctls.IOMMU_VFIO_IOAS, new IommuVfioIoas(12, ioas, VfioIoasOps.Set, 0)).Errno);
        Assert.Equal(ioas, Back<IommuVfioIoas>(Ioctl(ctx, Ioctls.IOMMU_VFIO_IOAS, new IommuVfioIoas(12, 0, VfioIoasOps.Get, 0))).IoasId);
    }

    [Fact]
    public void Type1_compat_without_a_compat_IOAS_answers_ENODEV_and_the_API_version_0()
    {
        var ctx = Context();
        var version = Ioctl(ctx, Ioctls.VFIO_GET_API_VERSION, []);
        Assert.Equal((0, 0L), (version.Errno, version.ReturnValue));
        Assert.Equal(1, Ioctl(ctx, Ioctls.VFIO_CHECK_EXTENSION, [], arg: Ioctls.VFIO_TYPE1v2_IOMMU).ReturnValue);
        Assert.Equal(Errno.ENODEV, Ioctl(ctx, Ioctls.VFIO_CHECK_EXTENSION, [], arg: Ioctls.VFIO_DMA_CC_IOMMU).Errno);
        Assert.Equal(Errno.ENODEV, Ioctl(ctx, Ioctls.VFIO_SET_IOMMU, [], arg: Ioctls.VFIO_TYPE1v2_IOMMU).Errno);
        Assert.Equal(Errno.EINVAL, Ioctl(ctx, Ioctls.VFIO_SET_IOMMU, [], arg: 2).Errno);
    }

    [Fact]
    public void Type1_MAP_DMA_and_UNMAP_DMA_act_on_the_compat_IOAS()
    {
        var ctx = Context();
        var ioas = AllocIoas(ctx);
        Ioctl(ctx, Ioctls.IOMMU_VFIO_IOAS, new IommuVfioIoas(12, ioas, VfioIoasOps.Set, 0));
        Assert.Equal(0, Ioctl(ctx, Ioctls.VFIO_IOMMU_MAP_DMA, new VfioIommuType1DmaMap(32, 3, Mem, 0x100000, 0x2000)).Errno);
        var unmap = Ioctl(ctx, Ioctls.VFIO_IOMMU_UNMAP_DMA, new VfioIommuType1DmaUnmap(24, 0, 0x100000, 0x2000));
        Assert.Equal(0x2000ul, Back<VfioIommuType1DmaUnmap>(unmap).Size);
    }

    [Theory]
    [InlineData(Ioctls.VFIO_TYPE1_IOMMU, 0)]
    [InlineData(Ioctls.VFIO_TYPE1v2_IOMMU, Errno.ENOENT)]
    public void Type1_v1_UNMAP_DMA_takes_a_piece_out_of_a_mapping_where_type1v2_refuses_with_ENOENT(uint type, int errno)
    {
        var ctx = Context();
        var ioas = AllocIoas(ctx);
        Ioctl(ctx, Ioctls.IOMMU_VFIO_IOAS, new IommuVfioIoas(12, ioas, VfioIoasOps.Set, 0));
        Assert.Equal(0, Ioctl(ctx, Ioctls.VFIO_SET_IOMMU, [], arg: type).Errno);
        Assert.Equal(0, Ioctl(ctx, Ioctls.VFIO_IOMMU_MAP_DMA, new VfioIommuType1DmaMap(32, 3, Mem, 0x100000, 0x10000)).Errno);
        var unmap = Ioctl(ctx, Ioctls.VFIO_IOMMU_UNMAP_DMA, new VfioIommuType1DmaUnmap(24, 0, 0x104000, 0x4000));
        Assert.Equal(errno, unmap.Errno);
        if (errno == 0)
        {
            Assert.Equal(0x4000ul, Back<VfioIommuType1DmaUnmap>(unmap).Size);
            // What is left either side unmaps whole; the hole is gone.
            Assert.Equal(Errno.ENOENT, Ioctl(ctx, Ioctls.VFIO_IOMMU_UNMAP_DMA, new VfioIommuType1DmaUnmap(24, 0, 0x104000, 0x4000)).Errno);
            Assert.Equal(0x4000ul, Back<VfioIommuType1DmaUnmap>(Ioctl(ctx, Ioctls.VFIO_IOMMU_UNMAP_DMA, new VfioIommuType1DmaUnmap(24, 0, 0x100000, 0x4000))).Size);
            Assert.Equal(0x8000ul, Back<VfioIommuType1DmaUnmap>(Ioctl(ctx, Ioctls.VFIO_IOMMU_UNMAP_DMA, new VfioIommuType1DmaUnmap(24, 0, 0x108000, 0x8000))).Size);
        }
    }

    [Fact]
    public void Type1_GET_INFO_reports_page_sizes_and_the_caps_chain()
    {
        var ctx = Context();
        var ioas = AllocIoas(ctx);
        Ioctl(ctx, Ioctls.IOMMU_VFIO_IOAS, new IommuVfioIoas(12, ioas, VfioIoasOps.Set, 0));
        var inline = new byte[128];
        UserStruct.Encode(new VfioIommuType1Info(128, 0, 0, 0, 0)).CopyTo(inline, 0);
        var info = Back<VfioIommuType1Info>(Ioctl(ctx, Ioctls.VFIO_IOMMU_GET_INFO, inline));
        Assert.Equal(new VfioIommuType1Info(24 + 12 + 32, 3, ~4095ul, 24, 0), info);
        // DMA_AVAIL (id 3) points at IOVA_RANGE (id 1) at offset 36, which holds the one range.
        Assert.Equal([3, 0, 1, 0, 36, 0, 0, 0, 255, 255, 255, 255], Peek(Mem + 24, 12));
        Assert.Equal((1ul, 0ul, ulong.MaxValue), ((ulong)Peek(Mem + 44, 1)[0], U64(Peek(Mem + 52, 16), 0), U64(Peek(Mem + 52, 16), 8)));
    }
}

public sealed class IoasIoctlSpecs : IoasIoctlRules
{
    [Fact]
    public void OPTION_rlimit_mode_set_without_CAP_SYS_RESOURCE_is_EPERM_and_changes_nothing()
    {
        var ctx = Context();
        var set = UserStruct.Encode(new IommuOption(24, IommuOptions.RlimitMode, IommuOptions.OpSet, 0, 0, 1));
        Assert.Equal(Errno.EPERM, Ioctl(ctx, Ioctls.IOMMU_OPTION, set, caller: new FileProtocol.Caller(1000, 4242, CapSysResource: false)).Errno);
        Assert.Equal(0ul, Back<IommuOption>(Ioctl(ctx, Ioctls.IOMMU_OPTION, new IommuOption(24, IommuOptions.RlimitMode, IommuOptions.OpGet, 0, 0, 0))).Val64);
    }
}

/// <summary>The same rules through the front door of a host as users run it.</summary>
public sealed class IoasIoctlOverSocketSpecs : IoasIoctlRules, IClassFixture<SocketHost>
{
    public IoasIoctlOverSocketSpecs(SocketHost host) => UseSocket(host);
}
