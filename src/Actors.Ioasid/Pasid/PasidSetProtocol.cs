using System.Collections.Immutable;
using IommuActors.Core.Messaging;

namespace IommuActors.Ioasid.Pasid;

/// <summary>
/// The vocabulary of one PASID set entity (EntityId "pasid-set-&lt;vm&gt;"). Spid 0 means "no SPID".
/// Holder names who takes a reference or a bind ("" is the user); a holder puts and unbinds only its own.
/// </summary>
public static class PasidSetProtocol
{
    public static string KeyOf(string vm) => $"pasid-set-{vm}";

    public sealed record AllocPasid(string EntityId) : IEntityMessage;
    public sealed record PasidAllocated(string EntityId, int Pasid, int Errno) : IClusterMessage;

    public sealed record FreePasid(string EntityId, int Pasid) : IEntityMessage;
    public sealed record GetPasid(string EntityId, int Pasid, string Holder = "") : IEntityMessage;
    public sealed record PutPasid(string EntityId, int Pasid, string Holder = "") : IEntityMessage;
    public sealed record BindPasid(string EntityId, int Pasid, int Spid, string Holder = "") : IEntityMessage;
    public sealed record UnbindPasid(string EntityId, int Pasid, string Holder = "") : IEntityMessage;

    /// <summary>The answer to Free, Get, Put, Bind and Unbind: Operation names which.</summary>
    public sealed record PasidResult(string EntityId, string Operation, int Pasid, int Errno) : IClusterMessage;

    public sealed record FindBySpid(string EntityId, int Spid, bool TakeRef, string Holder = "") : IEntityMessage;
    public sealed record SpidFound(string EntityId, int Spid, int Pasid, int Errno) : IClusterMessage;

    /// <summary>
    /// VM exit (ioasid_free_all_set): every PASID of the set is freed with one SET_FREED, answered once every
    /// subscriber acknowledged it (Unanswered names those that did not, and then Freed went to quarantine).
    /// </summary>
    public sealed record FreeSet(string EntityId) : IEntityMessage;
    public sealed record SetFreed(string EntityId, ImmutableArray<int> Freed, ImmutableArray<string> Unanswered = default) : IClusterMessage
    {
        /// <summary>Never a default array, which Hyperion cannot write to another node.</summary>
        public ImmutableArray<string> Unanswered { get; init; } = Unanswered.IsDefault ? [] : Unanswered;
    }

    /// <summary>
    /// A subscriber's SET_FREED teardown in one step: every reference and bind of holders starting with HolderPrefix
    /// on the given PASIDs goes (no UNBIND is published: SET_FREED stands for it). Answered HoldsReleased.
    /// </summary>
    public sealed record ReleaseHolds(string EntityId, string HolderPrefix, ImmutableArray<int> Pasids) : IEntityMessage;
    public sealed record HoldsReleased(string EntityId, string HolderPrefix, int Pasids) : IClusterMessage;

    /// <summary>From the bus: the event the set published under Id went round (Unanswered: who missed the ack timeout).</summary>
    public sealed record EventApplied(string EntityId, long Id, IoasidEvent Event, ImmutableArray<string> Unanswered) : IEntityMessage;

    /// <summary>From the bus: every subscriber acknowledged the FREE of Pasid.</summary>
    public sealed record FreeAcknowledged(string EntityId, int Pasid) : IEntityMessage;

    /// <summary>From the bus: some subscribers did not answer; the PASID is quarantined, never reused.</summary>
    public sealed record FreeAckTimedOut(string EntityId, int Pasid, ImmutableArray<string> Unanswered) : IEntityMessage;

    public sealed record GetSet(string EntityId) : IEntityMessage;

    /// <summary>
    /// ioasid_adjust_set. Lowering below what the set holds (FREE_PENDING PASIDs and allocations in flight count)
    /// is refused with EINVAL and changes nothing, as is a quota of 0 or above 2^20-1; answered QuotaAdjusted with
    /// the quota in force afterwards and how many PASIDs the set holds.
    /// </summary>
    public sealed record AdjustQuota(string EntityId, int Quota) : IEntityMessage;
    public sealed record QuotaAdjusted(string EntityId, int Quota, int Used, int Errno) : IClusterMessage;

    /// <summary>Host start: recover now (and so reconcile and publish again the FREEs owed acknowledgements); answered SetAwake.</summary>
    public sealed record WakeSet(string EntityId) : IEntityMessage;
    public sealed record SetAwake(string EntityId, int FreesInFlight) : IClusterMessage;
    public sealed record SetState(string EntityId, int Quota, ImmutableArray<SetEntry> Entries) : IClusterMessage;
    public sealed record SetEntry(int Pasid, PasidState State, int Refs, int Binds, int Spid, bool AwaitingAcks);

    /// <summary>Re-synchronisation of a restarted subscriber: what holders starting with HolderPrefix hold ("" for all).</summary>
    public sealed record GetHolds(string EntityId, string HolderPrefix) : IEntityMessage;
    public sealed record Holds(string EntityId, string HolderPrefix, ImmutableArray<SetHold> Entries) : IClusterMessage;
    public sealed record SetHold(int Pasid, string Holder, int Refs, int Binds, int Spid, PasidState State);

    // Journal events. The first eight are the anonymous (holder "") forms written before holders existed.
    public sealed record SetPasidAdmitted(int Pasid) : IPersistedEvent;
    public sealed record SetPasidGot(int Pasid) : IPersistedEvent;
    public sealed record SetPasidPut(int Pasid) : IPersistedEvent;
    public sealed record SetPasidBound(int Pasid, int Spid) : IPersistedEvent;
    public sealed record SetPasidUnbound(int Pasid) : IPersistedEvent;
    public sealed record SetPasidFreed(int Pasid) : IPersistedEvent;
    public sealed record SetFreeAcked(int Pasid) : IPersistedEvent;
    public sealed record SetPasidRemoved(int Pasid, bool Quarantined) : IPersistedEvent;
    public sealed record SetPasidGotBy(int Pasid, string Holder) : IPersistedEvent;
    public sealed record SetPasidPutBy(int Pasid, string Holder) : IPersistedEvent;
    public sealed record SetPasidBoundBy(int Pasid, int Spid, string Holder) : IPersistedEvent;
    public sealed record SetPasidUnboundBy(int Pasid, string Holder) : IPersistedEvent;

    /// <summary>The guest PASID a timed-out bind attached is detached again; the PASID's other binds stay.</summary>
    public sealed record SetSpidDetached(int Pasid) : IPersistedEvent;

    /// <summary>The space holds a PASID this set quarantined (or no longer counts it as the set's): forget it.</summary>
    public sealed record SetQuarantineSettled(int Pasid) : IPersistedEvent;

    public sealed record SetQuotaAdjusted(int Quota) : IPersistedEvent;

    // The batched forms of SET_FREED: one journal write for the whole set.
    public sealed record SetPasidsFreed(ImmutableArray<int> Pasids) : IPersistedEvent;
    public sealed record SetHoldsReleased(string HolderPrefix, ImmutableArray<int> Pasids) : IPersistedEvent;
    public sealed record SetFreesAcked(ImmutableArray<int> Pasids) : IPersistedEvent;
    public sealed record SetPasidsRemoved(ImmutableArray<int> Pasids, bool Quarantined) : IPersistedEvent;

    public sealed record SetSnapshotEntry(int Pasid, PasidState State, int Spid, bool AwaitingAcks,
        ImmutableDictionary<string, int> Held, ImmutableDictionary<string, int> Bound);
    public sealed record SetSnapshot(int Quota, ImmutableArray<SetSnapshotEntry> Entries, ImmutableArray<int> QuarantinedAway) : IPersistedSnapshot;
}
