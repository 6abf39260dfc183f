using System.Buffers.Binary;
using System.Numerics;

namespace IommuActors.Hardware.Units;

[Flags]
public enum Access { None = 0, Read = 1, Write = 2, ReadWrite = Read | Write }

/// <summary>One leaf entry: an IOVA page of PageSize bytes at Iova backed by user memory at Address.</summary>
public readonly record struct Pte(ulong Iova, ulong Address, ulong PageSize, Access Access);

/// <summary>
/// An I/O page table: leaf entries of the sizes the unit supports, keyed by their IOVA, plus the
/// per-leaf dirty bits a write DMA sets. No Akka; the unit actor owns one per paging domain.
/// Laid out as a hardware table's last level is: blocks of 512 slots of 8 bytes, one slot per
/// smallest page, a leaf in the slot of its first page. A slot holds the address in units of the
/// smallest page above ten bits of present, access, dirty and the leaf's size as a power of two,
/// so a fully mapped block costs 8 bytes a page (addresses up to 2^(54 + log2 smallest page)).
/// </summary>
public sealed class PageTable
{
    /// <summary>Slots per block: 512, as a hardware table level of 8-byte entries in 4 KiB.</summary>
    public const int BlockSlots = 512;
    private const int BlockShift = 9;
    private const int FlagBits = 10;
    private const ulong Present = 1, AccessMask = 0b110, Dirty = 0b1000;
    private const int AccessShift = 1, SizeShiftAt = 4;

    private readonly Dictionary<ulong, Block> _blocks = new();
    private readonly ulong[] _sizes;
    private readonly int _minShift;

    public PageTable(ulong pageSizes)
    {
        if (pageSizes == 0)
            throw new ArgumentException("a page table needs at least one page size", nameof(pageSizes));
        PageSizes = pageSizes;
        _sizes = Enumerable.Range(0, 64).Select(b => 1UL << b).Where(s => (pageSizes & s) != 0).ToArray();
        _minShift = BitOperations.TrailingZeroCount(pageSizes);
    }

    /// <summary>One block of slots and how many leaves start in it.</summary>
    private sealed class Block
    {
        public readonly ulong[] Slots = new ulong[BlockSlots];
        public int Leaves;
    }

    public ulong PageSizes { get; }
    public ulong MinPageSize => _sizes[0];
    public int LeafCount { get; private set; }
    public ulong MappedBytes { get; private set; }
    public int DirtyCount { get; private set; }

    /// <summary>The leaves in IOVA order.</summary>
    public IEnumerable<Pte> Leaves
    {
        get
        {
            foreach (var key in _blocks.Keys.Order().ToList())
            {
                if (!_blocks.TryGetValue(key, out var block))
                    continue;
                for (var i = 0; i < BlockSlots; i++)
                    if (block.Slots[i] != 0)
                        yield return Decode(((key << BlockShift) + (ulong)i) << _minShift, block.Slots[i]);
            }
        }
    }

    /// <summary>
    /// The table as a snapshot keeps it, dirty bits left out: the number of blocks, then per block
    /// in IOVA order its key, a bitmap of its 512 slots and the slots in use, 8 bytes each, little
    /// endian. A full block packs to 8 bytes a page; <see cref="Unpack"/> reads it back as it is.
    /// </summary>
    public byte[] Pack()
    {
        var keys = _blocks.Keys.Order().ToArray();
        var bytes = new byte[4 + keys.Length * (8 + BlockSlots / 8) + LeafCount * 8];
        var at = 0;
        BinaryPrimitives.WriteInt32LittleEndian(bytes, keys.Length);
        at += 4;
        Span<ulong> bitmap = stackalloc ulong[BlockSlots / 64];
        foreach (var key in keys)
        {
            var slots = _blocks[key].Slots;
            BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(at), key);
            at += 8;
            bitmap.Clear();
            for (var i = 0; i < BlockSlots; i++)
                if (slots[i] != 0)
                    bitmap[i >> 6] |= 1UL << (i & 63);
            foreach (var word in bitmap)
            {
                BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(at), word);
                at += 8;
            }
            for (var i = 0; i < BlockSlots; i++)
            {
                if (slots[i] == 0)
                    continue;
                BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(at), slots[i] & ~Dirty);
                at += 8;
            }
        }
        return bytes;
    }

    /// <summary>Fills this empty table (of the same page sizes) from what <see cref="Pack"/> wrote.</summary>
    public void Unpack(ReadOnlySpan<byte> bytes)
    {
        if (LeafCount != 0)
            throw new InvalidOperationException("only an empty page table is unpacked into");
        var count = BinaryPrimitives.ReadInt32LittleEndian(bytes);
        var at = 4;
        Span<ulong> bitmap = stackalloc ulong[BlockSlots / 64];
        for (var b = 0; b < count; b++)
        {
            var key = BinaryPrimitives.ReadUInt64LittleEndian(bytes[at..]);
            at += 8;
            for (var w = 0; w < bitmap.Length; w++, at += 8)
                bitmap[w] = BinaryPrimitives.ReadUInt64LittleEndian(bytes[at..]);
            var block = new Block();
            for (var i = 0; i < BlockSlots; i++)
            {
                if ((bitmap[i >> 6] & (1UL << (i & 63))) == 0)
                    continue;
                var slot = BinaryPrimitives.ReadUInt64LittleEndian(bytes[at..]);
                at += 8;
                if ((slot & Present) == 0)
                    throw new System.Runtime.Serialization.SerializationException("a packed page-table slot is not a leaf");
                block.Slots[i] = slot;
                block.Leaves++;
                MappedBytes += SizeOf(slot);
            }
            if (block.Leaves == 0 || !_blocks.TryAdd(key, block))
                throw new System.Runtime.Serialization.SerializationException("a packed page-table block is empty or repeated");
            LeafCount += block.Leaves;
        }
        if (at != bytes.Length)
            throw new System.Runtime.Serialization.SerializationException($"a packed page table has {bytes.Length - at} bytes left over");
    }

    /// <summary>The leaf covering iova, if any.</summary>
    public Pte? Lookup(ulong iova)
    {
        foreach (var size in _sizes)
        {
            var start = iova & ~(size - 1);
            var slot = Slot(start);
            if (slot != 0 && SizeOf(slot) == size)
                return Decode(start, slot);
        }
        return null;
    }

    /// <summary>True when some leaf overlaps [iova, iova+length).</summary>
    public bool AnyMapped(ulong iova, ulong length)
    {
        for (var at = iova; at - iova < length;)
        {
            if (Lookup(at) is not null) return true;
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
            var index = (iova + done) >> _minShift;
            if (!_blocks.TryGetValue(index >> BlockShift, out var block))
                _blocks[index >> BlockShift] = block = new Block();
            ref var slot = ref block.Slots[(int)(index & (BlockSlots - 1))];
            if (slot == 0)
            {
                block.Leaves++;
                LeafCount++;
            }
            else
            {
                MappedBytes -= SizeOf(slot);
                if ((slot & Dirty) != 0) DirtyCount--;
            }
            slot = Encode(address + done, size, access);
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
            var index = pte.Iova >> _minShift;
            var key = index >> BlockShift;
            var block = _blocks[key];
            ref var slot = ref block.Slots[(int)(index & (BlockSlots - 1))];
            if ((slot & Dirty) != 0) DirtyCount--;
            slot = 0;
            LeafCount--;
            if (--block.Leaves == 0)
                _blocks.Remove(key);
            MappedBytes -= pte.PageSize;
            done += pte.PageSize;
        }
        return done;
    }

    public void MarkDirty(Pte pte)
    {
        if (!TrySlot(pte.Iova, out var block, out var i) || block.Slots[i] == 0 || (block.Slots[i] & Dirty) != 0)
            return;
        block.Slots[i] |= Dirty;
        DirtyCount++;
    }

    /// <summary>Every mapped leaf marked dirty: the conservative state after recovery.</summary>
    public void MarkAllDirty()
    {
        foreach (var block in _blocks.Values)
            for (var i = 0; i < BlockSlots; i++)
                if (block.Slots[i] != 0)
                    block.Slots[i] |= Dirty;
        DirtyCount = LeafCount;
    }

    /// <summary>IOVAs of dirty leaves overlapping [iova, iova+length), optionally clearing them.</summary>
    public IReadOnlyList<ulong> ReadDirty(ulong iova, ulong length, bool clear)
    {
        var hits = new List<ulong>();
        if (DirtyCount == 0)
            return hits;
        var end = iova + length;
        foreach (var key in _blocks.Keys.Order().ToList())
        {
            var block = _blocks[key];
            for (var i = 0; i < BlockSlots; i++)
            {
                var slot = block.Slots[i];
                if ((slot & Dirty) == 0)
                    continue;
                var start = ((key << BlockShift) + (ulong)i) << _minShift;
                if (start < end && start + SizeOf(slot) > iova)
                {
                    hits.Add(start);
                    if (clear)
                    {
                        block.Slots[i] = slot & ~Dirty;
                        DirtyCount--;
                    }
                }
            }
        }
        return hits;
    }

    /// <summary>The size of the leaf starting at iova (0 when no leaf starts there).</summary>
    public ulong LeafSizeAt(ulong iova) => Slot(iova) is var slot and not 0 ? SizeOf(slot) : 0;

    private bool TrySlot(ulong iova, out Block block, out int i)
    {
        var index = iova >> _minShift;
        i = (int)(index & (BlockSlots - 1));
        // Only a leaf's first page has a slot: an IOVA inside a smallest page is not a leaf start.
        if ((iova & (MinPageSize - 1)) != 0 || !_blocks.TryGetValue(index >> BlockShift, out block!))
        {
            block = null!;
            return false;
        }
        return true;
    }

    private ulong Slot(ulong iova) => TrySlot(iova, out var block, out var i) ? block.Slots[i] : 0;

    private ulong Encode(ulong address, ulong size, Access access) =>
        ((address >> _minShift) << FlagBits) | ((ulong)BitOperations.TrailingZeroCount(size) << SizeShiftAt)
        | (((ulong)access << AccessShift) & AccessMask) | Present;

    private static ulong SizeOf(ulong slot) => 1UL << (int)((slot >> SizeShiftAt) & 63);

    private Pte Decode(ulong iova, ulong slot) =>
        new(iova, (slot >> FlagBits) << _minShift, SizeOf(slot), (Access)((slot & AccessMask) >> AccessShift));
}
