using System.Collections.Immutable;
using Akka.Actor;
using IommuActors.Core.Messaging;
using IommuActors.Hardware.Platform;

namespace IommuActors.Hardware.Units;

public enum DomainKind { Paging, Blocking, Identity, NestParent, Nested }

public enum DmaDirection { Read, Write }

public enum FaultKind { NotPresent, Permission, Blocked, NoContext, PasidNotAllowed, PageResponseFailed }

public enum InvalidateScope { All, Domain, Range, Pasid }

/// <summary>One stage-1 leaf of a nested domain: IOVA page to guest-physical (stage-2 input) address.</summary>
public sealed record Stage1Entry(ulong Iova, ulong Gpa, ulong PageSize, Access Access);

public sealed record Segment(ulong Iova, ulong Address, ulong Length);

public static class UnitProtocol
{
    public const int NoPasid = -1;

    // Commands (persisted when accepted).
    /// <param name="PageSizes">The domain's own page sizes when its driver gives it others than the unit's (the mock's 1 MiB pages for a HUGE_IOVA device); 0 for the unit's.</param>
    public sealed record AllocateDomain(string Unit, DomainKind Kind, int ParentId, bool DirtyTracking, bool Iopf,
        ImmutableArray<Stage1Entry> Stage1, ulong PageSizes = 0) : IEntityMessage { public string EntityId => Unit; }
    public sealed record FreeDomain(string Unit, int DomainId) : IEntityMessage { public string EntityId => Unit; }
    /// <param name="MaxPageSize">The largest leaf the map may use, 0 for any: PAGE_SIZE for an IOAS whose large pages are disabled, as the kernel then maps page by page so a VFIO type1 unmap can take any page out.</param>
    public sealed record MapRange(string Unit, int DomainId, ulong Iova, ulong Length, ulong Address, Access Access, ulong MaxPageSize = 0) : IEntityMessage { public string EntityId => Unit; }
    /// <summary>Flush = true is iommu_unmap's normal path (IOTLB flushed before return); false leaves stale entries.</summary>
    public sealed record UnmapRange(string Unit, int DomainId, ulong Iova, ulong Length, bool Flush) : IEntityMessage { public string EntityId => Unit; }
    public sealed record AttachDevice(string Unit, string Pci, int Pasid, int DomainId) : IEntityMessage { public string EntityId => Unit; }
    public sealed record DetachDevice(string Unit, string Pci, int Pasid) : IEntityMessage { public string EntityId => Unit; }
    /// <summary>PASID teardown for the IOASID driver: detach the PASID from the listed devices (every device when empty) and drain its IOTLB entries; answered with PasidDetached even when nothing was attached.</summary>
    public sealed record DetachPasid(string Unit, int Pasid, ImmutableArray<string> Devices) : IEntityMessage { public string EntityId => Unit; }
    public sealed record SetDirtyTracking(string Unit, int DomainId, bool Enabled) : IEntityMessage { public string EntityId => Unit; }
    /// <summary>Hot-plug: a device appears behind the unit (the selftest's mock devices); the same device again is a no-op, another one under its name EEXIST.</summary>
    public sealed record AddDevice(string Unit, DeviceSpec Device) : IEntityMessage { public string EntityId => Unit; }
    /// <summary>Hot-unplug of a device AddDevice brought: EBUSY while a context entry names it, EPERM for a platform device, ENOENT for none.</summary>
    public sealed record RemoveDevice(string Unit, string Pci) : IEntityMessage { public string EntityId => Unit; }
    /// <summary>A nested domain's stage-1 leaves as the guest's table reads now; IOTLB entries stay until invalidated, as on hardware.</summary>
    public sealed record SetStage1(string Unit, int DomainId, ImmutableArray<Stage1Entry> Stage1) : IEntityMessage { public string EntityId => Unit; }

    // Volatile commands.
    public sealed record Invalidate(string Unit, InvalidateScope Scope, int DomainId, ulong Iova, ulong Length, int Pasid) : IEntityMessage { public string EntityId => Unit; }
    public sealed record ReadDirty(string Unit, int DomainId, ulong Iova, ulong Length, bool Clear) : IEntityMessage { public string EntityId => Unit; }
    /// <summary>Sets the dirty bit of the leaf under each IOVA, as a DMA write would (the selftest's DIRTY op); answered with DirtyMarked counting the IOVAs that were mapped.</summary>
    public sealed record MarkDirty(string Unit, int DomainId, ImmutableArray<ulong> Iovas) : IEntityMessage { public string EntityId => Unit; }
    public sealed record RegisterFaultHandler(string Unit, int DomainId, IActorRef Handler) : IEntityMessage { public string EntityId => Unit; }
    public sealed record Dma(string Unit, string Pci, int Pasid, ulong Iova, ulong Length, DmaDirection Direction) : IEntityMessage { public string EntityId => Unit; }
    public sealed record PageResponse(string Unit, long Cookie, bool Success) : IEntityMessage { public string EntityId => Unit; }

    // Queries.
    public sealed record GetUnitInfo(string Unit) : IEntityMessage { public string EntityId => Unit; }
    public sealed record GetPasidReferences(string Unit, int Pasid) : IEntityMessage { public string EntityId => Unit; }
    public sealed record GetDomainMappings(string Unit, int DomainId) : IEntityMessage { public string EntityId => Unit; }

    // Replies.
    public sealed record Failed(string Unit, int Errno) : IClusterMessage;
    public sealed record DomainAllocatedReply(string Unit, int DomainId) : IClusterMessage;
    public sealed record Done(string Unit) : IClusterMessage;
    public sealed record Unmapped(string Unit, int DomainId, ulong Bytes) : IClusterMessage;
    public sealed record Invalidated(string Unit, int Entries) : IClusterMessage;
    /// <summary>The dirty leaves of a ReadDirty: their IOVAs in order, and the size of each leaf (the domain's page it was mapped with).</summary>
    public sealed record DirtyPages(string Unit, int DomainId, ImmutableArray<ulong> Iovas, ImmutableArray<ulong> Sizes = default) : IClusterMessage
    {
        /// <summary>Never a default array, which Hyperion cannot write to another node.</summary>
        public ImmutableArray<ulong> Sizes { get; init; } = Sizes.IsDefault ? [] : Sizes;
    }
    public sealed record DirtyMarked(string Unit, int DomainId, int Marked) : IClusterMessage;
    /// <param name="DomainId">The domain the DMA went through (its context entry's).</param>
    public sealed record DmaCompleted(string Unit, string Pci, ImmutableArray<Segment> Segments, int DomainId = 0) : IClusterMessage;
    public sealed record DmaFaulted(string Unit, Fault Fault) : IClusterMessage;
    public sealed record UnitInfo(UnitSpec Spec, int Domains, int ContextEntries, int IotlbEntries, long IotlbHits, long IotlbMisses) : IClusterMessage;
    public sealed record ContextRef(string Pci, int Pasid, int DomainId);
    public sealed record PasidDetached(string Unit, int Pasid, ImmutableArray<string> Detached, int IotlbEntries) : IClusterMessage;
    public sealed record PasidReferences(string Unit, int Pasid, ImmutableArray<ContextRef> Contexts, int IotlbEntries) : IClusterMessage;
    public sealed record MappingRecord(ulong Iova, ulong Address, ulong PageSize, Access Access);
    public sealed record DomainMappings(string Unit, int DomainId, ImmutableArray<MappingRecord> Mappings) : IClusterMessage;

    /// <summary>A fault record; Cookie identifies a pending IOPF that a PageResponse completes (0 when none).</summary>
    public sealed record Fault(FaultKind Kind, string Pci, int Pasid, int DomainId, ulong Address, Access Requested, long Cookie);
    /// <summary>Sent to the registered fault handler of the domain.</summary>
    public sealed record FaultRaised(string Unit, Fault Fault) : IClusterMessage;

    // Journal events.
    // A journaled event or snapshot never changes shape (Hyperion reads fields by position): the
    // domain's own page sizes came as new types beside the old ones, which still replay.
    public sealed record DomainAllocated(int DomainId, DomainKind Kind, int ParentId, bool DirtyTracking, bool Iopf, ImmutableArray<Stage1Entry> Stage1) : IPersistedEvent;
    /// <summary>A domain allocated with its page sizes (0: the unit's), as every allocation is journaled now.</summary>
    public sealed record DomainAllocatedSized(int DomainId, DomainKind Kind, int ParentId, bool DirtyTracking, bool Iopf, ImmutableArray<Stage1Entry> Stage1,
        ulong PageSizes) : IPersistedEvent;
    public sealed record DomainFreed(int DomainId) : IPersistedEvent;
    public sealed record RangeMapped(int DomainId, ulong Iova, ulong Length, ulong Address, Access Access) : IPersistedEvent;
    /// <summary>A map in leaves no larger than MaxPageSize (journaled only for such maps; RangeMapped is any size).</summary>
    public sealed record RangeMappedCapped(int DomainId, ulong Iova, ulong Length, ulong Address, Access Access, ulong MaxPageSize) : IPersistedEvent;
    public sealed record RangeUnmapped(int DomainId, ulong Iova, ulong Length) : IPersistedEvent;
    public sealed record DeviceAttached(string Pci, int Pasid, int DomainId) : IPersistedEvent;
    public sealed record DeviceDetached(string Pci, int Pasid) : IPersistedEvent;
    public sealed record DirtyTrackingSet(int DomainId, bool Enabled) : IPersistedEvent;
    public sealed record DeviceAdded(DeviceSpec Device) : IPersistedEvent;
    public sealed record DeviceRemoved(string Pci) : IPersistedEvent;
    public sealed record Stage1Set(int DomainId, ImmutableArray<Stage1Entry> Stage1) : IPersistedEvent;

    public sealed record DomainSnapshot(int DomainId, DomainKind Kind, int ParentId, bool DirtyTracking, bool Iopf,
        ImmutableArray<Stage1Entry> Stage1, ImmutableArray<MappingRecord> Mappings);
    /// <summary>AddedDevices: the hot-plugged devices (absent from snapshots taken before hot-plug existed).</summary>
    public sealed record UnitSnapshot(int NextDomainId, ImmutableArray<DomainSnapshot> Domains, ImmutableArray<ContextRef> Contexts,
        ImmutableArray<DeviceSpec> AddedDevices = default) : IPersistedSnapshot
    {
        public ImmutableArray<DeviceSpec> AddedDevices { get; init; } = AddedDevices.IsDefault ? [] : AddedDevices;
    }

    /// <summary>A unit snapshot with the page sizes of the domains that have their own (written since domains had them).</summary>
    public sealed record SizedUnitSnapshot(UnitSnapshot Unit, ImmutableDictionary<int, ulong> DomainPageSizes) : IPersistedSnapshot;

    /// <summary>
    /// A unit snapshot whose page tables are packed (PageTable.Pack, 8 bytes a mapped page) beside
    /// the rest, whose domains carry no mapping records; written by UnitSnapshotSerializer.
    /// </summary>
    public sealed record PackedUnitSnapshot(SizedUnitSnapshot Rest, ImmutableArray<PackedTable> Tables) : IPersistedSnapshot;

    /// <summary>One domain's page table as PageTable.Pack laid it out.</summary>
    public sealed record PackedTable(int DomainId, byte[] Blocks);
}
