using System.Collections.Immutable;
using Akka.Actor;
using IommuActors.Ioasid.Pasid;
using static IommuActors.Ioasid.Pasid.PasidSetProtocol;
using static IommuActors.Notifier.Bus.NotifierProtocol;
using static IommuActors.Notifier.Kvm.KvmProtocol;

namespace IommuActors.Notifier.Kvm;

/// <summary>
/// KVM's per-VM PASID translation table (guest PASID -> host PASID, used by ENQCMD). Listens to BIND and
/// UNBIND of its VM's set: BIND takes a reference then adds the entry, UNBIND removes it and drops the reference.
/// </summary>
public sealed class KvmSubscriber : ReceiveActor
{
    private readonly string _setKey;
    private readonly IActorRef _set;
    private readonly Dictionary<int, int> _guestToHost = new();
    private readonly Dictionary<int, (long Delivery, int Spid, IActorRef Bus)> _binding = new();

    public static Props Props(string setKey, IActorRef set) => Akka.Actor.Props.Create(() => new KvmSubscriber(setKey, set));

    public KvmSubscriber(string setKey, IActorRef set)
    {
        _setKey = setKey;
        _set = set;
        Receive<Notify>(Handle);
        Receive<PasidResult>(r => r.Operation == "get", GotReference);
        Receive<PasidResult>(_ => { });
        Receive<Translate>(m => Sender.Tell(_guestToHost.TryGetValue(m.GuestPasid, out var host)
            ? new Translated(m.GuestPasid, host, PasidErrno.Ok)
            : new Translated(m.GuestPasid, 0, PasidErrno.ENOENT)));
        Receive<GetTranslationTable>(_ => Sender.Tell(new TranslationTable(_guestToHost.ToImmutableDictionary())));
    }

    private void Handle(Notify n)
    {
        var e = n.Event;
        if (e.Kind == IoasidEventKind.Bind && e.Spid != 0)
        {
            _binding[e.Pasid] = (n.DeliveryId, e.Spid, Sender);
            _set.Tell(new GetPasid(_setKey, e.Pasid));
            return;
        }
        if (e.Kind == IoasidEventKind.Unbind && _guestToHost.TryGetValue(e.Spid, out var host) && host == e.Pasid)
        {
            _guestToHost.Remove(e.Spid);
            _set.Tell(new PutPasid(_setKey, e.Pasid));
        }
        Sender.Tell(new Acknowledge(n.DeliveryId));
    }

    // The entry is only added once the reference is held, so a translation never outlives its PASID.
    private void GotReference(PasidResult r)
    {
        if (!_binding.Remove(r.Pasid, out var pending))
        {
            if (r.Errno == PasidErrno.Ok)
                _set.Tell(new PutPasid(_setKey, r.Pasid));
            return;
        }
        if (r.Errno == PasidErrno.Ok)
            _guestToHost[pending.Spid] = r.Pasid;
        pending.Bus.Tell(new Acknowledge(pending.Delivery));
    }
}
