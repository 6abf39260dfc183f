using System.Collections.Immutable;
using Akka.Actor;
using IommuActors.Core.Messaging;
using IommuActors.Fd.Objects;
using static IommuActors.Fd.Files.FileProtocol;

namespace IommuActors.Fd.Context;

/// <summary>
/// What the other files of the emulator ask an iommufd context (routed through the file region
/// under the context's file id), the events its journal holds, and its snapshot.
/// </summary>
public static class ContextProtocol
{
    /// <summary>PASID value of an attachment without a PASID (the kernel's IOMMU_NO_PASID).</summary>
    public const int NoPasid = -1;

    // ---- device cdev -> context ----

    /// <summary>VFIO_DEVICE_BIND_IOMMUFD reached the iommufd: create the DEVICE object. Answered with <see cref="DeviceBindResult"/>.</summary>
    public sealed record BindDevice(string FileId, string DeviceFileId, string Pci) : IFileRequest;

    public sealed record DeviceBindResult(string FileId, int Errno, uint DevId) : IClusterMessage;

    /// <summary>ATTACH_IOMMUFD_PT (attach, or replace when attached). Answered with <see cref="AttachResult"/>.</summary>
    public sealed record AttachDevice(string FileId, uint DevId, uint PtId, int Pasid) : IFileRequest;

    public sealed record AttachResult(string FileId, int Errno, uint PtId) : IClusterMessage;

    /// <summary>DETACH_IOMMUFD_PT; detaching what is not attached succeeds. Answered with <see cref="DetachResult"/>.</summary>
    public sealed record DetachDevice(string FileId, uint DevId, int Pasid) : IFileRequest;

    public sealed record DetachResult(string FileId, int Errno) : IClusterMessage;

    /// <summary>The device file closed: detach everything and destroy the DEVICE. Answered with <see cref="DeviceUnbound"/>.</summary>
    public sealed record UnbindDevice(string FileId, uint DevId) : IFileRequest;

    public sealed record DeviceUnbound(string FileId, uint DevId) : IClusterMessage;

    // ---- fault queue file -> context ----

    /// <summary>FAULT_QUEUE_ALLOC made a file: the new file entity learns it is that FAULT's queue. Answered with <see cref="Opened"/>.</summary>
    public sealed record OpenFaultQueue(string FileId, string ContextFileId, uint FaultId) : IFileRequest;

    /// <summary>read() on a fault queue fd. Answered with <see cref="FileProtocol.ReadDone"/>.</summary>
    public sealed record ReadFaults(string FileId, long Tag, uint FaultId, uint Count, IActorRef Client) : IFileRequest;

    /// <summary>write() on a fault queue fd. Answered with <see cref="FileProtocol.WriteDone"/>.</summary>
    public sealed record WriteResponses(string FileId, long Tag, uint FaultId, byte[] Data, IActorRef Client) : IFileRequest;

    /// <summary>
    /// The fault queue fd closed: its user on the FAULT goes; queued faults stay. Answered with
    /// <see cref="FaultFileClosedDone"/> once the FAULT no longer counts the fd (the close answers
    /// only then, so an IOMMU_DESTROY of the FAULT right after it finds the fd gone, as in Linux).
    /// </summary>
    public sealed record FaultFileClosed(string FileId, uint FaultId) : IFileRequest;

    public sealed record FaultFileClosedDone(string FileId, uint FaultId);

    // ---- journal ----

    public sealed record ObjectCreated(uint Id, ObjectKind Kind, ImmutableArray<uint> Uses, string Key, string Pci, uint Flags, bool Auto, int DomainId)
        : IPersistedEvent;

    public sealed record ObjectDestroyed(uint Id) : IPersistedEvent;

    /// <summary>An object destroyed whose ID stays taken until the context goes (a vDEVICE whose device was unbound).</summary>
    public sealed record ObjectTombstoned(uint Id) : IPersistedEvent;

    /// <summary>The locked-memory accounts an IOAS charges: those of the user and of the process that created it.</summary>
    public sealed record AccountKeys(string User, string Process);

    /// <summary>An IOAS object (as <see cref="ObjectCreated"/> makes one) and the accounts it charges.</summary>
    public sealed record IoasCreated(uint Id, string Key, AccountKeys Accounts) : IPersistedEvent;

    /// <summary>A device's attachments (PASID -> HWPT) after an attach, replace or detach.</summary>
    public sealed record AttachmentsChanged(uint DevId, ImmutableDictionary<int, uint> Attachments) : IPersistedEvent;

    public sealed record CompatIoasChanged(uint IoasId) : IPersistedEvent;

    public sealed record RlimitModeChanged(ulong Mode) : IPersistedEvent;

    public sealed record HugePagesChanged(uint IoasId, bool Enabled) : IPersistedEvent;

    public sealed record DirtyTrackingChanged(uint HwptId, bool Enabled) : IPersistedEvent;

    public sealed record FaultFdClosed(uint FaultId) : IPersistedEvent;

    /// <summary>A VDEVICE: a device's virtual ID under a vIOMMU (an object that uses the vIOMMU).</summary>
    public sealed record VdeviceCreated(uint Id, uint ViommuId, uint DevId, ulong VirtId, string Key) : IPersistedEvent;

    /// <summary>A VDEVICE as a snapshot keeps what its object row does not: its device and virtual ID.</summary>
    public sealed record VdeviceRecord(uint DevId, ulong VirtId);

    /// <summary>The context was closed: nothing of it comes back.</summary>
    public sealed record ContextReleased : IPersistedEvent;

    /// <summary>
    /// The iommufd fd closed while something still holds the context (a bound device, an open
    /// fault queue fd, an access), as those hold a reference on the kernel's ictx: the context
    /// serves them on and is released when the last of them lets go.
    /// </summary>
    public sealed record ContextClosed : IPersistedEvent;

    public sealed record SnapshotObject(uint Id, ObjectKind Kind, ImmutableArray<uint> Uses, string Key, string Pci, uint Flags, bool Auto, int DomainId);

    public sealed record ContextSnapshot(
        ImmutableArray<SnapshotObject> Objects,
        ImmutableDictionary<uint, ImmutableDictionary<int, uint>> Attachments,
        ImmutableArray<uint> HugePagesOff,
        ImmutableArray<uint> DirtyOn,
        ImmutableArray<uint> FaultFdsClosed,
        uint CompatIoas,
        ulong RlimitMode,
        long KeyCounter,
        bool Closed = false,
        ImmutableDictionary<uint, AccountKeys>? IoasAccounts = null,
        ImmutableDictionary<uint, VdeviceRecord>? Vdevices = null,
        ImmutableArray<uint> Tombstones = default) : IPersistedSnapshot;
}
