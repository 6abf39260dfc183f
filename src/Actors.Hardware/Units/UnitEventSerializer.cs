using Akka.Actor;
using IommuActors.Core.Serialization;
using static IommuActors.Hardware.Units.UnitProtocol;

namespace IommuActors.Hardware.Units;

/// <summary>
/// A unit's page-table events (map, unmap) in a few dozen bytes each, bound in hocon/base.conf.
/// Rows written earlier by Hyperion keep their serializer id and are read by it.
/// </summary>
public sealed class UnitEventSerializer(ExtendedActorSystem system) : CompactEventSerializer(system, Formats)
{
    public const int Id = 443;

    public override int Identifier => Id;

    public static readonly IReadOnlyList<CompactFormat> Formats =
    [
        CompactFormat.Of<RangeMapped>("um1",
            (w, e) => w.Int(e.DomainId).UInt(e.Iova).UInt(e.Length).UInt(e.Address).UInt((ulong)e.Access),
            r => new RangeMapped(r.Int32(), r.UInt(), r.UInt(), r.UInt(), (Access)r.UInt())),
        CompactFormat.Of<RangeMappedCapped>("um2",
            (w, e) => w.Int(e.DomainId).UInt(e.Iova).UInt(e.Length).UInt(e.Address).UInt((ulong)e.Access).UInt(e.MaxPageSize),
            r => new RangeMappedCapped(r.Int32(), r.UInt(), r.UInt(), r.UInt(), (Access)r.UInt(), r.UInt())),
        CompactFormat.Of<RangeUnmapped>("uu1",
            (w, e) => w.Int(e.DomainId).UInt(e.Iova).UInt(e.Length),
            r => new RangeUnmapped(r.Int32(), r.UInt(), r.UInt())),
    ];
}

/// <summary>
/// The unit's snapshot with its page tables packed (8 bytes a mapped page, restored block by block
/// rather than one map at a time); its few cold fields go through Hyperion inside it. Bound in
/// hocon/base.conf; snapshots written before it keep Hyperion's id and are read by it.
/// </summary>
public sealed class UnitSnapshotSerializer(ExtendedActorSystem system) : CompactEventSerializer(system, Formats)
{
    public const int Id = 445;

    public override int Identifier => Id;

    public static readonly IReadOnlyList<CompactFormat> Formats =
    [
        CompactFormat.Of<PackedUnitSnapshot>("us1",
            (w, s) =>
            {
                w.Object(s.Rest).UInt((ulong)s.Tables.Length);
                foreach (var t in s.Tables)
                    w.Int(t.DomainId).Bytes(t.Blocks);
            },
            r =>
            {
                var rest = (SizedUnitSnapshot)r.Object();
                var count = checked((int)r.UInt());
                var tables = System.Collections.Immutable.ImmutableArray.CreateBuilder<PackedTable>(count);
                for (var i = 0; i < count; i++)
                    tables.Add(new PackedTable(r.Int32(), r.Bytes().ToArray()));
                return new PackedUnitSnapshot(rest, tables.MoveToImmutable());
            }),
    ];
}
