using IommuActors.Hardware.Platform;
using IommuActors.Uapi.Structs;
using Errno = IommuActors.Uapi.Errno;

namespace IommuActors.Fd.Devices;

/// <summary>
/// What device.c decides from a DEVICE and its unit alone: the PASID-compatibility rule of an
/// attach and what IOMMU_GET_HW_INFO reports.
/// </summary>
public static class DeviceRules
{
    /// <summary>
    /// iommufd_hwpt_pasid_compat: a PASID attach needs the device's RID attachment (if any) to be
    /// PASID-capable (EINVAL).
    /// </summary>
    /// <param name="ridHwptFlags">HWPT_ALLOC flags of the HWPT the RID is attached to; null when the RID is not attached.</param>
    public static int PasidCompatErrno(bool forPasid, uint? ridHwptFlags) =>
        forPasid && ridHwptFlags is { } flags && (flags & HwptAllocFlags.Pasid) == 0 ? Errno.EINVAL : 0;

    /// <summary>
    /// pt_id an IOAS: the automatic HWPT is allocated without flags, so it is never PASID-compatible.
    /// A PASID cannot go on one, nor can the RID while any PASID of the device is attached (EINVAL,
    /// both from iommufd_hwpt_pasid_compat, for every automatic HWPT tried and for a new one).
    /// </summary>
    public static int AutoDomainErrno(bool forPasid, bool pasidsAttached) =>
        forPasid || pasidsAttached ? Errno.EINVAL : 0;

    /// <summary>GET_HW_INFO: flags 0 or INPUT_TYPE, and the three reserved bytes after out_max_pasid_log2 zero.</summary>
    public static int HwInfoArgsErrno(uint flags, ReadOnlySpan<byte> inline) =>
        flags != 0 && flags != HwInfo.FlagInputType || inline.Length >= 32 && inline.Slice(29, 3).ContainsAnyExcept((byte)0)
            ? Errno.EOPNOTSUPP : 0;

    /// <summary>An INPUT_TYPE query for a type the unit does not report (nor NONE) is EOPNOTSUPP.</summary>
    public static int HwInfoTypeErrno(uint flags, uint asked, UnitSpec unit) =>
        flags == HwInfo.FlagInputType && asked != unit.HwInfoType && asked != HwInfo.TypeNone ? Errno.EOPNOTSUPP : 0;

    /// <summary>out_capabilities: dirty tracking from the unit, PASID exec/priv when both device and unit do PASIDs.</summary>
    public static ulong HwInfoCaps(DeviceSpec device, UnitSpec unit) =>
        (unit.DirtyTracking ? HwInfo.CapDirtyTracking : 0)
        | (device.PasidCapable && unit.PasidWidth > 0 ? HwInfo.CapPciPasidExec | HwInfo.CapPciPasidPriv : 0);

    /// <summary>out_max_pasid_log2: the narrower of the device's and the unit's PASID widths; 0 for a device without PASIDs.</summary>
    public static byte MaxPasidLog2(DeviceSpec device, UnitSpec unit) =>
        (byte)(device.PasidCapable ? Math.Min(device.PasidWidth, unit.PasidWidth) : 0);
}
