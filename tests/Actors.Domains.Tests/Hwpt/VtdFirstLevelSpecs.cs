using System.Buffers.Binary;
using IommuActors.Domains.Hwpt;
using IommuActors.Hardware.Units;
using Xunit;

namespace IommuActors.Domains.Tests.Hwpt;

/// <summary>One table page of a guest's VT-d first-level table, read as the x86-64 paging format.</summary>
public sealed class VtdFirstLevelSpecs
{
    private static byte[] Page(params (int Index, ulong Entry)[] entries)
    {
        var page = new byte[VtdFirstLevel.TableSize];
        foreach (var (i, e) in entries)
            BinaryPrimitives.WriteUInt64LittleEndian(page.AsSpan(i * 8), e);
        return page;
    }

    [Fact]
    public void A_57_bit_width_has_five_levels_and_48_four_and_the_root_drops_the_low_bits()
    {
        Assert.Equal(new VtdFirstLevel.Table(0x5000, 5, 0, true), VtdFirstLevel.Root(0x5fff, 57));
        Assert.Equal(new VtdFirstLevel.Table(0x5000, 4, 0, true), VtdFirstLevel.Root(0x5000, 48));
    }

    [Fact]
    public void Present_entries_give_leaves_at_level_1_and_large_pages_at_levels_2_and_3_with_writes_only_where_every_level_allows()
    {
        var leaves = new List<Stage1Entry>();
        var below = new List<VtdFirstLevel.Table>();
        // Level 2 (a page directory) mapping IOVA 0x4000_0000..: a 2 MiB page, a table, a not-present entry.
        VtdFirstLevel.Parse(Page((0, 0x60_0000 | 0x80 | 0x3 | 0x1000), (1, 0x7000 | 0x1), (2, 0x8000 | 0x2)),
            new VtdFirstLevel.Table(0, 2, 0x4000_0000, true), leaves, below);
        Assert.Equal([new Stage1Entry(0x4000_0000, 0x60_0000, 0x20_0000, Access.ReadWrite)], leaves);
        Assert.Equal([new VtdFirstLevel.Table(0x7000, 1, 0x4020_0000, false)], below);

        leaves.Clear();
        VtdFirstLevel.Parse(Page((3, 0x9000 | 0x3)), new VtdFirstLevel.Table(0, 1, 0x4020_0000, false), leaves, below);
        Assert.Equal([new Stage1Entry(0x4020_3000, 0x9000, 0x1000, Access.Read)], leaves);
    }

    [Fact]
    public void A_large_page_bit_at_level_4_is_reserved_and_maps_nothing()
    {
        var leaves = new List<Stage1Entry>();
        var below = new List<VtdFirstLevel.Table>();
        VtdFirstLevel.Parse(Page((0, 0x1000 | 0x80 | 0x3)), new VtdFirstLevel.Table(0, 4, 0, true), leaves, below);
        Assert.Empty(leaves);
        Assert.Empty(below);
    }
}
