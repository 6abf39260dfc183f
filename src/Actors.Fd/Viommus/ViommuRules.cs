using IommuActors.Fd.Objects;
using IommuActors.Hardware.Platform;
using IommuActors.Uapi.Structs;
using Errno = IommuActors.Uapi.Errno;

namespace IommuActors.Fd.Viommus;

/// <summary>
/// The checks of IOMMU_VIOMMU_ALLOC (viommu.c and the drivers' viommu_init) and of a nested HWPT
/// allocated on a vIOMMU, in the kernel's order, as plain functions of what the context knows.
/// </summary>
public static class ViommuRules
{
    /// <summary>struct iommu_viommu_selftest: in_data, out_data, out_mmap_offset, out_mmap_length.</summary>
    public const int SelftestDataSize = 24;

    /// <summary>The smallest iommu_viommu_selftest the mock takes: up to and including out_data.</summary>
    public const int SelftestDataMin = 8;

    /// <summary>Flags are reserved; type DEFAULT names no vIOMMU.</summary>
    public static int CheckHead(uint flags, uint type) =>
        flags != 0 || type == ViommuType.Default ? Errno.EOPNOTSUPP : 0;

    /// <summary>Does the device's unit back a vIOMMU of this type (the driver's get_viommu_size)?</summary>
    public static bool UnitBacks(UnitSpec unit, uint type) => unit.Kind switch
    {
        UnitKind.Mock => type == Selftest.ViommuType,
        UnitKind.ArmSmmuV3 => type == ViommuType.ArmSmmuv3 && unit.Nesting,
        _ => false,
    };

    /// <summary>
    /// The HWPT under a vIOMMU: a paging HWPT (ENOENT for anything else, as a typed lookup
    /// answers) that was allocated as a nesting parent (EINVAL otherwise).
    /// </summary>
    public static int CheckParent(ObjectKind? kind, uint hwptFlags, bool auto)
    {
        if (kind != ObjectKind.HwptPaging)
            return Errno.ENOENT;
        return auto || (hwptFlags & HwptAllocFlags.NestParent) == 0 ? Errno.EINVAL : 0;
    }

    /// <summary>
    /// The driver data of a selftest vIOMMU as iommu_copy_struct_from_user takes it: shorter than
    /// out_data's end is EINVAL, non-zero bytes past the known struct are E2BIG.
    /// </summary>
    public static int CheckSelftestData(ReadOnlySpan<byte> data)
    {
        if (data.Length < SelftestDataMin)
            return Errno.EINVAL;
        if (data.Length > SelftestDataSize && data[SelftestDataSize..].IndexOfAnyExcept((byte)0) >= 0)
            return Errno.E2BIG;
        return 0;
    }

    /// <summary>
    /// What the mock writes back: out_data echoes in_data. The mmap fields stay 0: the shim does not
    /// intercept mmap of an iommufd, so there is no region to offer. As many bytes as the caller
    /// gave, up to the struct's size (the tail past it is zero already).
    /// </summary>
    public static byte[] SelftestReply(ReadOnlySpan<byte> data)
    {
        var back = new byte[Math.Min(data.Length, SelftestDataSize)];
        data[..back.Length].CopyTo(back);
        data[..4].CopyTo(back.AsSpan(4));
        back.AsSpan(Math.Min(back.Length, 8)).Clear();
        return back;
    }

    /// <summary>
    /// A nested HWPT on a vIOMMU: the device must sit behind the vIOMMU's unit (EINVAL), and the
    /// vIOMMU's driver only makes nested domains from driver data (EOPNOTSUPP without any).
    /// </summary>
    public static int CheckNestedOnViommu(string deviceUnit, string viommuUnit, uint dataLen)
    {
        if (deviceUnit != viommuUnit)
            return Errno.EINVAL;
        return dataLen == 0 ? Errno.EOPNOTSUPP : 0;
    }

    /// <summary>
    /// IOMMU_VDEVICE_ALLOC: the vIOMMU and the device must exist (ENOENT, in that order), sit on
    /// one unit (EINVAL); a device has one vDEVICE, and a virtual ID names one device per vIOMMU
    /// (EEXIST for either).
    /// </summary>
    public static int CheckVdevice(bool viommuFound, bool deviceFound, string deviceUnit, string viommuUnit,
        bool deviceHasVdevice, bool virtIdTaken)
    {
        if (!viommuFound || !deviceFound)
            return Errno.ENOENT;
        if (deviceUnit != viommuUnit)
            return Errno.EINVAL;
        return deviceHasVdevice || virtIdTaken ? Errno.EEXIST : 0;
    }

    /// <summary>
    /// Attaching a device's RID to a nested HWPT made on a vIOMMU: the driver looks up the device's
    /// virtual ID there, and without a vDEVICE under that vIOMMU the attach is ENOENT.
    /// </summary>
    public static int AttachErrno(bool nestedOnViommu, bool hasVdeviceThere) =>
        nestedOnViommu && !hasVdeviceThere ? Errno.ENOENT : 0;

    /// <summary>struct iommu_viommu_invalidate_selftest: flags, vdev_id, cache_id.</summary>
    public const int CacheInvalidationSize = 12;

    /// <summary>
    /// HWPT_INVALIDATE on a selftest vIOMMU (the mock's cache_invalidate), once the ioctl's own
    /// checks passed: which device cache entries to zero, and the errno and entries done. A
    /// zero-length array of the right type only checks the type. Otherwise the whole array is
    /// copied first (a wrong type is EINVAL, an unreadable array EFAULT; an entry longer than the
    /// struct must be zero past it, E2BIG; a shorter one is zero-filled), then each entry in order:
    /// unknown flags EOPNOTSUPP, cache_id past the last EINVAL (FLAG_ALL or not), a virtual ID with no vDEVICE on
    /// this vIOMMU EINVAL; FLAG_ALL clears every entry of that device.
    /// </summary>
    /// <param name="data">The array as read from the caller; null when it could not be read.</param>
    /// <param name="deviceOf">The DEVICE the vIOMMU's vDEVICE of a virtual ID stands for, or null.</param>
    public static (int Errno, uint Done, IReadOnlyList<(uint DevId, uint? CacheId)> Cleared) InvalidateCaches(
        uint dataType, uint entryLen, uint entryNum, byte[]? data, Func<ulong, uint?> deviceOf)
    {
        var cleared = new List<(uint, uint?)>();
        if (entryNum == 0 && dataType == Selftest.InvalidateDataType)
            return (0, 0, cleared);
        if (dataType != Selftest.InvalidateDataType || entryNum == 0)
            return (Errno.EINVAL, 0, cleared);
        if (data is null || (ulong)data.Length < (ulong)entryLen * entryNum)
            return (Errno.EFAULT, 0, cleared);
        var entries = new List<IommuViommuInvalidateSelftest>();
        for (var i = 0; i < entryNum; i++)
        {
            var raw = data.AsSpan((int)(i * entryLen), (int)entryLen);
            if (raw.Length > CacheInvalidationSize && raw[CacheInvalidationSize..].IndexOfAnyExcept((byte)0) >= 0)
                return (Errno.E2BIG, 0, cleared);
            var entry = new byte[CacheInvalidationSize];
            raw[..Math.Min(raw.Length, CacheInvalidationSize)].CopyTo(entry);
            entries.Add(IommuViommuInvalidateSelftest.Read(entry));
        }
        uint done = 0;
        foreach (var e in entries)
        {
            if ((e.Flags & ~Selftest.InvalidateFlagAll) != 0)
                return (Errno.EOPNOTSUPP, done, cleared);
            if (e.CacheId > Selftest.DevCacheIdMax)
                return (Errno.EINVAL, done, cleared);
            if (deviceOf(e.VdevId) is not { } devId)
                return (Errno.EINVAL, done, cleared);
            cleared.Add((devId, (e.Flags & Selftest.InvalidateFlagAll) != 0 ? null : e.CacheId));
            done++;
        }
        return (0, done, cleared);
    }
}
