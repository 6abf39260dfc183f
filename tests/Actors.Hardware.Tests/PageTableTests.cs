using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using IommuActors.Hardware.Units;
using Xunit;

namespace IommuActors.Hardware.Tests;

public sealed class PageTableTests
{
    private const ulong K4 = 4096, M2 = 0x200000;

    [Fact]
    public void Map_uses_the_largest_page_the_alignment_allows()
    {
        var t = new PageTable(K4 | M2);
        t.Map(0x1ff000, 0x201000, 0x7f00_001f_f000, Access.ReadWrite);
        Assert.Equal([(0x1ff000UL, K4), (0x200000UL, M2)], t.Leaves.Select(p => (p.Iova, p.PageSize)));
        Assert.Equal(0x7f00_0030_0000UL + 0x1234, t.Lookup(0x301234)!.Value.Address + (0x301234 - 0x200000));
    }

    [Fact]
    public void Unmap_stops_at_the_first_hole_and_returns_the_bytes_removed()
    {
        var t = new PageTable(K4);
        t.Map(0x1000, 0x2000, 0x10000, Access.Read);
        t.Map(0x4000, 0x1000, 0x20000, Access.Read);
        Assert.Equal(0x2000UL, t.Unmap(0x1000, 0x4000));
        Assert.Equal(0x4000UL, t.Leaves.Single().Iova);
    }

    [Fact]
    public void Iotlb_serves_an_entry_until_its_range_is_invalidated()
    {
        var tlb = new Iotlb(K4);
        tlb.Insert(new IotlbEntry(1, -1, 0x1000, 0x9000, K4, Access.Read));
        Assert.Equal(0x9000UL, tlb.Lookup(1, -1, 0x1abc)!.Value.Address);
        Assert.Equal(0, tlb.InvalidateRange(1, 0x2000, K4));
        Assert.Equal(1, tlb.InvalidateRange(1, 0x1000, K4));
        Assert.Null(tlb.Lookup(1, -1, 0x1abc));
    }

    // Random map/unmap of 4K-page runs agree with a per-page dictionary model.
    [Property(MaxTest = 200)]
    public bool Page_table_agrees_with_a_per_page_model(byte[] ops)
    {
        var t = new PageTable(K4 | 0x10000);
        var model = new Dictionary<ulong, ulong>();
        for (var i = 0; i + 1 < ops.Length; i += 2)
        {
            var start = (ulong)(ops[i] & 0x3f) * K4;
            var pages = (ulong)(ops[i + 1] & 0x1f) + 1;
            if ((ops[i + 1] & 0x80) == 0)
            {
                if (t.AnyMapped(start, pages * K4)) continue;
                t.Map(start, pages * K4, 0x100000 + start * 3, Access.ReadWrite);
                for (ulong p = 0; p < pages; p++) model[start + p * K4] = 0x100000 + start * 3 + p * K4;
            }
            else
            {
                var removed = t.Unmap(start, pages * K4);
                var at = start;
                for (; at - start < removed; at += K4) model.Remove(at);
            }
        }
        return Enumerable.Range(0, 0x80).Select(i => (ulong)i * K4).All(a =>
            model.TryGetValue(a, out var addr)
                ? t.Lookup(a) is { } p && p.Address + (a - p.Iova) == addr
                : t.Lookup(a) is null)
            && t.MappedBytes == (ulong)model.Count * K4;
    }

    // Packing and unpacking gives back every leaf (address, size, access), dirty bits left out.
    [Property(MaxTest = 200)]
    public bool A_packed_table_unpacks_to_the_same_leaves_without_dirty_bits(byte[] ops)
    {
        var t = new PageTable(K4 | M2);
        foreach (var op in ops)
        {
            // Pages spread over several blocks of 512, a 2 MiB leaf now and then.
            var iova = (ulong)(op & 0x7f) * 0x9000 + (op >= 0xf0 ? 0x4000_0000UL : 0);
            var length = op >= 0xf0 ? M2 : K4;
            if (!t.AnyMapped(iova, length))
                t.Map(iova, length, 0x7f00_0000_0000UL + iova, op % 3 == 0 ? Access.Read : Access.ReadWrite);
            if (op % 5 == 0 && t.Lookup(iova) is { } pte)
                t.MarkDirty(pte);
        }
        var back = new PageTable(K4 | M2);
        back.Unpack(t.Pack());
        return back.Leaves.SequenceEqual(t.Leaves) && back.LeafCount == t.LeafCount && back.MappedBytes == t.MappedBytes
            && back.DirtyCount == 0;
    }

    [Fact]
    public void A_full_block_costs_eight_bytes_a_page_packed()
    {
        var t = new PageTable(K4 | M2);
        for (ulong i = 0; i < 1024; i++)
            t.Map(i * K4, K4, 0x7f00_0000_0000UL + i * K4 * 3, Access.ReadWrite);
        // The block count, then two blocks of key, bitmap and 512 slots.
        Assert.Equal(4 + 2 * (8 + 64 + 512 * 8), t.Pack().Length);
    }

    [Fact]
    public void Dirty_bits_are_kept_per_leaf_and_cleared_by_reading_them()
    {
        var t = new PageTable(K4 | M2);
        t.Map(0x1000, 0x2000, 0x10000, Access.ReadWrite);
        t.Map(0x200000, M2, 0x400000, Access.ReadWrite);
        t.MarkDirty(t.Lookup(0x2000)!.Value);
        t.MarkDirty(t.Lookup(0x300000)!.Value);
        Assert.Equal(2, t.DirtyCount);
        Assert.Equal([0x2000UL, 0x200000UL], t.ReadDirty(0x2000, 0x1ff000, clear: false));
        Assert.Equal([0x200000UL], t.ReadDirty(0x3ff000, 1, clear: true));
        Assert.Equal(1, t.DirtyCount);
        t.Unmap(0x2000, K4);
        Assert.Equal(0, t.DirtyCount);
    }

    // Random inserts and invalidations agree with a list model of live entries.
    [Property(MaxTest = 200)]
    public bool Iotlb_agrees_with_a_list_model(byte[] ops)
    {
        var tlb = new Iotlb(K4);
        var model = new List<IotlbEntry>();
        foreach (var op in ops)
        {
            var domain = op & 3;
            var pasid = (op >> 2 & 1) == 0 ? -1 : 1;
            var iova = (ulong)(op >> 3 & 7) * K4;
            switch (op >> 6)
            {
                case 0:
                case 1:
                    var e = new IotlbEntry(domain, pasid, iova, 0x100000 + iova, K4, Access.Read);
                    tlb.Insert(e);
                    model.RemoveAll(x => (x.Domain, x.Pasid, x.Iova) == (domain, pasid, iova));
                    model.Add(e);
                    break;
                case 2:
                    if (tlb.InvalidateRange(domain, iova, 2 * K4) != model.RemoveAll(x => x.Domain == domain && x.Iova >= iova && x.Iova < iova + 2 * K4)) return false;
                    break;
                default:
                    if ((op & 1) == 0 ? tlb.InvalidateDomain(domain) != model.RemoveAll(x => x.Domain == domain)
                                      : tlb.InvalidatePasid(pasid) != model.RemoveAll(x => x.Pasid == pasid)) return false;
                    break;
            }
        }
        return tlb.Count == model.Count && model.All(m => tlb.Lookup(m.Domain, m.Pasid, m.Iova + 5) == m);
    }
}

public sealed class PageTableLeafCapTests
{
    private const ulong K4 = 4096, M2 = 0x200000;

    [Fact]
    public void A_capped_map_uses_no_leaf_above_the_cap_however_aligned()
    {
        var t = new PageTable(K4 | M2);
        t.Map(0x200000, 2 * M2, 0x7f00_0020_0000, Access.ReadWrite, maxPageSize: K4);
        Assert.Equal(2 * 512, t.LeafCount);
        Assert.All(t.Leaves, p => Assert.Equal(K4, p.PageSize));
        // So any page of it can go alone.
        Assert.Equal(K4, t.Unmap(0x300000, K4));
    }

    [Fact]
    public void A_cap_below_the_smallest_size_still_maps_in_the_smallest()
    {
        var t = new PageTable(K4 | M2);
        t.Map(0, M2, 0, Access.Read, maxPageSize: 0x800);
        Assert.Equal(512, t.LeafCount);
    }
}
