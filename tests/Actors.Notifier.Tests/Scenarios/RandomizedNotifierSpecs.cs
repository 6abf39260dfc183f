using Akka.Actor;
using Akka.TestKit;
using Akka.TestKit.Xunit2;
using IommuActors.Ioasid.Pasid;
using IommuActors.Notifier.Bus;
using IommuActors.Notifier.Driver;
using IommuActors.Notifier.Kvm;
using IommuActors.Notifier.Vdcm;
using IommuActors.TestSupport;
using Xunit;
using static IommuActors.Ioasid.Pasid.PasidSetProtocol;
using static IommuActors.Ioasid.Pasid.PasidSpaceProtocol;
using static IommuActors.Notifier.Bus.NotifierProtocol;

namespace IommuActors.Notifier.Tests.Scenarios;

/// <summary>Random alloc/bind/unbind/program/clear/free/set-free with subscribers calling back into the set.</summary>
public sealed class RandomizedNotifierSpecs() : TestKit(SpecConfig.InMemory)
{
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    public void No_pasid_is_handed_out_while_a_subscriber_refers_to_it_and_every_run_ends_released(int seed)
    {
        var key = $"pasid-set-vm{seed}";
        var random = new Random(seed);
        var units = InstantUnits.Answering(CreateTestProbe());
        var sink = CreateTestProbe();
        var bus = Sys.ActorOf(NotifierBus.Props(TimeSpan.FromSeconds(5), sink.Ref));
        // A small space so freed PASIDs are reused quickly, which is where a premature reclaim would show.
        var space = Sys.ActorOf(PasidSpaceActor.Props($"r{seed}", 1, 12, 12));
        var set = Sys.ActorOf(PasidSetActor.Props(key, 12, space, bus));
        var driver = Sys.ActorOf(IommuDriverSubscriber.Props(set, space, bus, units.Ref, InstantUnits.Devices));
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
                    if (allocated.Errno != PasidErrno.Ok)
                        break;
                    AssertNobodyRefersTo(allocated.Pasid, kvm, vdcm, driver, key);
                    live.Add(allocated.Pasid);
                    break;
                case 2 when pasid != 0:
                    spidOf[pasid] = nextSpid++;
                    driver.Tell(new IommuDriverProtocol.BindDevice(key, pasid, spidOf[pasid], $"dev{random.Next(3)}"), sink.Ref);
                    break;
                case 3 when pasid != 0 && spidOf.ContainsKey(pasid):
                    vdcm.Tell(new VdcmProtocol.ProgramQueue($"wq{random.Next(4)}", spidOf[pasid]), sink.Ref);
                    break;
                case 4 when pasid != 0:
                    if (random.Next(2) == 0)
                        driver.Tell(new IommuDriverProtocol.UnbindDevice(key, pasid, $"dev{random.Next(3)}"), sink.Ref);
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
    }

    private void AssertNobodyRefersTo(int pasid, IActorRef kvm, IActorRef vdcm, IActorRef driver, string key)
    {
        kvm.Tell(new KvmProtocol.GetTranslationTable());
        Assert.DoesNotContain(pasid, ExpectMsg<KvmProtocol.TranslationTable>().GuestToHost.Values);
        vdcm.Tell(new VdcmProtocol.GetQueues());
        Assert.DoesNotContain(pasid, ExpectMsg<VdcmProtocol.Queues>().HostPasidByDevice.Values);
        driver.Tell(new IommuDriverProtocol.GetBindings());
        Assert.DoesNotContain($"{key}/{pasid}", ExpectMsg<IommuDriverProtocol.Bindings>().DevicesByPasid.Keys);
    }
}
