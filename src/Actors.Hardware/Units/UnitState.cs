using System.Collections.Immutable;
using IommuActors.Hardware.Platform;
using static IommuActors.Hardware.Units.UnitProtocol;

namespace IommuActors.Hardware.Units;

public sealed class Domain(int id, DomainKind kind, int parentId, bool dirtyTracking, bool iopf, ImmutableArray<Stage1Entry> stage1, ulong pageSizes)
{
    public int Id { get; } = id;
    public DomainKind Kind { get; } = kind;
    public int ParentId { get; } = parentId;
    public bool DirtyTracking { get; set; } = dirtyTracking;
    public bool Iopf { get; } = iopf;
    public ImmutableArray<Stage1Entry> Stage1 { get; set; } = stage1;
    public PageTable Table { get; } = new(pageSizes);
    public bool HasTable => Kind is DomainKind.Paging or DomainKind.NestParent;
}

/// <summary>
/// What software programmed into one unit (domains, context entries) plus its IOTLB, and the
/// walk an emulated DMA takes. Plain class; the unit actor validates, persists, then applies.
/// </summary>
public sealed class UnitState(UnitSpec spec, IReadOnlyList<DeviceSpec> devices)
{
    private readonly Dictionary<int, Domain> _domains = new();
    private readonly Dictionary<(string Pci, int Pasid), int> _contexts = new();
    // The context entries by PASID, so a PASID's teardown finds its devices without scanning every entry.
    private readonly Dictionary<int, HashSet<string>> _devicesByPasid = new();
    private readonly Dictionary<string, DeviceSpec> _added = new();

    public UnitSpec Spec { get; } = spec;
    public Iotlb Iotlb { get; } = new(spec.PageSizes);
    public int NextDomainId { get; private set; } = 1;
    public IReadOnlyDictionary<int, Domain> Domains => _domains;
    public IReadOnlyDictionary<(string Pci, int Pasid), int> Contexts => _contexts;
    public DeviceSpec? Device(string pci) => devices.FirstOrDefault(d => d.Pci == pci) ?? _added.GetValueOrDefault(pci);

    /// <summary>The devices hot-plugged behind the unit, by name.</summary>
    public IReadOnlyDictionary<string, DeviceSpec> AddedDevices => _added;

    /// <summary>The devices with a context entry for <paramref name="pasid"/>, in PCI address order.</summary>
    public ImmutableArray<string> DevicesAt(int pasid) =>
        _devicesByPasid.TryGetValue(pasid, out var pcis) ? [.. pcis.Order(StringComparer.Ordinal)] : [];

    // Validation: the errno a driver would return, or 0.
    public int CheckAllocate(AllocateDomain m)
    {
        if (m.DirtyTracking && !Spec.DirtyTracking) return Errno.EOPNOTSUPP;
        if (m.Iopf && !Spec.Iopf) return Errno.EOPNOTSUPP;
        if (m.Kind is DomainKind.NestParent or DomainKind.Nested && !Spec.Nesting) return Errno.EOPNOTSUPP;
        if (m.Kind == DomainKind.Nested)
        {
            if (!_domains.TryGetValue(m.ParentId, out var parent)) return Errno.ENOENT;
            if (parent.Kind != DomainKind.NestParent) return Errno.EINVAL;
            if (!Stage1Valid(m.Stage1)) return Errno.EINVAL;
        }
        else if (!m.Stage1.IsDefaultOrEmpty) return Errno.EINVAL;
        return 0;
    }

    public int CheckStage1(SetStage1 m)
    {
        if (!_domains.TryGetValue(m.DomainId, out var d)) return Errno.ENOENT;
        return d.Kind == DomainKind.Nested && Stage1Valid(m.Stage1) ? 0 : Errno.EINVAL;
    }

    /// <summary>Stage-1 leaves of page sizes the unit has, aligned to their size.</summary>
    private bool Stage1Valid(ImmutableArray<Stage1Entry> stage1) =>
        stage1.IsDefault || !stage1.Any(e => (e.PageSize & Spec.PageSizes) == 0 || ((e.Iova | e.Gpa) & (e.PageSize - 1)) != 0);

    public int CheckFree(int id)
    {
        if (!_domains.ContainsKey(id)) return Errno.ENOENT;
        // A domain still in a context entry, or parent of a nested domain, is busy.
        if (_contexts.Values.Contains(id) || _domains.Values.Any(d => d.ParentId == id && d.Kind == DomainKind.Nested)) return Errno.EBUSY;
        return 0;
    }

    public int CheckMap(MapRange m)
    {
        if (!_domains.TryGetValue(m.DomainId, out var d)) return Errno.ENOENT;
        if (!d.HasTable) return Errno.EINVAL;
        var min = d.Table.MinPageSize;
        // iommu_map: iova, paddr and size must all be aligned to the smallest page size.
        if (m.Length == 0 || ((m.Iova | m.Address | m.Length) & (min - 1)) != 0) return Errno.EINVAL;
        if (m.Iova + m.Length - 1 < m.Iova || m.Iova < Spec.ApertureStart || m.Iova + m.Length - 1 > Spec.ApertureEnd) return Errno.EINVAL;
        if (m.Access == Access.None) return Errno.EINVAL;
        if (d.Table.AnyMapped(m.Iova, m.Length)) return Errno.EEXIST;
        return 0;
    }

    public int CheckUnmap(UnmapRange m)
    {
        if (!_domains.TryGetValue(m.DomainId, out var d)) return Errno.ENOENT;
        if (!d.HasTable) return Errno.EINVAL;
        if (m.Length == 0 || ((m.Iova | m.Length) & (Spec.MinPageSize - 1)) != 0) return Errno.EINVAL;
        if (d.Table.Lookup(m.Iova) is not { } pte || pte.Iova != m.Iova) return Errno.ENOENT;
        return 0;
    }

    public int CheckAttach(AttachDevice m)
    {
        if (Device(m.Pci) is not { } dev) return Errno.ENODEV;
        if (!_domains.TryGetValue(m.DomainId, out var d)) return Errno.ENOENT;
        // A nest parent is a paging domain too: a device may use it directly (iommufd attaches it
        // like any paging HWPT) as well as through its nested children.
        if (m.Pasid != NoPasid)
        {
            if (!dev.PasidCapable || Spec.PasidWidth == 0) return Errno.EOPNOTSUPP;
            if (m.Pasid < 0 || m.Pasid >= 1 << Math.Min(dev.PasidWidth, Spec.PasidWidth)) return Errno.EINVAL;
            if (d.Iopf && !dev.Pri) return Errno.EINVAL;
        }
        else if (d.Iopf && !dev.Pri) return Errno.EINVAL;
        return 0;
    }

    public int CheckDetach(DetachDevice m) =>
        Device(m.Pci) is null ? Errno.ENODEV : _contexts.ContainsKey((m.Pci, m.Pasid)) ? 0 : Errno.ENOENT;

    /// <summary>Hot-plug: -1 when the very same device is there already (nothing to do), EEXIST for another under the name, EINVAL for another unit's.</summary>
    public int CheckAddDevice(DeviceSpec d)
    {
        if (d.Unit != Spec.Name) return Errno.EINVAL;
        if (Device(d.Pci) is not { } present) return 0;
        return _added.TryGetValue(d.Pci, out var same) && same == d ? -1 : Errno.EEXIST;
    }

    public int CheckRemoveDevice(string pci)
    {
        if (!_added.ContainsKey(pci)) return Device(pci) is null ? Errno.ENOENT : Errno.EPERM;
        return _contexts.Keys.Any(k => k.Pci == pci) ? Errno.EBUSY : 0;
    }

    public int CheckDirty(int id)
    {
        if (!Spec.DirtyTracking) return Errno.EOPNOTSUPP;
        if (!_domains.TryGetValue(id, out var d)) return Errno.ENOENT;
        return d.HasTable ? 0 : Errno.EINVAL;
    }

    // Appliers: used both live and on recovery.
    public void Apply(object e)
    {
        switch (e)
        {
            case DomainAllocated old:
                Apply(new DomainAllocatedSized(old.DomainId, old.Kind, old.ParentId, old.DirtyTracking, old.Iopf, old.Stage1, 0));
                break;
            case DomainAllocatedSized a:
                _domains[a.DomainId] = new Domain(a.DomainId, a.Kind, a.ParentId, a.DirtyTracking, a.Iopf,
                    a.Stage1.IsDefault ? [] : a.Stage1, a.PageSizes != 0 ? a.PageSizes : Spec.PageSizes);
                NextDomainId = Math.Max(NextDomainId, a.DomainId + 1);
                break;
            case DomainFreed f:
                _domains.Remove(f.DomainId);
                Iotlb.InvalidateDomain(f.DomainId);
                break;
            case RangeMapped m:
                _domains[m.DomainId].Table.Map(m.Iova, m.Length, m.Address, m.Access);
                break;
            case RangeMappedCapped m:
                _domains[m.DomainId].Table.Map(m.Iova, m.Length, m.Address, m.Access, m.MaxPageSize);
                break;
            case RangeUnmapped u:
                _domains[u.DomainId].Table.Unmap(u.Iova, u.Length);
                break;
            case DeviceAttached at:
                // Replacing a context entry is one write: the old domain's tags go with it.
                _contexts[(at.Pci, at.Pasid)] = at.DomainId;
                IndexContext(at.Pci, at.Pasid);
                break;
            case DeviceDetached dt:
                _contexts.Remove((dt.Pci, dt.Pasid));
                if (_devicesByPasid.TryGetValue(dt.Pasid, out var pcis) && pcis.Remove(dt.Pci) && pcis.Count == 0)
                    _devicesByPasid.Remove(dt.Pasid);
                break;
            case DirtyTrackingSet s:
                _domains[s.DomainId].DirtyTracking = s.Enabled;
                break;
            case DeviceAdded a:
                _added[a.Device.Pci] = a.Device;
                break;
            case DeviceRemoved r:
                _added.Remove(r.Pci);
                break;
            case Stage1Set s:
                _domains[s.DomainId].Stage1 = s.Stage1.IsDefault ? [] : s.Stage1;
                break;
        }
    }

    private void IndexContext(string pci, int pasid)
    {
        if (!_devicesByPasid.TryGetValue(pasid, out var pcis)) _devicesByPasid[pasid] = pcis = new HashSet<string>(StringComparer.Ordinal);
        pcis.Add(pci);
    }

    /// <summary>What a unit remembers after a crash: conservatively, every mapped page of a tracking domain is dirty.</summary>
    public void AfterRecovery()
    {
        foreach (var d in _domains.Values.Where(d => d.DirtyTracking && d.HasTable))
            d.Table.MarkAllDirty();
    }

    /// <summary>What a snapshot carries, in entries (leaves, domains, context entries, added devices), for the snapshot policy.</summary>
    public long SnapshotEntries => _domains.Values.Sum(d => 1L + (d.HasTable ? d.Table.LeafCount : 0)) + _contexts.Count + _added.Count;

    /// <summary>The page tables packed (8 bytes a mapped page), the rest as records without mappings.</summary>
    public PackedUnitSnapshot Snapshot() => new(new SizedUnitSnapshot(new UnitSnapshot(NextDomainId,
        _domains.Values.OrderBy(d => d.Id).Select(d => new DomainSnapshot(d.Id, d.Kind, d.ParentId, d.DirtyTracking, d.Iopf, d.Stage1, []))
            .ToImmutableArray(),
        _contexts.OrderBy(c => c.Key.Pci).ThenBy(c => c.Key.Pasid).Select(c => new ContextRef(c.Key.Pci, c.Key.Pasid, c.Value)).ToImmutableArray(),
        [.. _added.Values.OrderBy(d => d.Pci, StringComparer.Ordinal)]),
        _domains.Values.Where(d => d.Table.PageSizes != Spec.PageSizes).ToImmutableDictionary(d => d.Id, d => d.Table.PageSizes)),
        [.. _domains.Values.Where(d => d.HasTable && d.Table.LeafCount > 0).OrderBy(d => d.Id).Select(d => new PackedTable(d.Id, d.Table.Pack()))]);

    /// <summary>A packed snapshot: the records, then each page table unpacked into its domain's empty table.</summary>
    public void Restore(PackedUnitSnapshot s)
    {
        Restore(s.Rest.Unit, s.Rest.DomainPageSizes);
        foreach (var t in s.Tables)
            _domains[t.DomainId].Table.Unpack(t.Blocks);
    }

    /// <summary>Domains absent from <paramref name="pageSizes"/> (all of them in a snapshot from before) take the unit's page sizes.</summary>
    public void Restore(UnitSnapshot s, IReadOnlyDictionary<int, ulong>? pageSizes = null)
    {
        _domains.Clear();
        _contexts.Clear();
        _devicesByPasid.Clear();
        _added.Clear();
        foreach (var d in s.AddedDevices.IsDefault ? [] : s.AddedDevices)
            _added[d.Pci] = d;
        foreach (var d in s.Domains)
        {
            Apply(new DomainAllocatedSized(d.DomainId, d.Kind, d.ParentId, d.DirtyTracking, d.Iopf, d.Stage1,
                pageSizes is not null && pageSizes.TryGetValue(d.DomainId, out var sizes) ? sizes : 0));
            foreach (var m in d.Mappings)
                _domains[d.DomainId].Table.Map(m.Iova, m.PageSize, m.Address, m.Access);
        }
        foreach (var c in s.Contexts)
        {
            _contexts[(c.Pci, c.Pasid)] = c.DomainId;
            IndexContext(c.Pci, c.Pasid);
        }
        NextDomainId = s.NextDomainId;
    }

    /// <summary>Walks context, domain, nested stage and IOTLB for one DMA; returns segments or the first fault.</summary>
    public (ImmutableArray<Segment> Segments, Fault? Fault) Translate(string pci, int pasid, ulong iova, ulong length, DmaDirection dir)
    {
        var need = dir == DmaDirection.Write ? Access.Write : Access.Read;
        if (Device(pci) is not { } dev)
            return ([], new Fault(FaultKind.NoContext, pci, pasid, 0, iova, need, 0));
        if (pasid != NoPasid && (!dev.PasidCapable || pasid >= 1 << dev.PasidWidth))
            return ([], new Fault(FaultKind.PasidNotAllowed, pci, pasid, 0, iova, need, 0));
        if (!_contexts.TryGetValue((pci, pasid), out var domainId) || !_domains.TryGetValue(domainId, out var domain))
            return ([], new Fault(FaultKind.NoContext, pci, pasid, 0, iova, need, 0));
        if (domain.Kind == DomainKind.Blocking)
            return ([], new Fault(FaultKind.Blocked, pci, pasid, domainId, iova, need, 0));
        if (domain.Kind == DomainKind.Identity)
            return ([new Segment(iova, iova, length)], null);

        var segments = ImmutableArray.CreateBuilder<Segment>();
        ulong done = 0;
        while (done < length)
        {
            var at = iova + done;
            var entry = Iotlb.Lookup(domainId, pasid, at) ?? Walk(domain, pasid, at);
            if (entry is not { } e)
                return ([], new Fault(FaultKind.NotPresent, pci, pasid, domainId, at, need, 0));
            if ((e.Access & need) == 0)
                return ([], new Fault(FaultKind.Permission, pci, pasid, domainId, at, need, 0));
            var offset = at - e.Iova;
            var chunk = Math.Min(e.PageSize - offset, length - done);
            if (dir == DmaDirection.Write) MarkDirty(domain, at);
            segments.Add(new Segment(at, e.Address + offset, chunk));
            done += chunk;
        }
        return (segments.ToImmutable(), null);
    }

    private IotlbEntry? Walk(Domain domain, int pasid, ulong iova)
    {
        IotlbEntry? found = null;
        if (domain.HasTable)
        {
            if (domain.Table.Lookup(iova) is { } p)
                found = new IotlbEntry(domain.Id, pasid, p.Iova, p.Address, p.PageSize, p.Access);
        }
        else if (domain.Kind == DomainKind.Nested && _domains.TryGetValue(domain.ParentId, out var parent))
        {
            // Stage 1 (given by message, not walked in guest memory) then the parent's stage 2, at the smaller granule.
            var s1 = domain.Stage1.FirstOrDefault(e => iova >= e.Iova && iova - e.Iova < e.PageSize);
            if (s1 is not null)
            {
                var gpa = s1.Gpa + (iova - s1.Iova);
                if (parent.Table.Lookup(gpa) is { } p2)
                {
                    var size = Math.Min(s1.PageSize, p2.PageSize);
                    var pageIova = iova & ~(size - 1);
                    var address = p2.Address + ((gpa & ~(size - 1)) - p2.Iova);
                    found = new IotlbEntry(domain.Id, pasid, pageIova, address, size, s1.Access & p2.Access);
                }
            }
        }
        if (found is { } f) Iotlb.Insert(f);
        return found;
    }

    /// <summary>The selftest's DIRTY: the leaf under each IOVA of a paging domain marked dirty; the count of IOVAs that were mapped.</summary>
    public int MarkDirtyAt(int domainId, IEnumerable<ulong> iovas)
    {
        if (!_domains.TryGetValue(domainId, out var domain) || !domain.HasTable) return 0;
        var marked = 0;
        foreach (var iova in iovas)
        {
            if (domain.Table.Lookup(iova) is not { } pte) continue;
            domain.Table.MarkDirty(pte);
            marked++;
        }
        return marked;
    }

    private void MarkDirty(Domain domain, ulong iova)
    {
        if (domain.Kind == DomainKind.Nested && _domains.TryGetValue(domain.ParentId, out var parent))
        {
            // Dirty bits live in the stage-2 table, at the guest-physical address.
            var s1 = domain.Stage1.FirstOrDefault(e => iova >= e.Iova && iova - e.Iova < e.PageSize);
            if (s1 is null || !parent.DirtyTracking) return;
            if (parent.Table.Lookup(s1.Gpa + (iova - s1.Iova)) is { } p) parent.Table.MarkDirty(p);
        }
        else if (domain.DirtyTracking && domain.Table.Lookup(iova) is { } pte)
            domain.Table.MarkDirty(pte);
    }
}
