using Akka.Actor;
using Akka.TestKit;
using Akka.TestKit.Xunit2;
using IommuActors.Ioasid.Pasid;
using IommuActors.Notifier.Bus;
using IommuActors.TestSupport;
using Xunit;
using static IommuActors.Notifier.Bus.NotifierProtocol;

namespace IommuActors.Notifier.Tests.Bus;

public sealed class NotifierBusSpecs() : TestKit(SpecConfig.InMemory)
{
    private const string Set = "pasid-set-vm1";

    private (IActorRef Bus, TestProbe Reporter) StartBus(double timeoutSeconds = 3)
    {
        var reporter = CreateTestProbe();
        return (Sys.ActorOf(NotifierBus.Props(TimeSpan.FromSeconds(timeoutSeconds), reporter.Ref)), reporter);
    }

    private TestProbe Subscribe(IActorRef bus, string name, SubscriberPriority priority, string setKey)
    {
        var probe = CreateTestProbe(name);
        bus.Tell(new Subscribe(probe.Ref, name, priority, setKey));
        ExpectMsg(new Subscribed(name));
        return probe;
    }

    private static IoasidEvent Ev(IoasidEventKind kind, int pasid, int spid = 0) => new(kind, Set, pasid, spid);

    [Fact]
    public void An_event_reaches_cpu_then_iommu_then_device_each_after_the_previous_acknowledged()
    {
        var (bus, _) = StartBus();
        var vdcm = Subscribe(bus, "vdcm", SubscriberPriority.Device, Set);
        var driver = Subscribe(bus, "driver", SubscriberPriority.Iommu, "");
        var kvm = Subscribe(bus, "kvm", SubscriberPriority.Cpu, Set);
        bus.Tell(new PublishIoasidEvent(Ev(IoasidEventKind.Free, 5)));

        var first = kvm.ExpectMsg<Notify>(n => n.Event == Ev(IoasidEventKind.Free, 5));
        driver.ExpectNoMsg(TimeSpan.FromMilliseconds(100));
        bus.Tell(new Acknowledge(first.DeliveryId), kvm.Ref);
        var second = driver.ExpectMsg<Notify>();
        vdcm.ExpectNoMsg(TimeSpan.FromMilliseconds(100));
        bus.Tell(new Acknowledge(second.DeliveryId), driver.Ref);
        var third = vdcm.ExpectMsg<Notify>();
        ExpectNoMsg(TimeSpan.FromMilliseconds(50));
        bus.Tell(new Acknowledge(third.DeliveryId), vdcm.Ref);
        ExpectMsg(new PasidSetProtocol.FreeAcknowledged(Set, 5));
    }

    [Fact]
    public void A_per_set_subscriber_does_not_see_another_sets_events()
    {
        var (bus, _) = StartBus();
        var kvm = Subscribe(bus, "kvm", SubscriberPriority.Cpu, Set);
        var driver = Subscribe(bus, "driver", SubscriberPriority.Iommu, "");
        bus.Tell(new PublishIoasidEvent(new IoasidEvent(IoasidEventKind.Bind, "pasid-set-vm2", 9, 3)));
        var n = driver.ExpectMsg<Notify>(m => m.Event.SetKey == "pasid-set-vm2");
        driver.Reply(new Acknowledge(n.DeliveryId));
        kvm.ExpectNoMsg(TimeSpan.FromMilliseconds(100));
    }

    [Fact]
    public void An_unbind_published_while_the_driver_handles_free_reaches_everyone_before_the_free()
    {
        var (bus, _) = StartBus();
        var kvm = Subscribe(bus, "kvm", SubscriberPriority.Cpu, Set);
        var driver = Subscribe(bus, "driver", SubscriberPriority.Iommu, "");
        var vdcm = Subscribe(bus, "vdcm", SubscriberPriority.Device, Set);
        bus.Tell(new PublishIoasidEvent(Ev(IoasidEventKind.Free, 5)));
        kvm.Reply(new Acknowledge(kvm.ExpectMsg<Notify>().DeliveryId));
        var freeAtDriver = driver.ExpectMsg<Notify>(n => n.Event.Kind == IoasidEventKind.Free);

        // The driver detaches inside its FREE handler; the set publishes UNBIND.
        bus.Tell(new PublishIoasidEvent(Ev(IoasidEventKind.Unbind, 5, 101)));
        driver.Reply(new Acknowledge(freeAtDriver.DeliveryId));
        kvm.Reply(new Acknowledge(kvm.ExpectMsg<Notify>(n => n.Event.Kind == IoasidEventKind.Unbind).DeliveryId));
        driver.Reply(new Acknowledge(driver.ExpectMsg<Notify>(n => n.Event.Kind == IoasidEventKind.Unbind).DeliveryId));
        vdcm.Reply(new Acknowledge(vdcm.ExpectMsg<Notify>(n => n.Event.Kind == IoasidEventKind.Unbind).DeliveryId));
        vdcm.Reply(new Acknowledge(vdcm.ExpectMsg<Notify>(n => n.Event.Kind == IoasidEventKind.Free).DeliveryId));
        ExpectMsg(new PasidSetProtocol.FreeAcknowledged(Set, 5));
    }

    [Fact]
    public void Events_of_one_pasid_are_delivered_in_publication_order()
    {
        var (bus, _) = StartBus();
        var kvm = Subscribe(bus, "kvm", SubscriberPriority.Cpu, Set);
        bus.Tell(new PublishIoasidEvent(Ev(IoasidEventKind.Bind, 5, 1)));
        bus.Tell(new PublishIoasidEvent(Ev(IoasidEventKind.Unbind, 5, 1)));
        var bind = kvm.ExpectMsg<Notify>(n => n.Event.Kind == IoasidEventKind.Bind);
        kvm.ExpectNoMsg(TimeSpan.FromMilliseconds(100));
        bus.Tell(new Acknowledge(bind.DeliveryId), kvm.Ref);
        kvm.ExpectMsg<Notify>(n => n.Event.Kind == IoasidEventKind.Unbind);
    }

    [Fact]
    public void A_subscriber_that_does_not_answer_is_reported_and_the_free_times_out_naming_it()
    {
        var (bus, reporter) = StartBus(timeoutSeconds: 0.3);
        var kvm = Subscribe(bus, "kvm", SubscriberPriority.Cpu, Set);
        var vdcm = Subscribe(bus, "vdcm", SubscriberPriority.Device, Set);
        bus.Tell(new PublishIoasidEvent(Ev(IoasidEventKind.Free, 5)));
        kvm.ExpectMsg<Notify>();
        reporter.ExpectMsg(new SubscriberUnresponsive("kvm", Ev(IoasidEventKind.Free, 5)));
        vdcm.Reply(new Acknowledge(vdcm.ExpectMsg<Notify>().DeliveryId));
        ExpectMsg<PasidSetProtocol.FreeAckTimedOut>(m => m.Pasid == 5 && m.Unanswered.SequenceEqual(new[] { "kvm" }));
    }

    [Fact]
    public void A_subscriber_that_stops_counts_as_unanswered_and_is_dropped()
    {
        var (bus, reporter) = StartBus();
        var kvm = Subscribe(bus, "kvm", SubscriberPriority.Cpu, Set);
        bus.Tell(new PublishIoasidEvent(Ev(IoasidEventKind.Free, 5)));
        kvm.ExpectMsg<Notify>();
        Sys.Stop(kvm.Ref);
        reporter.ExpectMsg<SubscriberUnresponsive>(m => m.Name == "kvm");
        ExpectMsg<PasidSetProtocol.FreeAckTimedOut>(m => m.Pasid == 5);
        bus.Tell(new PublishIoasidEvent(Ev(IoasidEventKind.Free, 6)));
        ExpectMsg(new PasidSetProtocol.FreeAcknowledged(Set, 6));
    }
}
