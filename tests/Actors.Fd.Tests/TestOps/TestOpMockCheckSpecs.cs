using IommuActors.Uapi;
using IommuActors.Uapi.Structs;
using Xunit;

namespace IommuActors.Fd.Tests.TestOps;

/// <summary>
/// The selftest's looks into mock domains and devices (MD_CHECK_MAP, MD_CHECK_REFS,
/// MD_CHECK_IOTLB, DEV_CHECK_CACHE, TRIGGER_VEVENT) and its DIRTY op with GET_DIRTY_BITMAP.
/// </summary>
public sealed class TestOpMockCheckSpecs : TestOpSpec
{
    private const ulong Outside = 0x1000_0000;

    // ---- MD_CHECK_MAP ----

    [Fact]
    public void MD_CHECK_MAP_passes_where_the_mock_domain_maps_the_IOVAs_to_uptr_and_is_EINVAL_for_other_memory_or_a_hole()
    {
        var ioas = NewIoas();
        var mock = MockDomain(ioas);
        Assert.Equal(0, Map(ioas, MockIova, Buffer, 0x3000));

        Assert.Equal(0, Test(CheckMapCmd(mock.Hwpt, MockIova, 0x3000, Buffer)).Errno);
        Assert.Equal(0, Test(CheckMapCmd(mock.Hwpt, MockIova + 0x800, 0x1000, Buffer + 0x800)).Errno);
        Assert.Equal(Errno.EINVAL, Test(CheckMapCmd(mock.Hwpt, MockIova, 0x3000, Buffer + 0x1000)).Errno);
        Assert.Equal(Errno.EINVAL, Test(CheckMapCmd(mock.Hwpt, MockIova + 0x2000, 0x2000, Buffer + 0x2000)).Errno);
        Assert.Equal(0, Test(CheckMapCmd(mock.Hwpt, MockIova, 0, Buffer)).Errno);
    }

    [Fact]
    public void MD_CHECK_MAP_a_domain_filled_after_the_map_holds_it_too_and_after_the_unmap_holds_nothing()
    {
        var ioas = NewIoas();
        Assert.Equal(0, Map(ioas, MockIova, Buffer, 0x2000));
        var mock = MockDomain(ioas);
        Assert.Equal(0, Test(CheckMapCmd(mock.Hwpt, MockIova, 0x2000, Buffer)).Errno);
        Assert.Equal(0, Unmap(ioas, MockIova, 0x2000));
        Assert.Equal(Errno.EINVAL, Test(CheckMapCmd(mock.Hwpt, MockIova, 0x800, Buffer)).Errno);
    }

    [Fact]
    public void MD_CHECK_MAP_wants_a_paging_HWPT_then_arguments_on_the_mock_page_then_a_uptr_that_exists()
    {
        var ioas = NewIoas();
        var mock = MockDomain(ioas);
        Assert.Equal(0, Map(ioas, MockIova, Buffer, 0x1000));

        Assert.Equal(Errno.ENOENT, Test(CheckMapCmd(ioas, MockIova + 1, 0x1000, Buffer)).Errno);
        Assert.Equal(Errno.ENOENT, Test(CheckMapCmd(mock.Stdev, MockIova, 0x1000, Buffer)).Errno);
        Assert.Equal(Errno.EINVAL, Test(CheckMapCmd(mock.Hwpt, MockIova + 0x400, 0x800, Buffer)).Errno);
        Assert.Equal(Errno.EINVAL, Test(CheckMapCmd(mock.Hwpt, MockIova, 0x400, Buffer)).Errno);
        Assert.Equal(Errno.EINVAL, Test(CheckMapCmd(mock.Hwpt, MockIova, 0x800, Buffer + 0x400)).Errno);
        Assert.Equal(Errno.EINVAL, Test(CheckMapCmd(mock.Hwpt, MockIova, 0x800, ulong.MaxValue - 0x7ff)).Errno);
        // The user page is faulted in before it is compared: memory the client does not have is EFAULT.
        Assert.Equal(Errno.EFAULT, Test(CheckMapCmd(mock.Hwpt, MockIova, 0x1000, Outside)).Errno);
    }

    [Fact]
    public void MD_CHECK_MAP_on_a_HWPT_of_another_driver_is_EINVAL()
    {
        var devId = BindPlatformDevice("vfio1");
        var ioas = NewIoas();
        var vtd = AllocHwpt(devId, ioas);
        Assert.Equal(Errno.EINVAL, Test(CheckMapCmd(vtd, MockIova, 0x1000, Buffer)).Errno);
    }

    // ---- MD_CHECK_REFS ----

    [Fact]
    public void MD_CHECK_REFS_counts_a_pin_for_each_mapping_a_domain_holds_and_none_once_unmapped()
    {
        var ioas = NewIoas();
        Assert.Equal(0, Map(ioas, MockIova, Buffer, 0x2000));
        // No domain: IOAS_MAP pins nothing.
        Assert.Equal(0, Test(CheckRefsCmd(Buffer, 0x2000, 0)).Errno);
        Assert.Equal(Errno.EIO, Test(CheckRefsCmd(Buffer, 0x2000, 1)).Errno);

        MockDomain(ioas);
        Assert.Equal(0, Test(CheckRefsCmd(Buffer, 0x2000, 1)).Errno);
        Assert.Equal(0, Map(ioas, MockIova + 0x10000, Buffer + 0x1000, 0x1000));
        Assert.Equal(0, Test(CheckRefsCmd(Buffer, 0x1000, 1)).Errno);
        Assert.Equal(0, Test(CheckRefsCmd(Buffer + 0x1000, 0x1000, 2)).Errno);
        Assert.Equal(Errno.EIO, Test(CheckRefsCmd(Buffer, 0x2000, 2)).Errno);

        Assert.Equal(0, Unmap(ioas, 0, ulong.MaxValue));
        Assert.Equal(0, Test(CheckRefsCmd(Buffer, 0x2000, 0)).Errno);
    }

    [Fact]
    public void MD_CHECK_REFS_of_a_copy_shares_the_pin_and_the_last_domain_going_unpins()
    {
        var first = NewIoas();
        var second = NewIoas();
        Assert.Equal(0, Map(first, MockIova, Buffer, 0x1000));
        var mock = MockDomain(first);
        MockDomain(second);
        Assert.Equal(0, Ioctl(Ctx, Ioctls.IOMMU_IOAS_COPY, new IommuIoasCopy(40, RW, second, first, 0x1000, MockIova, MockIova)).Errno);
        Assert.Equal(0, Test(CheckRefsCmd(Buffer, 0x1000, 1)).Errno);

        Assert.Equal(0, Destroy(mock.Stdev));
        Assert.Equal(0, Test(CheckRefsCmd(Buffer, 0x1000, 1)).Errno);
        Assert.Equal(0, Unmap(second, 0, ulong.MaxValue));
        Assert.Equal(0, Test(CheckRefsCmd(Buffer, 0x1000, 0)).Errno);
    }

    [Fact]
    public void MD_CHECK_REFS_wants_whole_pages_and_memory_that_exists()
    {
        Assert.Equal(Errno.EINVAL, Test(CheckRefsCmd(Buffer + 0x800, 0x1000, 0)).Errno);
        Assert.Equal(Errno.EINVAL, Test(CheckRefsCmd(Buffer, 0x800, 0)).Errno);
        Assert.Equal(Errno.EINVAL, Test(CheckRefsCmd(ulong.MaxValue - 0xfff, 0x2000, 0)).Errno);
        Assert.Equal(Errno.EFAULT, Test(CheckRefsCmd(Outside, 0x1000, 0)).Errno);
        Assert.Equal(0, Test(CheckRefsCmd(Outside, 0, 7)).Errno);
    }

    // ---- MD_CHECK_IOTLB and DEV_CHECK_CACHE ----

    private static IommuTestCmd CheckIotlbCmd(uint hwpt, uint index, uint value) =>
        IommuTestCmd.Create(TestOp.MdCheckIotlb, hwpt).WithU32(TestCmdLayout.CheckIotlb.Id, index).WithU32(TestCmdLayout.CheckIotlb.Iotlb, value);

    [Fact]
    public void MD_CHECK_IOTLB_sees_the_nested_domains_four_entries_from_its_data_until_an_invalidation_clears_one()
    {
        var ioas = NewIoas();
        var mock = MockDomain(ioas);
        var parent = AllocHwpt(mock.Idev, ioas, HwptAllocFlags.NestParent);
        var nested = AllocNested(mock.Idev, parent, Selftest.IotlbDefault);
        for (uint i = 0; i < Selftest.NestedDomainIotlbNum; i++)
            Assert.Equal(0, Test(CheckIotlbCmd(nested, i, Selftest.IotlbDefault)).Errno);
        Assert.Equal(Errno.EINVAL, Test(CheckIotlbCmd(nested, 0, 0)).Errno);
        Assert.Equal(Errno.EINVAL, Test(CheckIotlbCmd(nested, Selftest.NestedDomainIotlbIdMax + 1, Selftest.IotlbDefault)).Errno);

        Poke(Mem + 0x100, [.. BitConverter.GetBytes(0u), .. BitConverter.GetBytes(2u)]);
        Assert.Equal(0, Ioctl(Ctx, Ioctls.IOMMU_HWPT_INVALIDATE,
            new IommuHwptInvalidate(32, nested, Mem + 0x100, Selftest.InvalidateDataType, 8, 1, 0)).Errno);
        Assert.Equal(0, Test(CheckIotlbCmd(nested, 2, 0)).Errno);
        Assert.Equal(0, Test(CheckIotlbCmd(nested, 3, Selftest.IotlbDefault)).Errno);

        Assert.Equal(Errno.ENOENT, Test(CheckIotlbCmd(parent, 0, 0)).Errno);
    }

    private static IommuTestCmd CheckCacheCmd(uint idev, uint index, uint value) =>
        IommuTestCmd.Create(TestOp.DevCheckCache, idev).WithU32(TestCmdLayout.CheckDevCache.Id, index).WithU32(TestCmdLayout.CheckDevCache.Cache, value);

    [Fact]
    public void DEV_CHECK_CACHE_sees_the_default_in_each_of_the_four_entries_of_a_mock_device_and_wants_a_DEVICE()
    {
        var mock = MockDomain(NewIoas());
        for (uint i = 0; i < Selftest.DevCacheNum; i++)
            Assert.Equal(0, Test(CheckCacheCmd(mock.Idev, i, Selftest.DevCacheDefault)).Errno);
        Assert.Equal(Errno.EINVAL, Test(CheckCacheCmd(mock.Idev, 0, 0)).Errno);
        Assert.Equal(Errno.EINVAL, Test(CheckCacheCmd(mock.Idev, Selftest.DevCacheIdMax + 1, Selftest.DevCacheDefault)).Errno);
        Assert.Equal(Errno.ENOENT, Test(CheckCacheCmd(mock.Stdev, 0, Selftest.DevCacheDefault)).Errno);
    }

    [Fact]
    public void TRIGGER_VEVENT_has_no_vIOMMU_to_report_to_and_is_ENOENT()
    {
        var mock = MockDomain(NewIoas());
        var trigger = IommuTestCmd.Create(TestOp.TriggerVevent, 0).WithU32(TestCmdLayout.TriggerVevent.DevId, mock.Idev);
        Assert.Equal(Errno.ENOENT, Test(trigger).Errno);
    }

    // ---- DIRTY ----

    private static IommuTestCmd DirtyCmd(uint hwpt, ulong iova, ulong length, ulong pageSize, ulong uptr) =>
        IommuTestCmd.Create(TestOp.Dirty, hwpt)
            .WithU64(TestCmdLayout.Dirty.Iova, iova)
            .WithU64(TestCmdLayout.Dirty.Length, length)
            .WithU64(TestCmdLayout.Dirty.PageSize, pageSize)
            .WithU64(TestCmdLayout.Dirty.Uptr, uptr);

    private (uint Hwpt, uint Ioas) TrackingDomain()
    {
        var ioas = NewIoas();
        var mock = MockDomain(ioas);
        var hwpt = AllocHwpt(mock.Idev, ioas, HwptAllocFlags.DirtyTracking);
        Assert.Equal(0, Test(ReplaceCmd(mock.Stdev, hwpt)).Errno);
        Assert.Equal(0, Map(ioas, MockIova, Buffer, 0x8000));
        return (hwpt, ioas);
    }

    [Fact]
    public void DIRTY_marks_the_pages_of_the_set_bits_counts_the_mapped_ones_and_GET_DIRTY_BITMAP_reports_and_clears_them()
    {
        var (hwpt, _) = TrackingDomain();
        Assert.Equal(0, Ioctl(Ctx, Ioctls.IOMMU_HWPT_SET_DIRTY_TRACKING, new IommuHwptSetDirtyTracking(16, 1, hwpt, 0)).Errno);
        // Pages 0, 2 and 7 of the mapping, and page 9, which nothing maps.
        Poke(Mem + 0x200, [0b1000_0101, 0b0000_0010]);
        var done = Test(DirtyCmd(hwpt, MockIova, 0xa000, 0x1000, Mem + 0x200));
        Assert.Equal(UserStruct.Encode(DirtyCmd(hwpt, MockIova, 0xa000, 0x1000, Mem + 0x200).WithU64(TestCmdLayout.Dirty.OutNrDirty, 3)),
            done.Writeback);

        var bitmap = new IommuHwptGetDirtyBitmap(48, hwpt, 0, 0, MockIova, 0x8000, 0x1000, Mem + 0x300);
        Assert.Equal(0, Ioctl(Ctx, Ioctls.IOMMU_HWPT_GET_DIRTY_BITMAP, bitmap).Errno);
        Assert.Equal(0b1000_0101ul, U64(Peek(Mem + 0x300, 8), 0));
        Assert.Equal(0, Ioctl(Ctx, Ioctls.IOMMU_HWPT_GET_DIRTY_BITMAP, bitmap).Errno);
        Assert.Equal(0ul, U64(Peek(Mem + 0x300, 8), 0));
    }

    [Fact]
    public void DIRTY_checks_its_arguments_then_the_HWPT_then_that_tracking_is_on_then_reads_the_bitmap()
    {
        var (hwpt, ioas) = TrackingDomain();
        Assert.Equal(Errno.EINVAL, Test(DirtyCmd(77, MockIova, 0x1000, 0, Mem)).Errno);
        Assert.Equal(Errno.EINVAL, Test(DirtyCmd(77, MockIova, 0, 0x1000, Mem)).Errno);
        Assert.Equal(Errno.EINVAL, Test(DirtyCmd(77, MockIova + 0x800, 0x1000, 0x1000, Mem)).Errno);
        Assert.Equal(Errno.EINVAL, Test(DirtyCmd(77, MockIova, 0x1800, 0x1000, Mem)).Errno);
        Assert.Equal(Errno.EINVAL, Test(DirtyCmd(77, MockIova, 0x1000, 0x1000, 0)).Errno);
        Assert.Equal(Errno.ENOENT, Test(DirtyCmd(ioas, MockIova, 0x1000, 0x1000, Mem)).Errno);
        Assert.Equal(Errno.EINVAL, Test(DirtyCmd(hwpt, MockIova, 0x1000, 0x1000, Mem)).Errno);

        Assert.Equal(0, Ioctl(Ctx, Ioctls.IOMMU_HWPT_SET_DIRTY_TRACKING, new IommuHwptSetDirtyTracking(16, 1, hwpt, 0)).Errno);
        Assert.Equal(Errno.EFAULT, Test(DirtyCmd(hwpt, MockIova, 0x1000, 0x1000, Outside)).Errno);
        Poke(Mem, [0]);
        var none = Back<IommuTestCmd>(Test(DirtyCmd(hwpt, MockIova, 0x1000, 0x1000, Mem)));
        Assert.Equal(0ul, none.U64(TestCmdLayout.Dirty.OutNrDirty));
    }
    [Fact]
    public void The_mock_domain_keeps_a_dirty_bit_per_2_KiB_page_so_marking_pages_0_and_2_reads_back_0b101()
    {
        var (hwpt, _) = TrackingDomain();
        Assert.Equal(0, Ioctl(Ctx, Ioctls.IOMMU_HWPT_SET_DIRTY_TRACKING, new IommuHwptSetDirtyTracking(16, 1, hwpt, 0)).Errno);
        Poke(Mem + 0x200, [0b0000_0101]);
        Assert.Equal(2ul, Back<IommuTestCmd>(Test(DirtyCmd(hwpt, MockIova, 0x2000, 0x800, Mem + 0x200))).U64(TestCmdLayout.Dirty.OutNrDirty));

        var bitmap = new IommuHwptGetDirtyBitmap(48, hwpt, 0, 0, MockIova, 0x2000, 0x800, Mem + 0x300);
        Assert.Equal(0, Ioctl(Ctx, Ioctls.IOMMU_HWPT_GET_DIRTY_BITMAP, bitmap).Errno);
        Assert.Equal(0b0101ul, U64(Peek(Mem + 0x300, 8), 0));
    }

    [Fact]
    public void A_HUGE_IOVA_devices_domain_maps_1_MiB_pages_so_one_marked_2_KiB_page_dirties_512_bits()
    {
        var ioas = NewIoas();
        var mock = MockDomain(ioas, Selftest.DeviceHugeIova);
        var hwpt = AllocHwpt(mock.Idev, ioas, HwptAllocFlags.DirtyTracking);
        Assert.Equal(0, Map(ioas, MockIova, Mem + 0x100000, 0x200000));
        Assert.Equal(0, Ioctl(Ctx, Ioctls.IOMMU_HWPT_SET_DIRTY_TRACKING, new IommuHwptSetDirtyTracking(16, 1, hwpt, 0)).Errno);
        // Bit 1 of the second MiB: 2 KiB into it.
        Poke(Mem + 0x200, new byte[128]);
        Poke(Mem + 0x200 + 64, [0b10]);
        Assert.Equal(1ul, Back<IommuTestCmd>(Test(DirtyCmd(hwpt, MockIova, 0x200000, 0x800, Mem + 0x200))).U64(TestCmdLayout.Dirty.OutNrDirty));

        var bitmap = new IommuHwptGetDirtyBitmap(48, hwpt, 0, 0, MockIova, 0x200000, 0x800, Mem + 0x400);
        Assert.Equal(0, Ioctl(Ctx, Ioctls.IOMMU_HWPT_GET_DIRTY_BITMAP, bitmap).Errno);
        var bits = Peek(Mem + 0x400, 128);
        Assert.Equal(new byte[64], bits[..64]);
        Assert.Equal(Enumerable.Repeat((byte)0xff, 64).ToArray(), bits[64..]);
    }

    [Fact]
    public void IOVA_RANGES_with_a_mock_domain_is_the_mock_aperture_aligned_to_its_2_KiB_page_and_a_reservation_outside_it_changes_nothing()
    {
        var ioas = NewIoas();
        MockDomain(ioas);
        IommuIoasIovaRanges Ranges() =>
            Back<IommuIoasIovaRanges>(Ioctl(Ctx, Ioctls.IOMMU_IOAS_IOVA_RANGES, new IommuIoasIovaRanges(32, ioas, 4, 0, Mem + 0x1000, 0)));
        var back = Ranges();
        Assert.Equal((1u, 2048ul), (back.NumIovas, back.OutIovaAlignment));
        Assert.Equal(new IommuIovaRange(Selftest.MockApertureStart, Selftest.MockApertureLast), IommuIovaRange.Read(Peek(Mem + 0x1000, 16)));

        var reserve = IommuTestCmd.Create(TestOp.AddReserved, ioas)
            .WithU64(TestCmdLayout.AddReserved.Start, 0x1000).WithU64(TestCmdLayout.AddReserved.Length, 0x1000);
        Assert.Equal(0, Test(reserve).Errno);
        Assert.Equal(1u, Ranges().NumIovas);
        Assert.Equal(new IommuIovaRange(Selftest.MockApertureStart, Selftest.MockApertureLast), IommuIovaRange.Read(Peek(Mem + 0x1000, 16)));
        Assert.Equal(Errno.EINVAL, Map(ioas, Selftest.MockApertureStart - 0x1000, Buffer, 0x1000));
    }
}
