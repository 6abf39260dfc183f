using Akka.Event;
using System.Collections.Immutable;
using Akka.Actor;
using Akka.Persistence;
using IommuActors.Core.Persistence;
using IommuActors.Core.Messaging;
using Errno = IommuActors.Uapi.Errno;

namespace IommuActors.Fd.Devices;

/// <summary>Who owns DMA of which device and IOMMU group, across every iommufd context.</summary>
public static class DmaOwnershipProtocol
{
    /// <summary>BIND_IOMMUFD wants the device for a context. Answered with <see cref="OwnershipResult"/>.</summary>
    public sealed record ClaimDevice(string Pci, string GroupKey, string DeviceFileId, string ContextFileId) : IClusterMessage;

    /// <summary>errno 0; EINVAL when another device fd has the device bound; EBUSY when another context owns the group.</summary>
    public sealed record OwnershipResult(string Pci, int Errno, string Holder = "") : IClusterMessage;

    /// <summary>The device fd closed. Answered with <see cref="OwnershipReleased"/>.</summary>
    public sealed record ReleaseDevice(string Pci, string DeviceFileId) : IClusterMessage;

    public sealed record OwnershipReleased(string Pci) : IClusterMessage;

    public sealed record DeviceClaimed(string Pci, string GroupKey, string DeviceFileId, string ContextFileId) : IPersistedEvent;

    public sealed record DeviceReleased(string Pci) : IPersistedEvent;

    public sealed record Claim(string GroupKey, string DeviceFileId, string ContextFileId);

    public sealed record OwnershipSnapshot(ImmutableDictionary<string, Claim> Claims) : IPersistedSnapshot;
}

/// <summary>
/// The registry of DMA ownership (iommu_device_claim_dma_owner): one device fd per device, and
/// every bound device of an IOMMU group in one iommufd context. One actor for the whole box,
/// so two contexts racing for a group are ordered by its mailbox.
/// </summary>
public sealed class DmaOwnershipActor : SnapshottingActor
{
    private ImmutableDictionary<string, DmaOwnershipProtocol.Claim> _claims = ImmutableDictionary<string, DmaOwnershipProtocol.Claim>.Empty;

    public override string PersistenceId => "dma-ownership";

    public static Props Props() => Akka.Actor.Props.Create(() => new DmaOwnershipActor());

    /// <summary>Claims change once per device bind and unbind: a snapshot waits for at least this many.</summary>
    private const int SnapshotFloor = 200;

    public DmaOwnershipActor() : base(SnapshotFloor)
    {
        Recover<SnapshotOffer>(o =>
        {
            if (o.Snapshot is DmaOwnershipProtocol.OwnershipSnapshot s) _claims = s.Claims;
            SnapshotOffered(o.Metadata, _claims.Count + 1);
        });
        Recover<RecoveryCompleted>(_ => RecoveredForSnapshots());
        Recover<DmaOwnershipProtocol.DeviceClaimed>(Apply);
        Recover<DmaOwnershipProtocol.DeviceReleased>(Apply);
        Command<DmaOwnershipProtocol.ClaimDevice>(OnClaim);
        Command<DmaOwnershipProtocol.ReleaseDevice>(c =>
        {
            var sender = Sender;
            if (!_claims.TryGetValue(c.Pci, out var claim) || claim.DeviceFileId != c.DeviceFileId)
            {
                sender.Tell(new DmaOwnershipProtocol.OwnershipReleased(c.Pci));
                return;
            }
            Persist(new DmaOwnershipProtocol.DeviceReleased(c.Pci), e =>
            {
                Apply(e);
                sender.Tell(new DmaOwnershipProtocol.OwnershipReleased(c.Pci));
                SnapshotIfDue(_claims.Count + 1, () => new DmaOwnershipProtocol.OwnershipSnapshot(_claims));
            });
        });
        SnapshotReplies();
    }

    private void OnClaim(DmaOwnershipProtocol.ClaimDevice c)
    {
        var sender = Sender;
        if (_claims.TryGetValue(c.Pci, out var held))
        {
            var same = held.DeviceFileId == c.DeviceFileId && held.ContextFileId == c.ContextFileId;
            sender.Tell(same ? new DmaOwnershipProtocol.OwnershipResult(c.Pci, 0) : Refused(c, Errno.EINVAL, "the device", held));
            return;
        }
        if (_claims.FirstOrDefault(x => x.Value.GroupKey == c.GroupKey && x.Value.ContextFileId != c.ContextFileId) is { Value: { } owner } other)
        {
            sender.Tell(Refused(c, Errno.EBUSY, $"its IOMMU group (through {other.Key})", owner));
            return;
        }
        Persist(new DmaOwnershipProtocol.DeviceClaimed(c.Pci, c.GroupKey, c.DeviceFileId, c.ContextFileId), e =>
        {
            Apply(e);
            sender.Tell(new DmaOwnershipProtocol.OwnershipResult(c.Pci, 0));
            SnapshotIfDue(_claims.Count + 1, () => new DmaOwnershipProtocol.OwnershipSnapshot(_claims));
        });
    }

    /// <summary>
    /// A bind that fails because someone else holds the device is what an operator asks about
    /// (iommuctl contexts maps the file ids to a session, a pid and a client; iommuctl release ends a dead one).
    /// </summary>
    private DmaOwnershipProtocol.OwnershipResult Refused(DmaOwnershipProtocol.ClaimDevice c, int errno, string what, DmaOwnershipProtocol.Claim holder)
    {
        var held = HolderText(holder);
        Context.GetLogger().Warning(
            $"VFIO_DEVICE_BIND_IOMMUFD of {c.Pci} by session {SessionOf(c.DeviceFileId)} (device file {c.DeviceFileId}, iommufd {c.ContextFileId}) " +
            $"refused with {Errno.Name(errno)}: {what} is held by {held}");
        return new DmaOwnershipProtocol.OwnershipResult(c.Pci, errno, $"{what} is held by {held}");
    }

    /// <summary>The holder as an operator finds it: its session (`iommuctl sessions` gives the pid, `iommuctl release` ends it) and files.</summary>
    public static string HolderText(DmaOwnershipProtocol.Claim holder) =>
        $"session {SessionOf(holder.DeviceFileId)} (device file {holder.DeviceFileId}, iommufd {holder.ContextFileId})";

    /// <summary>A file id is its session's token, a dash and the file's number in the session.</summary>
    public static string SessionOf(string fileId) => fileId.LastIndexOf('-') is var dash and > 0 ? fileId[..dash] : fileId;

    private void Apply(IPersistedEvent e)
    {
        switch (e)
        {
            case DmaOwnershipProtocol.DeviceClaimed c:
                _claims = _claims.SetItem(c.Pci, new DmaOwnershipProtocol.Claim(c.GroupKey, c.DeviceFileId, c.ContextFileId));
                break;
            case DmaOwnershipProtocol.DeviceReleased r:
                _claims = _claims.Remove(r.Pci);
                break;
        }
    }
}
