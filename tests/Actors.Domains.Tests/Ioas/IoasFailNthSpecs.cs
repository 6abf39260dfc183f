using System.Collections.Immutable;
using Akka.Actor;
using Akka.Configuration;
using Akka.Persistence;
using Akka.Persistence.TestKit;
using IommuActors.Domains.Ioas;
using IommuActors.TestSupport;
using Xunit;
using static IommuActors.Domains.Ioas.IoasProtocol;

namespace IommuActors.Domains.Tests.Ioas;

/// <summary>
/// The kernel's fail_nth, with the journal write as the allocation that fails: an IOAS scenario
/// runs once per N with the Nth journal write failed (the store is away) or, separately, rejected
/// (the store refuses that one write). The operation that hit it answers EIO, the IOAS is then
/// exactly as before that operation (also when it comes back from its journal), and the operation
/// done again and all that follow answer as in a run without failures, ending in the same state.
/// </summary>
public sealed class IoasFailNthSpecs
{
    private const ulong Page = 4096;
    private const Protection RW = Protection.Read | Protection.Write;
    private const string Id = "failnth";
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    /// <summary>Each operation journals exactly one event when it succeeds.</summary>
    private static readonly (string Name, object Command)[] Scenario =
    [
        ("map fixed", new MapRange(Id, 0x7f0000000000, 4 * Page, RW, true, 0x100000)),
        ("map automatic", new MapRange(Id, 0x7f0000100000, 2 * Page, Protection.Read, false, 0)),
        ("reserve", new AddReserved(Id, "msi", [new IovaSpan(0xfee00000, 0xfeefffff)])),
        ("raise alignment", new RaiseAlignment(Id, "hwpt-1", Page)),
        ("map at the alignment", new MapRange(Id, 0x7f0000200000, Page, RW, true, 0x400000)),
        ("huge pages off", new SetOption(Id, OptionHugePages, 0)),
        ("unmap part", new UnmapRange(Id, 0x100000, 4 * Page)),
        ("drop alignment", new DropAlignment(Id, "hwpt-1")),
        ("allow", new AllowIovas(Id, [new IovaSpan(0, 0xfedfffff), new IovaSpan(0xfef00000, 0xffffffffffff)])),
        ("unreserve", new RemoveReserved(Id, "msi")),
        ("unmap all", new UnmapRange(Id, 0, ulong.MaxValue)),
        ("map again", new MapRange(Id, 0x7f0000300000, 8 * Page, RW, true, 0x800000)),
    ];

    public static TheoryData<int, bool> EveryWrite()
    {
        var data = new TheoryData<int, bool>();
        for (var n = 1; n <= Scenario.Length; n++)
        {
            data.Add(n, false);
            data.Add(n, true);
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(EveryWrite))]
    public async Task The_operation_whose_journal_write_fails_answers_EIO_and_leaves_no_trace(int nth, bool reject)
    {
        var expected = await Reference();
        var system = ActorSystem.Create("fail-nth", Config());
        try
        {
            var journal = Persistence.Instance.Apply(system).JournalFor(null);
            Assert.IsType<TestJournal.Ack>(await journal.Ask<object>(new TestJournal.UseWriteInterceptor(new FailNth(nth, reject)), Timeout));
            var ioas = Start(system);
            var failed = 0;
            for (var i = 0; i < Scenario.Length; i++)
            {
                var before = await StateOf(ioas);
                var answer = await ioas.Ask<object>(Scenario[i].Command, Timeout);
                if (i + 1 == nth)
                {
                    failed++;
                    Assert.Equal(Errno.EIO, ErrnoOf(answer));
                    // The IOAS stopped; started again it comes back from its journal as it was before.
                    await Stopped(system, ioas);
                    ioas = Start(system);
                    Assert.Equal(before, await StateOf(ioas));
                    answer = await ioas.Ask<object>(Scenario[i].Command, Timeout);
                }
                Assert.Equal(expected.Answers[i], answer);
            }
            Assert.Equal(1, failed);
            Assert.Equal(expected.Final, await StateOf(ioas));
            // And so after one more restart on the same journal.
            await StopAndWait(system, ioas);
            Assert.Equal(expected.Final, await StateOf(Start(system)));
        }
        finally
        {
            await system.Terminate();
        }
    }

    private static async Task<(object[] Answers, State Final)> Reference()
    {
        var system = ActorSystem.Create("fail-nth-reference", Config());
        try
        {
            var ioas = Start(system);
            var answers = new List<object>();
            foreach (var (name, command) in Scenario)
            {
                var answer = await ioas.Ask<object>(command, Timeout);
                Assert.Equal((name, 0), (name, ErrnoOf(answer)));
                answers.Add(answer);
            }
            return ([.. answers], await StateOf(ioas));
        }
        finally
        {
            await system.Terminate();
        }
    }

    private static Config Config() => SpecConfig.With(Core.Persistence.StoreOptions.InMemory, ConfigurationFactory.ParseString("""
        akka.persistence.journal.plugin = "akka.persistence.journal.test"
        akka.persistence.journal.test {
          class = "Akka.Persistence.TestKit.TestJournal, Akka.Persistence.TestKit"
          plugin-dispatcher = "akka.actor.default-dispatcher"
        }
        """));

    // Each incarnation gets a name of its own: the journal is found by the persistence id, and a watcher can hear
    // Terminated before the guardian has freed the old name.
    private static int _incarnation;
    private static IActorRef Start(ActorSystem system) =>
        system.ActorOf(IoasActor.Props(Id, 1 << 20), $"{Id}-{Interlocked.Increment(ref _incarnation)}");

    private static async Task Stopped(ActorSystem system, IActorRef ioas)
    {
        var probe = new Akka.TestKit.TestProbe(system, new Akka.TestKit.Xunit2.XunitAssertions());
        probe.Watch(ioas);
        await probe.ExpectTerminatedAsync(ioas, Timeout);
    }

    private static async Task StopAndWait(ActorSystem system, IActorRef ioas)
    {
        var probe = new Akka.TestKit.TestProbe(system, new Akka.TestKit.Xunit2.XunitAssertions());
        probe.Watch(ioas);
        system.Stop(ioas);
        await probe.ExpectTerminatedAsync(ioas, Timeout);
    }

    /// <summary>What the IOAS shows of itself: its mappings and charge, its usable ranges and alignment, its huge-pages option.</summary>
    private sealed record State(string Mappings, string Ranges, ulong HugePages);

    private static async Task<State> StateOf(IActorRef ioas)
    {
        var mappings = await ioas.Ask<Mappings>(new GetMappings(Id), Timeout);
        var ranges = await ioas.Ask<IovaRanges>(new GetIovaRanges(Id), Timeout);
        var huge = await ioas.Ask<OptionValue>(new GetOption(Id, OptionHugePages), Timeout);
        return new State(string.Join(";", mappings.Areas) + $" charged {mappings.ChargedPages}",
            string.Join(";", ranges.Ranges) + $" aligned {ranges.Alignment}", huge.Value);
    }

    private static int ErrnoOf(object answer) =>
        (int)(answer.GetType().GetProperty("Errno") ?? throw new InvalidOperationException($"{answer.GetType().Name} has no errno")).GetValue(answer)!;

    /// <summary>Fails (the store is away) or rejects (the store refuses it) the Nth write, counted from 1; the others pass.</summary>
    private sealed class FailNth(int nth, bool reject) : IJournalInterceptor
    {
        private int _writes;

        public Task InterceptAsync(IPersistentRepresentation message)
        {
            if (Interlocked.Increment(ref _writes) != nth)
                return Task.CompletedTask;
            throw reject ? new TestJournalRejectionException($"write {nth} rejected") : new TestJournalFailureException($"write {nth} failed");
        }
    }
}
