namespace IommuActors.Uapi.Structs;

// The kernel's selftest uAPI (drivers/iommu/iommufd/iommufd_test.h): IOMMU_TEST_CMD and the mock
// driver's data formats. Numbers and layouts are the kernel's; the emulator serves them on its mock unit.

/// <summary>The op field of struct iommu_test_cmd, numbered as the kernel's enum.</summary>
public enum TestOp : uint
{
    AddReserved = 1,
    MockDomain = 2,
    MdCheckMap = 3,
    MdCheckRefs = 4,
    CreateAccess = 5,
    DestroyAccessPages = 6,
    AccessPages = 7,
    AccessRw = 8,
    SetTempMemoryLimit = 9,
    MockDomainReplace = 10,
    AccessReplaceIoas = 11,
    MockDomainFlags = 12,
    Dirty = 13,
    MdCheckIotlb = 14,
    TriggerIopf = 15,
    DevCheckCache = 16,
    TriggerVevent = 17,
    PasidAttach = 18,
    PasidReplace = 19,
    PasidDetach = 20,
    PasidCheckHwpt = 21,
}

/// <summary>Constants of the mock driver the selftest relies on.</summary>
public static class Selftest
{
    public const ulong MockApertureStart = 1UL << 24;
    public const ulong MockApertureLast = (1UL << 31) - 1;

    /// <summary>The mock's IO page: half the kernel's PAGE_SIZE.</summary>
    public const ulong MockIoPageSize = 2048;

    /// <summary>The mock's huge IO page, which a domain allocated for a HUGE_IOVA device also maps with.</summary>
    public const ulong MockHugePageSize = 512 * MockIoPageSize;

    public const uint FlagsAccessWrite = 1u << 0;
    public const uint FlagsAccessSyz = 1u << 16;
    public const uint AccessRwWrite = 1u << 0;
    public const uint AccessRwSlowPath = 1u << 2;
    public const uint FlagsAccessCreateNeedsPinPages = 1u << 0;

    /// <summary>ACCESS_PAGES and ACCESS_RW refuse a longer length (ENOMEM) before anything else.</summary>
    public const ulong AccessMaxLength = 16 * 1024 * 1024;

    /// <summary>An access that pins pages works in whole pages of this size (the kernel's PAGE_SIZE).</summary>
    public const ulong AccessPageSize = 4096;

    /// <summary>SET_TEMP_MEMORY_LIMIT's smallest limit: sizeof(unsigned long) + sizeof(u32).</summary>
    public const uint MemoryLimitMin = 12;

    public const uint DeviceNoDirty = 1u << 0;
    public const uint DeviceHugeIova = 1u << 1;
    public const uint DevicePasid = 1u << 2;

    public const uint NestedDomainIotlbIdMax = 3;
    public const uint NestedDomainIotlbNum = 4;
    public const uint DevCacheIdMax = 3;
    public const uint DevCacheNum = 4;

    /// <summary>The PASID the selftest keeps for its replace test.</summary>
    public const uint PasidReserved = 1024;
    public const int MockPasidWidth = 20;

    public const uint HwInfoType = 0xfeedbeef;
    public const uint HwInfoRegval = 0xdeadbeef;
    public const uint HwptDataType = 0xdead;
    public const uint IotlbDefault = 0xbadbeef;
    public const uint DevCacheDefault = 0xbaddad;
    public const uint InvalidateDataType = 0xdeadbeef;
    public const uint InvalidateDataTypeInvalid = 0xdadbeef;
    public const uint InvalidateFlagAll = 1u << 0;
    public const uint ViommuType = 0xdeadbeef;
    public const uint VeventqType = 0xbeefbeef;
    public const uint HwQueueType = 0xdeadbeef;
    public const uint HwQueueMax = 2;
}

/// <summary>Errno values only the selftest's ops answer (Linux numbering).</summary>
public static class SelftestErrno
{
    /// <summary>ACCESS_PAGES: the pinned pages are not the pages at uptr.</summary>
    public const int EBADE = 52;

    /// <summary>An access op whose fd is not open or not an access file.</summary>
    public const int EBADFD = 77;
}

/// <summary>
/// Byte offsets (from the start of struct iommu_test_cmd) of each op's view of the union, as
/// the kernel's layout puts them: the union starts at 16 and is 8-byte aligned.
/// </summary>
public static class TestCmdLayout
{
    public const int Union = 16;
    public const int UnionLength = 48;

    public static class AddReserved { public const int Start = 16, Length = 24; }
    public static class MockDomain { public const int OutStdevId = 16, OutHwptId = 20, OutIdevId = 24, DevFlags = 28; }
    public static class MockDomainReplace { public const int PtId = 16; }
    public static class CheckMap { public const int Iova = 16, Length = 24, Uptr = 32; }
    public static class CheckRefs { public const int Length = 16, Uptr = 24, Refs = 32; }
    public static class CreateAccess { public const int OutAccessFd = 16, Flags = 20; }
    public static class DestroyAccessPages { public const int AccessPagesId = 16; }
    public static class AccessPages { public const int Flags = 16, OutAccessPagesId = 20, Iova = 24, Length = 32, Uptr = 40; }
    public static class AccessRw { public const int Iova = 16, Length = 24, Uptr = 32, Flags = 40; }
    public static class MemoryLimit { public const int Limit = 16; }
    public static class AccessReplaceIoas { public const int IoasId = 16; }
    public static class Dirty { public const int Flags = 16, Iova = 24, Length = 32, PageSize = 40, Uptr = 48, OutNrDirty = 56; }
    public static class CheckIotlb { public const int Id = 16, Iotlb = 20; }
    public static class TriggerIopf { public const int DevId = 16, Pasid = 20, Grpid = 24, Perm = 28, Addr = 32; }
    public static class CheckDevCache { public const int Id = 16, Cache = 20; }
    public static class TriggerVevent { public const int DevId = 16; }
    public static class PasidAttach { public const int Pasid = 16, PtId = 20; }
    public static class PasidReplace { public const int Pasid = 16, PtId = 20; }
    public static class PasidDetach { public const int Pasid = 16; }
    public static class PasidCheck { public const int Pasid = 16, HwptId = 20; }
}

/// <summary>
/// struct iommu_test_cmd: size, op, id, reserved, a union read through <see cref="TestCmdLayout"/>
/// offsets, and <c>last</c>, whose end is the minimum size the kernel's ioctl table asks for.
/// Immutable: the With methods return a changed copy.
/// </summary>
public sealed class IommuTestCmd : IUapiStruct<IommuTestCmd>, IEquatable<IommuTestCmd>
{
    public const int LastOffset = 64;
    public static int MinSize => 68;
    static int IUapiStruct<IommuTestCmd>.Size => 72;

    private readonly byte[] _bytes;

    private IommuTestCmd(byte[] bytes) => _bytes = bytes;

    public static IommuTestCmd Create(TestOp op, uint id) =>
        new IommuTestCmd(new byte[72]).WithU32(0, 72).WithU32(4, (uint)op).WithU32(8, id);

    public uint Size => Le.U32(_bytes, 0);
    public uint Op => Le.U32(_bytes, 4);
    public uint Id => Le.U32(_bytes, 8);
    public uint Reserved => Le.U32(_bytes, 12);
    public uint Last => Le.U32(_bytes, LastOffset);

    public uint U32(int offset) => Le.U32(_bytes, offset);
    public ulong U64(int offset) => Le.U64(_bytes, offset);

    public IommuTestCmd WithU32(int offset, uint value)
    {
        var copy = (byte[])_bytes.Clone();
        Le.U32(copy, offset, value);
        return new IommuTestCmd(copy);
    }

    public IommuTestCmd WithU64(int offset, ulong value)
    {
        var copy = (byte[])_bytes.Clone();
        Le.U64(copy, offset, value);
        return new IommuTestCmd(copy);
    }

    public static IommuTestCmd Read(ReadOnlySpan<byte> s) => new(s[..72].ToArray());
    public void Write(Span<byte> s) => _bytes.CopyTo(s);

    public bool Equals(IommuTestCmd? other) => other is not null && _bytes.AsSpan().SequenceEqual(other._bytes);
    public override bool Equals(object? obj) => Equals(obj as IommuTestCmd);
    public override int GetHashCode() => HashCode.Combine(Op, Id, Le.U64(_bytes, TestCmdLayout.Union));
    public override string ToString() => $"IommuTestCmd {{ Op = {(TestOp)Op}, Id = {Id}, Size = {Size} }}";
}

/// <summary>struct iommu_test_hw_info: what GET_HW_INFO returns for a mock device.</summary>
public sealed record IommuTestHwInfo(uint Flags, uint TestReg) : IUapiStruct<IommuTestHwInfo>
{
    public static int MinSize => 8;
    static int IUapiStruct<IommuTestHwInfo>.Size => 8;
    public static IommuTestHwInfo Read(ReadOnlySpan<byte> s) => new(Le.U32(s, 0), Le.U32(s, 4));
    public void Write(Span<byte> s) { Le.U32(s, 0, Flags); Le.U32(s, 4, TestReg); }
}

/// <summary>struct iommu_hwpt_selftest: the mock stage-1 data of a nested HWPT (data type 0xdead).</summary>
public sealed record IommuHwptSelftest(uint Iotlb) : IUapiStruct<IommuHwptSelftest>
{
    public static int MinSize => 4;
    static int IUapiStruct<IommuHwptSelftest>.Size => 4;
    public static IommuHwptSelftest Read(ReadOnlySpan<byte> s) => new(Le.U32(s, 0));
    public void Write(Span<byte> s) => Le.U32(s, 0, Iotlb);
}

/// <summary>struct iommu_hwpt_invalidate_selftest: one mock invalidation request of HWPT_INVALIDATE.</summary>
public sealed record IommuHwptInvalidateSelftest(uint Flags, uint IotlbId) : IUapiStruct<IommuHwptInvalidateSelftest>
{
    public static int MinSize => 8;
    static int IUapiStruct<IommuHwptInvalidateSelftest>.Size => 8;
    public static IommuHwptInvalidateSelftest Read(ReadOnlySpan<byte> s) => new(Le.U32(s, 0), Le.U32(s, 4));
    public void Write(Span<byte> s) { Le.U32(s, 0, Flags); Le.U32(s, 4, IotlbId); }
}

/// <summary>struct iommu_viommu_invalidate_selftest: one mock vIOMMU invalidation request.</summary>
public sealed record IommuViommuInvalidateSelftest(uint Flags, uint VdevId, uint CacheId)
    : IUapiStruct<IommuViommuInvalidateSelftest>
{
    public static int MinSize => 12;
    static int IUapiStruct<IommuViommuInvalidateSelftest>.Size => 12;
    public static IommuViommuInvalidateSelftest Read(ReadOnlySpan<byte> s) => new(Le.U32(s, 0), Le.U32(s, 4), Le.U32(s, 8));
    public void Write(Span<byte> s) { Le.U32(s, 0, Flags); Le.U32(s, 4, VdevId); Le.U32(s, 8, CacheId); }
}
