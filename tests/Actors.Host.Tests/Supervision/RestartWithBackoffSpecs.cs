using Akka.Actor;
using Akka.Configuration;
using Akka.Persistence.TestKit;
using IommuActors.Core.Supervision;
using IommuActors.Host.Tests.Persistence;
using Xunit;

namespace IommuActors.Host.Tests.Supervision;

/// <summary>
/// Issue 18: a singleton whose journal write fails (a duplicate key, the store gone a moment) stops;
/// kept by <see cref="RestartWithBackoff"/> it comes back from its journal and answers again,
/// and what was sent to it meanwhile is answered by the new one.
/// </summary>
public sealed class RestartWithBackoffSpecs() : Akka.TestKit.Xunit2.TestKit(ConfigurationFactory.ParseString("""
    akka.loglevel = WARNING
    akka.persistence.journal.plugin = "akka.persistence.journal.test"
    akka.persistence.journal.test {
      class = "Akka.Persistence.TestKit.TestJournal, Akka.Persistence.TestKit"
      plugin-dispatcher = "akka.actor.default-dispatcher"
    }
    akka.persistence.snapshot-store.plugin = "akka.persistence.snapshot-store.inmem"
    """))
{
    private ITestJournal Journal => TestJournal.FromRef(Akka.Persistence.Persistence.Instance.Apply(Sys).JournalFor(null));

    [Fact]
    public async Task A_singleton_stopped_by_a_failed_write_comes_back_from_its_journal_and_answers_what_was_sent_meanwhile()
    {
        var kept = Sys.ActorOf(RestartWithBackoff.Props(Props.Create(() => new LedgerActor("kept-ledger")), "ledger",
            TimeSpan.FromMilliseconds(300), TimeSpan.FromSeconds(2)));
        kept.Tell(new AppendEntries([1, 2]));
        Assert.Equal(2, ExpectMsg<EntriesAppended>().Count);

        kept.Tell(RestartWithBackoff.GetCurrentChild.Instance);
        var first = ExpectMsg<RestartWithBackoff.CurrentChild>().Child!;
        Watch(first);
        await Journal.OnWrite.Fail();
        kept.Tell(new AppendEntries([3]));
        ExpectTerminated(first);
        ExpectNoMsg(TimeSpan.FromMilliseconds(100)); // the failed write is not acknowledged
        await Journal.OnWrite.Pass();

        kept.Tell(new AppendEntries([4])); // held while the ledger waits out its backoff
        Assert.Equal(3, ExpectMsg<EntriesAppended>(TimeSpan.FromSeconds(10)).Count);
        kept.Tell(new GetLedger());
        Assert.Equal([1, 2, 4], ExpectMsg<LedgerReport>().State.Values);
    }

    [Fact]
    public void The_backoff_doubles_from_the_least_delay_up_to_the_most()
    {
        var (min, max) = (TimeSpan.FromMilliseconds(200), TimeSpan.FromSeconds(1));
        Assert.Equal([200, 400, 800, 1000, 1000], Enumerable.Range(1, 5).Select(n => RestartWithBackoff.DelayOf(n, min, max).TotalMilliseconds));
    }
}
