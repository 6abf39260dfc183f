using IommuActors.Fd.Objects;
using IommuActors.Fd.Viommus;
using IommuActors.Hardware.Platform;
using IommuActors.Uapi;
using IommuActors.Uapi.Structs;
using Xunit;

namespace IommuActors.Fd.Tests.Viommus;

public sealed class ViommuRulesTests
{
    private static UnitSpec Unit(UnitKind kind, bool nesting = true) =>
        new("u0", kind, 0x1000, 48, 20, nesting, "", false, false, false, [], 0, []);

    [Fact]
    public void Flags_or_the_DEFAULT_type_are_EOPNOTSUPP_before_anything_is_looked_up()
    {
        Assert.Equal(Errno.EOPNOTSUPP, ViommuRules.CheckHead(1, Selftest.ViommuType));
        Assert.Equal(Errno.EOPNOTSUPP, ViommuRules.CheckHead(0, ViommuType.Default));
        Assert.Equal(0, ViommuRules.CheckHead(0, Selftest.ViommuType));
    }

    [Fact]
    public void The_mock_backs_the_selftest_type_and_SMMUv3_its_own_when_it_nests()
    {
        Assert.True(ViommuRules.UnitBacks(Unit(UnitKind.Mock), Selftest.ViommuType));
        Assert.False(ViommuRules.UnitBacks(Unit(UnitKind.Mock), 0xdead));
        Assert.False(ViommuRules.UnitBacks(Unit(UnitKind.Mock), ViommuType.ArmSmmuv3));
        Assert.True(ViommuRules.UnitBacks(Unit(UnitKind.ArmSmmuV3), ViommuType.ArmSmmuv3));
        Assert.False(ViommuRules.UnitBacks(Unit(UnitKind.ArmSmmuV3, nesting: false), ViommuType.ArmSmmuv3));
        Assert.False(ViommuRules.UnitBacks(Unit(UnitKind.IntelVtd), ViommuType.ArmSmmuv3));
    }

    [Fact]
    public void The_parent_must_be_a_paging_HWPT_allocated_as_a_nesting_parent()
    {
        Assert.Equal(Errno.ENOENT, ViommuRules.CheckParent(null, 0, false));
        Assert.Equal(Errno.ENOENT, ViommuRules.CheckParent(ObjectKind.Ioas, 0, false));
        Assert.Equal(Errno.ENOENT, ViommuRules.CheckParent(ObjectKind.HwptNested, HwptAllocFlags.NestParent, false));
        Assert.Equal(Errno.EINVAL, ViommuRules.CheckParent(ObjectKind.HwptPaging, 0, false));
        Assert.Equal(Errno.EINVAL, ViommuRules.CheckParent(ObjectKind.HwptPaging, HwptAllocFlags.NestParent, true));
        Assert.Equal(0, ViommuRules.CheckParent(ObjectKind.HwptPaging, HwptAllocFlags.NestParent, false));
    }

    [Fact]
    public void Selftest_data_shorter_than_out_data_is_EINVAL_and_a_non_zero_tail_E2BIG()
    {
        Assert.Equal(Errno.EINVAL, ViommuRules.CheckSelftestData(new byte[4]));
        Assert.Equal(0, ViommuRules.CheckSelftestData(new byte[8]));
        Assert.Equal(0, ViommuRules.CheckSelftestData(new byte[64]));
        var tail = new byte[32];
        tail[31] = 1;
        Assert.Equal(Errno.E2BIG, ViommuRules.CheckSelftestData(tail));
    }

    [Fact]
    public void The_reply_echoes_in_data_into_out_data_and_leaves_the_mmap_fields_zero()
    {
        var data = new byte[24];
        BitConverter.GetBytes(0xbeefu).CopyTo(data, 0);
        BitConverter.GetBytes(0x1234u).CopyTo(data, 4);
        data[10] = 0x55;
        var back = ViommuRules.SelftestReply(data);
        Assert.Equal(24, back.Length);
        Assert.Equal(0xbeefu, BitConverter.ToUInt32(back, 0));
        Assert.Equal(0xbeefu, BitConverter.ToUInt32(back, 4));
        Assert.All(back[8..], b => Assert.Equal(0, b));
        Assert.Equal(8, ViommuRules.SelftestReply(data.AsSpan(0, 8)).Length);
        Assert.Equal(24, ViommuRules.SelftestReply(new byte[40]).Length);
    }

    [Fact]
    public void A_nested_HWPT_on_a_vIOMMU_needs_the_same_unit_then_driver_data()
    {
        Assert.Equal(Errno.EINVAL, ViommuRules.CheckNestedOnViommu("mock0", "mock1", 4));
        Assert.Equal(Errno.EOPNOTSUPP, ViommuRules.CheckNestedOnViommu("mock0", "mock0", 0));
        Assert.Equal(0, ViommuRules.CheckNestedOnViommu("mock0", "mock0", 4));
    }

    [Fact]
    public void A_vDEVICE_needs_the_vIOMMU_then_the_device_on_its_unit_and_is_one_per_device_and_per_virtual_ID()
    {
        Assert.Equal(Errno.ENOENT, ViommuRules.CheckVdevice(false, true, "mock0", "mock0", false, false));
        Assert.Equal(Errno.ENOENT, ViommuRules.CheckVdevice(true, false, "", "mock0", false, false));
        Assert.Equal(Errno.EINVAL, ViommuRules.CheckVdevice(true, true, "smmu0", "mock0", true, true));
        Assert.Equal(Errno.EEXIST, ViommuRules.CheckVdevice(true, true, "mock0", "mock0", true, false));
        Assert.Equal(Errno.EEXIST, ViommuRules.CheckVdevice(true, true, "mock0", "mock0", false, true));
        Assert.Equal(0, ViommuRules.CheckVdevice(true, true, "mock0", "mock0", false, false));
    }

    [Fact]
    public void Only_a_nested_HWPT_on_a_vIOMMU_asks_for_a_vDEVICE_at_attach()
    {
        Assert.Equal(Errno.ENOENT, ViommuRules.AttachErrno(true, false));
        Assert.Equal(0, ViommuRules.AttachErrno(true, true));
        Assert.Equal(0, ViommuRules.AttachErrno(false, false));
    }

    private static byte[] Entries(params (uint Flags, uint VdevId, uint CacheId)[] entries) =>
        entries.SelectMany(e => BitConverter.GetBytes(e.Flags).Concat(BitConverter.GetBytes(e.VdevId)).Concat(BitConverter.GetBytes(e.CacheId))).ToArray();

    private static uint? Dev7At0x99(ulong virtId) => virtId == 0x99 ? 7u : null;

    [Fact]
    public void A_zero_length_array_only_checks_the_type()
    {
        Assert.Equal((0, 0u), Head(ViommuRules.InvalidateCaches(Selftest.InvalidateDataType, 12, 0, null, Dev7At0x99)));
        Assert.Equal((Errno.EINVAL, 0u), Head(ViommuRules.InvalidateCaches(Selftest.InvalidateDataTypeInvalid, 12, 0, null, Dev7At0x99)));
        Assert.Equal((Errno.EINVAL, 0u), Head(ViommuRules.InvalidateCaches(Selftest.InvalidateDataTypeInvalid, 12, 1, Entries((0, 0x99, 0)), Dev7At0x99)));
        Assert.Equal((Errno.EFAULT, 0u), Head(ViommuRules.InvalidateCaches(Selftest.InvalidateDataType, 12, 1, null, Dev7At0x99)));
    }

    [Fact]
    public void Entries_are_copied_whole_first_then_handled_in_order_up_to_the_first_refused()
    {
        var t = Selftest.InvalidateDataType;
        var r = ViommuRules.InvalidateCaches(t, 12, 2, Entries((0, 0x99, 0), (0xffffffff, 0x99, 1)), Dev7At0x99);
        Assert.Equal((Errno.EOPNOTSUPP, 1u), Head(r));
        Assert.Equal([(7u, (uint?)0u)], r.Cleared);

        r = ViommuRules.InvalidateCaches(t, 12, 2, Entries((0, 0x99, 2), (0, 0x99, Selftest.DevCacheIdMax + 1)), Dev7At0x99);
        Assert.Equal((Errno.EINVAL, 1u), Head(r));
        Assert.Equal((Errno.EINVAL, 0u), Head(ViommuRules.InvalidateCaches(t, 12, 1, Entries((0, 0x9, 0)), Dev7At0x99)));

        // FLAG_ALL ignores cache_id for what it clears, not for the range check.
        Assert.Equal((Errno.EINVAL, 0u), Head(ViommuRules.InvalidateCaches(t, 12, 1, Entries((Selftest.InvalidateFlagAll, 0x99, 0xff)), Dev7At0x99)));
        r = ViommuRules.InvalidateCaches(t, 12, 2, Entries((Selftest.InvalidateFlagAll, 0x99, 2), (0, 0x99, 3)), Dev7At0x99);
        Assert.Equal((0, 2u), Head(r));
        Assert.Equal([(7u, (uint?)null), (7u, (uint?)3u)], r.Cleared);
    }

    [Fact]
    public void A_longer_entry_must_be_zero_past_the_struct_and_a_shorter_one_is_zero_filled()
    {
        var t = Selftest.InvalidateDataType;
        var longer = Entries((0, 0x99, 1)).Concat(new byte[] { 0 }).ToArray();
        Assert.Equal((0, 1u), Head(ViommuRules.InvalidateCaches(t, 13, 1, longer, Dev7At0x99)));
        longer[12] = 1;
        Assert.Equal((Errno.E2BIG, 0u), Head(ViommuRules.InvalidateCaches(t, 13, 1, longer, Dev7At0x99)));
        // One byte: flags only, so virtual ID 0, which names no vDEVICE here.
        Assert.Equal((Errno.EINVAL, 0u), Head(ViommuRules.InvalidateCaches(t, 1, 1, [0], Dev7At0x99)));
    }

    private static (int, uint) Head((int Errno, uint Done, IReadOnlyList<(uint, uint?)> _) r) => (r.Errno, r.Done);
}
