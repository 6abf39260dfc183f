using Akka.Actor;
using Akka.Configuration;
using Akka.TestKit.Xunit2;
using IommuActors.Hardware;
using IommuActors.Hardware.Platform;
using IommuActors.Hardware.Units;
using IommuActors.Ioasid.Pasid;
using IommuActors.Notifier.Bus;
using IommuActors.Notifier.Driver;
using IommuActors.TestSupport;
using Xunit;
using static IommuActors.Hardware.Units.UnitProtocol;
using static IommuActors.Ioasid.Pasid.PasidSetProtocol;
using static IommuActors.Ioasid.Pasid.PasidSpaceProtocol;

namespace IommuActors.Notifier.Tests.Driver;

/// <summary>The IOMMU driver subscriber against a real VT-d unit actor of the default platform.</summary>
public sealed class DriverTeardownSpecs() : TestKit(SpecConfig.InMemory)
{
    private const string Key = "pasid-set-vm1";
    private const string U = "dmar0";
    private const string Gpu = "0000:00:02.0";
    private const string Dsa = "0000:01:00.0";
    private static readonly PlatformSpec Box = HardwareModule.LoadPlatform(Config.Empty);

    private sealed record Rig(IActorRef Space, IActorRef Set, IActorRef Driver, IActorRef Unit, int Pasid);

    // A PASID of the set attached to both devices through one paging domain, with IOTLB entries from a DMA each.
    private Rig Boot()
    {
        var bus = Sys.ActorOf(NotifierBus.Props(TimeSpan.FromSeconds(3), CreateTestProbe().Ref));
        var space = Sys.ActorOf(PasidSpaceActor.Props("drv", 1, 100, 100));
        var set = Sys.ActorOf(PasidSetActor.Props(Key, 8, space, bus));
        var unit = Sys.ActorOf(HardwareModule.UnitProps(Box)(U));
        // One unit actor stands in for the unit region, so the driver is told only of that unit's devices.
        var driver = Sys.ActorOf(IommuDriverSubscriber.Props(set, space, bus, unit, Box.DevicesOf(U).ToDictionary(d => d.Pci, d => d.Unit)));
        this.AwaitSubscribed(bus, IommuDriverSubscriber.Name);

        set.Tell(new AllocPasid(Key));
        var pasid = ExpectMsg<PasidAllocated>(m => m.Errno == PasidErrno.Ok).Pasid;
        unit.Tell(new AllocateDomain(U, DomainKind.Paging, 0, false, false, []));
        var domain = ExpectMsg<DomainAllocatedReply>().DomainId;
        unit.Tell(new MapRange(U, domain, 0x10000, 0x2000, 0x7000_0000, Access.ReadWrite));
        ExpectMsg<Done>();
        foreach (var device in new[] { Gpu, Dsa })
        {
            unit.Tell(new AttachDevice(U, device, pasid, domain));
            ExpectMsg<Done>();
            driver.Tell(new IommuDriverProtocol.BindDevice(Key, pasid, 0, device));
            ExpectMsg(new IommuDriverProtocol.DeviceBindResult(Key, pasid, device, PasidErrno.Ok));
            unit.Tell(new Dma(U, device, pasid, 0x10000, 0x2000, DmaDirection.Read));
            ExpectMsg<DmaCompleted>();
        }
        unit.Tell(new GetPasidReferences(U, pasid));
        ExpectMsg<PasidReferences>(r => r.Contexts.Length == 2 && r.IotlbEntries > 0);
        return new Rig(space, set, driver, unit, pasid);
    }

    [Fact]
    public void Free_of_a_bound_pasid_removes_its_context_entries_and_iotlb_entries_before_the_pasid_returns()
    {
        var rig = Boot();
        rig.Set.Tell(new FreePasid(Key, rig.Pasid));
        ExpectMsg(new PasidResult(Key, "free", rig.Pasid, PasidErrno.Ok));
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
        ExpectMsg(new IommuDriverProtocol.DeviceBindResult(Key, rig.Pasid, Gpu, PasidErrno.Ok));
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
        ExpectMsg(new IommuDriverProtocol.DeviceBindResult(Key, rig.Pasid, "0000:99:00.0", PasidErrno.ENODEV));
    }
}
