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
}
