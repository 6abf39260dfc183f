using System.Collections.Immutable;
using IommuActors.Core.Messaging;

namespace IommuActors.Ioasid.Pasid;

public enum IoasidEventKind
{
    Alloc,
    Free,
    Bind,
    Unbind,
    SetFreed,

    /// <summary>
    /// The guest PASID (Spid) of a PASID that stays bound is detached again: a later bind that attached it timed
    /// out and was undone. KVM drops the translation; nothing else is torn down.
    /// </summary>
    SpidDetached,
}

/// <summary>
/// One IOASID notification; published by a set to the bus given to it. Pasid is 0 for SetFreed, whose Pasids
/// names every PASID the set freed with it (ioasid_free_all_set): a subscriber tears them all down and
/// acknowledges once, and no FREE is published for them. Holder names whose bind made the BIND (the first
/// binder) or whose unbind made the UNBIND (the last one); "" otherwise.
/// </summary>
public sealed record IoasidEvent(IoasidEventKind Kind, string SetKey, int Pasid, int Spid, string Holder = "", ImmutableArray<int> Pasids = default)
    : IClusterMessage
{
    /// <summary>Never a default array: Hyperion cannot write one, and the event would not reach a subscriber on another node.</summary>
    public ImmutableArray<int> Pasids { get; init; } = Pasids.IsDefault ? [] : Pasids;

    /// <summary>The PASIDs the event is about: Pasids for SetFreed, Pasid otherwise.</summary>
    public IEnumerable<int> Affected => Kind == IoasidEventKind.SetFreed ? (Pasids.IsDefault ? [] : Pasids) : [Pasid];
}

/// <summary>
/// What a set sends to its bus. The bus answers FREE with FreeAcknowledged or FreeAckTimedOut to the sender and,
/// when Id is not 0, any event with EventApplied carrying that Id once every subscriber acknowledged or was reported.
/// </summary>
public sealed record PublishIoasidEvent(IoasidEvent Event, long Id = 0) : IClusterMessage;
