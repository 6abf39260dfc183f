using System.Collections.Immutable;
using IommuActors.Core.Messaging;

namespace IommuActors.Ioasid.Pasid;

public static class PasidSpaceProtocol
{
    public sealed record LeasePasid(string Owner) : IClusterMessage;
    public sealed record PasidLeased(string Owner, int Pasid) : IClusterMessage;
    public sealed record LeaseFailed(string Owner, int Errno) : IClusterMessage;

    public sealed record ReleasePasid(string Owner, int Pasid) : IClusterMessage;
    public sealed record QuarantinePasid(string Owner, int Pasid) : IClusterMessage;
    public sealed record ClearQuarantine(int Pasid) : IClusterMessage;

    /// <summary>A set's reclaim of many PASIDs at once (SET_FREED): one journal write; answered SpaceResult("release-many", count, errno).</summary>
    public sealed record ReleasePasids(string Owner, ImmutableArray<int> Pasids) : IClusterMessage;

    /// <summary>Which set a PASID is leased to ("" if none, or quarantined): a set tells ENOENT from EACCES with it.</summary>
    public sealed record GetOwner(int Pasid) : IClusterMessage;
    public sealed record PasidOwner(int Pasid, string Owner) : IClusterMessage;

    /// <summary>The answer to Release, Quarantine and ClearQuarantine.</summary>
    public sealed record SpaceResult(string Operation, int Pasid, int Errno) : IClusterMessage;

    public sealed record GetSpace() : IClusterMessage;
    /// <summary>How many PASIDs are out (leased or quarantined), without the owner table GetSpace copies.</summary>
    public sealed record GetSpaceUse() : IClusterMessage;
    public sealed record SpaceUse(int InUse, int Quarantined) : IClusterMessage;
    public sealed record SpaceState(int InUse, ImmutableDictionary<int, string> Owners, ImmutableArray<int> Quarantined) : IClusterMessage;

    /// <summary>The sets the space leases PASIDs to, ordered: every set that can have a FREE in flight is among them.</summary>
    public sealed record GetOwnerSets() : IClusterMessage;
    public sealed record OwnerSets(ImmutableArray<string> Keys) : IClusterMessage;

    /// <summary>A recovering set's reconciliation: what the space says it owns, and what the space holds quarantined.</summary>
    public sealed record GetLeases(string Owner) : IClusterMessage;
    public sealed record Leases(string Owner, ImmutableArray<int> Leased, ImmutableArray<int> Quarantined) : IClusterMessage;

    public sealed record SpaceLeased(string Owner, int Pasid) : IPersistedEvent;
    public sealed record SpaceReleased(int Pasid) : IPersistedEvent;
    public sealed record SpaceQuarantined(int Pasid) : IPersistedEvent;
    public sealed record SpaceQuarantineCleared(int Pasid) : IPersistedEvent;
    public sealed record SpaceReleasedMany(ImmutableArray<int> Pasids) : IPersistedEvent;

    public sealed record SpaceSnapshot(ImmutableDictionary<int, string> Owners, ImmutableArray<int> Quarantined, int Cursor) : IPersistedSnapshot;
}
