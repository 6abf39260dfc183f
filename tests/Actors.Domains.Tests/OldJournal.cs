using System.Collections.Immutable;
using Akka.Actor;
using Akka.Persistence;

namespace IommuActors.Domains.Tests;

/// <summary>
/// Writes events, then a snapshot if one is given, under a persistence id as an earlier build did;
/// answers "written" to the message that started it once all of it is stored.
/// </summary>
internal sealed class OldJournal : ReceivePersistentActor
{
    public override string PersistenceId { get; }

    public static Props Props(string persistenceId, ImmutableArray<object> events, object? snapshot) =>
        Akka.Actor.Props.Create(() => new OldJournal(persistenceId, events, snapshot));

    public OldJournal(string persistenceId, ImmutableArray<object> events, object? snapshot)
    {
        PersistenceId = persistenceId;
        IActorRef asker = ActorRefs.Nobody;
        Command<string>(_ =>
        {
            asker = Sender;
            PersistAll(events, _ => { });
            DeferAsync("written", _ =>
            {
                if (snapshot is null)
                    asker.Tell("written");
                else
                    SaveSnapshot(snapshot);
            });
        });
        Command<SaveSnapshotSuccess>(_ => asker.Tell("written"));
    }
}
