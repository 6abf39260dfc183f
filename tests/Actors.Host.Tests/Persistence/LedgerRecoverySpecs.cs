using Akka.Actor;
using IommuActors.Core.Persistence;
using IommuActors.TestSupport;
using Xunit;

namespace IommuActors.Host.Tests.Persistence;

/// <summary>
/// The store contract every entity relies on, run against SQLite and PostgreSQL alike: 10,000
/// events written with group commit, the actor system terminated, a new system on the same store
/// recovers exactly the same state, with and without a snapshot.
/// </summary>
public abstract class LedgerRecoverySpecs
{
    private const int EventCount = 10_000;
    private const int BatchSize = 500;
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    protected abstract Task<StoreOptions> FreshStoreAsync();

    [Fact]
    public async Task Ten_thousand_events_recover_exactly_in_a_new_actor_system()
    {
        var store = await FreshStoreAsync();
        var written = await RunAsync(store, async ledger =>
        {
            Assert.Equal(EventCount, await AppendAsync(ledger, Values(0, EventCount)));
            return await ledger.Ask<LedgerReport>(new GetLedger(), Timeout);
        });

        var recovered = await RunAsync(store, ledger => ledger.Ask<LedgerReport>(new GetLedger(), Timeout));

        Assert.Equal(EventCount, written.State.Count);
        Assert.Equal(written.State, recovered.State with { Values = written.State.Values }); // counts, sum, last note
        Assert.Equal(written.State.Values, recovered.State.Values);
        Assert.Equal(0, recovered.SnapshotSequenceNr);
        Assert.Equal(EventCount, recovered.EventsReplayed);
        Assert.Equal(EventCount, recovered.LastSequenceNr);
    }

    [Fact]
    public async Task Ten_thousand_events_recover_exactly_from_a_snapshot_and_the_events_after_it()
    {
        const int beforeSnapshot = 6_000;
        var store = await FreshStoreAsync();
        var written = await RunAsync(store, async ledger =>
        {
            Assert.Equal(beforeSnapshot, await AppendAsync(ledger, Values(0, beforeSnapshot)));
            var snapshot = await ledger.Ask<SnapshotTaken>(new TakeSnapshot(), Timeout);
            Assert.Equal(beforeSnapshot, snapshot.SequenceNr);
            Assert.Equal(EventCount, await AppendAsync(ledger, Values(beforeSnapshot, EventCount - beforeSnapshot)));
            return await ledger.Ask<LedgerReport>(new GetLedger(), Timeout);
        });

        var recovered = await RunAsync(store, ledger => ledger.Ask<LedgerReport>(new GetLedger(), Timeout));

        Assert.Equal(written.State.Values, recovered.State.Values);
        Assert.Equal(written.State.Sum, recovered.State.Sum);
        Assert.Equal(written.State.LastNote, recovered.State.LastNote);
        Assert.Equal(beforeSnapshot, recovered.SnapshotSequenceNr);
        Assert.Equal(EventCount - beforeSnapshot, recovered.EventsReplayed);
        Assert.Equal(EventCount, recovered.LastSequenceNr);
    }

    private static int[] Values(int from, int count) =>
        Enumerable.Range(from, count).Select(i => i * 7919 % 100_003).ToArray();

    /// <summary>Batches go out without waiting, as a busy entity receives them; the journal groups them.</summary>
    private static async Task<long> AppendAsync(IActorRef ledger, int[] values)
    {
        var pending = values.Chunk(BatchSize).Select(batch => ledger.Ask<EntriesAppended>(new AppendEntries(batch), Timeout));
        var replies = await Task.WhenAll(pending);
        return replies.Max(r => r.Count);
    }

    /// <summary>One actor-system lifetime on the store: start, act, terminate.</summary>
    private static async Task<T> RunAsync<T>(StoreOptions store, Func<IActorRef, Task<T>> act)
    {
        var system = ActorSystem.Create("ledger", SpecConfig.With(store));
        try
        {
            var ledger = system.ActorOf(LedgerActor.Props("ledger-1"), "ledger");
            return await act(ledger);
        }
        finally
        {
            await system.Terminate();
        }
    }
}

public sealed class SqliteLedgerRecoverySpecs : LedgerRecoverySpecs
{
    protected override Task<StoreOptions> FreshStoreAsync() =>
        Task.FromResult(SpecConfig.FreshSqliteStore("ledger"));
}

[Collection(PostgresCollection.Name)]
public sealed class PostgresLedgerRecoverySpecs(PostgresFixture postgres) : LedgerRecoverySpecs
{
    protected override Task<StoreOptions> FreshStoreAsync() => postgres.FreshStoreAsync("ledger");
}
