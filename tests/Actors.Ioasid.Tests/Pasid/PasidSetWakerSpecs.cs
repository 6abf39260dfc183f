using Akka.Actor;
using Akka.TestKit.Xunit2;
using Akka.TestKit;
using IommuActors.Ioasid.Pasid;
using IommuActors.TestSupport;
using IommuActors.Uapi;
using Xunit;
using static IommuActors.Ioasid.Pasid.PasidSetProtocol;
using static IommuActors.Ioasid.Pasid.PasidSpaceProtocol;

namespace IommuActors.Ioasid.Tests.Pasid;

public sealed class PasidSetWakerSpecs() : TestKit(SpecConfig.InMemory)
{
    [Fact]
    public void The_waker_wakes_every_set_the_space_leases_to_and_stops_once_each_answered()
    {
        var space = CreateTestProbe();
        var sets = CreateTestProbe();
        var waker = Sys.ActorOf(PasidSetWaker.Props(space.Ref, sets.Ref, TimeSpan.FromSeconds(30)));
        Watch(waker);
        space.ExpectMsg<GetOwnerSets>();
        space.Reply(new OwnerSets(["pasid-set-a", "pasid-set-b"]));
        sets.ExpectMsg(new WakeSet("pasid-set-a"));
        sets.ExpectMsg(new WakeSet("pasid-set-b"));
        sets.Reply(new SetAwake("pasid-set-b", 0));
        ExpectNoMsg(TimeSpan.FromMilliseconds(100));
        sets.Reply(new SetAwake("pasid-set-a", 2));
        ExpectTerminated(waker);
    }

    [Fact]
    public void The_waker_asks_the_space_again_until_it_answers_and_stops_at_once_when_no_set_holds_a_pasid()
    {
        var space = CreateTestProbe();
        var sets = CreateTestProbe();
        var waker = Sys.ActorOf(PasidSetWaker.Props(space.Ref, sets.Ref, TimeSpan.FromMilliseconds(200)));
        Watch(waker);
        space.ExpectMsg<GetOwnerSets>();
        space.ExpectMsg<GetOwnerSets>();
        space.Reply(new OwnerSets([]));
        ExpectTerminated(waker);
        sets.ExpectNoMsg(TimeSpan.FromMilliseconds(100));
    }

    /// <summary>Stands in for the shard region: starts the set entity named by a message's EntityId on first use.</summary>
    private sealed class SetsOnDemand : ReceiveActor
    {
        public SetsOnDemand(IActorRef space, IActorRef bus) => Receive<WakeSet>(m =>
            (Context.Child(m.EntityId) is var set && !set.IsNobody() ? set : Context.ActorOf(PasidSetActor.Props(m.EntityId, 8, space, bus), m.EntityId))
            .Forward(m));
    }

    [Fact]
    public async Task After_a_crash_the_free_a_set_still_owed_acknowledgements_is_published_again_at_start_though_nothing_touches_the_set()
    {
        const string key = "pasid-set-woken";
        var store = SpecConfig.FreshSqliteStore("pasid-wake");
        var wait = TimeSpan.FromSeconds(10);
        int bound, idle;
        var first = ActorSystem.Create("before-crash", SpecConfig.With(store));
        try
        {
            var probe = new TestProbe(first, new XunitAssertions());
            var bus = new TestProbe(first, new XunitAssertions()).Answering();
            var space = first.ActorOf(PasidSpaceActor.Props("wake", 1, 100, 100));
            var set = first.ActorOf(PasidSetActor.Props(key, 8, space, bus.Ref));
            set.Tell(new AllocPasid(key), probe.Ref);
            bound = probe.ExpectMsg<PasidAllocated>(wait).Pasid;
            set.Tell(new AllocPasid(key), probe.Ref);
            idle = probe.ExpectMsg<PasidAllocated>(wait).Pasid;
            set.Tell(new BindPasid(key, bound, 0, "driver/dev0"), probe.Ref);
            probe.ExpectMsg(new PasidResult(key, "bind", bound, 0), wait);
            // The FREE is never acknowledged before the crash, so it never answers.
            set.Tell(new FreePasid(key, bound), probe.Ref);
            bus.FishForMessage(m => m is PublishIoasidEvent { Event.Kind: IoasidEventKind.Free }, wait);
        }
        finally
        {
            await first.Terminate();
        }

        var second = ActorSystem.Create("after-crash", SpecConfig.With(store));
        try
        {
            var probe = new TestProbe(second, new XunitAssertions());
            var bus = new TestProbe(second, new XunitAssertions()).Answering();
            var space = second.ActorOf(PasidSpaceActor.Props("wake", 1, 100, 100));
            var sets = second.ActorOf(Props.Create(() => new SetsOnDemand(space, bus.Ref)));
            var waker = second.ActorOf(PasidSetWaker.Props(space, sets, TimeSpan.FromSeconds(5)));
            probe.Watch(waker);

            bus.ExpectMsg(new PublishIoasidEvent(new IoasidEvent(IoasidEventKind.Free, key, bound, 0)), wait);
            bus.ExpectNoMsg(TimeSpan.FromMilliseconds(200));
            probe.ExpectTerminated(waker, wait);

            // The woken set finishes the FREE as soon as the driver lets go and the bus acknowledges.
            var set = await second.ActorSelection($"{sets.Path}/{key}").ResolveOne(wait);
            set.Tell(new UnbindPasid(key, bound, "driver/dev0"), probe.Ref);
            probe.ExpectMsg(new PasidResult(key, "unbind", bound, 0), wait);
            set.Tell(new FreeAcknowledged(key, bound));
            probe.AwaitAssert(() =>
            {
                space.Tell(new GetSpace(), probe.Ref);
                Assert.Equal(new[] { idle }, probe.ExpectMsg<SpaceState>().Owners.Keys.ToArray());
            }, wait);
        }
        finally
        {
            await second.Terminate();
        }
    }
}
