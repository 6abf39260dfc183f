using Akka.Actor;
using Hyperion;
using AkkaSerializer = Akka.Serialization.Serializer;
using HyperionCore = Hyperion.Serializer;

namespace IommuActors.Core.Serialization;

/// <summary>
/// The project's own Akka serializer over the Hyperion library (the Akka adapter package is not
/// served here). Hyperion writes the type into the payload, so no manifest is needed. Actor
/// references travel as their serialized path and are resolved on the receiving system.
/// </summary>
public sealed class HyperionSerializer : AkkaSerializer
{
    public const int SerializerId = 441;

    private readonly HyperionCore _hyperion;

    public HyperionSerializer(ExtendedActorSystem system) : base(system)
    {
        var actorRefs = Surrogate.Create<IActorRef, ActorRefSurrogate>(
            actorRef => new ActorRefSurrogate(Akka.Serialization.Serialization.SerializedActorPath(actorRef)),
            surrogate => system.Provider.ResolveActorRef(surrogate.Path));
        _hyperion = new HyperionCore(SerializerOptions.Default
            .WithVersionTolerance(true)
            .WithPreserveObjectReferences(true)
            .WithSurrogates([actorRefs]));
    }

    public override int Identifier => SerializerId;

    public override bool IncludeManifest => false;

    public override byte[] ToBinary(object obj)
    {
        using var stream = new MemoryStream();
        _hyperion.Serialize(obj, stream);
        return stream.ToArray();
    }

    public override object FromBinary(byte[] bytes, Type? type)
    {
        using var stream = new MemoryStream(bytes, writable: false);
        return _hyperion.Deserialize(stream);
    }

    private sealed record ActorRefSurrogate(string Path);
}
