using System.Collections.Immutable;
using Akka.Actor;
using Akka.Persistence;
using IommuActors.Core.Messaging;

namespace IommuActors.Host.Tests.Persistence;

/// <summary>
/// A small persistent actor for the store specs: it appends entries with group commit
/// (PersistAll), snapshots on request, and reports how it recovered.
/// </summary>
public sealed class LedgerActor : ReceivePersistentActor
{
    private LedgerState _state = LedgerState.Empty;
    private long _snapshotRecoveredAt;
    private long _eventsReplayed;
    private IActorRef? _snapshotRequester;

    public LedgerActor(string persistenceId)
    {
        PersistenceId = persistenceId;

        Recover<SnapshotOffer>(offer =>
        {
            _state = (LedgerState)offer.Snapshot;
            _snapshotRecoveredAt = offer.Metadata.SequenceNr;
        });
        Recover<EntryAppended>(e =>
        {
            _state = _state.Apply(e);
            _eventsReplayed++;
        });

        Command<AppendEntries>(cmd =>
        {
            var sender = Sender;
            var events = cmd.Values.Select((v, i) => new EntryAppended(_state.Count + i + 1, v, $"entry-{_state.Count + i + 1}")).ToArray();
            var remaining = events.Length;
            PersistAll(events, e =>
            {
                _state = _state.Apply(e);
                if (--remaining == 0)
                    sender.Tell(new EntriesAppended(_state.Count));
            });
        });
        Command<TakeSnapshot>(_ =>
        {
            _snapshotRequester = Sender;
            SaveSnapshot(_state);
        });
        Command<SaveSnapshotSuccess>(ok => _snapshotRequester?.Tell(new SnapshotTaken(ok.Metadata.SequenceNr)));
        Command<SaveSnapshotFailure>(failed => _snapshotRequester?.Tell(new Status.Failure(failed.Cause)));
        Command<GetLedger>(_ => Sender.Tell(new LedgerReport(_state, _snapshotRecoveredAt, _eventsReplayed, LastSequenceNr)));
    }

    public override string PersistenceId { get; }

    public static Props Props(string persistenceId) => Akka.Actor.Props.Create(() => new LedgerActor(persistenceId));
}

public sealed record AppendEntries(int[] Values);

public sealed record EntriesAppended(long Count);

public sealed record TakeSnapshot;

public sealed record SnapshotTaken(long SequenceNr);

public sealed record GetLedger;

public sealed record LedgerReport(LedgerState State, long SnapshotSequenceNr, long EventsReplayed, long LastSequenceNr);

public sealed record EntryAppended(long Index, int Value, string Note) : IPersistedEvent;

public sealed record LedgerState(long Count, long Sum, ImmutableList<int> Values, string LastNote) : IPersistedSnapshot
{
    public static LedgerState Empty { get; } = new(0, 0, ImmutableList<int>.Empty, "");

    public LedgerState Apply(EntryAppended e) => new(Count + 1, Sum + e.Value, Values.Add(e.Value), e.Note);
}
