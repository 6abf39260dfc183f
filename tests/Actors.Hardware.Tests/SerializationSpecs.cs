using Akka.Configuration;
using Akka.TestKit.Xunit2;
using IommuActors.Hardware;
using IommuActors.Hardware.Units;
using IommuActors.TestSupport;
using Xunit;
using static IommuActors.Hardware.Units.UnitProtocol;

namespace IommuActors.Hardware.Tests;

public sealed class SerializationSpecs() : TestKit(SpecConfig.InMemory)
{
    private T RoundTrip<T>(T message) where T : notnull
    {
        var serializer = Sys.Serialization.FindSerializerFor(message);
        Assert.Equal("Akka.Serialization.HyperionSerializer", serializer.GetType().FullName);
        return Assert.IsType<T>(serializer.FromBinary(serializer.ToBinary(message), typeof(T)));
    }

    [Fact]
    public void Unit_info_with_the_whole_unit_spec_survives_the_project_serializer()
    {
        var spec = HardwareModule.LoadPlatform(Config.Empty).Unit("dmar0");
        var back = RoundTrip(new UnitInfo(spec, 2, 3, 4, 5, 6)).Spec;
        Assert.Equal((spec.Name, spec.PageSizes, spec.HwInfoType), (back.Name, back.PageSizes, back.HwInfoType));
        Assert.Equal(spec.HwInfo.ToArray(), back.HwInfo.ToArray());
        Assert.Equal(spec.ReservedRegions.ToArray(), back.ReservedRegions.ToArray());
    }

    [Fact]
    public void A_nested_allocation_and_a_fault_survive_the_project_serializer()
    {
        var entry = new Stage1Entry(0x4000, 0x8000, 0x1000, Access.Read);
        Assert.Equal([entry], RoundTrip(new AllocateDomain("dmar0", DomainKind.Nested, 1, false, true, [entry])).Stage1.ToArray());
        var fault = new Fault(FaultKind.Permission, "0000:00:02.0", 3, 2, 0x4000, Access.Write, 9);
        Assert.Equal(fault, RoundTrip(new FaultRaised("dmar0", fault)).Fault);
    }

    [Fact]
    public void A_unit_snapshot_survives_the_project_serializer()
    {
        var snapshot = new UnitSnapshot(3,
            [new DomainSnapshot(1, DomainKind.Paging, 0, true, false, [], [new MappingRecord(0x1000, 0x9000, 0x1000, Access.ReadWrite)])],
            [new ContextRef("0000:00:14.0", NoPasid, 1)]);
        var back = RoundTrip(snapshot);
        Assert.Equal(3, back.NextDomainId);
        Assert.Equal(snapshot.Domains[0].Mappings.ToArray(), back.Domains.Single().Mappings.ToArray());
        Assert.Equal(snapshot.Contexts.ToArray(), back.Contexts.ToArray());
    }

    [Fact]
    public void A_packed_unit_snapshot_goes_through_its_own_serializer_and_back()
    {
        var table = new PageTable(0x1000 | 0x200000);
        table.Map(0x1000, 0x3000, 0x9000, Access.ReadWrite);
        var snapshot = new PackedUnitSnapshot(new SizedUnitSnapshot(new UnitSnapshot(3,
                [new DomainSnapshot(1, DomainKind.Paging, 0, true, false, [], [])], [new ContextRef("0000:00:14.0", NoPasid, 1)]),
                System.Collections.Immutable.ImmutableDictionary<int, ulong>.Empty.Add(1, 0x1000 | 0x200000)),
            [new PackedTable(1, table.Pack())]);
        var serializer = Sys.Serialization.FindSerializerFor(snapshot);
        Assert.Equal(UnitSnapshotSerializer.Id, serializer.Identifier);
        var bytes = serializer.ToBinary(snapshot);
        var back = Assert.IsType<PackedUnitSnapshot>(Sys.Serialization.Deserialize(bytes, serializer.Identifier,
            Akka.Serialization.Serialization.ManifestFor(serializer, snapshot)));
        Assert.Equal(snapshot.Rest.Unit.Contexts.ToArray(), back.Rest.Unit.Contexts.ToArray());
        Assert.Equal(snapshot.Rest.DomainPageSizes, back.Rest.DomainPageSizes);
        Assert.Equal(table.Pack(), back.Tables.Single().Blocks);
    }
}
