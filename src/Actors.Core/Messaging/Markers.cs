namespace IommuActors.Core.Messaging;

/// <summary>
/// A command, reply or notification that may cross a node boundary. Bound to the Hyperion
/// serializer (Akka.Serialization.Hyperion) in hocon/base.conf; every implementing type is round-tripped by the
/// serializer spec, so a type that does not serialize fails the build's tests.
/// </summary>
public interface IClusterMessage;

/// <summary>An event written to the journal. Never change its meaning once shipped; add a new one.</summary>
public interface IPersistedEvent;

/// <summary>A snapshot of an entity's state written to the snapshot store.</summary>
public interface IPersistedSnapshot;

/// <summary>A message addressed to a sharded entity; the entity key travels with it.</summary>
public interface IEntityMessage : IClusterMessage
{
    string EntityId { get; }
}
