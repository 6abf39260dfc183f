using System.Collections.Immutable;
using Akka.Actor;
using IommuActors.Core.Messaging;
using IommuActors.Hardware.Platform;
using IommuActors.Hardware.Units;
using static IommuActors.Domains.Ioas.IoasProtocol;

namespace IommuActors.Domains.Hwpt;

/// <summary>
/// The hardware page table vocabulary. HWPTs live inside the IOAS actor they mirror (a nested
/// HWPT inside its parent's IOAS), so every message here is addressed to the IOAS entity:
/// that one actor can then make a map or unmap take effect in every domain before it replies.
/// The IDs (HwptId) are the iommufd object IDs chosen by the context; domain IDs are the unit's.
/// </summary>
public static class HwptProtocol
{
    /// <summary>enum iommufd_hwpt_alloc_flags.</summary>
    public const uint AllocNestParent = 1, AllocDirtyTracking = 2, AllocFaultIdValid = 4, AllocPasid = 8;

    /// <summary>enum iommu_hwpt_data_type (and the selftest's IOMMU_HWPT_DATA_SELFTEST).</summary>
    public const uint DataNone = 0, DataVtdS1 = 1, DataArmSmmuV3 = 2, DataSelftest = 0xdead;

    /// <summary>enum iommu_hwpt_invalidate_data_type (and IOMMU_HWPT_INVALIDATE_DATA_SELFTEST).</summary>
    public const uint InvalidateVtdS1 = 0, InvalidateSelftest = 0xdeadbeef;

    /// <summary>IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR.</summary>
    public const uint DirtyNoClear = 1;

    /// <summary>The "no PASID" value of an attach (IOMMU_NO_PASID in the unit's terms).</summary>
    public const int NoPasid = UnitProtocol.NoPasid;

    public enum HwptKind { Paging, Nested }

    /// <summary>
    /// A device as the IOAS needs to know it: where it sits (unit, group) and the reserved
    /// regions iommu_get_resv_regions reports for it, which a no-PASID paging attach reserves.
    /// </summary>
    public sealed record DeviceRef(string Pci, string Unit, int Group, ImmutableArray<IovaSpan> ReservedRegions);

    // Commands (all to the IOAS entity; nested ones to the IOAS of the parent).

    /// <summary>IOMMU_HWPT_ALLOC with pt_id = an IOAS: a manual paging HWPT on the device's unit.</summary>
    public sealed record AllocatePaging(string EntityId, uint HwptId, DeviceRef Device, UnitSpec Unit, uint Flags,
        IActorRef FaultHandler) : IEntityMessage;

    /// <summary>
    /// IOMMU_HWPT_ALLOC with pt_id = a paging HWPT: a nested HWPT. Data is the user's vendor struct
    /// (iommu_hwpt_vtd_s1 or iommu_hwpt_selftest) as bytes; Stage1 the guest's stage-1 leaves,
    /// which real hardware would walk in guest memory at the struct's page table address.
    /// </summary>
    public sealed record AllocateNested(string EntityId, uint HwptId, uint ParentHwptId, DeviceRef Device, UnitSpec Unit,
        uint Flags, uint DataType, ImmutableArray<byte> Data, ImmutableArray<Stage1Entry> Stage1,
        IActorRef FaultHandler) : IEntityMessage;

    public sealed record HwptAllocated(string IoasId, uint HwptId, int Errno, int DomainId) : IClusterMessage;

    /// <summary>IOMMU_DESTROY of a HWPT: EBUSY while a device or a nested child uses it.</summary>
    public sealed record DestroyHwpt(string EntityId, uint HwptId) : IEntityMessage;
    public sealed record HwptDestroyResult(string IoasId, uint HwptId, int Errno) : IClusterMessage;

    /// <summary>
    /// Attach with pt_id = the IOAS: reuse the first compatible automatic HWPT, else create one with
    /// NewHwptId (the context reserves that ID and frees it when the reply says Created = false).
    /// Replace = true when the device is attached elsewhere and this attach replaces it (the unit
    /// rewrites the context entry in one write); the old IOAS is then told ForgetDevice.
    /// PasidCompat: the HWPT must be PASID-capable (IOMMU_HWPT_ALLOC_PASID) because the device has
    /// PASIDs attached elsewhere; a PASID attach asks it anyway. Only the context sees the whole device.
    /// </summary>
    public sealed record AttachToIoas(string EntityId, DeviceRef Device, UnitSpec Unit, int Pasid, uint NewHwptId,
        bool Replace, bool PasidCompat = false) : IEntityMessage;

    /// <summary>Attach with pt_id = a paging or nested HWPT of this IOAS (PasidCompat as for <see cref="AttachToIoas"/>).</summary>
    public sealed record AttachToHwpt(string EntityId, uint HwptId, DeviceRef Device, UnitSpec Unit, int Pasid,
        bool Replace, bool PasidCompat = false) : IEntityMessage;

    /// <summary>HwptId is the HWPT now used; Created says a new automatic HWPT was made for it.</summary>
    /// <param name="DomainId">The domain of the HWPT attached to, in its unit (0 when not known here).</param>
    public sealed record AttachResult(string IoasId, string Pci, int Pasid, int Errno, uint HwptId, bool Created, int DomainId = 0) : IClusterMessage;

    /// <summary>Detach: the unit drops the context entry; an automatic HWPT goes with its last device.</summary>
    public sealed record DetachDevice(string EntityId, string Pci, int Pasid) : IEntityMessage;

    /// <summary>After a replace moved the device to another IOAS: drop the bookkeeping, leave the unit alone.</summary>
    public sealed record ForgetDevice(string EntityId, string Pci, int Pasid) : IEntityMessage;

    /// <summary>AutoDestroyed: the HWPT was automatic and this was its last device, so it is gone.</summary>
    public sealed record DetachResult(string IoasId, string Pci, int Pasid, int Errno, uint HwptId, bool AutoDestroyed) : IClusterMessage;

    /// <summary>
    /// IOMMU_HWPT_INVALIDATE on a nested HWPT: EntryCount entries of EntryLength bytes each.
    /// Stage1, when given, is the guest's stage-1 table as it reads now: the unit's nested domain
    /// takes it before the invalidations run (when at least one entry is handled).
    /// </summary>
    public sealed record InvalidateHwpt(string EntityId, uint HwptId, uint DataType, uint EntryLength, uint EntryCount,
        ImmutableArray<byte> Entries, ImmutableArray<Stage1Entry> Stage1 = default) : IEntityMessage;

    /// <summary>EntriesDone is written back on every path: the entries handled before the first failure.</summary>
    public sealed record InvalidateResult(string IoasId, uint HwptId, int Errno, uint EntriesDone) : IClusterMessage;

    /// <summary>IOMMU_HWPT_SET_DIRTY_TRACKING (Flags: IOMMU_HWPT_DIRTY_TRACKING_ENABLE = 1).</summary>
    public sealed record SetDirtyTracking(string EntityId, uint HwptId, uint Flags) : IEntityMessage;
    public sealed record DirtyTrackingResult(string IoasId, uint HwptId, int Errno) : IClusterMessage;

    /// <summary>IOMMU_HWPT_GET_DIRTY_BITMAP: bit n stands for iova + n * PageSize (u64 words, little endian).</summary>
    public sealed record GetDirtyBitmap(string EntityId, uint HwptId, ulong Iova, ulong Length, ulong PageSize, uint Flags) : IEntityMessage;
    public sealed record DirtyBitmap(string IoasId, uint HwptId, int Errno, ImmutableArray<byte> Bitmap) : IClusterMessage;

    /// <summary>Every HWPT of the IOAS with its devices, for iommuctl and for specs.</summary>
    public sealed record GetHwpts(string EntityId) : IEntityMessage;
    public sealed record AttachmentView(string Pci, int Pasid);
    public sealed record HwptView(uint HwptId, HwptKind Kind, string Unit, int DomainId, bool Auto, uint Flags,
        uint ParentHwptId, bool DirtyTracking, uint DataType, ImmutableArray<byte> Data,
        ImmutableArray<AttachmentView> Devices, ImmutableArray<uint> MockIotlb);
    public sealed record Hwpts(string IoasId, ImmutableArray<HwptView> Items) : IClusterMessage;

    // Journal events (never change meaning; add new ones).
    public sealed record HwptCreated(uint HwptId, HwptKind Kind, string Unit, int DomainId, bool Auto, uint Flags,
        uint ParentHwptId, uint DataType, ImmutableArray<byte> Data, ImmutableArray<Stage1Entry> Stage1,
        ImmutableArray<IovaSpan> Aperture, ulong Alignment, ulong PageSizes = 0) : IPersistedEvent;
    public sealed record HwptRemoved(uint HwptId) : IPersistedEvent;
    public sealed record HwptDeviceAttached(uint HwptId, string Pci, int Pasid, ImmutableArray<IovaSpan> Reserved) : IPersistedEvent;
    public sealed record HwptDeviceDetached(string Pci, int Pasid) : IPersistedEvent;
    public sealed record HwptDirtyTrackingSet(uint HwptId, bool Enabled) : IPersistedEvent;
    public sealed record HwptMockIotlbSet(uint HwptId, ImmutableArray<uint> Iotlb) : IPersistedEvent;

    /// <summary>A nested HWPT's stage-1 leaves, read again from the guest's table at an invalidation.</summary>
    public sealed record HwptStage1Set(uint HwptId, ImmutableArray<Stage1Entry> Stage1) : IPersistedEvent;

    public sealed record HwptRecord(uint HwptId, HwptKind Kind, string Unit, int DomainId, bool Auto, uint Flags,
        uint ParentHwptId, uint DataType, ImmutableArray<byte> Data, ImmutableArray<Stage1Entry> Stage1,
        bool DirtyTracking, ImmutableArray<AttachmentView> Devices, ImmutableArray<uint> MockIotlb, ulong PageSizes = 0);

    /// <summary>An IOAS snapshot together with its HWPTs (the reservations they own are in the IOAS part).</summary>
    public sealed record IoasHwptTableSnapshot(IoasTableSnapshot Ioas, ImmutableArray<HwptRecord> Hwpts) : IPersistedSnapshot;

    /// <summary>
    /// The same with the areas packed (PackedAreas, five or six bytes an ordinary area) beside the rest,
    /// whose area list is empty; written by IoasSnapshotSerializer.
    /// </summary>
    public sealed record PackedIoasSnapshot(IoasHwptTableSnapshot Rest, byte[] Areas) : IPersistedSnapshot;

    /// <summary>The same, written before pinned pages remembered their writability; replayed, never written.</summary>
    public sealed record IoasHwptSnapshot(IoasSnapshot Ioas, ImmutableArray<HwptRecord> Hwpts) : IPersistedSnapshot;
}
