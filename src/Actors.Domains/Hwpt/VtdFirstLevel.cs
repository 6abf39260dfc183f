using System.Buffers.Binary;
using IommuActors.Hardware.Units;

namespace IommuActors.Domains.Hwpt;

/// <summary>
/// The guest's VT-d first-level (stage-1) page table, which a nested HWPT of type VTD_S1 points at
/// with pgtbl_addr: the x86-64 paging format, 4 levels for a 48-bit and 5 for a 57-bit address
/// width. Each table is one 4 KiB page of 512 little-endian entries in guest-physical memory: bit 0
/// present, bit 1 writeable, bit 7 a large page (2 MiB at level 2, 1 GiB at level 3), bits 51:12
/// the next table or the page. A page is writeable only if every level above it allows writes.
/// Reading the pages is the caller's job (they are guest memory behind the nest parent); this reads
/// one table and says what it found.
/// </summary>
public static class VtdFirstLevel
{
    public const int TableSize = 4096;
    private const ulong Present = 1, Writeable = 2, LargePage = 0x80;
    private const ulong AddressBits = 0x000f_ffff_ffff_f000;

    /// <summary>A table still to read: where it is, its level (1 = the last), the IOVA its first entry maps, whether writes pass so far.</summary>
    public readonly record struct Table(ulong Gpa, int Level, ulong IovaBase, bool Writeable);

    /// <summary>The root table of a stage-1 given its pgtbl_addr and address width (48 or 57).</summary>
    public static Table Root(ulong pgtblAddr, uint addressWidth) =>
        new(pgtblAddr & AddressBits, addressWidth == 57 ? 5 : 4, 0, true);

    /// <summary>Reads one table page: its leaves and the tables below it, in IOVA order.</summary>
    public static void Parse(ReadOnlySpan<byte> page, Table table, List<Stage1Entry> leaves, List<Table> below)
    {
        var shift = 12 + 9 * (table.Level - 1);
        for (var i = 0; i < TableSize / 8; i++)
        {
            var e = BinaryPrimitives.ReadUInt64LittleEndian(page[(i * 8)..]);
            if ((e & Present) == 0)
                continue;
            var iova = table.IovaBase | ((ulong)i << shift);
            var writeable = table.Writeable && (e & Writeable) != 0;
            var large = (e & LargePage) != 0;
            if (table.Level == 1 || (large && table.Level is 2 or 3))
            {
                var size = 1ul << shift;
                leaves.Add(new Stage1Entry(iova, e & AddressBits & ~(size - 1), size, writeable ? Access.ReadWrite : Access.Read));
            }
            else if (!large)
                below.Add(new Table(e & AddressBits, table.Level - 1, iova, writeable));
            // A large-page bit at level 4 or 5 is reserved: the entry maps nothing and DMA through it faults.
        }
    }
}
