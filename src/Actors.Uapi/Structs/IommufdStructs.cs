namespace IommuActors.Uapi.Structs;

// Layouts of include/uapi/linux/iommufd.h; MinSize is the offsetofend the kernel's ioctl table names.

/// <summary>struct iommu_destroy.</summary>
public sealed record IommuDestroy(uint Size, uint Id) : IUapiStruct<IommuDestroy>
{
    public static int MinSize => 8;
    static int IUapiStruct<IommuDestroy>.Size => 8;
    public static IommuDestroy Read(ReadOnlySpan<byte> s) => new(Le.U32(s, 0), Le.U32(s, 4));
    public void Write(Span<byte> s) { Le.U32(s, 0, Size); Le.U32(s, 4, Id); }
}

/// <summary>struct iommu_ioas_alloc.</summary>
public sealed record IommuIoasAlloc(uint Size, uint Flags, uint OutIoasId) : IUapiStruct<IommuIoasAlloc>
{
    public static int MinSize => 12;
    static int IUapiStruct<IommuIoasAlloc>.Size => 12;
    public static IommuIoasAlloc Read(ReadOnlySpan<byte> s) => new(Le.U32(s, 0), Le.U32(s, 4), Le.U32(s, 8));
    public void Write(Span<byte> s) { Le.U32(s, 0, Size); Le.U32(s, 4, Flags); Le.U32(s, 8, OutIoasId); }
}

/// <summary>struct iommu_iova_range: an inclusive interval, an element of user arrays.</summary>
public sealed record IommuIovaRange(ulong Start, ulong Last) : IUapiStruct<IommuIovaRange>
{
    public static int MinSize => 16;
    static int IUapiStruct<IommuIovaRange>.Size => 16;
    public static IommuIovaRange Read(ReadOnlySpan<byte> s) => new(Le.U64(s, 0), Le.U64(s, 8));
    public void Write(Span<byte> s) { Le.U64(s, 0, Start); Le.U64(s, 8, Last); }
}

/// <summary>struct iommu_ioas_iova_ranges.</summary>
public sealed record IommuIoasIovaRanges(uint Size, uint IoasId, uint NumIovas, uint Reserved, ulong AllowedIovas,
    ulong OutIovaAlignment) : IUapiStruct<IommuIoasIovaRanges>
{
    public static int MinSize => 32;
    static int IUapiStruct<IommuIoasIovaRanges>.Size => 32;
    public static IommuIoasIovaRanges Read(ReadOnlySpan<byte> s) =>
        new(Le.U32(s, 0), Le.U32(s, 4), Le.U32(s, 8), Le.U32(s, 12), Le.U64(s, 16), Le.U64(s, 24));
    public void Write(Span<byte> s)
    {
        Le.U32(s, 0, Size); Le.U32(s, 4, IoasId); Le.U32(s, 8, NumIovas); Le.U32(s, 12, Reserved);
        Le.U64(s, 16, AllowedIovas); Le.U64(s, 24, OutIovaAlignment);
    }
}

/// <summary>struct iommu_ioas_allow_iovas.</summary>
public sealed record IommuIoasAllowIovas(uint Size, uint IoasId, uint NumIovas, uint Reserved, ulong AllowedIovas)
    : IUapiStruct<IommuIoasAllowIovas>
{
    public static int MinSize => 24;
    static int IUapiStruct<IommuIoasAllowIovas>.Size => 24;
    public static IommuIoasAllowIovas Read(ReadOnlySpan<byte> s) =>
        new(Le.U32(s, 0), Le.U32(s, 4), Le.U32(s, 8), Le.U32(s, 12), Le.U64(s, 16));
    public void Write(Span<byte> s)
    {
        Le.U32(s, 0, Size); Le.U32(s, 4, IoasId); Le.U32(s, 8, NumIovas); Le.U32(s, 12, Reserved); Le.U64(s, 16, AllowedIovas);
    }
}

/// <summary>enum iommufd_ioas_map_flags, shared by MAP, MAP_FILE and COPY.</summary>
public static class IoasMapFlags
{
    public const uint FixedIova = 1u << 0;
    public const uint Writeable = 1u << 1;
    public const uint Readable = 1u << 2;
    public const uint All = FixedIova | Writeable | Readable;
}

/// <summary>struct iommu_ioas_map.</summary>
public sealed record IommuIoasMap(uint Size, uint Flags, uint IoasId, uint Reserved, ulong UserVa, ulong Length,
    ulong Iova) : IUapiStruct<IommuIoasMap>
{
    public static int MinSize => 40;
    static int IUapiStruct<IommuIoasMap>.Size => 40;
    public static IommuIoasMap Read(ReadOnlySpan<byte> s) =>
        new(Le.U32(s, 0), Le.U32(s, 4), Le.U32(s, 8), Le.U32(s, 12), Le.U64(s, 16), Le.U64(s, 24), Le.U64(s, 32));
    public void Write(Span<byte> s)
    {
        Le.U32(s, 0, Size); Le.U32(s, 4, Flags); Le.U32(s, 8, IoasId); Le.U32(s, 12, Reserved);
        Le.U64(s, 16, UserVa); Le.U64(s, 24, Length); Le.U64(s, 32, Iova);
    }
}

/// <summary>struct iommu_ioas_map_file.</summary>
public sealed record IommuIoasMapFile(uint Size, uint Flags, uint IoasId, int Fd, ulong Start, ulong Length,
    ulong Iova) : IUapiStruct<IommuIoasMapFile>
{
    public static int MinSize => 40;
    static int IUapiStruct<IommuIoasMapFile>.Size => 40;
    public static IommuIoasMapFile Read(ReadOnlySpan<byte> s) =>
        new(Le.U32(s, 0), Le.U32(s, 4), Le.U32(s, 8), Le.I32(s, 12), Le.U64(s, 16), Le.U64(s, 24), Le.U64(s, 32));
    public void Write(Span<byte> s)
    {
        Le.U32(s, 0, Size); Le.U32(s, 4, Flags); Le.U32(s, 8, IoasId); Le.I32(s, 12, Fd);
        Le.U64(s, 16, Start); Le.U64(s, 24, Length); Le.U64(s, 32, Iova);
    }
}

/// <summary>struct iommu_ioas_copy.</summary>
public sealed record IommuIoasCopy(uint Size, uint Flags, uint DstIoasId, uint SrcIoasId, ulong Length,
    ulong DstIova, ulong SrcIova) : IUapiStruct<IommuIoasCopy>
{
    public static int MinSize => 40;
    static int IUapiStruct<IommuIoasCopy>.Size => 40;
    public static IommuIoasCopy Read(ReadOnlySpan<byte> s) =>
        new(Le.U32(s, 0), Le.U32(s, 4), Le.U32(s, 8), Le.U32(s, 12), Le.U64(s, 16), Le.U64(s, 24), Le.U64(s, 32));
    public void Write(Span<byte> s)
    {
        Le.U32(s, 0, Size); Le.U32(s, 4, Flags); Le.U32(s, 8, DstIoasId); Le.U32(s, 12, SrcIoasId);
        Le.U64(s, 16, Length); Le.U64(s, 24, DstIova); Le.U64(s, 32, SrcIova);
    }
}

/// <summary>struct iommu_ioas_unmap.</summary>
public sealed record IommuIoasUnmap(uint Size, uint IoasId, ulong Iova, ulong Length) : IUapiStruct<IommuIoasUnmap>
{
    public static int MinSize => 24;
    static int IUapiStruct<IommuIoasUnmap>.Size => 24;
    public static IommuIoasUnmap Read(ReadOnlySpan<byte> s) => new(Le.U32(s, 0), Le.U32(s, 4), Le.U64(s, 8), Le.U64(s, 16));
    public void Write(Span<byte> s) { Le.U32(s, 0, Size); Le.U32(s, 4, IoasId); Le.U64(s, 8, Iova); Le.U64(s, 16, Length); }
}

/// <summary>enum iommufd_option and enum iommufd_option_ops.</summary>
public static class IommuOptions
{
    public const uint RlimitMode = 0;
    public const uint HugePages = 1;
    public const ushort OpSet = 0;
    public const ushort OpGet = 1;
}

/// <summary>struct iommu_option.</summary>
public sealed record IommuOption(uint Size, uint OptionId, ushort Op, ushort Reserved, uint ObjectId, ulong Val64)
    : IUapiStruct<IommuOption>
{
    public static int MinSize => 24;
    static int IUapiStruct<IommuOption>.Size => 24;
    public static IommuOption Read(ReadOnlySpan<byte> s) =>
        new(Le.U32(s, 0), Le.U32(s, 4), Le.U16(s, 8), Le.U16(s, 10), Le.U32(s, 12), Le.U64(s, 16));
    public void Write(Span<byte> s)
    {
        Le.U32(s, 0, Size); Le.U32(s, 4, OptionId); Le.U16(s, 8, Op); Le.U16(s, 10, Reserved);
        Le.U32(s, 12, ObjectId); Le.U64(s, 16, Val64);
    }
}

/// <summary>enum iommufd_vfio_ioas_op.</summary>
public static class VfioIoasOps
{
    public const ushort Get = 0;
    public const ushort Set = 1;
    public const ushort Clear = 2;
}

/// <summary>struct iommu_vfio_ioas.</summary>
public sealed record IommuVfioIoas(uint Size, uint IoasId, ushort Op, ushort Reserved) : IUapiStruct<IommuVfioIoas>
{
    public static int MinSize => 12;
    static int IUapiStruct<IommuVfioIoas>.Size => 12;
    public static IommuVfioIoas Read(ReadOnlySpan<byte> s) => new(Le.U32(s, 0), Le.U32(s, 4), Le.U16(s, 8), Le.U16(s, 10));
    public void Write(Span<byte> s) { Le.U32(s, 0, Size); Le.U32(s, 4, IoasId); Le.U16(s, 8, Op); Le.U16(s, 10, Reserved); }
}

/// <summary>enum iommufd_hwpt_alloc_flags.</summary>
public static class HwptAllocFlags
{
    public const uint NestParent = 1u << 0;
    public const uint DirtyTracking = 1u << 1;
    public const uint FaultIdValid = 1u << 2;
    public const uint Pasid = 1u << 3;
    public const uint All = NestParent | DirtyTracking | FaultIdValid | Pasid;
}

/// <summary>enum iommu_hwpt_data_type.</summary>
public static class HwptDataType
{
    public const uint None = 0;
    public const uint VtdS1 = 1;
    public const uint ArmSmmuv3 = 2;
}

/// <summary>struct iommu_hwpt_alloc; fault_id and __reserved2 came after the minimum.</summary>
public sealed record IommuHwptAlloc(uint Size, uint Flags, uint DevId, uint PtId, uint OutHwptId, uint Reserved,
    uint DataType, uint DataLen, ulong DataUptr, uint FaultId, uint Reserved2) : IUapiStruct<IommuHwptAlloc>
{
    public static int MinSize => 24;
    static int IUapiStruct<IommuHwptAlloc>.Size => 48;
    public static IommuHwptAlloc Read(ReadOnlySpan<byte> s) =>
        new(Le.U32(s, 0), Le.U32(s, 4), Le.U32(s, 8), Le.U32(s, 12), Le.U32(s, 16), Le.U32(s, 20), Le.U32(s, 24),
            Le.U32(s, 28), Le.U64(s, 32), Le.U32(s, 40), Le.U32(s, 44));
    public void Write(Span<byte> s)
    {
        Le.U32(s, 0, Size); Le.U32(s, 4, Flags); Le.U32(s, 8, DevId); Le.U32(s, 12, PtId); Le.U32(s, 16, OutHwptId);
        Le.U32(s, 20, Reserved); Le.U32(s, 24, DataType); Le.U32(s, 28, DataLen); Le.U64(s, 32, DataUptr);
        Le.U32(s, 40, FaultId); Le.U32(s, 44, Reserved2);
    }
}

/// <summary>enum iommu_hwpt_vtd_s1_flags.</summary>
public static class VtdS1Flags
{
    public const ulong Sre = 1ul << 0;
    public const ulong Eafe = 1ul << 1;
    public const ulong Wpe = 1ul << 2;
}

/// <summary>struct iommu_hwpt_vtd_s1: the user data of a nested VT-d stage-1 HWPT.</summary>
public sealed record IommuHwptVtdS1(ulong Flags, ulong PgtblAddr, uint AddrWidth, uint Reserved) : IUapiStruct<IommuHwptVtdS1>
{
    public static int MinSize => 24;
    static int IUapiStruct<IommuHwptVtdS1>.Size => 24;
    public static IommuHwptVtdS1 Read(ReadOnlySpan<byte> s) => new(Le.U64(s, 0), Le.U64(s, 8), Le.U32(s, 16), Le.U32(s, 20));
    public void Write(Span<byte> s) { Le.U64(s, 0, Flags); Le.U64(s, 8, PgtblAddr); Le.U32(s, 16, AddrWidth); Le.U32(s, 20, Reserved); }
}

/// <summary>enum iommu_hw_info_type, enum iommufd_hw_capabilities and enum iommufd_get_hw_info_flags.</summary>
public static class HwInfo
{
    public const uint TypeNone = 0;
    public const uint TypeIntelVtd = 1;
    public const uint TypeArmSmmuv3 = 2;
    public const uint TypeTegra241Cmdqv = 3;
    public const ulong CapDirtyTracking = 1ul << 0;
    public const ulong CapPciPasidExec = 1ul << 1;
    public const ulong CapPciPasidPriv = 1ul << 2;
    /// <summary>IOMMU_HW_INFO_FLAG_INPUT_TYPE: in_data_type (the union with out_data_type) is an input.</summary>
    public const uint FlagInputType = 1u << 0;
    /// <summary>IOMMU_HW_INFO_VTD_ERRATA_772415_SPR17 in iommu_hw_info_vtd.flags.</summary>
    public const uint VtdErrata772415Spr17 = 1u << 0;
}

/// <summary>struct iommu_hw_info; OutDataType shares its slot with in_data_type.</summary>
public sealed record IommuHwInfo(uint Size, uint Flags, uint DevId, uint DataLen, ulong DataUptr, uint OutDataType,
    byte OutMaxPasidLog2, ulong OutCapabilities) : IUapiStruct<IommuHwInfo>
{
    public static int MinSize => 32;
    static int IUapiStruct<IommuHwInfo>.Size => 40;
    public static IommuHwInfo Read(ReadOnlySpan<byte> s) =>
        new(Le.U32(s, 0), Le.U32(s, 4), Le.U32(s, 8), Le.U32(s, 12), Le.U64(s, 16), Le.U32(s, 24), s[28], Le.U64(s, 32));
    public void Write(Span<byte> s)
    {
        Le.U32(s, 0, Size); Le.U32(s, 4, Flags); Le.U32(s, 8, DevId); Le.U32(s, 12, DataLen); Le.U64(s, 16, DataUptr);
        Le.U32(s, 24, OutDataType); s[28] = OutMaxPasidLog2; s[29] = s[30] = s[31] = 0; Le.U64(s, 32, OutCapabilities);
    }
}

/// <summary>struct iommu_hw_info_vtd.</summary>
public sealed record IommuHwInfoVtd(uint Flags, uint Reserved, ulong CapReg, ulong EcapReg) : IUapiStruct<IommuHwInfoVtd>
{
    public static int MinSize => 24;
    static int IUapiStruct<IommuHwInfoVtd>.Size => 24;
    public static IommuHwInfoVtd Read(ReadOnlySpan<byte> s) => new(Le.U32(s, 0), Le.U32(s, 4), Le.U64(s, 8), Le.U64(s, 16));
    public void Write(Span<byte> s) { Le.U32(s, 0, Flags); Le.U32(s, 4, Reserved); Le.U64(s, 8, CapReg); Le.U64(s, 16, EcapReg); }
}

/// <summary>struct iommu_hw_info_arm_smmuv3: idr[0..5], iidr, aidr.</summary>
public sealed record IommuHwInfoArmSmmuv3(uint Flags, uint Reserved, uint[] Idr, uint Iidr, uint Aidr)
    : IUapiStruct<IommuHwInfoArmSmmuv3>
{
    public static int MinSize => 40;
    static int IUapiStruct<IommuHwInfoArmSmmuv3>.Size => 40;
    public static IommuHwInfoArmSmmuv3 Read(ReadOnlySpan<byte> s)
    {
        var idr = new uint[6];
        for (var i = 0; i < 6; i++) idr[i] = Le.U32(s, 8 + 4 * i);
        return new(Le.U32(s, 0), Le.U32(s, 4), idr, Le.U32(s, 32), Le.U32(s, 36));
    }
    public void Write(Span<byte> s)
    {
        Le.U32(s, 0, Flags); Le.U32(s, 4, Reserved);
        for (var i = 0; i < 6; i++) Le.U32(s, 8 + 4 * i, i < Idr.Length ? Idr[i] : 0);
        Le.U32(s, 32, Iidr); Le.U32(s, 36, Aidr);
    }
    public bool Equals(IommuHwInfoArmSmmuv3? o) => o is not null && Flags == o.Flags && Reserved == o.Reserved
        && Idr.AsSpan().SequenceEqual(o.Idr) && Iidr == o.Iidr && Aidr == o.Aidr;
    public override int GetHashCode() => HashCode.Combine(Flags, Iidr, Aidr, Idr.Length);
}

/// <summary>struct iommu_hwpt_set_dirty_tracking.</summary>
public sealed record IommuHwptSetDirtyTracking(uint Size, uint Flags, uint HwptId, uint Reserved)
    : IUapiStruct<IommuHwptSetDirtyTracking>
{
    /// <summary>IOMMU_HWPT_DIRTY_TRACKING_ENABLE.</summary>
    public const uint Enable = 1u << 0;
    public static int MinSize => 16;
    static int IUapiStruct<IommuHwptSetDirtyTracking>.Size => 16;
    public static IommuHwptSetDirtyTracking Read(ReadOnlySpan<byte> s) => new(Le.U32(s, 0), Le.U32(s, 4), Le.U32(s, 8), Le.U32(s, 12));
    public void Write(Span<byte> s) { Le.U32(s, 0, Size); Le.U32(s, 4, Flags); Le.U32(s, 8, HwptId); Le.U32(s, 12, Reserved); }
}

/// <summary>struct iommu_hwpt_get_dirty_bitmap.</summary>
public sealed record IommuHwptGetDirtyBitmap(uint Size, uint HwptId, uint Flags, uint Reserved, ulong Iova, ulong Length,
    ulong PageSize, ulong Data) : IUapiStruct<IommuHwptGetDirtyBitmap>
{
    /// <summary>IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR.</summary>
    public const uint NoClear = 1u << 0;
    public static int MinSize => 48;
    static int IUapiStruct<IommuHwptGetDirtyBitmap>.Size => 48;
    public static IommuHwptGetDirtyBitmap Read(ReadOnlySpan<byte> s) =>
        new(Le.U32(s, 0), Le.U32(s, 4), Le.U32(s, 8), Le.U32(s, 12), Le.U64(s, 16), Le.U64(s, 24), Le.U64(s, 32), Le.U64(s, 40));
    public void Write(Span<byte> s)
    {
        Le.U32(s, 0, Size); Le.U32(s, 4, HwptId); Le.U32(s, 8, Flags); Le.U32(s, 12, Reserved);
        Le.U64(s, 16, Iova); Le.U64(s, 24, Length); Le.U64(s, 32, PageSize); Le.U64(s, 40, Data);
    }
}

/// <summary>enum iommu_hwpt_invalidate_data_type.</summary>
public static class HwptInvalidateDataType
{
    public const uint VtdS1 = 0;
    public const uint ArmSmmuv3 = 1;
}

/// <summary>struct iommu_hwpt_invalidate; entry_num is in/out (entries handled).</summary>
public sealed record IommuHwptInvalidate(uint Size, uint HwptId, ulong DataUptr, uint DataType, uint EntryLen,
    uint EntryNum, uint Reserved) : IUapiStruct<IommuHwptInvalidate>
{
    public static int MinSize => 32;
    static int IUapiStruct<IommuHwptInvalidate>.Size => 32;
    public static IommuHwptInvalidate Read(ReadOnlySpan<byte> s) =>
        new(Le.U32(s, 0), Le.U32(s, 4), Le.U64(s, 8), Le.U32(s, 16), Le.U32(s, 20), Le.U32(s, 24), Le.U32(s, 28));
    public void Write(Span<byte> s)
    {
        Le.U32(s, 0, Size); Le.U32(s, 4, HwptId); Le.U64(s, 8, DataUptr); Le.U32(s, 16, DataType);
        Le.U32(s, 20, EntryLen); Le.U32(s, 24, EntryNum); Le.U32(s, 28, Reserved);
    }
}

/// <summary>struct iommu_hwpt_vtd_s1_invalidate: one entry of a VT-d stage-1 invalidation array.</summary>
public sealed record IommuHwptVtdS1Invalidate(ulong Addr, ulong Npages, uint Flags, uint Reserved)
    : IUapiStruct<IommuHwptVtdS1Invalidate>
{
    /// <summary>IOMMU_VTD_INV_FLAGS_LEAF.</summary>
    public const uint FlagLeaf = 1u << 0;
    public static int MinSize => 24;
    static int IUapiStruct<IommuHwptVtdS1Invalidate>.Size => 24;
    public static IommuHwptVtdS1Invalidate Read(ReadOnlySpan<byte> s) => new(Le.U64(s, 0), Le.U64(s, 8), Le.U32(s, 16), Le.U32(s, 20));
    public void Write(Span<byte> s) { Le.U64(s, 0, Addr); Le.U64(s, 8, Npages); Le.U32(s, 16, Flags); Le.U32(s, 20, Reserved); }
}

/// <summary>struct iommu_fault_alloc.</summary>
public sealed record IommuFaultAlloc(uint Size, uint Flags, uint OutFaultId, uint OutFaultFd) : IUapiStruct<IommuFaultAlloc>
{
    public static int MinSize => 16;
    static int IUapiStruct<IommuFaultAlloc>.Size => 16;
    public static IommuFaultAlloc Read(ReadOnlySpan<byte> s) => new(Le.U32(s, 0), Le.U32(s, 4), Le.U32(s, 8), Le.U32(s, 12));
    public void Write(Span<byte> s) { Le.U32(s, 0, Size); Le.U32(s, 4, Flags); Le.U32(s, 8, OutFaultId); Le.U32(s, 12, OutFaultFd); }
}

/// <summary>enum iommu_hwpt_pgfault_flags, enum iommu_hwpt_pgfault_perm and enum iommufd_page_response_code.</summary>
public static class PageFault
{
    public const uint FlagPasidValid = 1u << 0;
    public const uint FlagLastPage = 1u << 1;
    public const uint PermRead = 1u << 0;
    public const uint PermWrite = 1u << 1;
    public const uint PermExec = 1u << 2;
    public const uint PermPriv = 1u << 3;
    public const uint ResponseSuccess = 0;
    public const uint ResponseInvalid = 1;
}

/// <summary>struct iommu_hwpt_pgfault: one record read from a fault queue file.</summary>
public sealed record IommuHwptPgfault(uint Flags, uint DevId, uint Pasid, uint Grpid, uint Perm, uint Reserved,
    ulong Addr, uint Length, uint Cookie) : IUapiStruct<IommuHwptPgfault>
{
    public static int MinSize => 40;
    static int IUapiStruct<IommuHwptPgfault>.Size => 40;
    public static IommuHwptPgfault Read(ReadOnlySpan<byte> s) =>
        new(Le.U32(s, 0), Le.U32(s, 4), Le.U32(s, 8), Le.U32(s, 12), Le.U32(s, 16), Le.U32(s, 20), Le.U64(s, 24),
            Le.U32(s, 32), Le.U32(s, 36));
    public void Write(Span<byte> s)
    {
        Le.U32(s, 0, Flags); Le.U32(s, 4, DevId); Le.U32(s, 8, Pasid); Le.U32(s, 12, Grpid); Le.U32(s, 16, Perm);
        Le.U32(s, 20, Reserved); Le.U64(s, 24, Addr); Le.U32(s, 32, Length); Le.U32(s, 36, Cookie);
    }
}

/// <summary>struct iommu_hwpt_page_response: one record written to a fault queue file.</summary>
public sealed record IommuHwptPageResponse(uint Cookie, uint Code) : IUapiStruct<IommuHwptPageResponse>
{
    public static int MinSize => 8;
    static int IUapiStruct<IommuHwptPageResponse>.Size => 8;
    public static IommuHwptPageResponse Read(ReadOnlySpan<byte> s) => new(Le.U32(s, 0), Le.U32(s, 4));
    public void Write(Span<byte> s) { Le.U32(s, 0, Cookie); Le.U32(s, 4, Code); }
}

/// <summary>enum iommu_viommu_type.</summary>
public static class ViommuType
{
    public const uint Default = 0;
    public const uint ArmSmmuv3 = 1;
    public const uint Tegra241Cmdqv = 2;
}

/// <summary>struct iommu_viommu_alloc; data_len, __reserved and data_uptr came after the minimum.</summary>
public sealed record IommuViommuAlloc(uint Size, uint Flags, uint Type, uint DevId, uint HwptId, uint OutViommuId,
    uint DataLen, uint Reserved, ulong DataUptr) : IUapiStruct<IommuViommuAlloc>
{
    public static int MinSize => 24;
    static int IUapiStruct<IommuViommuAlloc>.Size => 40;
    public static IommuViommuAlloc Read(ReadOnlySpan<byte> s) =>
        new(Le.U32(s, 0), Le.U32(s, 4), Le.U32(s, 8), Le.U32(s, 12), Le.U32(s, 16), Le.U32(s, 20), Le.U32(s, 24),
            Le.U32(s, 28), Le.U64(s, 32));
    public void Write(Span<byte> s)
    {
        Le.U32(s, 0, Size); Le.U32(s, 4, Flags); Le.U32(s, 8, Type); Le.U32(s, 12, DevId); Le.U32(s, 16, HwptId);
        Le.U32(s, 20, OutViommuId); Le.U32(s, 24, DataLen); Le.U32(s, 28, Reserved); Le.U64(s, 32, DataUptr);
    }
}

/// <summary>struct iommu_vdevice_alloc.</summary>
public sealed record IommuVdeviceAlloc(uint Size, uint ViommuId, uint DevId, uint OutVdeviceId, ulong VirtId)
    : IUapiStruct<IommuVdeviceAlloc>
{
    public static int MinSize => 24;
    static int IUapiStruct<IommuVdeviceAlloc>.Size => 24;
    public static IommuVdeviceAlloc Read(ReadOnlySpan<byte> s) => new(Le.U32(s, 0), Le.U32(s, 4), Le.U32(s, 8), Le.U32(s, 12), Le.U64(s, 16));
    public void Write(Span<byte> s) { Le.U32(s, 0, Size); Le.U32(s, 4, ViommuId); Le.U32(s, 8, DevId); Le.U32(s, 12, OutVdeviceId); Le.U64(s, 16, VirtId); }
}

/// <summary>struct iommu_ioas_change_process.</summary>
public sealed record IommuIoasChangeProcess(uint Size, uint Reserved) : IUapiStruct<IommuIoasChangeProcess>
{
    public static int MinSize => 8;
    static int IUapiStruct<IommuIoasChangeProcess>.Size => 8;
    public static IommuIoasChangeProcess Read(ReadOnlySpan<byte> s) => new(Le.U32(s, 0), Le.U32(s, 4));
    public void Write(Span<byte> s) { Le.U32(s, 0, Size); Le.U32(s, 4, Reserved); }
}

/// <summary>struct iommu_veventq_alloc.</summary>
public sealed record IommuVeventqAlloc(uint Size, uint Flags, uint ViommuId, uint Type, uint VeventqDepth,
    uint OutVeventqId, uint OutVeventqFd, uint Reserved) : IUapiStruct<IommuVeventqAlloc>
{
    public static int MinSize => 28;
    static int IUapiStruct<IommuVeventqAlloc>.Size => 32;
    public static IommuVeventqAlloc Read(ReadOnlySpan<byte> s) =>
        new(Le.U32(s, 0), Le.U32(s, 4), Le.U32(s, 8), Le.U32(s, 12), Le.U32(s, 16), Le.U32(s, 20), Le.U32(s, 24), Le.U32(s, 28));
    public void Write(Span<byte> s)
    {
        Le.U32(s, 0, Size); Le.U32(s, 4, Flags); Le.U32(s, 8, ViommuId); Le.U32(s, 12, Type); Le.U32(s, 16, VeventqDepth);
        Le.U32(s, 20, OutVeventqId); Le.U32(s, 24, OutVeventqFd); Le.U32(s, 28, Reserved);
    }
}

/// <summary>struct iommu_hw_queue_alloc.</summary>
public sealed record IommuHwQueueAlloc(uint Size, uint Flags, uint ViommuId, uint Type, uint Index, uint OutHwQueueId,
    ulong NestingParentIova, ulong Length) : IUapiStruct<IommuHwQueueAlloc>
{
    public static int MinSize => 40;
    static int IUapiStruct<IommuHwQueueAlloc>.Size => 40;
    public static IommuHwQueueAlloc Read(ReadOnlySpan<byte> s) =>
        new(Le.U32(s, 0), Le.U32(s, 4), Le.U32(s, 8), Le.U32(s, 12), Le.U32(s, 16), Le.U32(s, 20), Le.U64(s, 24), Le.U64(s, 32));
    public void Write(Span<byte> s)
    {
        Le.U32(s, 0, Size); Le.U32(s, 4, Flags); Le.U32(s, 8, ViommuId); Le.U32(s, 12, Type); Le.U32(s, 16, Index);
        Le.U32(s, 20, OutHwQueueId); Le.U64(s, 24, NestingParentIova); Le.U64(s, 32, Length);
    }
}

/// <summary>enum iommu_veventq_type and enum iommu_veventq_flag.</summary>
public static class Veventq
{
    public const uint TypeDefault = 0;
    public const uint TypeArmSmmuv3 = 1;
    public const uint TypeTegra241Cmdqv = 2;
    public const uint FlagLostEvents = 1u << 0;
}

/// <summary>struct iommufd_vevent_header: precedes each record read from a vEVENTQ file.</summary>
public sealed record IommufdVeventHeader(uint Flags, uint Sequence) : IUapiStruct<IommufdVeventHeader>
{
    public static int MinSize => 8;
    static int IUapiStruct<IommufdVeventHeader>.Size => 8;
    public static IommufdVeventHeader Read(ReadOnlySpan<byte> s) => new(Le.U32(s, 0), Le.U32(s, 4));
    public void Write(Span<byte> s) { Le.U32(s, 0, Flags); Le.U32(s, 4, Sequence); }
}
