using System.Collections.Immutable;
using Akka.Actor;
using IommuActors.Ioasid.Pasid;
using static IommuActors.Ioasid.Pasid.PasidSetProtocol;
using static IommuActors.Notifier.Bus.NotifierProtocol;
using static IommuActors.Notifier.Vdcm.VdcmProtocol;

namespace IommuActors.Notifier.Vdcm;

/// <summary>
/// VDCM: the host PASIDs programmed into one VM's virtual devices. Programming looks the guest PASID up by
/// SPID in the VM's set with a reference; clearing, UNBIND and FREE clear the queue at once and drop it
/// (lazy clearing is unsafe: a freed PASID may go to another guest immediately).
/// </summary>
public sealed class VdcmSubscriber : ReceiveActor
{
    private readonly string _setKey;
    private readonly IActorRef _set;
    private readonly Dictionary<string, int> _queues = new();
    private readonly Queue<(string Device, IActorRef Requester)> _lookups = new();

    public static Props Props(string setKey, IActorRef set) => Akka.Actor.Props.Create(() => new VdcmSubscriber(setKey, set));

    public VdcmSubscriber(string setKey, IActorRef set)
    {
        _setKey = setKey;
        _set = set;
        Receive<ProgramQueue>(m =>
        {
            if (_queues.ContainsKey(m.Device))
            {
                Sender.Tell(new QueueProgrammed(m.Device, m.GuestPasid, 0, PasidErrno.EBUSY));
                return;
            }
            _lookups.Enqueue((m.Device, Sender));
            _set.Tell(new FindBySpid(_setKey, m.GuestPasid, TakeRef: true));
        });
        Receive<SpidFound>(Found);
        Receive<ClearQueue>(m =>
        {
            if (!_queues.Remove(m.Device, out var pasid))
            {
                Sender.Tell(new QueueCleared(m.Device, PasidErrno.ENOENT));
                return;
            }
            _set.Tell(new PutPasid(_setKey, pasid));
            Sender.Tell(new QueueCleared(m.Device, PasidErrno.Ok));
        });
        Receive<Notify>(n =>
        {
            if (n.Event.Kind is IoasidEventKind.Unbind or IoasidEventKind.Free)
                Revoke(n.Event.Pasid);
            Sender.Tell(new Acknowledge(n.DeliveryId));
        });
        Receive<PasidResult>(_ => { });
        Receive<GetQueues>(_ => Sender.Tell(new Queues(_queues.ToImmutableDictionary())));
    }

    private void Found(SpidFound f)
    {
        var (device, requester) = _lookups.Dequeue();
        if (f.Errno == PasidErrno.Ok && _queues.ContainsKey(device))
        {
            _set.Tell(new PutPasid(_setKey, f.Pasid));
            requester.Tell(new QueueProgrammed(device, f.Spid, 0, PasidErrno.EBUSY));
            return;
        }
        if (f.Errno == PasidErrno.Ok)
            _queues[device] = f.Pasid;
        requester.Tell(new QueueProgrammed(device, f.Spid, f.Pasid, f.Errno));
    }

    private void Revoke(int pasid)
    {
        foreach (var device in _queues.Where(kv => kv.Value == pasid).Select(kv => kv.Key).ToList())
        {
            _queues.Remove(device);
            _set.Tell(new PutPasid(_setKey, pasid));
        }
    }
}
