using System.Collections.Immutable;
using IommuActors.Fd.Objects;
using IommuActors.Fd.Selftests;
using IommuActors.Hardware.Units;
using IommuActors.Uapi.Structs;
using Xunit;
using Errno = IommuActors.Uapi.Errno;
using Pinned = IommuActors.Domains.Ioas.IoasProtocol.PinnedView;

namespace IommuActors.Fd.Tests.Selftests;

public sealed class SelftestRulesTests
{
    private const int NoPasid = -1;

    [Fact]
    public void A_temp_memory_limit_below_a_long_and_an_int_is_EINVAL_and_any_other_is_taken()
    {
        Assert.Equal(Errno.EINVAL, SelftestRules.MemoryLimitErrno(11));
        Assert.Equal(0, SelftestRules.MemoryLimitErrno(12));
        Assert.Equal(0, SelftestRules.MemoryLimitErrno(uint.MaxValue));
    }

    [Fact]
    public void A_reserved_range_that_is_empty_or_wraps_is_EOVERFLOW()
    {
        Assert.Equal(Errno.EOVERFLOW, SelftestRules.ReservedRangeErrno(0x1000, 0));
        Assert.Equal(Errno.EOVERFLOW, SelftestRules.ReservedRangeErrno(ulong.MaxValue, 2));
        Assert.Equal(0, SelftestRules.ReservedRangeErrno(ulong.MaxValue, 1));
        Assert.Equal(0, SelftestRules.ReservedRangeErrno(0, ulong.MaxValue));
    }

    [Fact]
    public void A_mock_device_flag_mock_dev_create_does_not_know_is_EINVAL()
    {
        Assert.Equal(0, SelftestRules.MockDeviceFlagsErrno(Selftest.DeviceNoDirty | Selftest.DeviceHugeIova | Selftest.DevicePasid));
        Assert.Equal(Errno.EINVAL, SelftestRules.MockDeviceFlagsErrno(1u << 3));
    }

    [Fact]
    public void The_op_PASID_0_is_the_RID_and_one_past_the_mock_width_names_no_PASID()
    {
        Assert.Equal(NoPasid, SelftestRules.OpPasid(0, NoPasid));
        Assert.Equal(1024, SelftestRules.OpPasid(1024, NoPasid));
        Assert.Equal((1 << 20) - 1, SelftestRules.OpPasid((1u << 20) - 1, NoPasid));
        Assert.Equal(SelftestRules.NoSuchPasid, SelftestRules.OpPasid(1u << 20, NoPasid));
    }

    [Fact]
    public void A_PASID_attach_checks_the_PASID_before_whether_it_is_attached()
    {
        Assert.Equal(Errno.EINVAL, SelftestRules.PasidAttachErrno(SelftestRules.NoSuchPasid, NoPasid, true, attached: true, replace: false));
        Assert.Equal(Errno.EINVAL, SelftestRules.PasidAttachErrno(5, NoPasid, pasidCapable: false, attached: true, replace: false));
        Assert.Equal(Errno.EBUSY, SelftestRules.PasidAttachErrno(5, NoPasid, true, attached: true, replace: false));
        Assert.Equal(Errno.EINVAL, SelftestRules.PasidAttachErrno(5, NoPasid, true, attached: false, replace: true));
        Assert.Equal(0, SelftestRules.PasidAttachErrno(5, NoPasid, true, attached: false, replace: false));
        Assert.Equal(0, SelftestRules.PasidAttachErrno(5, NoPasid, true, attached: true, replace: true));
        // The RID needs no PASID capability.
        Assert.Equal(0, SelftestRules.PasidAttachErrno(NoPasid, NoPasid, pasidCapable: false, attached: false, replace: false));
    }

    [Fact]
    public void PASID_check_hwpt_0_wants_nothing_attached_and_another_id_the_HWPT_attached()
    {
        Assert.Equal(0, SelftestRules.PasidCheckHwptErrno(0, 0, null));
        Assert.Equal(Errno.EINVAL, SelftestRules.PasidCheckHwptErrno(7, 0, null));
        Assert.Equal(Errno.ENOENT, SelftestRules.PasidCheckHwptErrno(7, 9, null));
        Assert.Equal(Errno.EINVAL, SelftestRules.PasidCheckHwptErrno(7, 7, ObjectKind.Ioas));
        Assert.Equal(Errno.EINVAL, SelftestRules.PasidCheckHwptErrno(7, 8, ObjectKind.HwptPaging));
        Assert.Equal(0, SelftestRules.PasidCheckHwptErrno(7, 7, ObjectKind.HwptPaging));
        Assert.Equal(0, SelftestRules.PasidCheckHwptErrno(7, 7, ObjectKind.HwptNested));
    }

    [Fact]
    public void A_device_cache_entry_check_needs_the_entry_and_the_value_it_holds()
    {
        Assert.Equal(0, SelftestRules.DevCacheErrno(Selftest.DevCacheDefault, Selftest.DevCacheDefault));
        Assert.Equal(0, SelftestRules.DevCacheErrno(0, 0));
        Assert.Equal(Errno.EINVAL, SelftestRules.DevCacheErrno(0, Selftest.DevCacheDefault));
        Assert.Equal(Errno.EINVAL, SelftestRules.DevCacheErrno(null, Selftest.DevCacheDefault));
    }

    [Fact]
    public void A_mock_device_starts_with_default_cache_entries_and_clears_one_or_all()
    {
        var mocks = new MockDevices("mock0");
        mocks.Add(5, "k", "mock:5", 0);
        Assert.Equal(Selftest.DevCacheDefault, mocks.CacheOf("mock:5", Selftest.DevCacheIdMax));
        Assert.Null(mocks.CacheOf("mock:5", Selftest.DevCacheIdMax + 1));
        Assert.Null(mocks.CacheOf("other", 0));
        mocks.ClearCache("mock:5", 1);
        Assert.Equal(0u, mocks.CacheOf("mock:5", 1));
        Assert.Equal(Selftest.DevCacheDefault, mocks.CacheOf("mock:5", 0));
        mocks.ClearCache("mock:5", null);
        Assert.Equal(0u, mocks.CacheOf("mock:5", 0));
        Assert.Equal(0u, mocks.CacheOf("mock:5", 3));
    }

    [Fact]
    public void Check_map_arguments_are_on_the_domain_page_and_uptr_plus_length_does_not_wrap()
    {
        Assert.Equal(0, SelftestRules.CheckMapArgsErrno(0x800, 0x1000, 0x2000, 2048));
        Assert.Equal(Errno.EINVAL, SelftestRules.CheckMapArgsErrno(0x801, 0x1000, 0x2000, 2048));
        Assert.Equal(Errno.EINVAL, SelftestRules.CheckMapArgsErrno(0x800, 0x1001, 0x2000, 2048));
        Assert.Equal(Errno.EINVAL, SelftestRules.CheckMapArgsErrno(0x800, 0x1000, 0x2001, 2048));
        Assert.Equal(Errno.EINVAL, SelftestRules.CheckMapArgsErrno(0, 0x1000, ulong.MaxValue - 0x7ff, 2048));
    }

    [Fact]
    public void The_first_map_mismatch_ends_with_the_first_IO_page_that_maps_elsewhere_or_nothing()
    {
        // Two 2 KiB leaves mapping 0x10000.. to user 0x50000.., then a hole.
        var leaves = new[]
        {
            new UnitProtocol.MappingRecord(0x10800, 0x50800, 2048, Access.Read),
            new UnitProtocol.MappingRecord(0x10000, 0x50000, 2048, Access.Read),
        };
        Assert.Null(SelftestRules.FirstMapMismatch(leaves, 0x10000, 0x1000, 0x50000, 2048));
        Assert.Equal(0x51800ul, SelftestRules.FirstMapMismatch(leaves, 0x10000, 0x1800, 0x50000, 2048));
        Assert.Equal(0x60800ul, SelftestRules.FirstMapMismatch(leaves, 0x10000, 0x1000, 0x60000, 2048));
        // A large leaf maps every IO page inside it at its offset.
        var huge = new[] { new UnitProtocol.MappingRecord(0x100000, 0x400000, 0x100000, Access.Read) };
        Assert.Null(SelftestRules.FirstMapMismatch(huge, 0x180000, 0x800, 0x480000, 2048));
    }

    [Fact]
    public void Refs_count_each_pinned_pages_object_once_however_many_spans_share_it()
    {
        var pinned = new[]
        {
            new Pinned("a", 0x10000, 0x2000),
            new Pinned("a", 0x10000, 0x1000),
            new Pinned("b", 0x11000, 0x1000),
        };
        Assert.Null(SelftestRules.FirstRefsMismatch(pinned, 0x10000, 0x1000, 1));
        Assert.Null(SelftestRules.FirstRefsMismatch(pinned, 0x11000, 0x1000, 2));
        Assert.Equal(0x11000ul, SelftestRules.FirstRefsMismatch(pinned, 0x10000, 0x2000, 2));
        Assert.Equal(0x13000ul, SelftestRules.FirstRefsMismatch(pinned, 0x12000, 0x1000, 1));
        Assert.Equal(Errno.EINVAL, SelftestRules.CheckRefsArgsErrno(0x800, 0x1000));
        Assert.Equal(Errno.EINVAL, SelftestRules.CheckRefsArgsErrno(0x1000, 0x800));
        Assert.Equal(0, SelftestRules.CheckRefsArgsErrno(0x1000, 0x1000));
    }

    [Fact]
    public void The_pages_to_find_run_from_uptrs_page_to_the_page_end_after_the_mismatch_or_the_range()
    {
        Assert.Equal((0x10000ul, 0x12000ul), SelftestRules.PagesToFind(0x10800, null, 0x11800));
        Assert.Equal((0x10000ul, 0x11000ul), SelftestRules.PagesToFind(0x10800, 0x11000, 0x20000));
        Assert.Equal((0x10000ul, 0x11000ul), SelftestRules.PagesToFind(0x10000, 0x10800, 0x20000));
    }

    [Fact]
    public void An_IOTLB_entry_is_checked_only_within_the_mock_entries()
    {
        var iotlb = ImmutableArray.Create(1u, 2u, 3u, 4u);
        Assert.Equal(0, SelftestRules.IotlbErrno(3, 4, iotlb));
        Assert.Equal(Errno.EINVAL, SelftestRules.IotlbErrno(3, 3, iotlb));
        Assert.Equal(Errno.EINVAL, SelftestRules.IotlbErrno(4, 0, [.. iotlb, 0u]));
    }

    [Fact]
    public void Dirty_takes_whole_pages_from_an_aligned_iova_and_marks_the_pages_whose_bits_are_set()
    {
        Assert.Equal(Errno.EINVAL, SelftestRules.DirtyArgsErrno(0, 0x1000, 0, 0x100));
        Assert.Equal(Errno.EINVAL, SelftestRules.DirtyArgsErrno(0, 0, 0x1000, 0x100));
        Assert.Equal(Errno.EINVAL, SelftestRules.DirtyArgsErrno(0x800, 0x2000, 0x1000, 0x100));
        Assert.Equal(Errno.EINVAL, SelftestRules.DirtyArgsErrno(0, 0x1800, 0x1000, 0x100));
        Assert.Equal(Errno.EINVAL, SelftestRules.DirtyArgsErrno(0, 0x2000, 0x1000, 0));
        Assert.Equal(0, SelftestRules.DirtyArgsErrno(0x1000, 0x2000, 0x1000, 0x100));
        byte[] bitmap = [0b1000_0101, 0b0000_0001];
        Assert.Equal([0x10000ul, 0x12000, 0x17000, 0x18000], SelftestRules.DirtyIovas(bitmap, 0x10000, 9, 0x1000).ToArray());
        Assert.Equal([0x10000ul, 0x12000], SelftestRules.DirtyIovas(bitmap, 0x10000, 7, 0x1000).ToArray());
    }
}
