using System.Collections.Immutable;
using IommuActors.Core.Messaging;

namespace IommuActors.Ioasid.Pasid;

/// <summary>The vocabulary of one PASID set entity (EntityId "pasid-set-&lt;vm&gt;"). Spid 0 means "no SPID".</summary>
public static class PasidSetProtocol
{
    public static string KeyOf(string vm) => $"pasid-set-{vm}";

    public sealed record AllocPasid(string EntityId) : IEntityMessage;
    public sealed record PasidAllocated(string EntityId, int Pasid, int Errno) : IClusterMessage;

    public sealed record FreePasid(string EntityId, int Pasid) : IEntityMessage;
    public sealed record GetPasid(string EntityId, int Pasid) : IEntityMessage;
    public sealed record PutPasid(string EntityId, int Pasid) : IEntityMessage;
    public sealed record BindPasid(string EntityId, int Pasid, int Spid) : IEntityMessage;
    public sealed record UnbindPasid(string EntityId, int Pasid) : IEntityMessage;

    /// <summary>The answer to Free, Get, Put, Bind and Unbind: Operation names which.</summary>
    public sealed record PasidResult(string EntityId, string Operation, int Pasid, int Errno) : IClusterMessage;

    public sealed record FindBySpid(string EntityId, int Spid, bool TakeRef) : IEntityMessage;
    public sealed record SpidFound(string EntityId, int Spid, int Pasid, int Errno) : IClusterMessage;

    /// <summary>VM exit: every PASID of the set is freed.</summary>
    public sealed record FreeSet(string EntityId) : IEntityMessage;
    public sealed record SetFreed(string EntityId, ImmutableArray<int> Freed) : IClusterMessage;

    /// <summary>From the bus: every subscriber acknowledged the FREE of Pasid.</summary>
    public sealed record FreeAcknowledged(string EntityId, int Pasid) : IEntityMessage;

    /// <summary>From the bus: some subscribers did not answer; the PASID is quarantined, never reused.</summary>
    public sealed record FreeAckTimedOut(string EntityId, int Pasid, ImmutableArray<string> Unanswered) : IEntityMessage;

    public sealed record GetSet(string EntityId) : IEntityMessage;
    public sealed record SetState(string EntityId, int Quota, ImmutableArray<SetEntry> Entries) : IClusterMessage;
    public sealed record SetEntry(int Pasid, PasidState State, int Refs, int Binds, int Spid, bool AwaitingAcks);

    public sealed record SetPasidAdmitted(int Pasid) : IPersistedEvent;
    public sealed record SetPasidGot(int Pasid) : IPersistedEvent;
    public sealed record SetPasidPut(int Pasid) : IPersistedEvent;
    public sealed record SetPasidBound(int Pasid, int Spid) : IPersistedEvent;
    public sealed record SetPasidUnbound(int Pasid) : IPersistedEvent;
    public sealed record SetPasidFreed(int Pasid) : IPersistedEvent;
    public sealed record SetFreeAcked(int Pasid) : IPersistedEvent;
    public sealed record SetPasidRemoved(int Pasid, bool Quarantined) : IPersistedEvent;
}
