using Akka.Actor;
using Akka.TestKit.Xunit2;
using Akka.TestKit;
using IommuActors.Hardware.Units;
using IommuActors.Ioasid.Pasid;
using IommuActors.Notifier.Bus;
using IommuActors.Notifier.Driver;
using IommuActors.Notifier.Kvm;
using IommuActors.Notifier.Vdcm;
using IommuActors.TestSupport;
using IommuActors.Uapi;
using Xunit;
using static IommuActors.Ioasid.Pasid.PasidSetProtocol;
using static IommuActors.Ioasid.Pasid.PasidSpaceProtocol;
using static IommuActors.Notifier.Bus.NotifierProtocol;

namespace IommuActors.Notifier.Tests.Bus;

/// <summary>
/// A subscriber that crashes is restarted by its supervisor, rebuilds what it holds from the set, subscribes
/// again, and gets the deliveries it was handling again. The crash is provoked the way a wiring bug would
/// show: an event of another set sent to a per-set subscriber, or of PASID 0 to the driver.
/// </summary>
public sealed class SubscriberRestartSpecs() : TestKit(SpecConfig.InMemory)
{
    private const string Key = "pasid-set-vm1";

    private VmRig Boot(bool unitsAnswer) => VmRig.Boot(this, Key, "restart", TimeSpan.FromSeconds(5), unitsAnswer);

    private int BindAndProgram(VmRig rig)
    {
        rig.Set.Tell(new AllocPasid(Key));
        var pasid = ExpectMsg<PasidAllocated>(m => m.Errno == 0).Pasid;
        rig.Driver.Tell(new IommuDriverProtocol.BindDevice(Key, pasid, 101, "dev0"));
        ExpectMsg(new IommuDriverProtocol.DeviceBindResult(Key, pasid, "dev0", 0));
        AwaitAssert(() =>
        {
            rig.Kvm.Tell(new KvmProtocol.Translate(101));
            ExpectMsg(new KvmProtocol.Translated(101, pasid, 0));
        });
        rig.Vdcm.Tell(new VdcmProtocol.ProgramQueue("wq0", 101));
        ExpectMsg(new VdcmProtocol.QueueProgrammed("wq0", 101, pasid, 0));
        return pasid;
    }

    private void Crash(IActorRef subscriber, IoasidEvent wrong) =>
        EventFilter.Exception<InvalidOperationException>().ExpectOne(() => subscriber.Tell(new Notify(999, wrong)));

    private void AssertEverythingReleased(VmRig rig)
    {
        AwaitAssert(() =>
        {
            rig.Space.Tell(new GetSpace());
            var space = ExpectMsg<SpaceState>();
            Assert.Equal(0, space.InUse);
            Assert.Empty(space.Quarantined);
        });
        rig.Set.Tell(new GetHolds(Key, ""));
        Assert.Empty(ExpectMsg<Holds>().Entries);
    }

    [Fact]
    public void Restarted_kvm_and_vdcm_rebuild_their_tables_from_the_set_and_still_release_everything_at_vm_exit()
    {
        var rig = Boot(unitsAnswer: true);
        var pasid = BindAndProgram(rig);

        Crash(rig.Kvm, new IoasidEvent(IoasidEventKind.Bind, "pasid-set-vm2", pasid, 101));
        Crash(rig.Vdcm, new IoasidEvent(IoasidEventKind.Free, "pasid-set-vm2", pasid, 0));

        rig.Kvm.Tell(new KvmProtocol.GetTranslationTable());
        Assert.Equal(new Dictionary<int, int> { [101] = pasid }, ExpectMsg<KvmProtocol.TranslationTable>().GuestToHost);
        rig.Vdcm.Tell(new VdcmProtocol.GetQueues());
        Assert.Equal(new Dictionary<string, int> { ["wq0"] = pasid }, ExpectMsg<VdcmProtocol.Queues>().HostPasidByDevice);

        // Their references are theirs again: the teardown puts exactly what they took.
        rig.Set.Tell(new FreeSet(Key));
        Assert.Equal(new[] { pasid }, ExpectMsg<SetFreed>().Freed.ToArray());
        AssertEverythingReleased(rig);
        rig.Kvm.Tell(new KvmProtocol.GetTranslationTable());
        Assert.Empty(ExpectMsg<KvmProtocol.TranslationTable>().GuestToHost);
        rig.Vdcm.Tell(new VdcmProtocol.GetQueues());
        Assert.Empty(ExpectMsg<VdcmProtocol.Queues>().HostPasidByDevice);
    }

    [Fact]
    public void A_driver_that_crashes_while_handling_free_gets_the_free_again_and_finishes_the_teardown()
    {
        var rig = Boot(unitsAnswer: false);
        var pasid = BindAndProgram(rig);
        rig.Set.Tell(new FreePasid(Key, pasid));
        rig.Units.ExpectMsg<UnitProtocol.DetachPasid>(d => d.Pasid == pasid && d.Devices.IsEmpty);

        Crash(rig.Driver, new IoasidEvent(IoasidEventKind.Bind, Key, 0, 0));

        // The FREE is delivered again to the new incarnation, which knows dev0 is bound from the set; the FREE
        // answers once that incarnation finished the teardown.
        var again = rig.Units.ExpectMsg<UnitProtocol.DetachPasid>(d => d.Pasid == pasid && d.Devices.IsEmpty);
        rig.Units.Reply(new UnitProtocol.PasidDetached(again.Unit, pasid, [], 0));
        FishForMessage(m => m is PasidResult { Operation: "free" } r && r.Errno == 0);
        AssertEverythingReleased(rig);
        rig.Driver.Tell(new IommuDriverProtocol.GetBindings());
        Assert.Empty(ExpectMsg<IommuDriverProtocol.Bindings>().DevicesByPasid);
        rig.Units.ExpectNoMsg(TimeSpan.FromMilliseconds(100));
    }
}
