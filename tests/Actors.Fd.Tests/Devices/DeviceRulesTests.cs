using IommuActors.Fd.Devices;
using IommuActors.Hardware.Platform;
using IommuActors.Uapi.Structs;
using Xunit;
using Errno = IommuActors.Uapi.Errno;

namespace IommuActors.Fd.Tests.Devices;

public sealed class DeviceRulesTests
{
    private static readonly UnitSpec Vtd = new("vtd0", UnitKind.IntelVtd, 0x1000, 48, 20, true, "vtd-s1", true, true, false, [], HwInfo.TypeIntelVtd, []);
    private static readonly DeviceSpec Pasid16 = new("0000:00:02.0", 0x8086, 1, "vtd0", 1, 16, true, true, "");
    private static readonly DeviceSpec NoPasids = Pasid16 with { PasidWidth = 0 };

    [Fact]
    public void A_PASID_attach_needs_a_PASID_capable_RID_attachment_if_there_is_one()
    {
        Assert.Equal(0, DeviceRules.PasidCompatErrno(true, null));
        Assert.Equal(0, DeviceRules.PasidCompatErrno(true, HwptAllocFlags.Pasid));
        Assert.Equal(Errno.EINVAL, DeviceRules.PasidCompatErrno(true, HwptAllocFlags.DirtyTracking));
        Assert.Equal(0, DeviceRules.PasidCompatErrno(false, 0));
    }

    [Fact]
    public void An_automatic_HWPT_takes_no_PASID_nor_the_RID_of_a_device_with_PASIDs_attached()
    {
        Assert.Equal(0, DeviceRules.AutoDomainErrno(forPasid: false, pasidsAttached: false));
        Assert.Equal(Errno.EINVAL, DeviceRules.AutoDomainErrno(forPasid: true, pasidsAttached: false));
        Assert.Equal(Errno.EINVAL, DeviceRules.AutoDomainErrno(forPasid: true, pasidsAttached: true));
        Assert.Equal(Errno.EINVAL, DeviceRules.AutoDomainErrno(forPasid: false, pasidsAttached: true));
    }

    [Fact]
    public void Hw_info_takes_flags_0_or_INPUT_TYPE_and_zero_reserved_bytes()
    {
        var inline = new byte[32];
        Assert.Equal(0, DeviceRules.HwInfoArgsErrno(0, inline));
        Assert.Equal(0, DeviceRules.HwInfoArgsErrno(HwInfo.FlagInputType, inline));
        Assert.Equal(Errno.EOPNOTSUPP, DeviceRules.HwInfoArgsErrno(2, inline));
        inline[30] = 1;
        Assert.Equal(Errno.EOPNOTSUPP, DeviceRules.HwInfoArgsErrno(0, inline));
        // A caller's struct that ends before the reserved bytes sends none.
        Assert.Equal(0, DeviceRules.HwInfoArgsErrno(0, inline.AsSpan(0, 24)));

        Assert.Equal(0, DeviceRules.HwInfoTypeErrno(HwInfo.FlagInputType, HwInfo.TypeIntelVtd, Vtd));
        Assert.Equal(0, DeviceRules.HwInfoTypeErrno(HwInfo.FlagInputType, HwInfo.TypeNone, Vtd));
        Assert.Equal(Errno.EOPNOTSUPP, DeviceRules.HwInfoTypeErrno(HwInfo.FlagInputType, HwInfo.TypeArmSmmuv3, Vtd));
        Assert.Equal(0, DeviceRules.HwInfoTypeErrno(0, HwInfo.TypeArmSmmuv3, Vtd));
    }

    [Fact]
    public void Hw_info_reports_dirty_tracking_and_PASIDs_the_device_and_unit_both_have()
    {
        Assert.Equal(HwInfo.CapDirtyTracking | HwInfo.CapPciPasidExec | HwInfo.CapPciPasidPriv, DeviceRules.HwInfoCaps(Pasid16, Vtd));
        Assert.Equal(HwInfo.CapDirtyTracking, DeviceRules.HwInfoCaps(NoPasids, Vtd));
        Assert.Equal(0ul, DeviceRules.HwInfoCaps(Pasid16, Vtd with { DirtyTracking = false, PasidWidth = 0 }));
        Assert.Equal((byte)16, DeviceRules.MaxPasidLog2(Pasid16, Vtd));
        Assert.Equal((byte)8, DeviceRules.MaxPasidLog2(Pasid16, Vtd with { PasidWidth = 8 }));
        Assert.Equal((byte)0, DeviceRules.MaxPasidLog2(NoPasids, Vtd));
    }
}
