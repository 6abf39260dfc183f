using Akka.Actor;
using Akka.Serialization;

namespace IommuActors.Core.Serialization;

/// <summary>
/// Reads the rows journals got before Akka.Serialization.Hyperion was served here: the project then
/// wrapped the same Hyperion library, with the same options (version tolerance, preserved
/// references), under serializer id 441. The payloads are plain Hyperion, so the package's
/// serializer reads them; only the id differs. Nothing is bound to it: new rows carry the
/// package's own id.
/// </summary>
public sealed class LegacyHyperionId(ExtendedActorSystem system) : HyperionSerializer(system)
{
    public const int Id = 441;

    public override int Identifier => Id;
}
