using System.Buffers.Binary;
using System.Collections.Immutable;
using IommuActors.Hardware.Units;
using static IommuActors.Domains.Hwpt.HwptProtocol;

namespace IommuActors.Domains.Hwpt;

/// <summary>One hardware page table: an iommu_domain in one unit, paging (mirrors the IOAS) or nested (user stage 1 over a paging parent).</summary>
public sealed class HardwarePageTable(uint id, HwptKind kind, string unit, int domainId, bool auto, uint flags, uint parentId,
    uint dataType, ImmutableArray<byte> data, ImmutableArray<Stage1Entry> stage1, ulong pageSizes)
{
    public ulong PageSizes { get; } = pageSizes;
    public uint Id { get; } = id;
    public HwptKind Kind { get; } = kind;
    public string Unit { get; } = unit;
    public int DomainId { get; } = domainId;
    public bool Auto { get; } = auto;
    public uint Flags { get; } = flags;
    public uint ParentId { get; } = parentId;
    public uint DataType { get; } = dataType;
    public ImmutableArray<byte> Data { get; } = data.IsDefault ? [] : data;
    public ImmutableArray<Stage1Entry> Stage1 { get; set; } = stage1.IsDefault ? [] : stage1;
    public bool DirtyTracking { get; set; }
    public SortedSet<(string Pci, int Pasid)> Devices { get; } = [];

    /// <summary>The selftest nested domain's four IOTLB words (mock_nested->iotlb), set from the user data and zeroed by invalidation.</summary>
    public uint[] MockIotlb { get; set; } = [];

    public bool IsPaging => Kind == HwptKind.Paging;
    public string Owner => OwnerOf(Id);
    public static string OwnerOf(uint id) => $"hwpt-{id}";
}

/// <summary>
/// The HWPTs of one IOAS and the devices attached to them. Plain class: the IOAS actor validates
/// with it, programs the units, then applies the journal event here (live and on recovery).
/// </summary>
public sealed class HwptTable
{
    /// <summary>MOCK_NESTED_DOMAIN_IOTLB_NUM and _ID_MAX of the selftest driver.</summary>
    public const int MockIotlbEntries = 4;

    private readonly SortedDictionary<uint, HardwarePageTable> _hwpts = new();
    private readonly Dictionary<(string Pci, int Pasid), uint> _attachments = new();

    public IReadOnlyDictionary<uint, HardwarePageTable> All => _hwpts;
    public IReadOnlyDictionary<(string Pci, int Pasid), uint> Attachments => _attachments;

    /// <summary>Paging HWPTs, in creation order: the domains a map or unmap must reach.</summary>
    public IEnumerable<HardwarePageTable> Paging => _hwpts.Values.Where(h => h.IsPaging);

    public HardwarePageTable? Find(uint id) => _hwpts.GetValueOrDefault(id);

    /// <summary>iommufd_device_auto_get_domain walks the IOAS's automatic HWPTs in creation order; one on another unit is incompatible.</summary>
    /// <summary>
    /// iommufd_device_auto_get_domain tries each automatic HWPT of the IOAS in turn and takes the
    /// first the attach accepts: same unit, and PASID-capable when the attach needs that.
    /// </summary>
    public HardwarePageTable? CompatibleAuto(string unit, bool needPasid = false) =>
        _hwpts.Values.OrderBy(h => h.Id).FirstOrDefault(h => h.Auto && h.IsPaging && h.Unit == unit
                                                             && (!needPasid || (h.Flags & AllocPasid) != 0));

    public bool HasChildren(uint id) => _hwpts.Values.Any(h => h.Kind == HwptKind.Nested && h.ParentId == id);

    /// <summary>IOMMU_DESTROY of a HWPT: unknown is ENOENT; a device or a nested child still using it is EBUSY.</summary>
    public int CheckDestroy(uint id)
    {
        if (!_hwpts.TryGetValue(id, out var h))
            return Errno.ENOENT;
        return h.Devices.Count > 0 || HasChildren(id) ? Errno.EBUSY : 0;
    }

    public void Apply(object e)
    {
        switch (e)
        {
            case HwptCreated c:
                var h = new HardwarePageTable(c.HwptId, c.Kind, c.Unit, c.DomainId, c.Auto, c.Flags, c.ParentHwptId, c.DataType, c.Data, c.Stage1, c.PageSizes);
                if (c.DataType == DataSelftest && c.Kind == HwptKind.Nested)
                    h.MockIotlb = Enumerable.Repeat(MockIotlbDefault(c.Data), MockIotlbEntries).ToArray();
                _hwpts[c.HwptId] = h;
                break;
            case HwptRemoved r:
                _hwpts.Remove(r.HwptId);
                break;
            case HwptDeviceAttached a:
                if (_attachments.Remove((a.Pci, a.Pasid), out var old) && _hwpts.TryGetValue(old, out var was))
                    was.Devices.Remove((a.Pci, a.Pasid));
                _attachments[(a.Pci, a.Pasid)] = a.HwptId;
                _hwpts[a.HwptId].Devices.Add((a.Pci, a.Pasid));
                break;
            case HwptDeviceDetached d:
                if (_attachments.Remove((d.Pci, d.Pasid), out var from) && _hwpts.TryGetValue(from, out var left))
                    left.Devices.Remove((d.Pci, d.Pasid));
                break;
            case HwptDirtyTrackingSet s:
                _hwpts[s.HwptId].DirtyTracking = s.Enabled;
                break;
            case HwptMockIotlbSet m:
                _hwpts[m.HwptId].MockIotlb = [.. m.Iotlb];
                break;
            case HwptStage1Set s:
                _hwpts[s.HwptId].Stage1 = s.Stage1.IsDefault ? [] : s.Stage1;
                break;
        }
    }

    public ImmutableArray<HwptRecord> Records() => [.. _hwpts.Values.Select(h => new HwptRecord(h.Id, h.Kind, h.Unit, h.DomainId,
        h.Auto, h.Flags, h.ParentId, h.DataType, h.Data, h.Stage1, h.DirtyTracking,
        [.. h.Devices.Select(d => new AttachmentView(d.Pci, d.Pasid))], [.. h.MockIotlb], h.PageSizes))];

    public void Restore(IEnumerable<HwptRecord> records)
    {
        _hwpts.Clear();
        _attachments.Clear();
        foreach (var r in records)
        {
            var h = new HardwarePageTable(r.HwptId, r.Kind, r.Unit, r.DomainId, r.Auto, r.Flags, r.ParentHwptId, r.DataType, r.Data, r.Stage1, r.PageSizes)
            {
                DirtyTracking = r.DirtyTracking,
                MockIotlb = [.. r.MockIotlb],
            };
            foreach (var d in r.Devices)
            {
                h.Devices.Add((d.Pci, d.Pasid));
                _attachments[(d.Pci, d.Pasid)] = r.HwptId;
            }
            _hwpts[r.HwptId] = h;
        }
    }

    public ImmutableArray<HwptView> Views() => [.. _hwpts.Values.Select(h => new HwptView(h.Id, h.Kind, h.Unit, h.DomainId, h.Auto,
        h.Flags, h.ParentId, h.DirtyTracking, h.DataType, h.Data,
        [.. h.Devices.Select(d => new AttachmentView(d.Pci, d.Pasid))], [.. h.MockIotlb]))];

    private static uint MockIotlbDefault(ImmutableArray<byte> data) =>
        data.Length >= 4 ? BinaryPrimitives.ReadUInt32LittleEndian(data.AsSpan()) : 0;
}

/// <summary>The vendor structs a nested HWPT carries, read with the kernel's copy_struct_from_user size rule.</summary>
public static class VendorData
{
    /// <summary>sizeof(struct iommu_hwpt_vtd_s1): flags, pgtbl_addr, addr_width, __reserved.</summary>
    public const int VtdS1Size = 24;
    /// <summary>sizeof(struct iommu_hwpt_selftest): iotlb.</summary>
    public const int SelftestSize = 4;
    /// <summary>sizeof(struct iommu_hwpt_vtd_s1_invalidate): addr, npages, flags, __reserved.</summary>
    public const int VtdInvalidateSize = 24;
    /// <summary>sizeof(struct iommu_hwpt_invalidate_selftest): flags, iotlb_id.</summary>
    public const int SelftestInvalidateSize = 8;
    public const uint VtdInvalidateLeaf = 1;
    public const uint SelftestInvalidateAll = 1;
    public const ulong VtdPageSize = 4096;

    /// <summary>
    /// copy_struct_from_user as iommu_copy_struct_from_user uses it: shorter than the kernel's
    /// minimum (up to the last named member) is EINVAL; longer with a non-zero byte past the kernel's
    /// size is E2BIG.
    /// </summary>
    public static int CheckSize(ReadOnlySpan<byte> user, int minimum, int kernelSize)
    {
        if (user.Length < minimum)
            return Errno.EINVAL;
        for (var i = kernelSize; i < user.Length; i++)
            if (user[i] != 0)
                return Errno.E2BIG;
        return 0;
    }

    /// <summary>
    /// One entry of a cache-invalidation array (HWPT_INVALIDATE): shorter than the minimum or
    /// longer than the kernel's struct is EINVAL, whatever the extra bytes hold (the selftest's
    /// "structure size sanity" case: entry_len one past the struct is refused).
    /// </summary>
    public static int CheckEntrySize(ReadOnlySpan<byte> entry, int minimum, int kernelSize) =>
        entry.Length < minimum || entry.Length > kernelSize ? Errno.EINVAL : 0;

    /// <summary>The stage-1 data type a unit's driver accepts for a nested domain (none when it cannot nest).</summary>
    public static uint DataTypeFor(string stage1Format) => stage1Format switch
    {
        "vtd-s1" => DataVtdS1,
        "smmuv3" => DataArmSmmuV3,
        "selftest" => DataSelftest,
        _ => uint.MaxValue,
    };

    /// <summary>
    /// A nested allocation's data: no data type over a paging parent is the core's EINVAL; a type
    /// the unit's driver does not take is the driver's EOPNOTSUPP; then the struct's size.
    /// </summary>
    public static int CheckNestedData(uint unitType, uint dataType, ReadOnlySpan<byte> data) =>
        dataType == DataNone ? Errno.EINVAL
        : dataType != unitType ? Errno.EOPNOTSUPP
        : dataType switch
        {
            DataVtdS1 => CheckSize(data, VtdS1Size, VtdS1Size) is var rc and not 0 ? rc : CheckVtdFlags(data),
            DataSelftest => CheckSize(data, SelftestSize, SelftestSize),
            _ => Errno.EOPNOTSUPP,
        };

    /// <summary>iommu_hwpt_vtd_s1: flags other than SRE, EAFE and WPE, or a non-zero __reserved, are not supported.</summary>
    private static int CheckVtdFlags(ReadOnlySpan<byte> data)
    {
        const ulong known = 1 | 2 | 4;
        var flags = BinaryPrimitives.ReadUInt64LittleEndian(data);
        var reserved = BinaryPrimitives.ReadUInt32LittleEndian(data[20..]);
        return (flags & ~known) != 0 || reserved != 0 ? Errno.EOPNOTSUPP : 0;
    }

    /// <summary>intel_pasid_setup_nested accepts 4- and 5-level stage-1 tables only (48 or 57 address bits).</summary>
    public static int CheckVtdAttach(ReadOnlySpan<byte> data)
    {
        var width = BinaryPrimitives.ReadUInt32LittleEndian(data[16..]);
        return width is 48 or 57 ? 0 : Errno.EINVAL;
    }
}

/// <summary>What one cache-invalidation entry asks of the unit.</summary>
public readonly record struct InvalidationStep(bool All, ulong Iova, ulong Length, int MockIotlbIndex);

/// <summary>
/// The drivers' cache_invalidate_user loops: entries are handled in order and the first bad one
/// stops the loop, with entry_num written back as the number handled before it.
/// </summary>
public static class Invalidation
{
    public static (int Errno, List<InvalidationStep> Steps) Parse(uint domainType, uint dataType, uint entryLength, uint entryCount,
        ReadOnlySpan<byte> entries)
    {
        var steps = new List<InvalidationStep>();
        var expected = domainType == DataVtdS1 ? InvalidateVtdS1 : domainType == DataSelftest ? InvalidateSelftest : uint.MaxValue;
        if (dataType != expected)
            return (Errno.EINVAL, steps);
        for (var i = 0; i < entryCount; i++)
        {
            var start = (long)i * entryLength;
            if (start + entryLength > entries.Length)
                return (Errno.EFAULT, steps);
            var entry = entries.Slice((int)start, (int)entryLength);
            var rc = domainType == DataVtdS1 ? VtdEntry(entry, out var step) : SelftestEntry(entry, out step);
            if (rc != 0)
                return (rc, steps);
            steps.Add(step);
        }
        return (0, steps);
    }

    /// <summary>intel_nested_cache_invalidate_user: flags beyond LEAF or a reserved word is EOPNOTSUPP; an address off 4 KiB, or "all pages" from a non-zero address, EINVAL.</summary>
    private static int VtdEntry(ReadOnlySpan<byte> entry, out InvalidationStep step)
    {
        step = default;
        var rc = VendorData.CheckEntrySize(entry, VendorData.VtdInvalidateSize, VendorData.VtdInvalidateSize);
        if (rc != 0)
            return rc;
        var addr = BinaryPrimitives.ReadUInt64LittleEndian(entry);
        var npages = BinaryPrimitives.ReadUInt64LittleEndian(entry[8..]);
        var flags = BinaryPrimitives.ReadUInt32LittleEndian(entry[16..]);
        var reserved = BinaryPrimitives.ReadUInt32LittleEndian(entry[20..]);
        if ((flags & ~VendorData.VtdInvalidateLeaf) != 0 || reserved != 0)
            return Errno.EOPNOTSUPP;
        if (addr % VendorData.VtdPageSize != 0 || (npages == ulong.MaxValue && addr != 0))
            return Errno.EINVAL;
        var all = npages == ulong.MaxValue;
        var length = npages > ulong.MaxValue / VendorData.VtdPageSize ? ulong.MaxValue - addr : npages * VendorData.VtdPageSize;
        step = new InvalidationStep(all, addr, length, -1);
        return 0;
    }

    /// <summary>The selftest driver: flags beyond ALL is EOPNOTSUPP, an IOTLB index past the last EINVAL.</summary>
    private static int SelftestEntry(ReadOnlySpan<byte> entry, out InvalidationStep step)
    {
        step = default;
        var rc = VendorData.CheckEntrySize(entry, VendorData.SelftestInvalidateSize, VendorData.SelftestInvalidateSize);
        if (rc != 0)
            return rc;
        var flags = BinaryPrimitives.ReadUInt32LittleEndian(entry);
        var index = BinaryPrimitives.ReadUInt32LittleEndian(entry[4..]);
        if ((flags & ~VendorData.SelftestInvalidateAll) != 0)
            return Errno.EOPNOTSUPP;
        if (index >= HwptTable.MockIotlbEntries)
            return Errno.EINVAL;
        var all = (flags & VendorData.SelftestInvalidateAll) != 0;
        step = new InvalidationStep(all, 0, 0, all ? -1 : (int)index);
        return 0;
    }
}

/// <summary>The dirty bitmap of IOMMU_HWPT_GET_DIRTY_BITMAP: bit n for the page at iova + n * pageSize, in u64 words.</summary>
public static class DirtyBitmapBuilder
{
    public static ImmutableArray<byte> Build(ulong iova, ulong length, ulong pageSize, IEnumerable<(ulong Iova, ulong Size)> dirtyLeaves)
    {
        var pages = length / pageSize;
        var bytes = new byte[(pages + 63) / 64 * 8];
        var last = iova + length - 1;
        foreach (var (leaf, size) in dirtyLeaves)
        {
            var from = Math.Max(leaf, iova);
            var to = Math.Min(leaf + size - 1, last);
            if (from > to)
                continue;
            for (var bit = (from - iova) / pageSize; bit <= (to - iova) / pageSize; bit++)
                bytes[bit / 8] |= (byte)(1 << (int)(bit % 8));
        }
        return [.. bytes];
    }
}
