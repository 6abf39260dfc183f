using System.Collections.Immutable;
using Akka.Actor;
using IommuActors.Ioasid.Pasid;
using IommuActors.Notifier.Bus;
using IommuActors.Uapi;
using static IommuActors.Ioasid.Pasid.PasidSetProtocol;
using static IommuActors.Notifier.Bus.NotifierProtocol;
using static IommuActors.Notifier.Vdcm.VdcmProtocol;

namespace IommuActors.Notifier.Vdcm;

/// <summary>
/// VDCM: the host PASIDs programmed into one VM's virtual devices. Programming looks the guest PASID up by
/// SPID in the VM's set with a reference held as "vdcm/&lt;device&gt;"; clearing, UNBIND and FREE clear the queue
/// at once and drop it (lazy clearing is unsafe: a freed PASID may go to another guest immediately); SET_FREED
/// clears every queue holding one of the set's PASIDs and drops those references in one ReleaseHolds.
/// A restarted VDCM reads its queues back from those references; a ProgramQueue the old incarnation had in
/// flight counts as programmed if the set took the reference, though its requester got no answer.
/// </summary>
public sealed class VdcmSubscriber : ResynchronisingSubscriber
{
    public const string HolderPrefix = "vdcm/";

    private readonly IActorRef _set;
    private readonly Dictionary<string, int> _queues = new();
    private readonly Queue<(string Device, IActorRef Requester)> _lookups = new();

    public static string NameOf(string setKey) => $"vdcm/{setKey}";

    public static Props Props(string setKey, IActorRef set, IActorRef bus, SubscriberBackoff? backoff = null) =>
        Akka.Actor.Props.Create(() => new VdcmSubscriber(setKey, set, bus, backoff));

    public VdcmSubscriber(string setKey, IActorRef set, IActorRef bus, SubscriberBackoff? backoff = null)
        : base(bus, NameOf(setKey), SubscriberPriority.Device, setKey, backoff)
    {
        _set = set;
    }

    private static string HolderOf(string device) => HolderPrefix + device;

    protected override void StartResynchronising() => _set.Tell(new GetHolds(SetKey, HolderPrefix));

    protected override void Resynchronising() => Receive<Holds>(h =>
    {
        foreach (var hold in h.Entries.Where(e => e.Refs > 0))
            _queues[hold.Holder[HolderPrefix.Length..]] = hold.Pasid;
        Resynchronised();
    });

    protected override void Active()
    {
        Receive<ProgramQueue>(m =>
        {
            if (_queues.ContainsKey(m.Device))
            {
                Sender.Tell(new QueueProgrammed(m.Device, m.GuestPasid, 0, Errno.EBUSY));
                return;
            }
            _lookups.Enqueue((m.Device, Sender));
            _set.Tell(new FindBySpid(SetKey, m.GuestPasid, TakeRef: true, HolderOf(m.Device)));
        });
        Receive<SpidFound>(Found);
        Receive<ClearQueue>(m =>
        {
            if (!_queues.Remove(m.Device, out var pasid))
            {
                Sender.Tell(new QueueCleared(m.Device, Errno.ENOENT));
                return;
            }
            _set.Tell(new PutPasid(SetKey, pasid, HolderOf(m.Device)));
            Sender.Tell(new QueueCleared(m.Device, 0));
        });
        Receive<PasidResult>(_ => { });
        Receive<GetQueues>(_ => Sender.Tell(new Queues(_queues.ToImmutableDictionary())));
    }

    protected override void Handle(Notify n)
    {
        if (n.Event.Kind is IoasidEventKind.Unbind or IoasidEventKind.Free)
            Revoke(n.Event.Pasid);
        if (n.Event.Kind is IoasidEventKind.SetFreed)
            RevokeAll(n.Event.Affected.ToHashSet());
        Sender.Tell(new Acknowledge(n.DeliveryId));
    }

    private void Found(SpidFound f)
    {
        var (device, requester) = _lookups.Dequeue();
        if (f.Errno == 0 && _queues.ContainsKey(device))
        {
            _set.Tell(new PutPasid(SetKey, f.Pasid, HolderOf(device)));
            requester.Tell(new QueueProgrammed(device, f.Spid, 0, Errno.EBUSY));
            return;
        }
        if (f.Errno == 0)
            _queues[device] = f.Pasid;
        requester.Tell(new QueueProgrammed(device, f.Spid, f.Pasid, f.Errno));
    }

    private void RevokeAll(HashSet<int> pasids)
    {
        var revoked = _queues.Where(kv => pasids.Contains(kv.Value)).ToList();
        foreach (var (device, _) in revoked)
            _queues.Remove(device);
        if (revoked.Count > 0)
            _set.Tell(new ReleaseHolds(SetKey, HolderPrefix, revoked.Select(kv => kv.Value).Distinct().ToImmutableArray()));
    }

    private void Revoke(int pasid)
    {
        foreach (var device in _queues.Where(kv => kv.Value == pasid).Select(kv => kv.Key).ToList())
        {
            _queues.Remove(device);
            _set.Tell(new PutPasid(SetKey, pasid, HolderOf(device)));
        }
    }
}
