using System.Collections.Immutable;
using Akka.Actor;
using Akka.Event;
using Akka.Persistence;
using IommuActors.Core.Persistence;
using IommuActors.Uapi;
using static IommuActors.Ioasid.Pasid.PasidSetProtocol;
using static IommuActors.Ioasid.Pasid.PasidSpaceProtocol;

namespace IommuActors.Ioasid.Pasid;

/// <summary>
/// One VM's PASID set. Leases PASIDs from the space, keeps refs/binds/SPIDs in a <see cref="PasidSet"/>,
/// publishes IOASID events to the bus, and returns a freed PASID to the space only when every reference
/// is gone and every subscriber acknowledged (or quarantines it when acknowledgements time out).
/// A request that publishes (a first bind, a last unbind, a free, a set free) is answered only once the bus says
/// every subscriber acted on the event; a subscriber that missed the ack timeout makes it ETIMEDOUT (a first bind
/// is then undone, a free quarantines). A PASID this set does not hold but another set does is EACCES (the space
/// says whose it is), one nobody holds ENOENT.
/// After recovery it reconciles with the space before serving anything (see <see cref="Reconcile"/>).
/// </summary>
public sealed class PasidSetActor : SnapshottingActor
{
    private readonly string _key;
    private readonly IActorRef _space;
    private readonly IActorRef _bus;
    private readonly PasidSet _set;
    private readonly Queue<IActorRef> _leasesInFlight = new();
    private readonly ILoggingAdapter _log = Context.GetLogger();
    // Continuations of requests whose event is going round, by publication id; FREE requesters by PASID.
    private readonly Dictionary<long, Action<EventApplied>> _applied = new();
    private readonly Dictionary<int, IActorRef> _freeRequesters = new();
    // The space answers GetOwner in the order asked.
    private readonly Queue<Action<string>> _ownerLookups = new();
    private long _nextPublication;

    public static Props Props(string key, int quota, IActorRef space, IActorRef bus, int snapshotFloor = 1000) =>
        Akka.Actor.Props.Create(() => new PasidSetActor(key, quota, space, bus, snapshotFloor));

    public PasidSetActor(string key, int quota, IActorRef space, IActorRef bus, int snapshotFloor) : base(snapshotFloor)
    {
        _key = key;
        _space = space;
        _bus = bus;
        _set = new PasidSet(key, quota);
        PersistenceId = key;
        Live(Core.Telemetry.IommuMetrics.PasidsPerSet, () => [(key, _set.Count)]);

        Recover<SnapshotOffer>(o =>
        {
            _set.Restore((SetSnapshot)o.Snapshot);
            SnapshotOffered(o.Metadata, _set.Count + 1);
        });
        Recover<SetPasidAdmitted>(e => _set.Admit(e.Pasid));
        Recover<SetPasidGot>(e => _set.Get(e.Pasid));
        Recover<SetPasidPut>(e => _set.Put(e.Pasid));
        Recover<SetPasidBound>(e => _set.Bind(e.Pasid, e.Spid == 0 ? null : e.Spid));
        Recover<SetPasidUnbound>(e => _set.Unbind(e.Pasid));
        Recover<SetPasidGotBy>(e => _set.Get(e.Pasid, e.Holder));
        Recover<SetPasidPutBy>(e => _set.Put(e.Pasid, e.Holder));
        Recover<SetPasidBoundBy>(e => _set.Bind(e.Pasid, e.Spid == 0 ? null : e.Spid, e.Holder));
        Recover<SetPasidUnboundBy>(e => _set.Unbind(e.Pasid, e.Holder));
        Recover<SetSpidDetached>(e => _set.DetachSpid(e.Pasid));
        Recover<SetPasidFreed>(e => _set.Free(e.Pasid, awaitAcks: true));
        Recover<SetFreeAcked>(e => _set.Acknowledged(e.Pasid));
        Recover<SetPasidRemoved>(e => _set.Remove(e.Pasid, e.Quarantined));
        Recover<SetQuarantineSettled>(e => _set.QuarantineSettled(e.Pasid));
        Recover<SetQuotaAdjusted>(e => _set.RestoreQuota(e.Quota));
        Recover<SetPasidsFreed>(e =>
        {
            foreach (var pasid in e.Pasids)
                _set.Free(pasid, awaitAcks: true);
        });
        Recover<SetHoldsReleased>(e => _set.ReleaseHolds(e.HolderPrefix, e.Pasids));
        Recover<SetFreesAcked>(e =>
        {
            foreach (var pasid in e.Pasids)
                _set.Acknowledged(pasid);
        });
        Recover<SetPasidsRemoved>(e =>
        {
            foreach (var pasid in e.Pasids)
                _set.Remove(pasid, e.Quarantined);
        });
        Recover<RecoveryCompleted>(_ =>
        {
            RecoveredForSnapshots();
            _space.Tell(new GetLeases(_key));
            Become(Reconciling);
        });
        Active();
    }

    public override string PersistenceId { get; }

    private void Active()
    {
        Command<AllocPasid>(_ => Alloc());
        Command<PasidLeased>(Leased);
        Command<LeaseFailed>(m => _leasesInFlight.Dequeue().Tell(new PasidAllocated(_key, 0, m.Errno)));
        Command<FreePasid>(m => Free(m.Pasid));
        Command<GetPasid>(m => Simple("get", m.Pasid, _set.Get(m.Pasid, m.Holder), new SetPasidGotBy(m.Pasid, m.Holder)));
        Command<ReleaseHolds>(Release);
        Command<EventApplied>(m =>
        {
            if (_applied.Remove(m.Id, out var then))
                then(m);
        });
        Command<PasidOwner>(m =>
        {
            if (_ownerLookups.TryDequeue(out var then))
                then(m.Owner);
        });
        Command<PutPasid>(Put);
        Command<BindPasid>(Bind);
        Command<UnbindPasid>(Unbind);
        Command<FindBySpid>(Find);
        Command<FreeSet>(_ => FreeAll());
        Command<FreeAcknowledged>(Acked);
        Command<FreeAckTimedOut>(m => TimedOut(m.Pasid));
        Command<SpaceResult>(SpaceAnswered);
        Command<GetSet>(_ => Sender.Tell(State()));
        Command<AdjustQuota>(Adjust);
        Command<WakeSet>(_ => Sender.Tell(new SetAwake(_key, _set.Entries().Count(e => e.AwaitingAcks))));
        Command<GetHolds>(m => Sender.Tell(new Holds(_key, m.HolderPrefix, _set.Holds(m.HolderPrefix)
            .Select(h => new SetHold(h.Pasid, h.Holder, h.Refs, h.Binds, h.Spid ?? 0, h.State)).ToImmutableArray())));
        SnapshotReplies();
    }

    // Nothing is served until the space's view and the journal's agree; commands wait in the stash.
    private void Reconciling()
    {
        Command<Leases>(Reconcile);
        SnapshotReplies();
        CommandAny(_ => Stash.Stash());
    }

    /// <summary>
    /// The crash windows: the space persisted a lease whose answer never reached the set, or the set persisted a
    /// removal whose release (or quarantine) never reached the space. Either way the space names this set as owner
    /// of a PASID the set does not hold; it goes back (quarantined if the set quarantined it), so none is lost.
    /// The reverse (the set holds what the space does not give it) cannot arise: a set admits only what the space
    /// journaled, and the space drops ownership only on this set's word after the set journaled the removal.
    /// Then FREEs still waiting for acknowledgements are published again and reclaimable PASIDs go back.
    /// </summary>
    private void Reconcile(Leases m)
    {
        var leased = m.Leased.ToHashSet();
        foreach (var pasid in m.Leased.Where(p => _set.Find(p) is null))
            _space.Tell(_set.QuarantinedAway.Contains(pasid) ? new QuarantinePasid(_key, pasid) : new ReleasePasid(_key, pasid));
        var settled = _set.QuarantinedAway.Where(p => !leased.Contains(p)).ToList();
        foreach (var pasid in settled)
            _set.QuarantineSettled(pasid);
        foreach (var entry in _set.Entries().Where(e => !leased.Contains(e.Pasid)))
            _log.Warning("{0}: PASID {1} is in the set but the space does not lease it to the set", _key, entry.Pasid);
        PersistAll(settled.Select(p => new SetQuarantineSettled(p)), _ => { });
        DeferAsync(settled, _ =>
        {
            MaybeSnapshot();
            Become(Active);
            Resynchronise();
            Stash.UnstashAll();
        });
    }

    private SetState State() => new(_key, _set.Quota, _set.Entries()
        .Select(e => new SetEntry(e.Pasid, e.State, e.Refs, e.Binds, e.Spid ?? 0, e.AwaitingAcks)).ToImmutableArray());

    private void Alloc()
    {
        // Leases still in flight count against the quota, or two quick allocs could overshoot it.
        if (_set.Count + _leasesInFlight.Count >= _set.Quota)
        {
            Sender.Tell(new PasidAllocated(_key, 0, Errno.EDQUOT));
            return;
        }
        _leasesInFlight.Enqueue(Sender);
        _space.Tell(new LeasePasid(_key));
    }

    private void Adjust(AdjustQuota m)
    {
        var sender = Sender;
        var errno = _set.AdjustQuota(m.Quota, _leasesInFlight.Count);
        if (errno != 0)
            sender.Tell(new QuotaAdjusted(_key, _set.Quota, _set.Count, errno));
        else
            Save(new SetQuotaAdjusted(m.Quota), () => sender.Tell(new QuotaAdjusted(_key, m.Quota, _set.Count, 0)));
    }

    private void Leased(PasidLeased m)
    {
        var requester = _leasesInFlight.Dequeue();
        _set.Admit(m.Pasid);
        Save(new SetPasidAdmitted(m.Pasid), () =>
        {
            Publish(IoasidEventKind.Alloc, m.Pasid, 0);
            requester.Tell(new PasidAllocated(_key, m.Pasid, 0));
        });
    }

    private void Free(int pasid)
    {
        var sender = Sender;
        var (errno, _, reclaimable) = _set.Free(pasid, awaitAcks: true);
        if (errno != 0)
        {
            Refuse(sender, "free", pasid, errno);
            return;
        }
        Save(new SetPasidFreed(pasid), () =>
        {
            // Answered by Acked or TimedOut, when the FREE has gone round.
            _freeRequesters[pasid] = sender;
            Publish(IoasidEventKind.Free, pasid, 0);
            if (reclaimable)
                Reclaim(pasid);
        });
    }

    private void Put(PutPasid m)
    {
        var sender = Sender;
        var (errno, reclaimable) = _set.Put(m.Pasid, m.Holder);
        if (errno != 0)
        {
            sender.Tell(new PasidResult(_key, "put", m.Pasid, errno));
            return;
        }
        Save(new SetPasidPutBy(m.Pasid, m.Holder), () =>
        {
            sender.Tell(new PasidResult(_key, "put", m.Pasid, 0));
            if (reclaimable)
                Reclaim(m.Pasid);
        });
    }

    private void Bind(BindPasid m)
    {
        var sender = Sender;
        var attaches = m.Spid != 0 && _set.Find(m.Pasid)?.Spid != m.Spid;
        var (errno, first) = _set.Bind(m.Pasid, m.Spid == 0 ? null : m.Spid, m.Holder);
        if (errno != 0)
        {
            Refuse(sender, "bind", m.Pasid, errno);
            return;
        }
        var spid = _set.Find(m.Pasid)!.Spid ?? 0;
        Save(new SetPasidBoundBy(m.Pasid, m.Spid, m.Holder), () =>
        {
            // Level semantics: only the first bind is published.
            if (!first)
            {
                sender.Tell(new PasidResult(_key, "bind", m.Pasid, 0));
                return;
            }
            Publish(IoasidEventKind.Bind, m.Pasid, spid, m.Holder, applied =>
            {
                if (applied.Unanswered.IsEmpty)
                    sender.Tell(new PasidResult(_key, "bind", m.Pasid, 0));
                else
                    UndoBind(m, attaches, sender);
            });
        });
    }

    private void Unbind(UnbindPasid m)
    {
        var sender = Sender;
        var spid = _set.Find(m.Pasid)?.Spid ?? 0;
        var (errno, last, reclaimable) = _set.Unbind(m.Pasid, m.Holder);
        if (errno != 0)
        {
            Refuse(sender, "unbind", m.Pasid, errno);
            return;
        }
        Save(new SetPasidUnboundBy(m.Pasid, m.Holder), () =>
        {
            if (last)
                Publish(IoasidEventKind.Unbind, m.Pasid, spid, m.Holder, applied =>
                    sender.Tell(new PasidResult(_key, "unbind", m.Pasid, applied.Unanswered.IsEmpty ? 0 : Errno.ETIMEDOUT)));
            else
                sender.Tell(new PasidResult(_key, "unbind", m.Pasid, 0));
            if (reclaimable)
                Reclaim(m.Pasid);
        });
    }

    // A BIND some subscriber did not acknowledge never happened: the bind is undone (UNBIND published, so those that
    // did apply it drop it) and the binder answered ETIMEDOUT. A later bind that only attached the guest PASID
    // (<paramref name="attached"/>) detaches it again and publishes SPID_DETACHED, so KVM drops the translation while
    // the binds before it stay. An unbind can only be reported, not undone.
    private void UndoBind(BindPasid m, bool attached, IActorRef sender)
    {
        var spid = _set.Find(m.Pasid)?.Spid ?? 0;
        var (errno, last, reclaimable) = _set.Unbind(m.Pasid, m.Holder);
        void Answer() => sender.Tell(new PasidResult(_key, "bind", m.Pasid, Errno.ETIMEDOUT));
        if (errno != 0)
        {
            Answer();
            return;
        }
        Save(new SetPasidUnboundBy(m.Pasid, m.Holder), () =>
        {
            if (last)
                Publish(IoasidEventKind.Unbind, m.Pasid, spid, m.Holder, _ => Answer());
            else if (attached && _set.DetachSpid(m.Pasid) is { } detached)
                Save(new SetSpidDetached(m.Pasid), () =>
                    Publish(IoasidEventKind.SpidDetached, m.Pasid, detached, m.Holder, _ => Answer()));
            else
                Answer();
            if (reclaimable)
                Reclaim(m.Pasid);
        });
    }

    // ENOENT for a PASID this set does not hold at all becomes EACCES when another set holds it (ioasid_find's rule).
    private void Refuse(IActorRef sender, string operation, int pasid, int errno)
    {
        if (errno != Errno.ENOENT || _set.Find(pasid) is not null)
        {
            sender.Tell(new PasidResult(_key, operation, pasid, errno));
            return;
        }
        _ownerLookups.Enqueue(owner => sender.Tell(new PasidResult(_key, operation, pasid,
            owner.Length > 0 && owner != _key ? Errno.EACCES : Errno.ENOENT)));
        _space.Tell(new GetOwner(pasid));
    }

    private void Find(FindBySpid m)
    {
        var sender = Sender;
        var (errno, pasid) = _set.FindBySpid(m.Spid, m.TakeRef, m.Holder);
        if (errno != 0 || !m.TakeRef)
            sender.Tell(new SpidFound(_key, m.Spid, pasid, errno));
        else
            Save(new SetPasidGotBy(pasid, m.Holder), () => sender.Tell(new SpidFound(_key, m.Spid, pasid, 0)));
    }

    // ioasid_free_all_set: one journal write, one SET_FREED for every subscriber, one release to the space.
    private void FreeAll()
    {
        var sender = Sender;
        var freed = _set.FreeAll(awaitAcks: true).ToImmutableArray();
        Save(new SetPasidsFreed(freed), () => Publish(new IoasidEvent(IoasidEventKind.SetFreed, _key, 0, 0, "", freed), applied =>
        {
            if (applied.Unanswered.IsEmpty)
                AckedAll(freed);
            else
                QuarantineAll(freed);
            sender.Tell(new SetFreed(_key, freed, applied.Unanswered));
        }));
    }

    private void Release(ReleaseHolds m)
    {
        var sender = Sender;
        var reclaimable = _set.ReleaseHolds(m.HolderPrefix, m.Pasids);
        Save(new SetHoldsReleased(m.HolderPrefix, m.Pasids), () =>
        {
            sender.Tell(new HoldsReleased(_key, m.HolderPrefix, m.Pasids.Length));
            ReclaimAll(reclaimable);
        });
    }

    private void AckedAll(ImmutableArray<int> pasids)
    {
        var acked = pasids.Where(p => _set.Find(p) is { State: PasidState.FreePending, AwaitingAcks: true }).ToImmutableArray();
        foreach (var pasid in acked)
            _set.Acknowledged(pasid);
        var reclaimable = acked.Where(_set.IsReclaimable).ToList();
        Save(new SetFreesAcked(acked), () => ReclaimAll(reclaimable));
    }

    private void ReclaimAll(IReadOnlyList<int> pasids)
    {
        var removed = pasids.Where(p => _set.Remove(p) == 0).ToImmutableArray();
        if (removed.IsEmpty)
            return;
        Save(new SetPasidsRemoved(removed, Quarantined: false), () => _space.Tell(new ReleasePasids(_key, removed)));
    }

    private void QuarantineAll(ImmutableArray<int> pasids)
    {
        var removed = pasids.Where(p => _set.Remove(p, quarantined: true) == 0).ToImmutableArray();
        Save(new SetPasidsRemoved(removed, Quarantined: true), () =>
        {
            foreach (var pasid in removed)
                _space.Tell(new QuarantinePasid(_key, pasid));
        });
    }

    private void Acked(FreeAcknowledged m)
    {
        if (_freeRequesters.Remove(m.Pasid, out var requester))
            requester.Tell(new PasidResult(_key, "free", m.Pasid, 0));
        if (!_set.Acknowledged(m.Pasid) && _set.Find(m.Pasid) is not { State: PasidState.FreePending })
            return;
        var reclaimable = _set.IsReclaimable(m.Pasid);
        Save(new SetFreeAcked(m.Pasid), () =>
        {
            if (reclaimable)
                Reclaim(m.Pasid);
        });
    }

    private void TimedOut(int pasid)
    {
        if (_freeRequesters.Remove(pasid, out var requester))
            requester.Tell(new PasidResult(_key, "free", pasid, Errno.ETIMEDOUT));
        if (_set.Remove(pasid, quarantined: true) != 0)
            return;
        Save(new SetPasidRemoved(pasid, Quarantined: true), () => _space.Tell(new QuarantinePasid(_key, pasid)));
    }

    private void Reclaim(int pasid)
    {
        if (_set.Remove(pasid) != 0)
            return;
        Save(new SetPasidRemoved(pasid, Quarantined: false), () => _space.Tell(new ReleasePasid(_key, pasid)));
    }

    private void SpaceAnswered(SpaceResult r)
    {
        if (r is { Operation: "quarantine", Errno: 0 } && _set.QuarantinedAway.Contains(r.Pasid))
        {
            _set.QuarantineSettled(r.Pasid);
            Save(new SetQuarantineSettled(r.Pasid), () => { });
        }
    }

    private void Simple(string operation, int pasid, int errno, object evt)
    {
        var sender = Sender;
        if (errno != 0)
            Refuse(sender, operation, pasid, errno);
        else
            Save(evt, () => sender.Tell(new PasidResult(_key, operation, pasid, 0)));
    }

    // A FREE still waiting for acknowledgements when the set went down is published again; subscribers treat a repeat as done.
    private void Resynchronise()
    {
        foreach (var entry in _set.Entries().Where(e => e.AwaitingAcks))
            Publish(IoasidEventKind.Free, entry.Pasid, 0);
        foreach (var entry in _set.Entries().Where(e => _set.IsReclaimable(e.Pasid)))
            Reclaim(entry.Pasid);
    }

    // The in-memory change is made before persisting so the next command sees it; the snapshot is taken first
    // thing in the handler, when memory holds exactly what the journal holds.
    private void Save<TEvent>(TEvent evt, Action then) where TEvent : notnull => Persist(evt, _ =>
    {
        MaybeSnapshot();
        then();
    });

    // A snapshot costs as much as the set is large (one entry per PASID), so the policy lets a large set wait longer.
    private void MaybeSnapshot() => SnapshotIfDue(_set.Count + 1, _set.Snapshot);

    private void Publish(IoasidEventKind kind, int pasid, int spid, string holder = "", Action<EventApplied>? then = null) =>
        Publish(new IoasidEvent(kind, _key, pasid, spid, holder), then);

    // With a continuation the bus answers EventApplied under a fresh id (ids are not journaled: a request in
    // flight when the set went down gets no answer, as any request to a crashed actor).
    private void Publish(IoasidEvent e, Action<EventApplied>? then = null)
    {
        var id = 0L;
        if (then is not null)
            _applied[id = ++_nextPublication] = then;
        _bus.Tell(new PublishIoasidEvent(e, id));
    }
}
