using System.Buffers.Binary;
using IommuActors.Domains.Ioas;
using IommuActors.Uapi;
using IommuActors.Uapi.Structs;
using Errno = IommuActors.Uapi.Errno;

namespace IommuActors.Fd.Compat;

/// <summary>
/// The VFIO type1 container rules iommufd's compatibility layer keeps (vfio_compat.c), apart
/// from the IOAS they act on: which errno, which answer, which bytes go back to the caller.
/// </summary>
public static class Type1Rules
{
    /// <summary>The kernel's PAGE_SIZE: the smallest page size type1 reports.</summary>
    public const ulong PageSize = 4096;

    public const ushort CapIovaRange = 1, CapDmaAvail = 3;

    /// <summary>sizeof(struct vfio_iommu_type1_info): the caps follow it.</summary>
    public const int InfoHeader = 24;

    /// <summary>
    /// VFIO_CHECK_EXTENSION: type1, type1v2 and UNMAP_ALL are there (1); DMA_CC_IOMMU needs the
    /// compat IOAS (ENODEV) and says whether every domain of it enforces cache coherency; any
    /// other extension is not there (0).
    /// </summary>
    /// <param name="coherent">Whether the compat IOAS's domains all enforce coherency; null when there is no compat IOAS.</param>
    public static (int Errno, long Answer) CheckExtension(ulong extension, bool? coherent) => (uint)extension switch
    {
        Ioctls.VFIO_TYPE1_IOMMU or Ioctls.VFIO_TYPE1v2_IOMMU or Ioctls.VFIO_UNMAP_ALL => (0, 1),
        Ioctls.VFIO_DMA_CC_IOMMU => coherent is { } c ? (0, c ? 1 : 0) : (Errno.ENODEV, 0),
        _ => (0, 0),
    };

    /// <summary>VFIO_SET_IOMMU: only the type1 models (EINVAL).</summary>
    public static int SetIommuErrno(ulong model) =>
        model is Ioctls.VFIO_TYPE1_IOMMU or Ioctls.VFIO_TYPE1v2_IOMMU ? 0 : Errno.EINVAL;

    /// <summary>Plain TYPE1 lets an unmap cut inside a mapping, which only works without large pages: it turns them off.</summary>
    public static bool TurnsOffHugePages(ulong model) => model == Ioctls.VFIO_TYPE1_IOMMU;

    /// <summary>VFIO_IOMMU_MAP_DMA: READ and WRITE are the only flags (EINVAL).</summary>
    public static int MapFlagsErrno(uint flags) =>
        (flags & ~(VfioIommuType1DmaMap.FlagRead | VfioIommuType1DmaMap.FlagWrite)) != 0 ? Errno.EINVAL : 0;

    /// <summary>VFIO_IOMMU_MAP_DMA: an iova or size of U64_MAX is EOVERFLOW.</summary>
    public static int MapRangeErrno(ulong iova, ulong size) => iova >= ulong.MaxValue || size >= ulong.MaxValue ? Errno.EOVERFLOW : 0;

    public static Protection ProtectionOf(uint flags) =>
        ((flags & VfioIommuType1DmaMap.FlagRead) != 0 ? Protection.Read : Protection.None)
        | ((flags & VfioIommuType1DmaMap.FlagWrite) != 0 ? Protection.Write : Protection.None);

    /// <summary>VFIO_IOMMU_UNMAP_DMA: ALL is the only flag (EINVAL).</summary>
    public static int UnmapFlagsErrno(uint flags) => (flags & ~VfioIommuType1DmaUnmap.FlagAll) != 0 ? Errno.EINVAL : 0;

    /// <summary>
    /// VFIO_IOMMU_UNMAP_DMA: the range to unmap, or EINVAL for UNMAP_ALL with an iova or size
    /// (UNMAP_ALL is everything).
    /// </summary>
    public static (int Errno, ulong Iova, ulong Length) UnmapRange(VfioIommuType1DmaUnmap cmd)
    {
        if ((cmd.Flags & VfioIommuType1DmaUnmap.FlagAll) == 0)
            return (0, cmd.Iova, cmd.Size);
        return cmd.Iova != 0 || cmd.Size != 0 ? (Errno.EINVAL, 0ul, 0ul) : (0, 0ul, ulong.MaxValue);
    }

    /// <summary>
    /// iova_pgsizes: the page sizes every domain of the compat IOAS maps with, the sizes below
    /// PAGE_SIZE folded into PAGE_SIZE, at least the IOAS's IOVA alignment.
    /// </summary>
    public static ulong PageSizes(IEnumerable<ulong> domainPageSizes, ulong alignment)
    {
        var sizes = domainPageSizes.Aggregate(ulong.MaxValue, (a, b) => a & b);
        if ((sizes & (PageSize - 1)) != 0)
            sizes = (sizes & ~(PageSize - 1)) | PageSize;
        return Math.Max(sizes, alignment);
    }

    /// <param name="Caps">The bytes of the caps that fit the caller's argsz, to be written after the header.</param>
    /// <param name="Argsz">The argsz the whole answer needs.</param>
    /// <param name="CapOffset">Where the caps start, or 0 when not all of them fit.</param>
    public sealed record InfoCaps(byte[] Caps, uint Argsz, uint CapOffset);

    /// <summary>
    /// VFIO_IOMMU_GET_INFO's caps after the 24-byte header: DMA_AVAIL (all of U32_MAX), then
    /// IOVA_RANGE with the IOAS's allowed ranges. Each piece is copied only if it fits the caller's
    /// argsz; cap_offset is set only when everything fit.
    /// </summary>
    public static InfoCaps Caps(IReadOnlyList<IoasProtocol.IovaSpan> ranges, uint argsz)
    {
        var total = InfoHeader + 12 + 16 + 16 * ranges.Count;
        var caps = new byte[total - InfoHeader];
        PutCapHeader(caps, 0, CapDmaAvail, next: InfoHeader + 12);
        BinaryPrimitives.WriteUInt32LittleEndian(caps.AsSpan(8), uint.MaxValue);
        PutCapHeader(caps, 12, CapIovaRange, next: 0);
        BinaryPrimitives.WriteUInt32LittleEndian(caps.AsSpan(20), (uint)ranges.Count);
        for (var i = 0; i < ranges.Count; i++)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(caps.AsSpan(28 + 16 * i), ranges[i].Start);
            BinaryPrimitives.WriteUInt64LittleEndian(caps.AsSpan(36 + 16 * i), ranges[i].Last);
        }
        var boundaries = new List<int> { InfoHeader, InfoHeader + 12, InfoHeader + 28 };
        boundaries.AddRange(Enumerable.Range(1, ranges.Count).Select(i => InfoHeader + 28 + 16 * i));
        var fits = boundaries.Where(b => b <= argsz).DefaultIfEmpty(InfoHeader).Max();
        return new InfoCaps(caps[..Math.Max(0, fits - InfoHeader)], (uint)total, fits == total ? InfoHeader : 0u);
    }

    private static void PutCapHeader(byte[] caps, int at, ushort id, int next)
    {
        BinaryPrimitives.WriteUInt16LittleEndian(caps.AsSpan(at), id);
        BinaryPrimitives.WriteUInt16LittleEndian(caps.AsSpan(at + 2), 1);
        BinaryPrimitives.WriteUInt32LittleEndian(caps.AsSpan(at + 4), (uint)next);
    }
}
