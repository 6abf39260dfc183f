namespace IommuActors.Hardware.Units;

[Flags]
public enum Access { None = 0, Read = 1, Write = 2, ReadWrite = Read | Write }

/// <summary>One leaf entry: an IOVA page of PageSize bytes at Iova backed by user memory at Address.</summary>
public readonly record struct Pte(ulong Iova, ulong Address, ulong PageSize, Access Access);

/// <summary>
/// An I/O page table: leaf entries of the sizes the unit supports, keyed by their IOVA, plus the
/// per-leaf dirty bits a write DMA sets. No Akka; the unit actor owns one per paging domain.
/// </summary>
public sealed class PageTable(ulong pageSizes)
{
    private readonly Dictionary<ulong, Pte> _leaves = new();
    private readonly HashSet<ulong> _dirty = new();
    private readonly ulong[] _sizes = Enumerable.Range(0, 64).Select(b => 1UL << b).Where(s => (pageSizes & s) != 0).ToArray();

    public ulong PageSizes { get; } = pageSizes;
    public ulong MinPageSize => _sizes[0];
    public int LeafCount => _leaves.Count;
    public ulong MappedBytes { get; private set; }
    public IEnumerable<Pte> Leaves => _leaves.Values.OrderBy(p => p.Iova);

    /// <summary>The leaf covering iova, if any.</summary>
    public Pte? Lookup(ulong iova)
    {
        foreach (var size in _sizes)
            if (_leaves.TryGetValue(iova & ~(size - 1), out var pte) && pte.PageSize == size)
                return pte;
        return null;
    }

    /// <summary>True when some leaf overlaps [iova, iova+length).</summary>
    public bool AnyMapped(ulong iova, ulong length)
    {
        for (var at = iova; at - iova < length;)
        {
            if (Lookup(at) is { } pte) return true;
            var next = (at | (MinPageSize - 1)) + 1;
            if (next == 0) break;
            at = next;
        }
        return false;
    }

    /// <summary>
    /// The largest supported page size that fits the alignment of both addresses and the remaining
    /// length (iommu_pgsize), and is no larger than <paramref name="max"/> when that is not 0 (the
    /// smallest size always fits).
    /// </summary>
    public ulong ChoosePageSize(ulong iova, ulong address, ulong remaining, ulong max = 0)
    {
        var chosen = _sizes[0];
        foreach (var size in _sizes)
            if (((iova | address) & (size - 1)) == 0 && size <= remaining && (max == 0 || size <= max))
                chosen = size;
        return chosen;
    }

    /// <summary>Maps a range already validated as aligned and free, in the largest pages that fit (none over <paramref name="maxPageSize"/> unless 0).</summary>
    public void Map(ulong iova, ulong length, ulong address, Access access, ulong maxPageSize = 0)
    {
        ulong done = 0;
        while (done < length)
        {
            var size = ChoosePageSize(iova + done, address + done, length - done, maxPageSize);
            _leaves[iova + done] = new Pte(iova + done, address + done, size, access);
            MappedBytes += size;
            done += size;
        }
    }

    /// <summary>Removes the leaves starting from iova until length is covered or a hole is met; returns bytes unmapped (iommu_unmap stops at a hole).</summary>
    public ulong Unmap(ulong iova, ulong length)
    {
        ulong done = 0;
        while (done < length)
        {
            if (Lookup(iova + done) is not { } pte || pte.Iova != iova + done)
                break;
            _leaves.Remove(pte.Iova);
            _dirty.Remove(pte.Iova);
            MappedBytes -= pte.PageSize;
            done += pte.PageSize;
        }
        return done;
    }

    public void MarkDirty(Pte pte) => _dirty.Add(pte.Iova);

    /// <summary>Every mapped leaf marked dirty: the conservative state after recovery.</summary>
    public void MarkAllDirty()
    {
        foreach (var iova in _leaves.Keys) _dirty.Add(iova);
    }

    /// <summary>IOVAs of dirty leaves overlapping [iova, iova+length), optionally clearing them.</summary>
    public IReadOnlyList<ulong> ReadDirty(ulong iova, ulong length, bool clear)
    {
        var hits = _dirty.Where(d => _leaves.TryGetValue(d, out var pte) && d < iova + length && d + pte.PageSize > iova)
            .OrderBy(d => d).ToList();
        if (clear)
            foreach (var d in hits) _dirty.Remove(d);
        return hits;
    }

    public int DirtyCount => _dirty.Count;

    /// <summary>The size of the leaf starting at iova (0 when no leaf starts there).</summary>
    public ulong LeafSizeAt(ulong iova) => _leaves.TryGetValue(iova, out var pte) ? pte.PageSize : 0;
}
