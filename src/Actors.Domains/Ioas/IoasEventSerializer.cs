using Akka.Actor;
using IommuActors.Core.Serialization;
using static IommuActors.Domains.Ioas.IoasProtocol;

namespace IommuActors.Domains.Ioas;

/// <summary>
/// The IOAS's hot events (map, copy, unmap) in a few dozen bytes each, bound in hocon/base.conf.
/// Rows written earlier by Hyperion keep their serializer id and are read by it.
/// </summary>
public sealed class IoasEventSerializer(ExtendedActorSystem system) : CompactEventSerializer(system, Formats)
{
    public const int Id = 442;

    public override int Identifier => Id;

    public static readonly IReadOnlyList<CompactFormat> Formats =
    [
        CompactFormat.Of<RangeMapped>("im1",
            (w, e) => w.UInt(e.Iova).UInt((ulong)e.Protection).String(e.PagesId).UInt(e.UserAddress).UInt(e.Length),
            r => new RangeMapped(r.UInt(), (Protection)r.UInt(), r.String(), r.UInt(), r.UInt())),
        CompactFormat.Of<RangeUnmapped>("iu1",
            (w, e) => w.UInt(e.Iova).UInt(e.Length),
            r => new RangeUnmapped(r.UInt(), r.UInt())),
        CompactFormat.Of<AllUnmapped>("ia1",
            (w, e) => w.UInt(e.Unmapped),
            r => new AllUnmapped(r.UInt())),
        CompactFormat.Of<SlicesCopied>("ic1",
            (w, e) =>
            {
                w.UInt(e.Iova).UInt((ulong)e.Protection).UInt((ulong)e.Slices.Length);
                foreach (var s in e.Slices)
                    w.String(s.PagesId).UInt(s.UserAddress).UInt(s.PagesLength).Bool(s.PagesWritable).UInt(s.Offset).UInt(s.Length);
            },
            r =>
            {
                var iova = r.UInt();
                var protection = (Protection)r.UInt();
                var count = checked((int)r.UInt());
                var slices = System.Collections.Immutable.ImmutableArray.CreateBuilder<PinnedSliceRecord>(count);
                for (var i = 0; i < count; i++)
                    slices.Add(new PinnedSliceRecord(r.String(), r.UInt(), r.UInt(), r.Bool(), r.UInt(), r.UInt()));
                return new SlicesCopied(iova, protection, slices.MoveToImmutable());
            }),
    ];
}

/// <summary>
/// The IOAS's snapshot with its areas packed (PackedAreas) and restored in one go; its few cold
/// fields (limits, HWPTs) go through Hyperion inside it. Bound in hocon/base.conf; snapshots
/// written before it keep Hyperion's id and are read by it.
/// </summary>
public sealed class IoasSnapshotSerializer(ExtendedActorSystem system) : CompactEventSerializer(system, Formats)
{
    public const int Id = 446;

    public override int Identifier => Id;

    public static readonly IReadOnlyList<CompactFormat> Formats =
    [
        CompactFormat.Of<Hwpt.HwptProtocol.PackedIoasSnapshot>("is1",
            (w, s) => w.Object(s.Rest).Bytes(s.Areas),
            r => new Hwpt.HwptProtocol.PackedIoasSnapshot((Hwpt.HwptProtocol.IoasHwptTableSnapshot)r.Object(), r.Bytes().ToArray())),
    ];
}
