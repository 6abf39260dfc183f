using System.Collections.Immutable;
using IommuActors.Domains.Ioas;
using IommuActors.Fd.Objects;
using IommuActors.Uapi.Structs;
using Errno = IommuActors.Uapi.Errno;
using MappingRecord = IommuActors.Hardware.Units.UnitProtocol.MappingRecord;

namespace IommuActors.Fd.Selftests;

/// <summary>
/// The argument checks and answers of IOMMU_TEST_CMD's ops (selftest.c), apart from the objects
/// and the memory they look at: each says which errno the kernel gives, in the kernel's order.
/// </summary>
public static class SelftestRules
{
    /// <summary>A page of the client, the unit of a page-by-page check of user memory.</summary>
    public const ulong CpuPage = 4096;

    /// <summary>An op's PASID that no device has (past the mock's PASID width).</summary>
    public const int NoSuchPasid = int.MinValue;

    /// <summary>
    /// SET_TEMP_MEMORY_LIMIT: the kernel's limit on the temporary buffers of its page batching,
    /// below sizeof(unsigned long) + sizeof(u32) EINVAL. It changes how the kernel chunks its work,
    /// never a result, and the emulator has no such buffers: any other limit is accepted.
    /// </summary>
    public static int MemoryLimitErrno(uint limit) => limit < Selftest.MemoryLimitMin ? Errno.EINVAL : 0;

    /// <summary>ADD_RESERVED: an empty range or one past the top of the IOVA space is EOVERFLOW.</summary>
    public static int ReservedRangeErrno(ulong start, ulong length) =>
        length == 0 || start > ulong.MaxValue - (length - 1) ? Errno.EOVERFLOW : 0;

    /// <summary>mock_dev_create: a device flag it does not know is EINVAL.</summary>
    public static int MockDeviceFlagsErrno(uint flags) => (flags & ~MockDevices.DeviceFlags) != 0 ? Errno.EINVAL : 0;

    /// <summary>The test ops' PASID: IOMMU_NO_PASID (0) is the RID; past the mock's PASID width is <see cref="NoSuchPasid"/>.</summary>
    public static int OpPasid(uint pasid, int noPasid) =>
        pasid == 0 ? noPasid : pasid >= 1u << Selftest.MockPasidWidth ? NoSuchPasid : (int)pasid;

    /// <summary>
    /// PASID_ATTACH and PASID_REPLACE before the attach path: a PASID at or past the device's
    /// max_pasids (0 without DEVICE_PASID) is EINVAL (iommu_attach_device_pasid); an attach of a
    /// PASID attached already EBUSY, a replace of one that is not EINVAL.
    /// </summary>
    public static int PasidAttachErrno(int pasid, int noPasid, bool pasidCapable, bool attached, bool replace)
    {
        if (pasid == NoSuchPasid || pasid != noPasid && !pasidCapable)
            return Errno.EINVAL;
        if (attached != replace)
            return replace ? Errno.EINVAL : Errno.EBUSY;
        return 0;
    }

    /// <summary>
    /// PASID_CHECK_HWPT: with hwpt_id 0 the PASID must be detached; else hwpt_id must exist
    /// (ENOENT), be a HWPT and be what the PASID is attached to (EINVAL otherwise).
    /// </summary>
    /// <param name="attached">The HWPT the PASID is attached to, 0 for none.</param>
    /// <param name="kind">The kind of the object hwptId names; null when there is none.</param>
    public static int PasidCheckHwptErrno(uint attached, uint hwptId, ObjectKind? kind)
    {
        if (hwptId == 0)
            return attached == 0 ? 0 : Errno.EINVAL;
        if (kind is not { } k)
            return Errno.ENOENT;
        return k is ObjectKind.HwptPaging or ObjectKind.HwptNested && attached == hwptId ? 0 : Errno.EINVAL;
    }

    /// <summary>
    /// DEV_CHECK_CACHE: the device must be a mock device and cacheId one of its entries, holding
    /// the value given (EINVAL otherwise). cached: the entry's value, null when there is none.
    /// </summary>
    public static int DevCacheErrno(uint? cached, uint value) =>
        cached is { } v && v == value ? 0 : Errno.EINVAL;

    /// <summary>MD_CHECK_MAP: iova, length and uptr on the domain's smallest page, and uptr + length within the address space.</summary>
    public static int CheckMapArgsErrno(ulong iova, ulong length, ulong uptr, ulong page) =>
        iova % page != 0 || length % page != 0 || uptr % page != 0 || uptr > ulong.MaxValue - length ? Errno.EINVAL : 0;

    /// <summary>
    /// MD_CHECK_MAP's walk: each IO page of [iova, iova+length) must map uptr at the same offset.
    /// The end of the user page range up to and with the first page that does not, or null.
    /// </summary>
    public static ulong? FirstMapMismatch(IEnumerable<MappingRecord> mappings, ulong iova, ulong length, ulong uptr, ulong page)
    {
        var leaves = mappings.OrderBy(m => m.Iova).ToArray();
        var starts = leaves.Select(m => m.Iova).ToArray();
        for (ulong done = 0; done < length; done += page)
        {
            var at = unchecked(iova + done);
            var i = Array.BinarySearch(starts, at);
            if (i < 0)
                i = ~i - 1;
            var mapped = i >= 0 && at - leaves[i].Iova < leaves[i].PageSize ? leaves[i].Address + (at - leaves[i].Iova) : (ulong?)null;
            if (mapped != uptr + done)
                return uptr + done + page;
        }
        return null;
    }

    /// <summary>MD_CHECK_REFS: page-aligned length and uptr, uptr + length within the address space.</summary>
    public static int CheckRefsArgsErrno(ulong length, ulong uptr) =>
        length % CpuPage != 0 || uptr % CpuPage != 0 || uptr > ulong.MaxValue - length ? Errno.EINVAL : 0;

    /// <summary>
    /// MD_CHECK_REFS' walk: each page of [uptr, uptr+length) must be pinned refs times, a pin
    /// being one pinned pages object however many IOASes or spans share it. The end of the user
    /// page range up to and with the first page that is not, or null.
    /// </summary>
    public static ulong? FirstRefsMismatch(IEnumerable<IoasProtocol.PinnedView> pinned, ulong uptr, ulong length, uint refs)
    {
        var all = pinned.ToList();
        for (var at = uptr; at - uptr < length; at += CpuPage)
        {
            var count = all.Where(p => p.UserAddress < at + CpuPage && at < p.UserAddress + p.Length)
                .Select(p => p.PagesId).Distinct().Count();
            if (count != refs)
                return at + CpuPage;
        }
        return null;
    }

    /// <summary>
    /// The client pages a page-by-page check must find to give its answer: the kernel faults a
    /// page in before it compares it, so every page from uptr's up to and with the mismatch (or to
    /// the end checked) must exist. [First, End) in whole client pages.
    /// </summary>
    public static (ulong First, ulong End) PagesToFind(ulong uptr, ulong? mismatchEnd, ulong checkedEnd)
    {
        var end = mismatchEnd ?? checkedEnd;
        if (end % CpuPage != 0)
            end = (end | (CpuPage - 1)) + 1;
        return (uptr & ~(CpuPage - 1), end);
    }

    /// <summary>MD_CHECK_IOTLB: entry index of the nested domain's IOTLB must hold expected.</summary>
    public static int IotlbErrno(uint index, uint expected, ImmutableArray<uint> iotlb) =>
        index <= Selftest.NestedDomainIotlbIdMax && index < iotlb.Length && iotlb[(int)index] == expected ? 0 : Errno.EINVAL;

    /// <summary>DIRTY: a page size, a length in whole pages from a page-aligned iova, and a bitmap.</summary>
    public static int DirtyArgsErrno(ulong iova, ulong length, ulong pageSize, ulong uptr) =>
        pageSize == 0 || length == 0 || iova % pageSize != 0 || length % pageSize != 0 || uptr == 0 ? Errno.EINVAL : 0;

    /// <summary>DIRTY: the IOVA of each page whose bit the user bitmap sets (bit n is iova + n * pageSize).</summary>
    public static ImmutableArray<ulong> DirtyIovas(ReadOnlySpan<byte> bitmap, ulong iova, ulong bits, ulong pageSize)
    {
        var iovas = ImmutableArray.CreateBuilder<ulong>();
        for (ulong bit = 0; bit < bits; bit++)
            if ((bitmap[(int)(bit / 8)] & (1 << (int)(bit % 8))) != 0)
                iovas.Add(unchecked(iova + bit * pageSize));
        return iovas.ToImmutable();
    }
}
