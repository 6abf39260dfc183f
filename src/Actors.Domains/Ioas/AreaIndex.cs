using System.Collections;

namespace IommuActors.Domains.Ioas;

/// <summary>
/// An IO page table's areas in IOVA order, kept in blocks of up to 256 references (the role of the
/// kernel's area interval tree): about eight bytes an area where a balanced tree spends a node of
/// 48, and built from an already sorted list in one pass. Finds the area at or before an IOVA and
/// the areas starting in a range by binary search over the blocks, then within one. IOVAs are
/// unique; the table keeps the areas disjoint. Not to be changed while it is being enumerated.
/// Plain class.
/// </summary>
public sealed class AreaIndex : IReadOnlyCollection<IoArea>
{
    internal const int BlockSize = 256;

    private sealed class Block(int capacity)
    {
        public IoArea[] Items = new IoArea[capacity];
        public int Count;
        public ulong First => Items[0].Iova;
    }

    private readonly List<Block> _blocks = [];

    public int Count { get; private set; }

    /// <summary>An index over areas already sorted by IOVA with no IOVA twice, filled block by block.</summary>
    public static AreaIndex FromSorted(IReadOnlyList<IoArea> sorted)
    {
        var index = new AreaIndex();
        for (var i = 0; i < sorted.Count; i += BlockSize)
        {
            var n = Math.Min(BlockSize, sorted.Count - i);
            var block = new Block(n);
            for (var k = 0; k < n; k++)
            {
                if (i + k > 0 && sorted[i + k].Iova <= sorted[i + k - 1].Iova)
                    throw new ArgumentException("areas are not sorted by IOVA", nameof(sorted));
                block.Items[k] = sorted[i + k];
            }
            block.Count = n;
            index._blocks.Add(block);
        }
        index.Count = sorted.Count;
        return index;
    }

    /// <summary>The area with the highest IOVA at or below <paramref name="iova"/>, or null.</summary>
    public IoArea? Floor(ulong iova)
    {
        var b = BlockAtOrBefore(iova);
        if (b < 0)
            return null;
        var block = _blocks[b];
        return block.Items[LastAtOrBefore(block, iova)];
    }

    /// <summary>The areas whose IOVA lies in [first, last], lowest first.</summary>
    public IEnumerable<IoArea> Between(ulong first, ulong last)
    {
        if (first > last || Count == 0)
            yield break;
        var b = Math.Max(0, BlockAtOrBefore(first));
        var i = first == 0 ? 0 : LastAtOrBefore(_blocks[b], first - 1) + 1;
        for (; b < _blocks.Count; b++, i = 0)
        {
            var block = _blocks[b];
            for (; i < block.Count; i++)
            {
                var a = block.Items[i];
                if (a.Iova > last)
                    yield break;
                if (a.Iova >= first)
                    yield return a;
            }
        }
    }

    /// <summary>The lowest area whose IOVA lies in [first, last], or null.</summary>
    public IoArea? FirstBetween(ulong first, ulong last)
    {
        foreach (var a in Between(first, last))
            return a;
        return null;
    }

    /// <summary>Adds an area; an area at the same IOVA already there is an error of the caller.</summary>
    public void Add(IoArea area)
    {
        var b = BlockAtOrBefore(area.Iova);
        if (b < 0)
        {
            // Below every area: the first block takes it at its head.
            if (_blocks.Count == 0)
                _blocks.Add(new Block(4));
            b = 0;
        }
        var block = _blocks[b];
        var at = LastAtOrBefore(block, area.Iova) + 1;
        if (at > 0 && block.Items[at - 1].Iova == area.Iova)
            throw new InvalidOperationException($"an area at IOVA 0x{area.Iova:x} is there already");
        if (block.Count == BlockSize)
        {
            // Appending past the last block's end (a table filled upwards) starts a new block; else split in halves.
            if (at == BlockSize && b == _blocks.Count - 1)
            {
                var fresh = new Block(4) { Count = 1 };
                fresh.Items[0] = area;
                _blocks.Add(fresh);
                Count++;
                return;
            }
            var upper = new Block(BlockSize) { Count = BlockSize / 2 };
            Array.Copy(block.Items, BlockSize / 2, upper.Items, 0, BlockSize / 2);
            Array.Clear(block.Items, BlockSize / 2, BlockSize / 2);
            block.Count = BlockSize / 2;
            _blocks.Insert(b + 1, upper);
            if (at > BlockSize / 2)
            {
                block = upper;
                at -= BlockSize / 2;
            }
        }
        if (block.Count == block.Items.Length)
            Array.Resize(ref block.Items, Math.Min(BlockSize, block.Items.Length * 2));
        Array.Copy(block.Items, at, block.Items, at + 1, block.Count - at);
        block.Items[at] = area;
        block.Count++;
        Count++;
    }

    /// <summary>Removes this very area (matched by IOVA and reference); false when it is not in the index.</summary>
    public bool Remove(IoArea area)
    {
        var b = BlockAtOrBefore(area.Iova);
        if (b < 0)
            return false;
        var block = _blocks[b];
        var at = LastAtOrBefore(block, area.Iova);
        if (!ReferenceEquals(block.Items[at], area))
            return false;
        Array.Copy(block.Items, at + 1, block.Items, at, block.Count - at - 1);
        block.Items[--block.Count] = null!;
        Count--;
        if (block.Count == 0)
            _blocks.RemoveAt(b);
        else if (block.Count < block.Items.Length / 4 && block.Items.Length > 4)
            Array.Resize(ref block.Items, Math.Max(4, block.Items.Length / 2));
        return true;
    }

    public IEnumerator<IoArea> GetEnumerator()
    {
        foreach (var block in _blocks)
            for (var i = 0; i < block.Count; i++)
                yield return block.Items[i];
    }

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    /// <summary>The last block whose first area's IOVA is at or below <paramref name="iova"/>; -1 when none.</summary>
    private int BlockAtOrBefore(ulong iova)
    {
        int lo = 0, hi = _blocks.Count - 1, found = -1;
        while (lo <= hi)
        {
            var mid = lo + (hi - lo) / 2;
            if (_blocks[mid].First <= iova)
            {
                found = mid;
                lo = mid + 1;
            }
            else
                hi = mid - 1;
        }
        return found;
    }

    /// <summary>Within a block: the last index whose IOVA is at or below <paramref name="iova"/>; -1 when none.</summary>
    private static int LastAtOrBefore(Block block, ulong iova)
    {
        int lo = 0, hi = block.Count - 1, found = -1;
        while (lo <= hi)
        {
            var mid = lo + (hi - lo) / 2;
            if (block.Items[mid].Iova <= iova)
            {
                found = mid;
                lo = mid + 1;
            }
            else
                hi = mid - 1;
        }
        return found;
    }
}
