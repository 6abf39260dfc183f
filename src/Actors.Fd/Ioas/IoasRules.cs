using IommuActors.Domains.Ioas;
using IommuActors.Uapi.Structs;
using Errno = IommuActors.Uapi.Errno;

namespace IommuActors.Fd.Ioases;

/// <summary>
/// What ioas.c checks before it looks into the io_pagetable, and how it lays out what it copies
/// back, apart from the IOAS actor that does the rest.
/// </summary>
public static class IoasRules
{
    /// <summary>
    /// The checks MAP, MAP_FILE and COPY share, in the kernel's order: unknown flags or reserved
    /// bits EOPNOTSUPP, an IOVA or length of U64_MAX EOVERFLOW, neither readable nor writeable EINVAL.
    /// </summary>
    public static int MapFlagsErrno(uint flags, uint reserved, ulong iova, ulong length) =>
        (flags & ~IoasMapFlags.All) != 0 || reserved != 0 ? Errno.EOPNOTSUPP
        : iova >= ulong.MaxValue || length >= ulong.MaxValue ? Errno.EOVERFLOW
        : (flags & (IoasMapFlags.Readable | IoasMapFlags.Writeable)) == 0 ? Errno.EINVAL
        : 0;

    public static Protection ProtectionOf(uint flags) =>
        ((flags & IoasMapFlags.Readable) != 0 ? Protection.Read : Protection.None)
        | ((flags & IoasMapFlags.Writeable) != 0 ? Protection.Write : Protection.None);

    public static bool FixedIova(uint flags) => (flags & IoasMapFlags.FixedIova) != 0;

    /// <summary>
    /// IOAS_ALLOW_IOVAS' array of struct iommu_iova_range: EINVAL for an empty or single-byte range
    /// and for a range overlapping an earlier one.
    /// </summary>
    public static (int Errno, List<IoasProtocol.IovaSpan> Ranges) AllowedIovas(ReadOnlySpan<byte> bytes, uint count)
    {
        var ranges = new List<IoasProtocol.IovaSpan>();
        for (var i = 0; i < count; i++)
        {
            var r = IommuIovaRange.Read(bytes[(i * 16)..]);
            if (r.Start >= r.Last || ranges.Any(x => x.Start <= r.Last && r.Start <= x.Last))
                return (Errno.EINVAL, []);
            ranges.Add(new IoasProtocol.IovaSpan(r.Start, r.Last));
        }
        return (0, ranges);
    }

    /// <summary>The most IOVA ranges ALLOW_IOVAS reads: past them the array cannot be read (EFAULT).</summary>
    public const uint MaxAllowedIovas = int.MaxValue / 16;

    /// <summary>
    /// IOAS_IOVA_RANGES: the ranges that fit the caller's num_iovas, as struct iommu_iova_range;
    /// EMSGSIZE (after the struct is copied back with the count needed) when not all of them fit.
    /// </summary>
    public static (byte[] Array, int Errno) IovaRanges(IReadOnlyList<IoasProtocol.IovaSpan> ranges, uint numIovas)
    {
        var fits = Math.Min((uint)ranges.Count, numIovas);
        var array = new byte[fits * 16];
        for (var i = 0; i < fits; i++)
            new IommuIovaRange(ranges[i].Start, ranges[i].Last).Write(array.AsSpan(i * 16));
        return (array, ranges.Count > numIovas ? Errno.EMSGSIZE : 0);
    }

    /// <summary>
    /// IOMMU_OPTION_RLIMIT_MODE set: CAP_SYS_RESOURCE (EPERM), no object yet (the mode is fixed once
    /// any exists: EBUSY), 0 or 1 (EINVAL).
    /// </summary>
    public static int RlimitSetErrno(bool capSysResource, int objects, ulong mode) =>
        !capSysResource ? Errno.EPERM : objects > 0 ? Errno.EBUSY : mode > 1 ? Errno.EINVAL : 0;
}
