namespace IommuActors.Uapi.Structs;

// The emulator's own ioctls on an iommufd (docs/pasid-extension.md): the IOASID set of the VM the
// context stands for, reached over the same wire as the kernel's ioctls. They use ioctl type 0xE1,
// which the kernel's iommufd never handles, and follow iommufd's conventions: plain _IO numbers, a
// struct whose first u32 is its size, unknown flags EOPNOTSUPP, the struct copied back on success.

/// <summary>The emulator's ioctl numbers: (0xE1 &lt;&lt; 8) | nr.</summary>
public static class EmulatorIoctls
{
    public const uint Type = 0xE1;
    public const uint PASID_ALLOC = 0xE101;
    public const uint PASID_FREE = 0xE102;
    public const uint PASID_SET_INFO = 0xE103;
    public const uint PASID_MAP_GUEST = 0xE104;
    public const uint VDCM_PROGRAM = 0xE105;
    public const uint KVM_TRANSLATE = 0xE106;
    public const uint PASID_SET_QUOTA = 0xE107;
    public const uint VDCM_CLEAR = 0xE108;

    public static bool IsEmulator(uint request) => (request >> 8) == Type;
}

/// <summary>Allocate a PASID in the context's set; out_pasid is the host PASID.</summary>
public sealed record EmuPasidAlloc(uint Size, uint Flags, uint OutPasid) : IUapiStruct<EmuPasidAlloc>
{
    public static int MinSize => 12;
    static int IUapiStruct<EmuPasidAlloc>.Size => 12;
    public static EmuPasidAlloc Read(ReadOnlySpan<byte> s) => new(Le.U32(s, 0), Le.U32(s, 4), Le.U32(s, 8));
    public void Write(Span<byte> s) { Le.U32(s, 0, Size); Le.U32(s, 4, Flags); Le.U32(s, 8, OutPasid); }
}

/// <summary>Free a PASID of the set (two-phase: gone from the set at once, back in the space once every subscriber acknowledged).</summary>
public sealed record EmuPasidFree(uint Size, uint Pasid) : IUapiStruct<EmuPasidFree>
{
    public static int MinSize => 8;
    static int IUapiStruct<EmuPasidFree>.Size => 8;
    public static EmuPasidFree Read(ReadOnlySpan<byte> s) => new(Le.U32(s, 0), Le.U32(s, 4));
    public void Write(Span<byte> s) { Le.U32(s, 0, Size); Le.U32(s, 4, Pasid); }
}

/// <summary>The set's quota and how many of its PASIDs are out (allocated or awaiting acknowledgements).</summary>
public sealed record EmuPasidSetInfo(uint Size, uint Flags, uint OutQuota, uint OutUsed) : IUapiStruct<EmuPasidSetInfo>
{
    public static int MinSize => 16;
    static int IUapiStruct<EmuPasidSetInfo>.Size => 16;
    public static EmuPasidSetInfo Read(ReadOnlySpan<byte> s) => new(Le.U32(s, 0), Le.U32(s, 4), Le.U32(s, 8), Le.U32(s, 12));
    public void Write(Span<byte> s) { Le.U32(s, 0, Size); Le.U32(s, 4, Flags); Le.U32(s, 8, OutQuota); Le.U32(s, 12, OutUsed); }
}

/// <summary>Bind a host PASID of the set under a guest PASID (published as BIND; KVM learns the translation).</summary>
public sealed record EmuPasidMapGuest(uint Size, uint Flags, uint GuestPasid, uint HostPasid) : IUapiStruct<EmuPasidMapGuest>
{
    public static int MinSize => 16;
    static int IUapiStruct<EmuPasidMapGuest>.Size => 16;
    public static EmuPasidMapGuest Read(ReadOnlySpan<byte> s) => new(Le.U32(s, 0), Le.U32(s, 4), Le.U32(s, 8), Le.U32(s, 12));
    public void Write(Span<byte> s) { Le.U32(s, 0, Size); Le.U32(s, 4, Flags); Le.U32(s, 8, GuestPasid); Le.U32(s, 12, HostPasid); }
}

/// <summary>The guest programs a guest PASID into work queue <c>Queue</c> of a virtual device; VDCM answers the host PASID.</summary>
public sealed record EmuVdcmProgram(uint Size, uint Queue, uint GuestPasid, uint OutHostPasid) : IUapiStruct<EmuVdcmProgram>
{
    public static int MinSize => 16;
    static int IUapiStruct<EmuVdcmProgram>.Size => 16;
    public static EmuVdcmProgram Read(ReadOnlySpan<byte> s) => new(Le.U32(s, 0), Le.U32(s, 4), Le.U32(s, 8), Le.U32(s, 12));
    public void Write(Span<byte> s) { Le.U32(s, 0, Size); Le.U32(s, 4, Queue); Le.U32(s, 8, GuestPasid); Le.U32(s, 12, OutHostPasid); }
}

/// <summary>The guest clears virtual work queue <c>Queue</c>: VDCM drops the PASID it held (ENOENT when it held none).</summary>
public sealed record EmuVdcmClear(uint Size, uint Queue) : IUapiStruct<EmuVdcmClear>
{
    public static int MinSize => 8;
    static int IUapiStruct<EmuVdcmClear>.Size => 8;
    public static EmuVdcmClear Read(ReadOnlySpan<byte> s) => new(Le.U32(s, 0), Le.U32(s, 4));
    public void Write(Span<byte> s) { Le.U32(s, 0, Size); Le.U32(s, 4, Queue); }
}

/// <summary>ENQCMD's translation: the host PASID KVM holds for a guest PASID.</summary>
public sealed record EmuKvmTranslate(uint Size, uint GuestPasid, uint OutHostPasid) : IUapiStruct<EmuKvmTranslate>
{
    public static int MinSize => 12;
    static int IUapiStruct<EmuKvmTranslate>.Size => 12;
    public static EmuKvmTranslate Read(ReadOnlySpan<byte> s) => new(Le.U32(s, 0), Le.U32(s, 4), Le.U32(s, 8));
    public void Write(Span<byte> s) { Le.U32(s, 0, Size); Le.U32(s, 4, GuestPasid); Le.U32(s, 8, OutHostPasid); }
}

/// <summary>
/// Change the set's quota (ioasid_adjust_set); out_used is how many PASIDs the set holds. A quota below that
/// (FREE-pending PASIDs count until reclaimed), 0, or above 2^20-1 is EINVAL and changes nothing.
/// </summary>
public sealed record EmuPasidSetQuota(uint Size, uint Flags, uint Quota, uint OutUsed) : IUapiStruct<EmuPasidSetQuota>
{
    public static int MinSize => 16;
    static int IUapiStruct<EmuPasidSetQuota>.Size => 16;
    public static EmuPasidSetQuota Read(ReadOnlySpan<byte> s) => new(Le.U32(s, 0), Le.U32(s, 4), Le.U32(s, 8), Le.U32(s, 12));
    public void Write(Span<byte> s) { Le.U32(s, 0, Size); Le.U32(s, 4, Flags); Le.U32(s, 8, Quota); Le.U32(s, 12, OutUsed); }
}
