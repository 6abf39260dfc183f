using Akka.Persistence;

namespace IommuActors.Core.Persistence;

/// <summary>
/// A persistent entity that snapshots by <see cref="SnapshotPolicy"/>: it reports each event it
/// journals and asks for a snapshot where its state equals its journal; a written snapshot is
/// followed by deleting the journal rows and older snapshots behind it, so one snapshot is kept.
/// </summary>
public abstract class SnapshottingActor : JournalingActor
{
    private long _offeredSequenceNr;
    private long _offeredEntries;
    private long _countedUpTo;

    /// <param name="entriesPerEvent">How many entries of this entity's snapshot cost about as much as one of its journal rows.</param>
    protected SnapshottingActor(long snapshotFloor, long entriesPerEvent = 1) => Snapshots = new SnapshotPolicy(snapshotFloor, entriesPerEvent);

    protected SnapshotPolicy Snapshots { get; }

    /// <summary>Call from Recover&lt;SnapshotOffer&gt; with the entries of the snapshot offered.</summary>
    protected void SnapshotOffered(SnapshotMetadata metadata, long entries)
    {
        _offeredSequenceNr = metadata.SequenceNr;
        _offeredEntries = entries;
    }

    /// <summary>Call from Recover&lt;RecoveryCompleted&gt;.</summary>
    protected void RecoveredForSnapshots()
    {
        Snapshots.Recovered(_offeredSequenceNr, _offeredEntries, LastSequenceNr);
        _countedUpTo = LastSequenceNr;
    }

    /// <summary>
    /// Where state equals the journal (no write in flight, so LastSequenceNr is the last event
    /// applied): count what was journaled since the last call, and snapshot if the policy says so.
    /// </summary>
    protected void SnapshotIfDue(long entries, Func<object> take)
    {
        Snapshots.Journaled(LastSequenceNr - _countedUpTo);
        _countedUpTo = LastSequenceNr;
        if (!Snapshots.Due(entries))
            return;
        Snapshots.Started(entries);
        SaveSnapshot(take());
    }

    /// <summary>The replies of the snapshot store and the journal's deletes, in each behaviour that may receive them.</summary>
    protected void SnapshotReplies()
    {
        Command<SaveSnapshotSuccess>(s =>
        {
            Snapshots.Saved();
            DeleteMessages(s.Metadata.SequenceNr);
            DeleteSnapshots(new SnapshotSelectionCriteria(s.Metadata.SequenceNr - 1));
        });
        Command<SaveSnapshotFailure>(_ => Snapshots.Failed());
        Command<DeleteMessagesSuccess>(_ => { });
        Command<DeleteMessagesFailure>(_ => { });
        Command<DeleteSnapshotsSuccess>(_ => { });
        Command<DeleteSnapshotsFailure>(_ => { });
    }
}
