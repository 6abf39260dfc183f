using Akka.Actor;
using Akka.Configuration;
using Akka.TestKit.Xunit2;
using Akka.TestKit;
using IommuActors.Core.Persistence;
using IommuActors.Ioasid.Pasid;
using IommuActors.Notifier.Bus;
using IommuActors.Notifier.Kvm;
using IommuActors.TestSupport;
using IommuActors.Uapi;
using Xunit;
using static IommuActors.Ioasid.Pasid.PasidSetProtocol;
using static IommuActors.Notifier.Bus.NotifierProtocol;

namespace IommuActors.Notifier.Tests.Bus;

/// <summary>
/// A crashed subscriber restarts in place and waits before it re-synchronises, longer after each crash in a row;
/// what it is sent meanwhile waits in its stash. Time is the TestScheduler's, moved by hand.
/// </summary>
public sealed class SubscriberBackoffSpecs() : TestKit(SpecConfig.With(StoreOptions.InMemory,
    ConfigurationFactory.ParseString("akka.scheduler.implementation = \"Akka.TestKit.TestScheduler, Akka.TestKit\"")))
{
    private const string Key = "pasid-set-vm1";
    private static readonly SubscriberBackoff Backoff = new(TimeSpan.FromMilliseconds(100), TimeSpan.FromMilliseconds(300), TimeSpan.FromMinutes(5));

    private TestScheduler Clock => (TestScheduler)Sys.Scheduler;

    private void Crash(IActorRef subscriber) =>
        EventFilter.Exception<InvalidOperationException>().ExpectOne(() =>
            subscriber.Tell(new Notify(999, new IoasidEvent(IoasidEventKind.Bind, "pasid-set-vm2", 5, 1))));

    // Nothing can fire before the clock moves, so the quiet wait only gives the restart time to happen.
    private void AssertResynchronisesAfter(TestProbe set, TimeSpan backoff)
    {
        set.ExpectNoMsg(TimeSpan.FromMilliseconds(200));
        Clock.Advance(backoff - TimeSpan.FromMilliseconds(1));
        set.ExpectNoMsg(TimeSpan.FromMilliseconds(200));
        Clock.Advance(TimeSpan.FromMilliseconds(1));
        set.ExpectMsg(new GetHolds(Key, KvmSubscriber.Holder));
    }

    [Fact]
    public void A_crashed_subscriber_waits_its_backoff_before_resynchronising_and_doubles_it_on_the_next_crash_up_to_the_maximum()
    {
        var set = CreateTestProbe();
        var bus = CreateTestProbe();
        var kvm = Sys.ActorOf(KvmSubscriber.Props(Key, set.Ref, bus.Ref, Backoff));
        set.ExpectMsg(new GetHolds(Key, KvmSubscriber.Holder));
        set.Reply(new Holds(Key, KvmSubscriber.Holder, []));
        bus.ExpectMsg<Subscribe>(s => s.Name == KvmSubscriber.NameOf(Key));

        Crash(kvm);
        AssertResynchronisesAfter(set, TimeSpan.FromMilliseconds(100));
        set.Reply(new Holds(Key, KvmSubscriber.Holder, []));
        bus.ExpectMsg<Subscribe>();

        Crash(kvm);
        AssertResynchronisesAfter(set, TimeSpan.FromMilliseconds(200));
        set.Reply(new Holds(Key, KvmSubscriber.Holder, []));
        bus.ExpectMsg<Subscribe>();

        Crash(kvm);
        AssertResynchronisesAfter(set, TimeSpan.FromMilliseconds(300));
        set.Reply(new Holds(Key, KvmSubscriber.Holder, []));
        bus.ExpectMsg<Subscribe>();

        Crash(kvm);
        AssertResynchronisesAfter(set, TimeSpan.FromMilliseconds(300));
    }

    [Fact]
    public void A_request_sent_while_the_subscriber_backs_off_is_answered_from_the_rebuilt_state()
    {
        var set = CreateTestProbe();
        var bus = CreateTestProbe();
        var kvm = Sys.ActorOf(KvmSubscriber.Props(Key, set.Ref, bus.Ref, Backoff));
        set.ExpectMsg<GetHolds>();
        set.Reply(new Holds(Key, KvmSubscriber.Holder, []));
        bus.ExpectMsg<Subscribe>();

        Crash(kvm);
        kvm.Tell(new KvmProtocol.Translate(101));
        ExpectNoMsg(TimeSpan.FromMilliseconds(200));
        Clock.Advance(TimeSpan.FromMilliseconds(100));
        set.ExpectMsg(new GetHolds(Key, KvmSubscriber.Holder));
        set.Reply(new Holds(Key, KvmSubscriber.Holder, [new SetHold(7, KvmSubscriber.Holder, 1, 0, 101, PasidState.Active)]));
        ExpectMsg(new KvmProtocol.Translated(101, 7, 0));
        // The same reference all along: the bus's subscription and deliveries stay valid.
        bus.ExpectMsg<Subscribe>(s => s.Subscriber.Equals(kvm));
    }
}
