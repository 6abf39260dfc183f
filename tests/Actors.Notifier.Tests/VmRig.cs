using Akka.Actor;
using Akka.TestKit;
using IommuActors.Ioasid.Pasid;
using IommuActors.Notifier.Bus;
using IommuActors.Notifier.Driver;
using IommuActors.Notifier.Kvm;
using IommuActors.Notifier.Vdcm;

namespace IommuActors.Notifier.Tests;

/// <summary>One VM's IOASID world: the space, the VM's set, the bus, and the three subscribers with a probe for the units.</summary>
public sealed record VmRig(IActorRef Space, IActorRef Set, IActorRef Kvm, IActorRef Vdcm, IActorRef Driver, TestProbe Units)
{
    /// <summary>Starts it all (quota 8, PASIDs 1..100) and returns once every subscriber has subscribed.</summary>
    public static VmRig Boot(Akka.TestKit.Xunit2.TestKit kit, string setKey, string spaceId, TimeSpan ackTimeout, bool unitsAnswer = true)
    {
        var units = kit.CreateTestProbe();
        if (unitsAnswer)
            InstantUnits.Answering(units);
        var sys = kit.Sys;
        var bus = sys.ActorOf(NotifierBus.Props(ackTimeout, kit.CreateTestProbe().Ref));
        var space = sys.ActorOf(PasidSpaceActor.Props(spaceId, 1, 100, 100));
        var set = sys.ActorOf(PasidSetActor.Props(setKey, 8, space, bus));
        var driver = sys.ActorOf(IommuDriverSubscriber.Props(set, space, bus, units.Ref, InstantUnits.Devices));
        var kvm = sys.ActorOf(KvmSubscriber.Props(setKey, set, bus));
        var vdcm = sys.ActorOf(VdcmSubscriber.Props(setKey, set, bus));
        kit.AwaitSubscribed(bus, KvmSubscriber.NameOf(setKey), IommuDriverSubscriber.Name, VdcmSubscriber.NameOf(setKey));
        return new VmRig(space, set, kvm, vdcm, driver, units);
    }
}
