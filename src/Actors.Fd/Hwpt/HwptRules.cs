using IommuActors.Hardware.Platform;
using IommuActors.Uapi.Structs;
using Errno = IommuActors.Uapi.Errno;

namespace IommuActors.Fd.Hwpts;

/// <summary>
/// What hw_pagetable.c checks of a HWPT ioctl before the IOAS holding the HWPT is asked: the
/// arguments, and for a nested HWPT its parent and the device's unit.
/// </summary>
public static class HwptRules
{
    /// <summary>The size of struct iommu_hwpt_alloc up to __reserved2: a caller's struct that ends before it sends none.</summary>
    public const uint SizeBeforeReserved2 = 44;

    /// <summary>HWPT_ALLOC: reserved fields EOPNOTSUPP; a data type with no data (or data with no type) EINVAL.</summary>
    public static int AllocArgsErrno(IommuHwptAlloc cmd, uint size) =>
        cmd.Reserved != 0 || cmd.Reserved2 != 0 && size > SizeBeforeReserved2 ? Errno.EOPNOTSUPP
        : (cmd.DataType == HwptDataType.None) != (cmd.DataLen == 0) ? Errno.EINVAL
        : 0;

    /// <summary>
    /// A nested HWPT: flags besides FAULT_ID_VALID and PASID, or a unit without nesting,
    /// EOPNOTSUPP; a parent that is automatic, not a NEST_PARENT or of another unit EINVAL.
    /// </summary>
    public static int NestedErrno(uint flags, UnitSpec unit, bool parentAuto, uint parentFlags, string parentUnit) =>
        (flags & ~(HwptAllocFlags.FaultIdValid | HwptAllocFlags.Pasid)) != 0 || !unit.Nesting ? Errno.EOPNOTSUPP
        : parentAuto || (parentFlags & HwptAllocFlags.NestParent) == 0 || parentUnit != unit.Name ? Errno.EINVAL
        : 0;

    /// <summary>HWPT_SET_DIRTY_TRACKING: ENABLE is the only flag.</summary>
    public static int DirtyTrackingFlagsErrno(uint flags) => (flags & ~IommuHwptSetDirtyTracking.Enable) != 0 ? Errno.EOPNOTSUPP : 0;

    /// <summary>HWPT_GET_DIRTY_BITMAP: NO_CLEAR is the only flag, and the reserved field is 0.</summary>
    public static int DirtyBitmapArgsErrno(uint flags, uint reserved) =>
        (flags & ~IommuHwptGetDirtyBitmap.NoClear) != 0 || reserved != 0 ? Errno.EOPNOTSUPP : 0;

    /// <summary>HWPT_INVALIDATE: the reserved field is 0 (EOPNOTSUPP); entries need an array and an entry length (EINVAL).</summary>
    public static int InvalidateArgsErrno(IommuHwptInvalidate cmd) =>
        cmd.Reserved != 0 ? Errno.EOPNOTSUPP
        : cmd.EntryNum != 0 && (cmd.DataUptr == 0 || cmd.EntryLen == 0) ? Errno.EINVAL
        : 0;
}
