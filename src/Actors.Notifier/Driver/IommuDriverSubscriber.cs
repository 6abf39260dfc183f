using System.Collections.Immutable;
using Akka.Actor;
using IommuActors.Hardware.Units;
using IommuActors.Ioasid.Pasid;
using IommuActors.Notifier.Bus;
using IommuActors.Uapi;
using static IommuActors.Hardware.Units.UnitProtocol;
using static IommuActors.Ioasid.Pasid.PasidSetProtocol;
using static IommuActors.Ioasid.Pasid.PasidSpaceProtocol;
using static IommuActors.Notifier.Bus.NotifierProtocol;
using static IommuActors.Notifier.Driver.IommuDriverProtocol;

namespace IommuActors.Notifier.Driver;

/// <summary>
/// The IOMMU driver, subscribed to every set. Binds devices to PASIDs through their set (held as
/// "driver/&lt;pci&gt;"). On FREE it has every unit detach the PASID's context entries and drain its IOTLB
/// entries (DetachPasid), then unbinds the devices it holds (emitting UNBIND), then acknowledges; it never
/// unbinds a PASID it does not hold bound, so no UNBIND follows a completed free.
/// On UNBIND it tears down, before acknowledging, what the released bind left in the unit of the device the
/// event's holder names: for its own binds ("driver/&lt;pci&gt;") the device's context entry for the PASID and
/// the PASID's IOTLB entries; for anybody else's the PASID's IOTLB entries only (on the device's unit, or on
/// every unit when the holder names no device). The context entries of other holders belong to whoever
/// programmed them (iommufd detaches a device's PASID in the unit before it unbinds), and removing them here
/// could remove a re-attach of the same PASID that reached the unit before its bind reached the set.
/// An UNBIND of a PASID whose FREE teardown already ran (or is running) waits for that teardown and needs no other.
/// SET_FREED (a VM exit) is the FREE of every PASID it names at once: each is detached in every unit, then the
/// driver's binds of them all go in one ReleaseHolds (no UNBIND: SET_FREED stands for it), then it acknowledges.
/// A restarted driver finds the sets through the space's owners and reads back its binds from each.
/// </summary>
public sealed class IommuDriverSubscriber : ResynchronisingSubscriber
{
    public const string Name = "iommu-driver";
    public const string HolderPrefix = "driver/";

    private readonly IActorRef _sets;
    private readonly IActorRef _space;
    private readonly IActorRef _units;
    private readonly IReadOnlyDictionary<string, string> _unitOfDevice;
    private readonly ImmutableArray<string> _allUnits;
    private readonly Dictionary<(string, int), HashSet<string>> _devices = new();
    private readonly Dictionary<(string, int), Queue<Action<int>>> _waiting = new();
    private readonly Dictionary<(string Unit, int Pasid), Queue<Action>> _detaching = new();
    private readonly Dictionary<string, Queue<Action>> _draining = new();
    private readonly Dictionary<(string, int), long> _freeing = new();
    // FREEs whose unit teardown is complete, until the UNBIND of the driver's own binds comes back (or, when it held
    // none, until it acknowledges the FREE); and UNBINDs waiting for a teardown in progress.
    private readonly HashSet<(string, int)> _tornDown = new();
    private readonly Dictionary<(string, int), List<Action>> _afterTeardown = new();
    private int _setsToHear;

    /// <param name="sets">Where set commands go: the shard region of the sets, or one set in a spec.</param>
    /// <param name="space">The PASID space, asked for the sets' names when re-synchronising.</param>
    /// <param name="units">The unit shard region (or one UnitActor): DetachPasid and IOTLB invalidations go there.</param>
    /// <param name="unitOfDevice">PCI address to unit name, from the platform.</param>
    public static Props Props(IActorRef sets, IActorRef space, IActorRef bus, IActorRef units, IReadOnlyDictionary<string, string> unitOfDevice,
        SubscriberBackoff? backoff = null) =>
        Akka.Actor.Props.Create(() => new IommuDriverSubscriber(sets, space, bus, units, unitOfDevice, backoff));

    public IommuDriverSubscriber(IActorRef sets, IActorRef space, IActorRef bus, IActorRef units, IReadOnlyDictionary<string, string> unitOfDevice,
        SubscriberBackoff? backoff = null)
        : base(bus, Name, SubscriberPriority.Iommu, "", backoff)
    {
        _sets = sets;
        _space = space;
        _units = units;
        _unitOfDevice = unitOfDevice;
        _allUnits = unitOfDevice.Values.Distinct().Order(StringComparer.Ordinal).ToImmutableArray();
    }

    private static string HolderOf(string device) => HolderPrefix + device;

    protected override void StartResynchronising() => _space.Tell(new GetSpace());

    protected override void Resynchronising()
    {
        Receive<SpaceState>(s =>
        {
            var sets = s.Owners.Values.Distinct().ToList();
            _setsToHear = sets.Count;
            foreach (var set in sets)
                _sets.Tell(new GetHolds(set, HolderPrefix));
            if (_setsToHear == 0)
                Resynchronised();
        });
        Receive<Holds>(h =>
        {
            foreach (var hold in h.Entries.Where(e => e.Binds > 0))
                Devices((h.EntityId, hold.Pasid)).Add(hold.Holder[HolderPrefix.Length..]);
            if (--_setsToHear == 0)
                Resynchronised();
        });
        Receive<PasidDetached>(_ => { });
        Receive<Invalidated>(_ => { });
    }

    protected override void Active()
    {
        Receive<BindDevice>(Bind);
        Receive<UnbindDevice>(Unbind);
        Receive<PasidResult>(Answered);
        Receive<PasidDetached>(Detached);
        Receive<Invalidated>(Drained);
        Receive<GetBindings>(_ => Sender.Tell(new Bindings(_devices.ToImmutableDictionary(
            kv => $"{kv.Key.Item1}/{kv.Key.Item2}", kv => kv.Value.Order(StringComparer.Ordinal).ToImmutableArray()))));
    }

    private void Bind(BindDevice m)
    {
        var key = (m.SetKey, m.Pasid);
        if (!_unitOfDevice.ContainsKey(m.Device))
        {
            Sender.Tell(new DeviceBindResult(m.SetKey, m.Pasid, m.Device, Errno.ENODEV));
            return;
        }
        if (_devices.TryGetValue(key, out var held) && held.Contains(m.Device))
        {
            Sender.Tell(new DeviceBindResult(m.SetKey, m.Pasid, m.Device, Errno.EEXIST));
            return;
        }
        var requester = Sender;
        Expect(key, errno =>
        {
            if (errno == 0)
                Devices(key).Add(m.Device);
            requester.Tell(new DeviceBindResult(m.SetKey, m.Pasid, m.Device, errno));
        });
        _sets.Tell(new BindPasid(m.SetKey, m.Pasid, m.GuestPasid, HolderOf(m.Device)));
    }

    private void Unbind(UnbindDevice m)
    {
        var key = (m.SetKey, m.Pasid);
        if (!_devices.TryGetValue(key, out var held) || !held.Remove(m.Device))
        {
            Sender.Tell(new DeviceBindResult(m.SetKey, m.Pasid, m.Device, Errno.ENOENT));
            return;
        }
        if (held.Count == 0)
            _devices.Remove(key);
        var requester = Sender;
        Detach(_unitOfDevice[m.Device], m.Pasid, [m.Device], () =>
        {
            Expect(key, errno => requester.Tell(new DeviceBindResult(m.SetKey, m.Pasid, m.Device, errno)));
            _sets.Tell(new UnbindPasid(m.SetKey, m.Pasid, HolderOf(m.Device)));
        });
    }

    protected override void Handle(Notify n)
    {
        switch (n.Event.Kind)
        {
            case IoasidEventKind.Free:
                Free(n);
                return;
            case IoasidEventKind.SetFreed:
                SetFreed(n);
                return;
            case IoasidEventKind.Unbind:
                Unbound(n);
                return;
            case IoasidEventKind.Alloc:
                _tornDown.Remove((n.Event.SetKey, n.Event.Pasid));
                break;
        }
        Sender.Tell(new Acknowledge(n.DeliveryId));
    }

    private void Free(Notify n)
    {
        var key = (n.Event.SetKey, n.Event.Pasid);
        if (_freeing.TryGetValue(key, out var delivery) && delivery == n.DeliveryId)
            return;
        _freeing[key] = n.DeliveryId;
        _tornDown.Remove(key);
        var bus = Sender;
        var unitsLeft = _allUnits.Length;
        if (unitsLeft == 0)
            TornDown(key, bus);
        foreach (var unit in _allUnits)
            Detach(unit, key.Item2, [], () =>
            {
                if (--unitsLeft == 0)
                    TornDown(key, bus);
            });
    }

    private void SetFreed(Notify n)
    {
        var e = n.Event;
        var bus = Sender;
        var pasids = e.Affected.ToImmutableArray();
        var left = pasids.Length * _allUnits.Length;
        void Done()
        {
            var held = pasids.Where(p => _devices.Remove((e.SetKey, p))).ToImmutableArray();
            if (!held.IsEmpty)
                _sets.Tell(new ReleaseHolds(e.SetKey, HolderPrefix, held));
            bus.Tell(new Acknowledge(n.DeliveryId));
        }
        if (left == 0)
        {
            Done();
            return;
        }
        foreach (var pasid in pasids)
            foreach (var unit in _allUnits)
                Detach(unit, pasid, [], () =>
                {
                    if (--left == 0)
                        Done();
                });
    }

    private void Unbound(Notify n)
    {
        var e = n.Event;
        var key = (e.SetKey, e.Pasid);
        var bus = Sender;
        void Ack() => bus.Tell(new Acknowledge(n.DeliveryId));
        if (_tornDown.Remove(key))
        {
            Ack();
            return;
        }
        if (_freeing.ContainsKey(key))
        {
            if (!_afterTeardown.TryGetValue(key, out var waiting))
                _afterTeardown[key] = waiting = new List<Action>();
            waiting.Add(Ack);
            return;
        }
        var slash = e.Holder.IndexOf('/');
        var device = slash < 0 ? null : e.Holder[(slash + 1)..];
        if (device is null || !_unitOfDevice.TryGetValue(device, out var unit))
        {
            DrainEverywhere(e.Pasid, Ack);
            return;
        }
        // A bind of the same device through the driver since that UNBIND was published is a new context: keep it.
        if (e.Holder == HolderOf(device) && !(_devices.TryGetValue(key, out var held) && held.Contains(device)))
            Detach(unit, e.Pasid, [device], Ack);
        else
            Drain(unit, e.Pasid, Ack);
    }

    // Context entries and IOTLB are gone in every unit: UNBINDs that waited for it are done, then the devices' binds go.
    private void TornDown((string, int) key, IActorRef bus)
    {
        _tornDown.Add(key);
        if (_afterTeardown.Remove(key, out var waiting))
            foreach (var ack in waiting)
                ack();
        UnbindAll(key, bus);
    }

    // Release each device's bind, which publishes UNBIND on the last one.
    private void UnbindAll((string Set, int Pasid) key, IActorRef bus)
    {
        if (!_devices.Remove(key, out var held) || held.Count == 0)
        {
            _tornDown.Remove(key);
            Acknowledged(key, bus);
            return;
        }
        var left = held.Count;
        foreach (var device in held)
        {
            Expect(key, _ =>
            {
                if (--left == 0)
                    Acknowledged(key, bus);
            });
            _sets.Tell(new UnbindPasid(key.Set, key.Pasid, HolderOf(device)));
        }
    }

    private void Acknowledged((string, int) key, IActorRef bus)
    {
        if (_freeing.Remove(key, out var delivery))
            bus.Tell(new Acknowledge(delivery));
    }

    private void Detach(string unit, int pasid, ImmutableArray<string> devices, Action then)
    {
        if (!_detaching.TryGetValue((unit, pasid), out var queue))
            _detaching[(unit, pasid)] = queue = new Queue<Action>();
        queue.Enqueue(then);
        _units.Tell(new DetachPasid(unit, pasid, devices));
    }

    private void DrainEverywhere(int pasid, Action then)
    {
        var unitsLeft = _allUnits.Length;
        if (unitsLeft == 0)
            then();
        foreach (var unit in _allUnits)
            Drain(unit, pasid, () =>
            {
                if (--unitsLeft == 0)
                    then();
            });
    }

    // The IOTLB is a cache: dropping a PASID's entries can never take anything from a live context.
    private void Drain(string unit, int pasid, Action then)
    {
        if (!_draining.TryGetValue(unit, out var queue))
            _draining[unit] = queue = new Queue<Action>();
        queue.Enqueue(then);
        _units.Tell(new Invalidate(unit, InvalidateScope.Pasid, 0, 0, 0, pasid));
    }

    // A unit answers its invalidations at once and in order, so Invalidated (which names no PASID) answers the oldest drain.
    private void Drained(Invalidated i)
    {
        if (!_draining.TryGetValue(i.Unit, out var queue) || !queue.TryDequeue(out var then))
            return;
        if (queue.Count == 0)
            _draining.Remove(i.Unit);
        then();
    }

    // A unit answers its DetachPasid requests in the order it got them.
    private void Detached(PasidDetached d)
    {
        if (!_detaching.TryGetValue((d.Unit, d.Pasid), out var queue) || !queue.TryDequeue(out var then))
            return;
        if (queue.Count == 0)
            _detaching.Remove((d.Unit, d.Pasid));
        then();
    }

    private void Answered(PasidResult r)
    {
        if (!_waiting.TryGetValue((r.EntityId, r.Pasid), out var queue) || !queue.TryDequeue(out var then))
            return;
        if (queue.Count == 0)
            _waiting.Remove((r.EntityId, r.Pasid));
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
