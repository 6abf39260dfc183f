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

/// <summary>
/// One IOASID notification; published by a set to the bus given to it. Pasid is 0 for SetFreed. Holder names
/// whose bind made the BIND (the first binder) or whose unbind made the UNBIND (the last one); "" otherwise.
/// </summary>
public sealed record IoasidEvent(IoasidEventKind Kind, string SetKey, int Pasid, int Spid, string Holder = "") : IClusterMessage;

/// <summary>What a set sends to its bus; the bus answers FREE with FreeAcknowledged or FreeAckTimedOut to the sender.</summary>
public sealed record PublishIoasidEvent(IoasidEvent Event) : IClusterMessage;
