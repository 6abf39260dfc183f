using System.Collections.Immutable;
using Akka.Actor;
using Akka.Event;
using Akka.Persistence;
using IommuActors.Core.Persistence;
using IommuActors.Uapi;
using static IommuActors.Ioasid.Pasid.PasidSpaceProtocol;

namespace IommuActors.Ioasid.Pasid;

/// <summary>
/// Owns the system PASID space; persists every lease, release and quarantine before answering, and
/// snapshots by the SnapshotPolicy, deleting the events and snapshots behind the newest one.
/// </summary>
public sealed class PasidSpaceActor : SnapshottingActor
{
    private readonly PasidSpace _space;

    public static Props Props(string id, int first, int last, int capacity, int snapshotFloor = 1000) =>
        Akka.Actor.Props.Create(() => new PasidSpaceActor(id, first, last, capacity, snapshotFloor));

    public PasidSpaceActor(string id, int first, int last, int capacity, int snapshotFloor) : base(snapshotFloor)
    {
        PersistenceId = $"pasid-space-{id}";
        _space = new PasidSpace(first, last, capacity);

        Recover<SnapshotOffer>(o =>
        {
            _space.Restore((SpaceSnapshot)o.Snapshot);
            SnapshotOffered(o.Metadata, SnapshotEntries);
        });
        Recover<RecoveryCompleted>(_ => RecoveredForSnapshots());
        Recover<SpaceLeased>(e => _space.LeaseExact(e.Owner, e.Pasid));
        Recover<SpaceReleased>(e => _space.Release(_space.OwnerOf(e.Pasid) ?? "", e.Pasid));
        Recover<SpaceQuarantined>(e => _space.Quarantine(_space.OwnerOf(e.Pasid) ?? "", e.Pasid));
        Recover<SpaceQuarantineCleared>(e => _space.ClearQuarantine(e.Pasid));
        Recover<SpaceReleasedMany>(e =>
        {
            foreach (var pasid in e.Pasids)
                _space.Release(_space.OwnerOf(pasid) ?? "", pasid);
        });

        Command<LeasePasid>(Lease);
        Command<ReleasePasid>(m => Change("release", m.Pasid, _space.Release(m.Owner, m.Pasid), new SpaceReleased(m.Pasid)));
        Command<QuarantinePasid>(m => Change("quarantine", m.Pasid, _space.Quarantine(m.Owner, m.Pasid), new SpaceQuarantined(m.Pasid)));
        Command<ReleasePasids>(ReleaseMany);
        Command<GetOwner>(m => Sender.Tell(new PasidOwner(m.Pasid, _space.OwnerOf(m.Pasid) ?? "")));
        Command<ClearQuarantine>(m => Change("clear-quarantine", m.Pasid, _space.ClearQuarantine(m.Pasid), new SpaceQuarantineCleared(m.Pasid)));
        Command<GetSpace>(_ => Sender.Tell(new SpaceState(_space.InUse,
            _space.Owners.ToImmutableDictionary(), _space.QuarantinedPasids.Order().ToImmutableArray())));
        Command<GetOwnerSets>(_ => Sender.Tell(new OwnerSets(_space.Owners.Values.Distinct().Order(StringComparer.Ordinal).ToImmutableArray())));
        Command<GetSpaceUse>(_ => Sender.Tell(new SpaceUse(_space.InUse, _space.Quarantined)));
        Command<GetLeases>(m => Sender.Tell(new Leases(m.Owner, _space.LeasesOf(m.Owner).ToImmutableArray(),
            _space.QuarantinedPasids.Order().ToImmutableArray())));
        SnapshotReplies();
    }

    public override string PersistenceId { get; }

    private void Lease(LeasePasid m)
    {
        var (errno, pasid) = _space.Lease(m.Owner);
        var sender = Sender;
        if (errno != 0)
            sender.Tell(new LeaseFailed(m.Owner, errno));
        else
            Persist(new SpaceLeased(m.Owner, pasid), _ =>
            {
                MaybeSnapshot();
                sender.Tell(new PasidLeased(m.Owner, pasid));
            });
    }

    // Only what the owner holds goes; the rest is named in the log and otherwise ignored, as single releases are.
    private void ReleaseMany(ReleasePasids m)
    {
        var sender = Sender;
        var released = m.Pasids.Where(p => _space.Release(m.Owner, p) == 0).ToImmutableArray();
        if (released.Length < m.Pasids.Length)
            Context.GetLogger().Warning("{0} released {1} PASIDs it does not own", m.Owner, m.Pasids.Length - released.Length);
        if (released.IsEmpty)
        {
            sender.Tell(new SpaceResult("release-many", 0, released.Length == m.Pasids.Length ? 0 : Errno.EINVAL));
            return;
        }
        Persist(new SpaceReleasedMany(released), _ =>
        {
            MaybeSnapshot();
            sender.Tell(new SpaceResult("release-many", released.Length, released.Length == m.Pasids.Length ? 0 : Errno.EINVAL));
        });
    }

    // The in-memory change is made first so a following command sees it; the reply waits for the journal.
    private void Change(string operation, int pasid, int errno, object evt)
    {
        var sender = Sender;
        if (errno != 0)
            sender.Tell(new SpaceResult(operation, pasid, errno));
        else
            Persist(evt, _ =>
            {
                MaybeSnapshot();
                sender.Tell(new SpaceResult(operation, pasid, 0));
            });
    }

    // Called first thing in a persist handler, when memory holds exactly what the journal holds.
    private void MaybeSnapshot() => SnapshotIfDue(SnapshotEntries, _space.Snapshot);

    /// <summary>A snapshot holds one entry per PASID out (leased or quarantined).</summary>
    private long SnapshotEntries => _space.InUse + 1;
}
