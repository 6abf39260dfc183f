using IommuActors.Core.Messaging;

namespace IommuActors.Ioasid.Pasid;

public enum IoasidEventKind
{
    Alloc,
    Free,
    Bind,
    Unbind,
    SetFreed,
}

/// <summary>One IOASID notification; published by a set to the bus given to it. Pasid is 0 for SetFreed.</summary>
public sealed record IoasidEvent(IoasidEventKind Kind, string SetKey, int Pasid, int Spid) : IClusterMessage;

/// <summary>What a set sends to its bus; the bus answers FREE with FreeAcknowledged or FreeAckTimedOut to the sender.</summary>
public sealed record PublishIoasidEvent(IoasidEvent Event) : IClusterMessage;
