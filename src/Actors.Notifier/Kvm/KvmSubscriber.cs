using System.Collections.Immutable;
using Akka.Actor;
using IommuActors.Ioasid.Pasid;
using IommuActors.Notifier.Bus;
using IommuActors.Uapi;
using static IommuActors.Ioasid.Pasid.PasidSetProtocol;
using static IommuActors.Notifier.Bus.NotifierProtocol;
using static IommuActors.Notifier.Kvm.KvmProtocol;

namespace IommuActors.Notifier.Kvm;

/// <summary>
/// KVM's per-VM PASID translation table (guest PASID -> host PASID, used by ENQCMD; <see cref="KvmTable"/>). Listens to
/// BIND, UNBIND and FREE of its VM's set: BIND takes a reference then adds the entry, UNBIND and FREE remove it and
/// drop the reference (a FREE of a PASID a device still binds publishes no UNBIND).
/// SET_FREED (the VM exits) empties the table and drops every reference in one ReleaseHolds.
/// Its references are held as "kvm", which is how it finds them again after a restart.
/// </summary>
public sealed class KvmSubscriber : ResynchronisingSubscriber
{
    public const string Holder = "kvm";

    private readonly IActorRef _set;
    private readonly KvmTable _table = new();
    private readonly Dictionary<int, (long Delivery, int Spid, IActorRef Bus)> _binding = new();

    public static string NameOf(string setKey) => $"kvm/{setKey}";

    public static Props Props(string setKey, IActorRef set, IActorRef bus, SubscriberBackoff? backoff = null) =>
        Akka.Actor.Props.Create(() => new KvmSubscriber(setKey, set, bus, backoff));

    public KvmSubscriber(string setKey, IActorRef set, IActorRef bus, SubscriberBackoff? backoff = null)
        : base(bus, NameOf(setKey), SubscriberPriority.Cpu, setKey, backoff)
    {
        _set = set;
    }

    protected override void StartResynchronising() => _set.Tell(new GetHolds(SetKey, Holder));

    protected override void Resynchronising() => Receive<Holds>(h =>
    {
        // Without a SPID the UNBIND (or FREE) already happened and is on its way again: only the reference is left to drop.
        foreach (var hold in h.Entries.Where(e => e.Holder == Holder && e.Refs > 0))
            _table.Hold(hold.Pasid, hold.Refs, hold.Spid);
        Resynchronised();
    });

    protected override void Active()
    {
        Receive<PasidResult>(r => r.Operation == "get", GotReference);
        Receive<PasidResult>(_ => { });
        Receive<Translate>(m => Sender.Tell(_table.Translate(m.GuestPasid) is { } host
            ? new Translated(m.GuestPasid, host, 0)
            : new Translated(m.GuestPasid, 0, Errno.ENOENT)));
        Receive<GetTranslationTable>(_ => Sender.Tell(new TranslationTable(_table.GuestToHost)));
    }

    protected override void Handle(Notify n)
    {
        var e = n.Event;
        if (e.Kind == IoasidEventKind.SetFreed)
        {
            var held = _table.RevokeAll(e.Affected);
            // A BIND still waiting for its reference finds the PASID gone (FREE_PENDING is unobtainable).
            if (!held.IsEmpty)
                _set.Tell(new ReleaseHolds(SetKey, Holder, held));
            Sender.Tell(new Acknowledge(n.DeliveryId));
            return;
        }
        // A re-delivered BIND finds the reference already held.
        if (e.Kind == IoasidEventKind.Bind && e.Spid != 0 && !_table.Holds(e.Pasid))
        {
            _binding[e.Pasid] = (n.DeliveryId, e.Spid, Sender);
            _set.Tell(new GetPasid(SetKey, e.Pasid, Holder));
            return;
        }
        if (KvmTable.Revokes(e.Kind))
        {
            // A BIND still waiting for its reference is over: the reference, when it comes, is put back, not entered.
            if (_binding.Remove(e.Pasid, out var pending))
                pending.Bus.Tell(new Acknowledge(pending.Delivery));
            for (int i = 0, refs = _table.Revoke(e.Pasid); i < refs; i++)
                _set.Tell(new PutPasid(SetKey, e.Pasid, Holder));
        }
        Sender.Tell(new Acknowledge(n.DeliveryId));
    }

    // The entry is only added once the reference is held, so a translation never outlives its PASID.
    private void GotReference(PasidResult r)
    {
        if (!_binding.Remove(r.Pasid, out var pending))
        {
            if (r.Errno == 0)
                _set.Tell(new PutPasid(SetKey, r.Pasid, Holder));
            return;
        }
        if (r.Errno == 0)
            _table.Hold(r.Pasid, 1, pending.Spid);
        pending.Bus.Tell(new Acknowledge(pending.Delivery));
    }
}
