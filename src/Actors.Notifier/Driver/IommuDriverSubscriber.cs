using System.Collections.Immutable;
using Akka.Actor;
using IommuActors.Ioasid.Pasid;
using static IommuActors.Ioasid.Pasid.PasidSetProtocol;
using static IommuActors.Notifier.Bus.NotifierProtocol;
using static IommuActors.Notifier.Driver.IommuDriverProtocol;

namespace IommuActors.Notifier.Driver;

/// <summary>
/// The IOMMU driver: binds devices to PASIDs through their set and, on FREE of a bound PASID, has the units
/// tear down context and IOTLB entries, then unbinds every device (emitting UNBIND) before acknowledging.
/// It never unbinds a PASID it does not hold bound, so no UNBIND follows a completed free.
/// </summary>
public sealed class IommuDriverSubscriber : ReceiveActor
{
    private readonly IActorRef _sets;
    private readonly IActorRef _units;
    private readonly Dictionary<(string, int), HashSet<string>> _devices = new();
    private readonly Dictionary<(string, int), Queue<Action<int>>> _waiting = new();
    private readonly Dictionary<(string, int), (long Delivery, IActorRef Bus)> _freeing = new();

    /// <param name="sets">Where set commands go: the shard region of the sets, or one set in a spec.</param>
    /// <param name="units">Where teardown requests go; it answers <see cref="PasidContextTornDown"/>.</param>
    public static Props Props(IActorRef sets, IActorRef units) => Akka.Actor.Props.Create(() => new IommuDriverSubscriber(sets, units));

    public IommuDriverSubscriber(IActorRef sets, IActorRef units)
    {
        _sets = sets;
        _units = units;
        Receive<BindDevice>(Bind);
        Receive<UnbindDevice>(Unbind);
        Receive<PasidResult>(Answered);
        Receive<Notify>(Handle);
        Receive<PasidContextTornDown>(TornDown);
        Receive<GetBindings>(_ => Sender.Tell(new Bindings(_devices.ToImmutableDictionary(
            kv => $"{kv.Key.Item1}/{kv.Key.Item2}", kv => kv.Value.Order().ToImmutableArray()))));
    }

    private void Bind(BindDevice m)
    {
        var key = (m.SetKey, m.Pasid);
        if (_devices.TryGetValue(key, out var held) && held.Contains(m.Device))
        {
            Sender.Tell(new DeviceBindResult(m.SetKey, m.Pasid, m.Device, PasidErrno.EEXIST));
            return;
        }
        var requester = Sender;
        Expect(key, errno =>
        {
            if (errno == PasidErrno.Ok)
                Devices(key).Add(m.Device);
            requester.Tell(new DeviceBindResult(m.SetKey, m.Pasid, m.Device, errno));
        });
        _sets.Tell(new BindPasid(m.SetKey, m.Pasid, m.GuestPasid));
    }

    private void Unbind(UnbindDevice m)
    {
        var key = (m.SetKey, m.Pasid);
        if (!_devices.TryGetValue(key, out var held) || !held.Remove(m.Device))
        {
            Sender.Tell(new DeviceBindResult(m.SetKey, m.Pasid, m.Device, PasidErrno.ENOENT));
            return;
        }
        if (held.Count == 0)
            _devices.Remove(key);
        var requester = Sender;
        Expect(key, errno => requester.Tell(new DeviceBindResult(m.SetKey, m.Pasid, m.Device, errno)));
        _sets.Tell(new UnbindPasid(m.SetKey, m.Pasid));
    }

    private void Handle(Notify n)
    {
        var key = (n.Event.SetKey, n.Event.Pasid);
        if (n.Event.Kind != IoasidEventKind.Free || !_devices.TryGetValue(key, out var held))
        {
            Sender.Tell(new Acknowledge(n.DeliveryId));
            return;
        }
        _freeing[key] = (n.DeliveryId, Sender);
        _units.Tell(new TeardownPasidContext(key.Item1, key.Item2, held.Order().ToImmutableArray()));
    }

    // Context entries and IOTLB are gone; now detach each device, which publishes UNBIND on the last one.
    private void TornDown(PasidContextTornDown m)
    {
        var key = (m.SetKey, m.Pasid);
        if (!_freeing.ContainsKey(key) || !_devices.Remove(key, out var held))
            return;
        var left = held.Count;
        foreach (var _ in held)
        {
            Expect(key, _ =>
            {
                if (--left == 0 && _freeing.Remove(key, out var free))
                    free.Bus.Tell(new Acknowledge(free.Delivery));
            });
            _sets.Tell(new UnbindPasid(m.SetKey, m.Pasid));
        }
    }

    private void Answered(PasidResult r)
    {
        if (_waiting.TryGetValue((r.EntityId, r.Pasid), out var queue) && queue.TryDequeue(out var then))
            then(r.Errno);
    }

    private void Expect((string, int) key, Action<int> then)
    {
        if (!_waiting.TryGetValue(key, out var queue))
            _waiting[key] = queue = new Queue<Action<int>>();
        queue.Enqueue(then);
    }

    private HashSet<string> Devices((string, int) key)
    {
        if (!_devices.TryGetValue(key, out var held))
            _devices[key] = held = new HashSet<string>();
        return held;
    }
}
