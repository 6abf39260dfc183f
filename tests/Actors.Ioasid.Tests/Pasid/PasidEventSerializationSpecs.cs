using Akka.Serialization;
using Akka.TestKit.Xunit2;
using IommuActors.Ioasid.Pasid;
using IommuActors.TestSupport;
using Xunit;
using static IommuActors.Ioasid.Pasid.PasidSetProtocol;

namespace IommuActors.Ioasid.Tests.Pasid;

/// <summary>The set's events go through the compact PASID serializer bound in hocon/base.conf and come back equal.</summary>
public sealed class PasidEventSerializationSpecs() : TestKit(SpecConfig.InMemory)
{
    public static TheoryData<object> Events() =>
    [
        new SetPasidBoundBy(7, 101, "guest"),
        new SetPasidUnboundBy(7, "guest"),
        new SetSpidDetached(7),
    ];

    [Theory]
    [MemberData(nameof(Events))]
    public void A_set_event_is_written_by_the_compact_serializer_in_a_few_bytes_and_read_back_equal(object e)
    {
        var serializer = Assert.IsAssignableFrom<SerializerWithStringManifest>(Sys.Serialization.FindSerializerFor(e));
        Assert.Equal(PasidEventSerializer.Id, serializer.Identifier);
        var bytes = serializer.ToBinary(e);
        Assert.InRange(bytes.Length, 1, 64);
        Assert.Equal(e, serializer.FromBinary(bytes, serializer.Manifest(e)));
    }
}
