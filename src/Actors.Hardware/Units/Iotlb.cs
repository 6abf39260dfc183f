namespace IommuActors.Hardware.Units;

/// <summary>A cached translation, tagged like hardware tags it: domain id and PASID (-1 for none).</summary>
public readonly record struct IotlbEntry(int Domain, int Pasid, ulong Iova, ulong Address, ulong PageSize, Access Access);

/// <summary>
/// The IOTLB: entries filled by translation and kept until software invalidates them, so a stale
/// entry is served after an unmap nobody flushed. Volatile: empty after reset.
/// </summary>
public sealed class Iotlb(ulong pageSizes)
{
    private readonly Dictionary<(int Domain, int Pasid, ulong Iova), IotlbEntry> _entries = new();
    private readonly ulong[] _sizes = Enumerable.Range(0, 64).Select(b => 1UL << b).Where(s => (pageSizes & s) != 0).ToArray();

    public int Count => _entries.Count;
    public long Hits { get; private set; }
    public long Misses { get; private set; }
    public IEnumerable<IotlbEntry> Entries => _entries.Values;

    public IotlbEntry? Lookup(int domain, int pasid, ulong iova)
    {
        foreach (var size in _sizes)
            if (_entries.TryGetValue((domain, pasid, iova & ~(size - 1)), out var e) && e.PageSize == size)
            {
                Hits++;
                return e;
            }
        Misses++;
        return null;
    }

    public void Insert(IotlbEntry entry) => _entries[(entry.Domain, entry.Pasid, entry.Iova)] = entry;

    public int InvalidateAll()
    {
        var n = _entries.Count;
        _entries.Clear();
        return n;
    }

    public int InvalidateDomain(int domain) => RemoveWhere(e => e.Domain == domain);

    /// <summary>Drops the domain's entries overlapping [iova, iova+length).</summary>
    public int InvalidateRange(int domain, ulong iova, ulong length) =>
        RemoveWhere(e => e.Domain == domain && e.Iova < iova + length && e.Iova + e.PageSize > iova);

    public int InvalidatePasid(int pasid) => RemoveWhere(e => e.Pasid == pasid);

    private int RemoveWhere(Func<IotlbEntry, bool> match)
    {
        var doomed = _entries.Where(kv => match(kv.Value)).Select(kv => kv.Key).ToList();
        foreach (var key in doomed) _entries.Remove(key);
        return doomed.Count;
    }
}
