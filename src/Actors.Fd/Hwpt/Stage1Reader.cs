using Akka.Actor;
using System.Buffers.Binary;
using System.Collections.Immutable;
using IommuActors.Domains.Hwpt;
using IommuActors.Fd.Context;
using IommuActors.Hardware.Units;
using Io = IommuActors.Domains.Ioas.IoasProtocol;

namespace IommuActors.Fd.Hwpts;

/// <summary>
/// Nested HWPTs: the guest's stage-1 table, read from guest memory when the HWPT is allocated, so
/// that DMA through it translates as the guest set it up (VT-d first level; other formats carry
/// no table the emulator reads). Reads as part of the context's request.
/// </summary>
internal sealed class Stage1Reader(ServedRequest request)
{
    /// <summary>
    /// Before an invalidation of a nested HWPT: its stage-1 table read again, as the guest may have
    /// changed it (default when the HWPT's format has no table the emulator reads).
    /// </summary>
    public void ReadAgain(IoasEntry home, uint hwptId, Action<ImmutableArray<Stage1Entry>?> then)
    {
        home.Ref.Tell(new HwptProtocol.GetHwpts(home.Key));
        request.Await<HwptProtocol.Hwpts>(h => h.IoasId == home.Key, h =>
        {
            if (h.Items.FirstOrDefault(i => i.HwptId == hwptId) is not { DataType: HwptProtocol.DataVtdS1 } view)
            {
                then(default(ImmutableArray<Stage1Entry>));
                return;
            }
            Read(home, view.DataType, [.. view.Data], then);
        });
    }

    /// <summary>
    /// Reads the stage-1 table a nested HWPT's data points at. Table pages are guest-physical
    /// addresses, found through the nest parent's IOAS (GPA = IOVA there) in the client's memory;
    /// a table page the parent does not map, or the client cannot read, maps nothing (DMA through
    /// it faults, as the hardware's walk would). Null when the table is past the limits.
    /// </summary>
    public void Read(IoasEntry parentIoas, uint dataType, byte[] data, Action<ImmutableArray<Stage1Entry>?> then)
    {
        if (dataType != HwptProtocol.DataVtdS1 || data.Length < VendorData.VtdS1Size)
        {
            then([]);
            return;
        }
        var root = VtdFirstLevel.Root(BinaryPrimitives.ReadUInt64LittleEndian(data.AsSpan(8)),
            BinaryPrimitives.ReadUInt32LittleEndian(data.AsSpan(16)));
        var leaves = new List<Stage1Entry>();
        var tables = new Stack<VtdFirstLevel.Table>([root]);
        var read = 0;

        void Next()
        {
            if (leaves.Count > Stage1Limits.MaxLeaves || read > Stage1Limits.MaxTables)
            {
                then(null);
                return;
            }
            if (tables.Count == 0)
            {
                then([.. leaves.OrderBy(l => l.Iova)]);
                return;
            }
            var table = tables.Pop();
            read++;
            parentIoas.Ref.Tell(new Io.GetPagesForCopy(parentIoas.Key, table.Gpa, VtdFirstLevel.TableSize));
            request.Await<Io.PagesForCopy>(p =>
            {
                if (p.Errno != 0 || p.Slices.Length != 1)
                {
                    Next();
                    return;
                }
                var slice = p.Slices[0];
                request.TryReadMemory(slice.UserAddress + slice.Offset, VtdFirstLevel.TableSize, page =>
                {
                    if (page is not null)
                    {
                        var below = new List<VtdFirstLevel.Table>();
                        VtdFirstLevel.Parse(page, table, leaves, below);
                        // Last pushed is read first: lower IOVAs first.
                        for (var i = below.Count - 1; i >= 0; i--)
                            tables.Push(below[i]);
                    }
                    Next();
                });
            });
        }

        Next();
    }
}

public static class Stage1Limits
{
    /// <summary>The most stage-1 leaves and table pages one walk takes; past them the allocation is ENOMEM.</summary>
    public const int MaxLeaves = 65_536, MaxTables = 4_096;
}
