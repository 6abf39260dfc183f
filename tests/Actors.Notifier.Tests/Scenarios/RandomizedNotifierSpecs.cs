using Akka.Actor;
using Akka.Configuration;
using Akka.TestKit.Xunit2;
using Akka.TestKit;
using IommuActors.Core.Messaging;
using IommuActors.Hardware.Platform;
using IommuActors.Hardware.Units;
using IommuActors.Hardware;
using IommuActors.Ioasid.Pasid;
using IommuActors.Notifier.Bus;
using IommuActors.Notifier.Driver;
using IommuActors.Notifier.Kvm;
using IommuActors.Notifier.Vdcm;
using IommuActors.TestSupport;
using IommuActors.Uapi;
using Xunit;
using static IommuActors.Hardware.Units.UnitProtocol;
using static IommuActors.Ioasid.Pasid.PasidSetProtocol;
using static IommuActors.Ioasid.Pasid.PasidSpaceProtocol;

namespace IommuActors.Notifier.Tests.Scenarios;

/// <summary>
/// Random alloc/bind/unbind/program/clear/free/set-free with subscribers calling back into the set, against two
/// real IOMMU units of the default platform (VT-d dmar0 and the mock unit): a bind attaches the device's PASID
/// in its unit (as iommufd does, before the bind) and DMAs through it, so context entries and IOTLB entries exist.
/// Every PASID handed out is checked against every subscriber, every context entry and every IOTLB entry.
/// </summary>
public sealed class RandomizedNotifierSpecs() : TestKit(SpecConfig.InMemory)
{
    private static readonly PlatformSpec Box = HardwareModule.LoadPlatform(Config.Empty);
    private static readonly string[] UnitNames = ["dmar0", "mock0"];

    /// <summary>Stands in for the unit shard region: one real unit actor per name, reached by the message's unit.</summary>
    private sealed class Units : ReceiveActor
    {
        public Units()
        {
            foreach (var name in UnitNames)
                Context.ActorOf(HardwareModule.UnitProps(Box)(name), name);
            Receive<IEntityMessage>(m => Context.Child(m.EntityId).Forward(m));
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    public void No_pasid_is_handed_out_while_a_subscriber_context_entry_or_iotlb_entry_refers_to_it_and_every_run_ends_released(int seed)
    {
        var key = $"pasid-set-vm{seed}";
        var random = new Random(seed);
        var sink = CreateTestProbe();
        var units = Sys.ActorOf(Props.Create(() => new Units()));
        var devices = Box.Devices.Where(d => UnitNames.Contains(d.Unit) && d.PasidWidth > 0).ToDictionary(d => d.Pci, d => d.Unit);
        var pcis = devices.Keys.Order(StringComparer.Ordinal).ToArray();
        var domainOf = UnitNames.ToDictionary(u => u, u => PagingDomainWithOneMapping(units, u));

        var bus = Sys.ActorOf(NotifierBus.Props(TimeSpan.FromSeconds(5), sink.Ref));
        // A small space so freed PASIDs are reused quickly, which is where a premature reclaim would show.
        var space = Sys.ActorOf(PasidSpaceActor.Props($"r{seed}", 1, 12, 12));
        var set = Sys.ActorOf(PasidSetActor.Props(key, 12, space, bus));
        var driver = Sys.ActorOf(IommuDriverSubscriber.Props(set, space, bus, units, devices));
        var kvm = Sys.ActorOf(KvmSubscriber.Props(key, set, bus));
        var vdcm = Sys.ActorOf(VdcmSubscriber.Props(key, set, bus));
        this.AwaitSubscribed(bus, KvmSubscriber.NameOf(key), IommuDriverSubscriber.Name, VdcmSubscriber.NameOf(key));

        var live = new List<int>();
        var nextSpid = 1;
        var spidOf = new Dictionary<int, int>();
        for (var step = 0; step < 600; step++)
        {
            var pasid = live.Count == 0 ? 0 : live[random.Next(live.Count)];
            switch (random.Next(6))
            {
                case 0:
                case 1:
                    set.Tell(new AllocPasid(key));
                    var allocated = ExpectMsg<PasidAllocated>();
                    if (allocated.Errno != 0)
                        break;
                    AssertNobodyRefersTo(allocated.Pasid, kvm, vdcm, driver, units, key);
                    live.Add(allocated.Pasid);
                    break;
                case 2 when pasid != 0:
                    spidOf[pasid] = nextSpid++;
                    AttachAndBind(units, driver, key, pasid, spidOf[pasid], pcis[random.Next(pcis.Length)], devices, domainOf);
                    break;
                case 3 when pasid != 0 && spidOf.ContainsKey(pasid):
                    vdcm.Tell(new VdcmProtocol.ProgramQueue($"wq{random.Next(4)}", spidOf[pasid]), sink.Ref);
                    break;
                case 4 when pasid != 0:
                    if (random.Next(2) == 0)
                        driver.Tell(new IommuDriverProtocol.UnbindDevice(key, pasid, pcis[random.Next(pcis.Length)]), sink.Ref);
                    else
                        vdcm.Tell(new VdcmProtocol.ClearQueue($"wq{random.Next(4)}"), sink.Ref);
                    break;
                case 5 when pasid != 0:
                    set.Tell(new FreePasid(key, pasid), sink.Ref);
                    live.Remove(pasid);
                    break;
            }
        }
        set.Tell(new FreeSet(key));
        ExpectMsg<SetFreed>();
        AwaitAssert(() =>
        {
            space.Tell(new GetSpace());
            var state = ExpectMsg<SpaceState>();
            Assert.Equal(0, state.InUse);
        }, TimeSpan.FromSeconds(10));
        foreach (var unit in UnitNames)
        {
            units.Tell(new GetUnitInfo(unit));
            var info = ExpectMsg<UnitInfo>();
            Assert.Equal(0, info.ContextEntries);
            Assert.Equal(0, info.IotlbEntries);
        }
    }

    private int PagingDomainWithOneMapping(IActorRef units, string unit)
    {
        units.Tell(new AllocateDomain(unit, DomainKind.Paging, 0, false, false, []));
        var domain = ExpectMsg<DomainAllocatedReply>().DomainId;
        units.Tell(new MapRange(unit, domain, 0x1000000, 0x2000, 0x7000_0000, Access.ReadWrite));
        ExpectMsg<Done>();
        return domain;
    }

    // iommufd's order: the device's PASID is attached in its unit before the bind, so a FREE that comes after the
    // bind finds the context entry to tear down, and a bind refused because the PASID is already being freed is
    // undone (unless the refusal is EEXIST: then the context belongs to the bind already there).
    private void AttachAndBind(IActorRef units, IActorRef driver, string key, int pasid, int spid, string pci,
        IReadOnlyDictionary<string, string> devices, IReadOnlyDictionary<string, int> domainOf)
    {
        var unit = devices[pci];
        units.Tell(new AttachDevice(unit, pci, pasid, domainOf[unit]));
        ExpectMsg<Done>();
        driver.Tell(new IommuDriverProtocol.BindDevice(key, pasid, spid, pci));
        var bound = ExpectMsg<IommuDriverProtocol.DeviceBindResult>();
        if (bound.Errno == 0)
        {
            units.Tell(new Dma(unit, pci, pasid, 0x1000000, 0x2000, DmaDirection.Read));
            ExpectMsg<object>(m => m is DmaCompleted or DmaFaulted);
        }
        else if (bound.Errno != Errno.EEXIST)
        {
            units.Tell(new DetachDevice(unit, pci, pasid));
            ExpectMsg<object>(m => m is Done or Failed);
        }
    }

    private void AssertNobodyRefersTo(int pasid, IActorRef kvm, IActorRef vdcm, IActorRef driver, IActorRef units, string key)
    {
        kvm.Tell(new KvmProtocol.GetTranslationTable());
        Assert.DoesNotContain(pasid, ExpectMsg<KvmProtocol.TranslationTable>().GuestToHost.Values);
        vdcm.Tell(new VdcmProtocol.GetQueues());
        Assert.DoesNotContain(pasid, ExpectMsg<VdcmProtocol.Queues>().HostPasidByDevice.Values);
        driver.Tell(new IommuDriverProtocol.GetBindings());
        Assert.DoesNotContain($"{key}/{pasid}", ExpectMsg<IommuDriverProtocol.Bindings>().DevicesByPasid.Keys);
        foreach (var unit in UnitNames)
        {
            units.Tell(new GetPasidReferences(unit, pasid));
            var refs = ExpectMsg<PasidReferences>();
            Assert.Empty(refs.Contexts);
            Assert.Equal(0, refs.IotlbEntries);
        }
    }
}
