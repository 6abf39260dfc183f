namespace IommuActors.Uapi.Structs;

// Layouts of include/uapi/linux/vfio.h; argsz plays the role of iommufd's size.

/// <summary>struct vfio_device_bind_iommufd; token_uuid_ptr is the newest field.</summary>
public sealed record VfioDeviceBindIommufd(uint Argsz, uint Flags, int Iommufd, uint OutDevid, ulong TokenUuidPtr)
    : IUapiStruct<VfioDeviceBindIommufd>
{
    /// <summary>VFIO_DEVICE_BIND_FLAG_TOKEN.</summary>
    public const uint FlagToken = 1u << 0;
    public static int MinSize => 16;
    static int IUapiStruct<VfioDeviceBindIommufd>.Size => 24;
    public static VfioDeviceBindIommufd Read(ReadOnlySpan<byte> s) => new(Le.U32(s, 0), Le.U32(s, 4), Le.I32(s, 8), Le.U32(s, 12), Le.U64(s, 16));
    public void Write(Span<byte> s) { Le.U32(s, 0, Argsz); Le.U32(s, 4, Flags); Le.I32(s, 8, Iommufd); Le.U32(s, 12, OutDevid); Le.U64(s, 16, TokenUuidPtr); }
}

/// <summary>struct vfio_device_attach_iommufd_pt.</summary>
public sealed record VfioDeviceAttachIommufdPt(uint Argsz, uint Flags, uint PtId, uint Pasid) : IUapiStruct<VfioDeviceAttachIommufdPt>
{
    /// <summary>VFIO_DEVICE_ATTACH_PASID.</summary>
    public const uint FlagPasid = 1u << 0;
    public static int MinSize => 12;
    static int IUapiStruct<VfioDeviceAttachIommufdPt>.Size => 16;
    public static VfioDeviceAttachIommufdPt Read(ReadOnlySpan<byte> s) => new(Le.U32(s, 0), Le.U32(s, 4), Le.U32(s, 8), Le.U32(s, 12));
    public void Write(Span<byte> s) { Le.U32(s, 0, Argsz); Le.U32(s, 4, Flags); Le.U32(s, 8, PtId); Le.U32(s, 12, Pasid); }
}

/// <summary>struct vfio_device_detach_iommufd_pt.</summary>
public sealed record VfioDeviceDetachIommufdPt(uint Argsz, uint Flags, uint Pasid) : IUapiStruct<VfioDeviceDetachIommufdPt>
{
    /// <summary>VFIO_DEVICE_DETACH_PASID.</summary>
    public const uint FlagPasid = 1u << 0;
    public static int MinSize => 8;
    static int IUapiStruct<VfioDeviceDetachIommufdPt>.Size => 12;
    public static VfioDeviceDetachIommufdPt Read(ReadOnlySpan<byte> s) => new(Le.U32(s, 0), Le.U32(s, 4), Le.U32(s, 8));
    public void Write(Span<byte> s) { Le.U32(s, 0, Argsz); Le.U32(s, 4, Flags); Le.U32(s, 8, Pasid); }
}

/// <summary>struct vfio_device_info.</summary>
public sealed record VfioDeviceInfo(uint Argsz, uint Flags, uint NumRegions, uint NumIrqs, uint CapOffset, uint Pad)
    : IUapiStruct<VfioDeviceInfo>
{
    public const uint FlagReset = 1u << 0, FlagPci = 1u << 1, FlagPlatform = 1u << 2, FlagAmba = 1u << 3,
        FlagCcw = 1u << 4, FlagAp = 1u << 5, FlagFslMc = 1u << 6, FlagCaps = 1u << 7, FlagCdx = 1u << 8;
    public static int MinSize => 16;
    static int IUapiStruct<VfioDeviceInfo>.Size => 24;
    public static VfioDeviceInfo Read(ReadOnlySpan<byte> s) =>
        new(Le.U32(s, 0), Le.U32(s, 4), Le.U32(s, 8), Le.U32(s, 12), Le.U32(s, 16), Le.U32(s, 20));
    public void Write(Span<byte> s)
    {
        Le.U32(s, 0, Argsz); Le.U32(s, 4, Flags); Le.U32(s, 8, NumRegions); Le.U32(s, 12, NumIrqs);
        Le.U32(s, 16, CapOffset); Le.U32(s, 20, Pad);
    }
}

/// <summary>struct vfio_iommu_type1_info.</summary>
public sealed record VfioIommuType1Info(uint Argsz, uint Flags, ulong IovaPgsizes, uint CapOffset, uint Pad)
    : IUapiStruct<VfioIommuType1Info>
{
    public const uint FlagPgsizes = 1u << 0, FlagCaps = 1u << 1;
    public static int MinSize => 16;
    static int IUapiStruct<VfioIommuType1Info>.Size => 24;
    public static VfioIommuType1Info Read(ReadOnlySpan<byte> s) => new(Le.U32(s, 0), Le.U32(s, 4), Le.U64(s, 8), Le.U32(s, 16), Le.U32(s, 20));
    public void Write(Span<byte> s) { Le.U32(s, 0, Argsz); Le.U32(s, 4, Flags); Le.U64(s, 8, IovaPgsizes); Le.U32(s, 16, CapOffset); Le.U32(s, 20, Pad); }
}

/// <summary>struct vfio_iommu_type1_dma_map.</summary>
public sealed record VfioIommuType1DmaMap(uint Argsz, uint Flags, ulong Vaddr, ulong Iova, ulong Size)
    : IUapiStruct<VfioIommuType1DmaMap>
{
    public const uint FlagRead = 1u << 0, FlagWrite = 1u << 1, FlagVaddr = 1u << 2;
    public static int MinSize => 32;
    static int IUapiStruct<VfioIommuType1DmaMap>.Size => 32;
    public static VfioIommuType1DmaMap Read(ReadOnlySpan<byte> s) => new(Le.U32(s, 0), Le.U32(s, 4), Le.U64(s, 8), Le.U64(s, 16), Le.U64(s, 24));
    public void Write(Span<byte> s) { Le.U32(s, 0, Argsz); Le.U32(s, 4, Flags); Le.U64(s, 8, Vaddr); Le.U64(s, 16, Iova); Le.U64(s, 24, Size); }
}

/// <summary>struct vfio_iommu_type1_dma_unmap (without its flexible data[] tail).</summary>
public sealed record VfioIommuType1DmaUnmap(uint Argsz, uint Flags, ulong Iova, ulong Size) : IUapiStruct<VfioIommuType1DmaUnmap>
{
    public const uint FlagGetDirtyBitmap = 1u << 0, FlagAll = 1u << 1, FlagVaddr = 1u << 2;
    public static int MinSize => 24;
    static int IUapiStruct<VfioIommuType1DmaUnmap>.Size => 24;
    public static VfioIommuType1DmaUnmap Read(ReadOnlySpan<byte> s) => new(Le.U32(s, 0), Le.U32(s, 4), Le.U64(s, 8), Le.U64(s, 16));
    public void Write(Span<byte> s) { Le.U32(s, 0, Argsz); Le.U32(s, 4, Flags); Le.U64(s, 8, Iova); Le.U64(s, 16, Size); }
}
