using System.Collections.Immutable;
using Akka.Actor;
using Akka.TestKit.Xunit2;
using Akka.TestKit;
using IommuActors.Core.Persistence;
using IommuActors.Ioasid.Pasid;
using IommuActors.TestSupport;
using IommuActors.Uapi;
using Xunit;
using static IommuActors.Ioasid.Pasid.PasidSetProtocol;
using static IommuActors.Ioasid.Pasid.PasidSpaceProtocol;

namespace IommuActors.Ioasid.Tests.Pasid;

/// <summary>
/// The host dies in the middle of FREEs: some acknowledged and reclaimed, some still waiting, one reclaimed by the
/// set whose release never reached the space, one quarantined whose quarantine never reached the space, and one
/// lease the space journaled whose answer never reached the set. Snapshots every few events, old events deleted.
/// Shared by the SQLite and PostgreSQL specs.
/// </summary>
public static class CrashWindowRecovery
{
    private const string Key = "pasid-set-crash";
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);

    public static async Task Run(StoreOptions store)
    {
        SetState setBefore;
        Holds holdsBefore;
        var first = ActorSystem.Create("before-crash", SpecConfig.With(store));
        try
        {
            var probe = new TestProbe(first, new XunitAssertions());
            var bus = new TestProbe(first, new XunitAssertions()).Answering();
            var space = first.ActorOf(PasidSpaceActor.Props("crash", 1, 100, 100, snapshotFloor: 4));
            var dropped = new HashSet<object> { new ReleasePasid(Key, 4), new QuarantinePasid(Key, 5) };
            var dropNextLease = false;
            var link = new TestProbe(first, new XunitAssertions());
            IActorRef? set = null;
            // Between set and space: what a crash would have lost is dropped here.
            link.SetAutoPilot(new DelegateAutoPilot((sender, msg) =>
            {
                if (sender.Equals(space))
                {
                    if (msg is PasidLeased && dropNextLease)
                        dropNextLease = false;
                    else
                        set!.Tell(msg, space);
                }
                else if (!dropped.Contains(msg))
                    space.Tell(msg, link.Ref);
                return AutoPilot.KeepRunning;
            }));
            set = first.ActorOf(PasidSetActor.Props(Key, 8, link.Ref, bus.Ref, snapshotFloor: 3));

            for (var i = 1; i <= 5; i++)
            {
                set.Tell(new AllocPasid(Key), probe.Ref);
                probe.ExpectMsg(new PasidAllocated(Key, i, 0), Wait);
            }
            Expect(set, probe, new BindPasid(Key, 2, 22, "driver/dev0"), new PasidResult(Key, "bind", 2, 0));
            Expect(set, probe, new GetPasid(Key, 3, "kvm"), new PasidResult(Key, "get", 3, 0));
            // A FREE answers once its round is over: 1 and 4 acknowledged, 5 timed out, 2 and 3 never answered.
            foreach (var pasid in new[] { 1, 2, 3, 4, 5 })
                set.Tell(new FreePasid(Key, pasid), probe.Ref);
            set.Tell(new FreeAcknowledged(Key, 1));
            set.Tell(new FreeAcknowledged(Key, 4));
            set.Tell(new FreeAckTimedOut(Key, 5, ["driver"]));
            probe.ExpectMsg(new PasidResult(Key, "free", 1, 0), Wait);
            probe.ExpectMsg(new PasidResult(Key, "free", 4, 0), Wait);
            probe.ExpectMsg(new PasidResult(Key, "free", 5, Errno.ETIMEDOUT), Wait);
            dropNextLease = true;
            set.Tell(new AllocPasid(Key), probe.Ref);
            probe.AwaitAssert(() =>
            {
                space.Tell(new GetSpace(), probe.Ref);
                // 1 released; 2, 3, 4, 5 and the unanswered lease 6 still the set's in the space's eyes.
                Assert.Equal(new[] { 2, 3, 4, 5, 6 }, probe.ExpectMsg<SpaceState>().Owners.Keys.Order());
                set.Tell(new GetSet(Key), probe.Ref);
                Assert.Equal(new[] { 2, 3 }, probe.ExpectMsg<SetState>().Entries.Select(e => e.Pasid));
            }, Wait);
            setBefore = Ask<SetState>(set, probe, new GetSet(Key));
            holdsBefore = Ask<Holds>(set, probe, new GetHolds(Key, ""));
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
            var space = second.ActorOf(PasidSpaceActor.Props("crash", 1, 100, 100, snapshotFloor: 4));
            var set = second.ActorOf(PasidSetActor.Props(Key, 8, space, bus.Ref, snapshotFloor: 3));

            Assert.Equal(setBefore, Ask<SetState>(set, probe, new GetSet(Key)) with { Entries = setBefore.Entries });
            Assert.Equal(setBefore.Entries.ToArray(), Ask<SetState>(set, probe, new GetSet(Key)).Entries.ToArray());
            Assert.Equal(holdsBefore.Entries.ToArray(), Ask<Holds>(set, probe, new GetHolds(Key, "")).Entries.ToArray());
            // The FREEs still owed acknowledgements are published again, in PASID order, and nothing else.
            bus.ExpectMsg(new PublishIoasidEvent(new IoasidEvent(IoasidEventKind.Free, Key, 2, 0)), Wait);
            bus.ExpectMsg(new PublishIoasidEvent(new IoasidEvent(IoasidEventKind.Free, Key, 3, 0)));
            bus.ExpectNoMsg(TimeSpan.FromMilliseconds(200));

            // 4 (reclaimed, release lost) and 6 (lease never answered) go back; 5 stays quarantined, never released.
            probe.AwaitAssert(() =>
            {
                space.Tell(new GetSpace(), probe.Ref);
                var state = probe.ExpectMsg<SpaceState>();
                Assert.Equal(new Dictionary<int, string> { [2] = Key, [3] = Key }, state.Owners);
                Assert.Equal(new[] { 5 }, state.Quarantined.ToArray());
                Assert.Equal(3, state.InUse);
            }, Wait);

            // The cursor survived: the next lease is the one after the lost 6.
            set.Tell(new AllocPasid(Key), probe.Ref);
            probe.ExpectMsg(new PasidAllocated(Key, 7, 0), Wait);

            // The subscribers finish their teardown: 2 and 3 return, 5 stays out, 7 is the set's.
            Expect(set, probe, new UnbindPasid(Key, 2, "driver/dev0"), new PasidResult(Key, "unbind", 2, 0));
            Expect(set, probe, new PutPasid(Key, 3, "kvm"), new PasidResult(Key, "put", 3, 0));
            set.Tell(new FreeAcknowledged(Key, 2));
            set.Tell(new FreeAcknowledged(Key, 3));
            probe.AwaitAssert(() =>
            {
                space.Tell(new GetSpace(), probe.Ref);
                var state = probe.ExpectMsg<SpaceState>();
                Assert.Equal(new Dictionary<int, string> { [7] = Key }, state.Owners);
                Assert.Equal(new[] { 5 }, state.Quarantined.ToArray());
            }, Wait);
            Assert.Equal(new[] { 7 }, Ask<SetState>(set, probe, new GetSet(Key)).Entries.Select(e => e.Pasid));
        }
        finally
        {
            await second.Terminate();
        }
    }

    private static void Expect(IActorRef to, TestProbe probe, object command, object reply)
    {
        to.Tell(command, probe.Ref);
        probe.ExpectMsg(reply, Wait);
    }

    private static T Ask<T>(IActorRef to, TestProbe probe, object query)
    {
        to.Tell(query, probe.Ref);
        return probe.ExpectMsg<T>(Wait);
    }
}

public sealed class CrashWindowRecoverySpecs
{
    [Fact]
    public Task A_crash_mid_free_on_SQLite_loses_no_pasid_and_owns_none_twice() =>
        CrashWindowRecovery.Run(SpecConfig.FreshSqliteStore("pasid-crash"));
}

[Collection(PostgresCollection.Name)]
public sealed class CrashWindowRecoveryPostgresSpecs(PostgresFixture postgres)
{
    [Fact]
    public async Task A_crash_mid_free_on_PostgreSQL_loses_no_pasid_and_owns_none_twice() =>
        await CrashWindowRecovery.Run(await postgres.FreshStoreAsync("pasid_crash"));
}
