using Akka.Actor;
using Akka.Configuration;
using Akka.TestKit.Xunit2;
using Akka.TestKit;
using IommuActors.Hardware.Platform;
using IommuActors.Hardware.Units;
using IommuActors.Hardware;
using IommuActors.Ioasid.Pasid;
using IommuActors.Notifier.Bus;
using IommuActors.Notifier.Driver;
using IommuActors.TestSupport;
using IommuActors.Uapi;
using Xunit;
using static IommuActors.Hardware.Units.UnitProtocol;
using static IommuActors.Ioasid.Pasid.PasidSetProtocol;
using static IommuActors.Ioasid.Pasid.PasidSpaceProtocol;
using static IommuActors.Notifier.Bus.NotifierProtocol;

namespace IommuActors.Notifier.Tests.Driver;

/// <summary>The IOMMU driver subscriber against a real VT-d unit actor of the default platform.</summary>
public sealed class DriverTeardownSpecs() : TestKit(SpecConfig.InMemory)
{
    private const string Key = "pasid-set-vm1";
    private const string U = "dmar0";
    private const string Gpu = "0000:00:02.0";
    private const string Dsa = "0000:01:00.0";
    private static readonly PlatformSpec Box = HardwareModule.LoadPlatform(Config.Empty);

    private sealed record Rig(IActorRef Space, IActorRef Set, IActorRef Driver, IActorRef Unit, IActorRef Bus, int Pasid);

    // A PASID of the set attached to both devices through one paging domain, with IOTLB entries from a DMA each;
    // the driver holds both binds, or with byUser the user holds one bind and the driver none.
    private Rig Boot(bool byUser = false)
    {
        var bus = Sys.ActorOf(NotifierBus.Props(TimeSpan.FromSeconds(3), CreateTestProbe().Ref));
        var space = Sys.ActorOf(PasidSpaceActor.Props("drv", 1, 100, 100));
        var set = Sys.ActorOf(PasidSetActor.Props(Key, 8, space, bus));
        var unit = Sys.ActorOf(HardwareModule.UnitProps(Box)(U));
        // One unit actor stands in for the unit region, so the driver is told only of that unit's devices.
        var driver = Sys.ActorOf(IommuDriverSubscriber.Props(set, space, bus, unit, Box.DevicesOf(U).ToDictionary(d => d.Pci, d => d.Unit)));
        this.AwaitSubscribed(bus, IommuDriverSubscriber.Name);

        set.Tell(new AllocPasid(Key));
        var pasid = ExpectMsg<PasidAllocated>(m => m.Errno == 0).Pasid;
        unit.Tell(new AllocateDomain(U, DomainKind.Paging, 0, false, false, []));
        var domain = ExpectMsg<DomainAllocatedReply>().DomainId;
        unit.Tell(new MapRange(U, domain, 0x10000, 0x2000, 0x7000_0000, Access.ReadWrite));
        ExpectMsg<Done>();
        foreach (var device in new[] { Gpu, Dsa })
        {
            unit.Tell(new AttachDevice(U, device, pasid, domain));
            ExpectMsg<Done>();
            if (!byUser)
            {
                driver.Tell(new IommuDriverProtocol.BindDevice(Key, pasid, 0, device));
                ExpectMsg(new IommuDriverProtocol.DeviceBindResult(Key, pasid, device, 0));
            }
            unit.Tell(new Dma(U, device, pasid, 0x10000, 0x2000, DmaDirection.Read));
            ExpectMsg<DmaCompleted>();
        }
        unit.Tell(new GetPasidReferences(U, pasid));
        ExpectMsg<PasidReferences>(r => r.Contexts.Length == 2 && r.IotlbEntries > 0);
        if (byUser)
        {
            set.Tell(new BindPasid(Key, pasid, 101));
            ExpectMsg(new PasidResult(Key, "bind", pasid, 0));
        }
        return new Rig(space, set, driver, unit, bus, pasid);
    }

    // A subscriber after the driver in priority: it is told an event only once the driver acknowledged it.
    private TestProbe SubscribeWatcher(IActorRef bus)
    {
        var watcher = CreateTestProbe();
        bus.Tell(new Subscribe(watcher.Ref, "watcher", SubscriberPriority.Device, Key), watcher.Ref);
        watcher.ExpectMsg(new Subscribed("watcher"));
        return watcher;
    }

    private PasidReferences References(Rig rig)
    {
        rig.Unit.Tell(new GetPasidReferences(U, rig.Pasid));
        return ExpectMsg<PasidReferences>();
    }

    [Fact]
    public void Once_the_driver_acknowledged_the_unbind_of_its_last_device_the_unit_has_no_context_or_iotlb_entry_of_the_pasid()
    {
        var rig = Boot();
        var watcher = SubscribeWatcher(rig.Bus);
        rig.Driver.Tell(new IommuDriverProtocol.UnbindDevice(Key, rig.Pasid, Gpu));
        ExpectMsg(new IommuDriverProtocol.DeviceBindResult(Key, rig.Pasid, Gpu, 0));
        // Another DMA of the device still bound fills the IOTLB again before the last unbind.
        rig.Unit.Tell(new Dma(U, Dsa, rig.Pasid, 0x10000, 0x1000, DmaDirection.Read));
        ExpectMsg<DmaCompleted>();
        rig.Driver.Tell(new IommuDriverProtocol.UnbindDevice(Key, rig.Pasid, Dsa));

        var unbind = watcher.ExpectMsg<Notify>(n => n.Event.Kind == IoasidEventKind.Unbind);
        Assert.Equal(new IoasidEvent(IoasidEventKind.Unbind, Key, rig.Pasid, 0, IommuDriverSubscriber.HolderPrefix + Dsa), unbind.Event);
        var refs = References(rig);
        Assert.Empty(refs.Contexts);
        Assert.Equal(0, refs.IotlbEntries);
        // The unbind answers only once the last subscriber acknowledged its UNBIND.
        watcher.Reply(new Acknowledge(unbind.DeliveryId));
        ExpectMsg(new IommuDriverProtocol.DeviceBindResult(Key, rig.Pasid, Dsa, 0));
    }

    [Fact]
    public void Unbind_by_another_holder_drains_the_pasids_iotlb_before_it_is_acknowledged_and_leaves_context_entries_to_their_owner()
    {
        var rig = Boot(byUser: true);
        var watcher = SubscribeWatcher(rig.Bus);
        rig.Set.Tell(new UnbindPasid(Key, rig.Pasid));

        var unbind = watcher.ExpectMsg<Notify>(n => n.Event.Kind == IoasidEventKind.Unbind);
        var refs = References(rig);
        Assert.Equal(0, refs.IotlbEntries);
        Assert.Equal(new[] { new ContextRef(Gpu, rig.Pasid, 1), new ContextRef(Dsa, rig.Pasid, 1) }, refs.Contexts.ToArray());
        watcher.Reply(new Acknowledge(unbind.DeliveryId));
        ExpectMsg(new PasidResult(Key, "unbind", rig.Pasid, 0));
    }

    [Fact]
    public void An_unbind_published_while_the_driver_tears_a_freed_pasid_down_is_acknowledged_only_after_that_teardown()
    {
        var units = CreateTestProbe();
        var bus = Sys.ActorOf(NotifierBus.Props(TimeSpan.FromSeconds(5), CreateTestProbe().Ref));
        var space = Sys.ActorOf(PasidSpaceActor.Props("drv-wait", 1, 100, 100));
        var set = Sys.ActorOf(PasidSetActor.Props(Key, 8, space, bus));
        var driver = Sys.ActorOf(IommuDriverSubscriber.Props(set, space, bus, units.Ref, InstantUnits.Devices));
        this.AwaitSubscribed(bus, IommuDriverSubscriber.Name);
        var watcher = SubscribeWatcher(bus);
        set.Tell(new AllocPasid(Key));
        var pasid = ExpectMsg<PasidAllocated>().Pasid;
        watcher.Reply(new Acknowledge(watcher.ExpectMsg<Notify>(n => n.Event.Kind == IoasidEventKind.Alloc).DeliveryId));
        set.Tell(new BindPasid(Key, pasid, 0, "device/dev1"));
        watcher.Reply(new Acknowledge(watcher.ExpectMsg<Notify>(n => n.Event.Kind == IoasidEventKind.Bind).DeliveryId));
        ExpectMsg(new PasidResult(Key, "bind", pasid, 0));

        var freer = CreateTestProbe();
        set.Tell(new FreePasid(Key, pasid), freer.Ref);
        var detach = units.ExpectMsg<DetachPasid>(d => d.Pasid == pasid && d.Devices.IsEmpty);
        set.Tell(new UnbindPasid(Key, pasid, "device/dev1"));
        watcher.ExpectNoMsg(TimeSpan.FromMilliseconds(200));

        units.Reply(new PasidDetached(detach.Unit, pasid, [], 0));
        var unbind = watcher.ExpectMsg<Notify>();
        Assert.Equal(IoasidEventKind.Unbind, unbind.Event.Kind);
        watcher.Reply(new Acknowledge(unbind.DeliveryId));
        ExpectMsg(new PasidResult(Key, "unbind", pasid, 0));
        var free = watcher.ExpectMsg<Notify>();
        Assert.Equal(IoasidEventKind.Free, free.Event.Kind);
        freer.ExpectNoMsg(TimeSpan.Zero);
        watcher.Reply(new Acknowledge(free.DeliveryId));
        freer.ExpectMsg(new PasidResult(Key, "free", pasid, 0));
        AwaitAssert(() =>
        {
            space.Tell(new GetSpace());
            Assert.Equal(0, ExpectMsg<SpaceState>().InUse);
        });
        // The teardown of the FREE covered the UNBIND: nothing more went to the units.
        units.ExpectNoMsg(TimeSpan.FromMilliseconds(100));
    }

    [Fact]
    public void Free_of_a_bound_pasid_removes_its_context_entries_and_iotlb_entries_before_the_pasid_returns()
    {
        var rig = Boot();
        rig.Set.Tell(new FreePasid(Key, rig.Pasid));
        ExpectMsg(new PasidResult(Key, "free", rig.Pasid, 0));
        AwaitAssert(() =>
        {
            rig.Space.Tell(new GetSpace());
            Assert.Equal(0, ExpectMsg<SpaceState>().InUse);
        });
        rig.Unit.Tell(new GetPasidReferences(U, rig.Pasid));
        var refs = ExpectMsg<PasidReferences>();
        Assert.Empty(refs.Contexts);
        Assert.Equal(0, refs.IotlbEntries);
        rig.Driver.Tell(new IommuDriverProtocol.GetBindings());
        Assert.Empty(ExpectMsg<IommuDriverProtocol.Bindings>().DevicesByPasid);
    }

    [Fact]
    public void Unbinding_one_device_detaches_only_its_context_and_drains_the_pasids_iotlb()
    {
        var rig = Boot();
        rig.Driver.Tell(new IommuDriverProtocol.UnbindDevice(Key, rig.Pasid, Gpu));
        ExpectMsg(new IommuDriverProtocol.DeviceBindResult(Key, rig.Pasid, Gpu, 0));
        rig.Unit.Tell(new GetPasidReferences(U, rig.Pasid));
        var refs = ExpectMsg<PasidReferences>();
        Assert.Equal(new[] { new ContextRef(Dsa, rig.Pasid, 1) }, refs.Contexts.ToArray());
        Assert.Equal(0, refs.IotlbEntries);
        rig.Set.Tell(new GetSet(Key));
        Assert.Equal(1, ExpectMsg<SetState>().Entries.Single().Binds);
    }

    [Fact]
    public void Binding_a_device_the_platform_does_not_have_fails_with_ENODEV()
    {
        var rig = Boot();
        rig.Driver.Tell(new IommuDriverProtocol.BindDevice(Key, rig.Pasid, 0, "0000:99:00.0"));
        ExpectMsg(new IommuDriverProtocol.DeviceBindResult(Key, rig.Pasid, "0000:99:00.0", Errno.ENODEV));
    }
}
