using System.Collections.Immutable;
using Akka.Actor;
using Akka.Persistence;
using static IommuActors.Ioasid.Pasid.PasidSetProtocol;
using static IommuActors.Ioasid.Pasid.PasidSpaceProtocol;

namespace IommuActors.Ioasid.Pasid;

/// <summary>
/// One VM's PASID set. Leases PASIDs from the space, keeps refs/binds/SPIDs in a <see cref="PasidSet"/>,
/// publishes IOASID events to the bus, and returns a freed PASID to the space only when every reference
/// is gone and every subscriber acknowledged (or quarantines it when acknowledgements time out).
/// </summary>
public sealed class PasidSetActor : ReceivePersistentActor
{
    private readonly string _key;
    private readonly IActorRef _space;
    private readonly IActorRef _bus;
    private readonly PasidSet _set;
    private readonly Queue<IActorRef> _leasesInFlight = new();

    public static Props Props(string key, int quota, IActorRef space, IActorRef bus) =>
        Akka.Actor.Props.Create(() => new PasidSetActor(key, quota, space, bus));

    public PasidSetActor(string key, int quota, IActorRef space, IActorRef bus)
    {
        _key = key;
        _space = space;
        _bus = bus;
        _set = new PasidSet(key, quota);
        PersistenceId = key;

        Recover<SetPasidAdmitted>(e => _set.Admit(e.Pasid));
        Recover<SetPasidGot>(e => _set.Get(e.Pasid));
        Recover<SetPasidPut>(e => _set.Put(e.Pasid));
        Recover<SetPasidBound>(e => _set.Bind(e.Pasid, e.Spid == 0 ? null : e.Spid));
        Recover<SetPasidUnbound>(e => _set.Unbind(e.Pasid));
        Recover<SetPasidFreed>(e => _set.Free(e.Pasid, awaitAcks: true));
        Recover<SetFreeAcked>(e => _set.Acknowledged(e.Pasid));
        Recover<SetPasidRemoved>(e => _set.Remove(e.Pasid));
        Recover<RecoveryCompleted>(_ => Resynchronise());

        Command<AllocPasid>(_ => Alloc());
        Command<PasidLeased>(Leased);
        Command<LeaseFailed>(m => _leasesInFlight.Dequeue().Tell(new PasidAllocated(_key, 0, m.Errno)));
        Command<FreePasid>(m => Free(m.Pasid));
        Command<GetPasid>(m => Simple("get", m.Pasid, _set.Get(m.Pasid), new SetPasidGot(m.Pasid)));
        Command<PutPasid>(Put);
        Command<BindPasid>(Bind);
        Command<UnbindPasid>(Unbind);
        Command<FindBySpid>(Find);
        Command<FreeSet>(_ => FreeAll());
        Command<FreeAcknowledged>(Acked);
        Command<FreeAckTimedOut>(m => TimedOut(m.Pasid));
        Command<SpaceResult>(_ => { });
        Command<GetSet>(_ => Sender.Tell(State()));
    }

    public override string PersistenceId { get; }

    private SetState State() => new(_key, _set.Quota, _set.Entries()
        .Select(e => new SetEntry(e.Pasid, e.State, e.Refs, e.Binds, e.Spid ?? 0, e.AwaitingAcks)).ToImmutableArray());

    private void Alloc()
    {
        // Leases still in flight count against the quota, or two quick allocs could overshoot it.
        if (_set.Count + _leasesInFlight.Count >= _set.Quota)
        {
            Sender.Tell(new PasidAllocated(_key, 0, PasidErrno.EDQUOT));
            return;
        }
        _leasesInFlight.Enqueue(Sender);
        _space.Tell(new LeasePasid(_key));
    }

    private void Leased(PasidLeased m)
    {
        var requester = _leasesInFlight.Dequeue();
        _set.Admit(m.Pasid);
        Persist(new SetPasidAdmitted(m.Pasid), _ =>
        {
            Publish(IoasidEventKind.Alloc, m.Pasid, 0);
            requester.Tell(new PasidAllocated(_key, m.Pasid, PasidErrno.Ok));
        });
    }

    private void Free(int pasid)
    {
        var sender = Sender;
        var (errno, outcome, reclaimable) = _set.Free(pasid, awaitAcks: true);
        if (errno != PasidErrno.Ok || outcome == FreeOutcome.AlreadyPending)
        {
            sender.Tell(new PasidResult(_key, "free", pasid, errno));
            return;
        }
        Persist(new SetPasidFreed(pasid), _ =>
        {
            Publish(IoasidEventKind.Free, pasid, 0);
            sender.Tell(new PasidResult(_key, "free", pasid, PasidErrno.Ok));
            if (reclaimable)
                Reclaim(pasid);
        });
    }

    private void Put(PutPasid m)
    {
        var sender = Sender;
        var (errno, reclaimable) = _set.Put(m.Pasid);
        if (errno != PasidErrno.Ok)
        {
            sender.Tell(new PasidResult(_key, "put", m.Pasid, errno));
            return;
        }
        Persist(new SetPasidPut(m.Pasid), _ =>
        {
            sender.Tell(new PasidResult(_key, "put", m.Pasid, PasidErrno.Ok));
            if (reclaimable)
                Reclaim(m.Pasid);
        });
    }

    private void Bind(BindPasid m)
    {
        var sender = Sender;
        var (errno, first) = _set.Bind(m.Pasid, m.Spid == 0 ? null : m.Spid);
        if (errno != PasidErrno.Ok)
        {
            sender.Tell(new PasidResult(_key, "bind", m.Pasid, errno));
            return;
        }
        var spid = _set.Find(m.Pasid)!.Spid ?? 0;
        Persist(new SetPasidBound(m.Pasid, m.Spid), _ =>
        {
            // Level semantics: only the first bind is published.
            if (first)
                Publish(IoasidEventKind.Bind, m.Pasid, spid);
            sender.Tell(new PasidResult(_key, "bind", m.Pasid, PasidErrno.Ok));
        });
    }

    private void Unbind(UnbindPasid m)
    {
        var sender = Sender;
        var spid = _set.Find(m.Pasid)?.Spid ?? 0;
        var (errno, last, reclaimable) = _set.Unbind(m.Pasid);
        if (errno != PasidErrno.Ok)
        {
            sender.Tell(new PasidResult(_key, "unbind", m.Pasid, errno));
            return;
        }
        Persist(new SetPasidUnbound(m.Pasid), _ =>
        {
            if (last)
                Publish(IoasidEventKind.Unbind, m.Pasid, spid);
            sender.Tell(new PasidResult(_key, "unbind", m.Pasid, PasidErrno.Ok));
            if (reclaimable)
                Reclaim(m.Pasid);
        });
    }

    private void Find(FindBySpid m)
    {
        var sender = Sender;
        var (errno, pasid) = _set.FindBySpid(m.Spid, m.TakeRef);
        if (errno != PasidErrno.Ok || !m.TakeRef)
            sender.Tell(new SpidFound(_key, m.Spid, pasid, errno));
        else
            Persist(new SetPasidGot(pasid), _ => sender.Tell(new SpidFound(_key, m.Spid, pasid, PasidErrno.Ok)));
    }

    private void FreeAll()
    {
        var sender = Sender;
        var freed = _set.FreeAll(awaitAcks: true);
        var reclaimable = freed.Where(_set.IsReclaimable).ToList();
        PersistAll(freed.Select(p => new SetPasidFreed(p)), _ => { });
        DeferAsync(freed, _ =>
        {
            foreach (var pasid in freed)
                Publish(IoasidEventKind.Free, pasid, 0);
            Publish(IoasidEventKind.SetFreed, 0, 0);
            sender.Tell(new SetFreed(_key, freed.ToImmutableArray()));
            foreach (var pasid in reclaimable)
                Reclaim(pasid);
        });
    }

    private void Acked(FreeAcknowledged m)
    {
        if (!_set.Acknowledged(m.Pasid) && _set.Find(m.Pasid) is not { State: PasidState.FreePending })
            return;
        var reclaimable = _set.IsReclaimable(m.Pasid);
        Persist(new SetFreeAcked(m.Pasid), _ =>
        {
            if (reclaimable)
                Reclaim(m.Pasid);
        });
    }

    private void TimedOut(int pasid)
    {
        if (_set.Remove(pasid) != PasidErrno.Ok)
            return;
        Persist(new SetPasidRemoved(pasid, Quarantined: true), _ => _space.Tell(new QuarantinePasid(_key, pasid)));
    }

    private void Reclaim(int pasid)
    {
        if (_set.Remove(pasid) != PasidErrno.Ok)
            return;
        Persist(new SetPasidRemoved(pasid, Quarantined: false), _ => _space.Tell(new ReleasePasid(_key, pasid)));
    }

    private void Simple(string operation, int pasid, int errno, object evt)
    {
        var sender = Sender;
        if (errno != PasidErrno.Ok)
            sender.Tell(new PasidResult(_key, operation, pasid, errno));
        else
            Persist(evt, _ => sender.Tell(new PasidResult(_key, operation, pasid, PasidErrno.Ok)));
    }

    // A FREE still waiting for acknowledgements when the set went down is published again; subscribers treat a repeat as done.
    private void Resynchronise()
    {
        foreach (var entry in _set.Entries().Where(e => e.AwaitingAcks))
            Publish(IoasidEventKind.Free, entry.Pasid, 0);
        foreach (var entry in _set.Entries().Where(e => _set.IsReclaimable(e.Pasid)))
            Reclaim(entry.Pasid);
    }

    private void Publish(IoasidEventKind kind, int pasid, int spid) =>
        _bus.Tell(new PublishIoasidEvent(new IoasidEvent(kind, _key, pasid, spid)));
}
