using Akka.Cluster.Sharding;
using IommuActors.Core.Messaging;

namespace IommuActors.Core.Sharding;

/// <summary>
/// Routes <see cref="IEntityMessage"/>s to their entity by the key the message carries.
/// </summary>
public sealed class EntityMessageExtractor(int maxShards = EntityMessageExtractor.DefaultShardCount)
    : HashCodeMessageExtractor(maxShards)
{
    public const int DefaultShardCount = 64;

    public override string? EntityId(object message) => (message as IEntityMessage)?.EntityId;
}
