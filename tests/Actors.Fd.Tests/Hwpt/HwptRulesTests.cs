using IommuActors.Fd.Hwpts;
using IommuActors.Hardware.Platform;
using IommuActors.Uapi.Structs;
using Xunit;
using Errno = IommuActors.Uapi.Errno;

namespace IommuActors.Fd.Tests.Hwpts;

public sealed class HwptRulesTests
{
    private static readonly UnitSpec Nesting = new("vtd0", UnitKind.IntelVtd, 0x1000, 48, 20, true, "vtd-s1", true, true, false, [], 1, []);

    private static IommuHwptAlloc Alloc(uint reserved = 0, uint dataType = 0, uint dataLen = 0, uint reserved2 = 0) =>
        new(48, 0, 1, 2, 0, reserved, dataType, dataLen, 0, 0, reserved2);

    [Fact]
    public void Alloc_refuses_reserved_fields_then_a_type_without_data()
    {
        Assert.Equal(0, HwptRules.AllocArgsErrno(Alloc(), 48));
        Assert.Equal(0, HwptRules.AllocArgsErrno(Alloc(dataType: HwptDataType.VtdS1, dataLen: 32), 48));
        Assert.Equal(Errno.EOPNOTSUPP, HwptRules.AllocArgsErrno(Alloc(reserved: 1, dataType: 1), 48));
        Assert.Equal(Errno.EOPNOTSUPP, HwptRules.AllocArgsErrno(Alloc(reserved2: 1), 48));
        // A caller's struct that ends before __reserved2 sends none: what the codec put there is not the caller's.
        Assert.Equal(0, HwptRules.AllocArgsErrno(Alloc(reserved2: 1), HwptRules.SizeBeforeReserved2));
        Assert.Equal(Errno.EINVAL, HwptRules.AllocArgsErrno(Alloc(dataType: HwptDataType.VtdS1), 48));
        Assert.Equal(Errno.EINVAL, HwptRules.AllocArgsErrno(Alloc(dataLen: 32), 48));
    }

    [Fact]
    public void A_nested_HWPT_needs_a_nesting_unit_and_a_manual_nest_parent_of_that_unit()
    {
        Assert.Equal(0, HwptRules.NestedErrno(HwptAllocFlags.FaultIdValid | HwptAllocFlags.Pasid, Nesting, false, HwptAllocFlags.NestParent, "vtd0"));
        Assert.Equal(Errno.EOPNOTSUPP, HwptRules.NestedErrno(HwptAllocFlags.NestParent, Nesting, true, 0, "other"));
        Assert.Equal(Errno.EOPNOTSUPP, HwptRules.NestedErrno(0, Nesting with { Nesting = false }, false, HwptAllocFlags.NestParent, "vtd0"));
        Assert.Equal(Errno.EINVAL, HwptRules.NestedErrno(0, Nesting, true, HwptAllocFlags.NestParent, "vtd0"));
        Assert.Equal(Errno.EINVAL, HwptRules.NestedErrno(0, Nesting, false, HwptAllocFlags.DirtyTracking, "vtd0"));
        Assert.Equal(Errno.EINVAL, HwptRules.NestedErrno(0, Nesting, false, HwptAllocFlags.NestParent, "vtd1"));
    }

    [Fact]
    public void Dirty_tracking_and_invalidation_take_their_flags_only()
    {
        Assert.Equal(0, HwptRules.DirtyTrackingFlagsErrno(IommuHwptSetDirtyTracking.Enable));
        Assert.Equal(Errno.EOPNOTSUPP, HwptRules.DirtyTrackingFlagsErrno(2));
        Assert.Equal(0, HwptRules.DirtyBitmapArgsErrno(IommuHwptGetDirtyBitmap.NoClear, 0));
        Assert.Equal(Errno.EOPNOTSUPP, HwptRules.DirtyBitmapArgsErrno(2, 0));
        Assert.Equal(Errno.EOPNOTSUPP, HwptRules.DirtyBitmapArgsErrno(0, 1));

        Assert.Equal(0, HwptRules.InvalidateArgsErrno(new IommuHwptInvalidate(32, 1, 0, 0, 0, 0, 0)));
        Assert.Equal(0, HwptRules.InvalidateArgsErrno(new IommuHwptInvalidate(32, 1, 0x1000, 0, 16, 2, 0)));
        Assert.Equal(Errno.EOPNOTSUPP, HwptRules.InvalidateArgsErrno(new IommuHwptInvalidate(32, 1, 0, 0, 0, 2, 1)));
        Assert.Equal(Errno.EINVAL, HwptRules.InvalidateArgsErrno(new IommuHwptInvalidate(32, 1, 0, 0, 16, 2, 0)));
        Assert.Equal(Errno.EINVAL, HwptRules.InvalidateArgsErrno(new IommuHwptInvalidate(32, 1, 0x1000, 0, 0, 2, 0)));
    }
}
