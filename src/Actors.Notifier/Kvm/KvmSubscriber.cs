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
/// KVM's per-VM PASID translation table (guest PASID -> host PASID, used by ENQCMD). Listens to BIND and
/// UNBIND of its VM's set: BIND takes a reference then adds the entry, UNBIND removes it and drops the reference.
/// SET_FREED (the VM exits) empties the table and drops every reference in one ReleaseHolds.
/// Its references are held as "kvm", which is how it finds them again after a restart.
/// </summary>
public sealed class KvmSubscriber : ResynchronisingSubscriber
{
    public const string Holder = "kvm";

    private readonly IActorRef _set;
    private readonly Dictionary<int, int> _guestToHost = new();
    // The reverse of _guestToHost (a bound PASID has one SPID), so an UNBIND finds its entry without a scan.
    private readonly Dictionary<int, int> _hostToGuest = new();
    private readonly Dictionary<int, int> _referencesHeld = new();
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
        foreach (var hold in h.Entries.Where(e => e.Holder == Holder && e.Refs > 0))
        {
            _referencesHeld[hold.Pasid] = hold.Refs;
            // Without a SPID the UNBIND already happened and is on its way again: only the reference is left to drop.
            if (hold.Spid != 0)
                Map(hold.Spid, hold.Pasid);
        }
        Resynchronised();
    });

    protected override void Active()
    {
        Receive<PasidResult>(r => r.Operation == "get", GotReference);
        Receive<PasidResult>(_ => { });
        Receive<Translate>(m => Sender.Tell(_guestToHost.TryGetValue(m.GuestPasid, out var host)
            ? new Translated(m.GuestPasid, host, 0)
            : new Translated(m.GuestPasid, 0, Errno.ENOENT)));
        Receive<GetTranslationTable>(_ => Sender.Tell(new TranslationTable(_guestToHost.ToImmutableDictionary())));
    }

    protected override void Handle(Notify n)
    {
        var e = n.Event;
        if (e.Kind == IoasidEventKind.SetFreed)
        {
            var held = e.Affected.Where(_referencesHeld.ContainsKey).ToImmutableArray();
            foreach (var pasid in held)
            {
                _referencesHeld.Remove(pasid);
                if (_hostToGuest.Remove(pasid, out var guest))
                    _guestToHost.Remove(guest);
            }
            // A BIND still waiting for its reference finds the PASID gone (FREE_PENDING is unobtainable).
            if (!held.IsEmpty)
                _set.Tell(new ReleaseHolds(SetKey, Holder, held));
            Sender.Tell(new Acknowledge(n.DeliveryId));
            return;
        }
        // A re-delivered BIND finds the reference already held.
        if (e.Kind == IoasidEventKind.Bind && e.Spid != 0 && !_referencesHeld.ContainsKey(e.Pasid))
        {
            _binding[e.Pasid] = (n.DeliveryId, e.Spid, Sender);
            _set.Tell(new GetPasid(SetKey, e.Pasid, Holder));
            return;
        }
        if (e.Kind == IoasidEventKind.Unbind && _referencesHeld.Remove(e.Pasid, out var refs))
        {
            if (_hostToGuest.Remove(e.Pasid, out var spid))
                _guestToHost.Remove(spid);
            for (var i = 0; i < refs; i++)
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
        {
            _referencesHeld[r.Pasid] = 1;
            Map(pending.Spid, r.Pasid);
        }
        pending.Bus.Tell(new Acknowledge(pending.Delivery));
    }

    private void Map(int spid, int pasid)
    {
        if (_guestToHost.Remove(spid, out var old))
            _hostToGuest.Remove(old);
        if (_hostToGuest.Remove(pasid, out var oldSpid))
            _guestToHost.Remove(oldSpid);
        _guestToHost[spid] = pasid;
        _hostToGuest[pasid] = spid;
    }
}
