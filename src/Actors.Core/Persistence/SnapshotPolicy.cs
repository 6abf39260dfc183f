namespace IommuActors.Core.Persistence;

/// <summary>
/// When an entity snapshots, amortized: once what it journaled since its last snapshot costs about
/// as much as writing a snapshot again. Costs are in entries: an event is one, a snapshot is the
/// number of entries (mappings, page-table runs, PASIDs, ...) it carries; the compact events and a
/// snapshot's records are each a few dozen bytes, so entries track bytes within a small factor.
/// The bar is the smaller of the entity's size now and its size at the last snapshot: an entity
/// that only grows (each event adding an entry) would otherwise never catch up with its own size,
/// and one that shrank is cheap to snapshot again. A growing entity so snapshots at sizes that at
/// least double, an entity of steady size once per its size in events: writing snapshots costs
/// O(1) per event, and recovery replays at most about as many events as the snapshot holds. Floor
/// keeps a small entity from snapshotting at every event. One snapshot is written at a time; the
/// journal and older snapshots behind a written one go.
/// An entity whose snapshot entries are packed far smaller than its journal rows (a row carries its
/// persistence id, sequence number, timestamps and manifest beside the event; a packed entry is a
/// handful of bytes) says how many entries cost about as much as one row: its bar is the size in
/// entries divided by that, so the bytes journaled since the snapshot still match the snapshot's
/// own, and recovery replays that many times fewer events.
/// </summary>
public sealed class SnapshotPolicy(long floor, long entriesPerEvent = 1)
{
    private long _countedAtSave;

    /// <summary>The least number of events between two snapshots, however small the snapshot.</summary>
    public long Floor { get; } = Math.Max(1, floor);

    /// <summary>How many snapshot entries cost about as much as one journaled event (1 when they are alike).</summary>
    public long EntriesPerEvent { get; } = Math.Max(1, entriesPerEvent);

    /// <summary>Events journaled since the newest snapshot written or being written.</summary>
    public long SinceSnapshot { get; private set; }

    /// <summary>Entries of the newest snapshot written or being written.</summary>
    public long SnapshotEntries { get; private set; }

    /// <summary>True while a snapshot is being written: no second one starts meanwhile.</summary>
    public bool Saving { get; private set; }

    public void Journaled(long events = 1) => SinceSnapshot += events;

    /// <summary>Events since the last snapshot at which an entity of <paramref name="entries"/> entries snapshots.</summary>
    public long Threshold(long entries) => Math.Max(Floor, Math.Min(entries, SnapshotEntries) / EntriesPerEvent);

    /// <summary>Whether to write a snapshot of <paramref name="entries"/> entries now.</summary>
    public bool Due(long entries) => !Saving && SinceSnapshot >= Threshold(entries);

    /// <summary>A snapshot of that many entries is being written; events from now on count toward the next.</summary>
    public void Started(long entries)
    {
        Saving = true;
        _countedAtSave = SinceSnapshot;
        SinceSnapshot = 0;
        SnapshotEntries = entries;
    }

    /// <summary>The snapshot is written: what lies behind it may be deleted.</summary>
    public void Saved() => Saving = false;

    /// <summary>The snapshot was not written: the events it covered still count.</summary>
    public void Failed()
    {
        Saving = false;
        SinceSnapshot += _countedAtSave;
    }

    /// <summary>
    /// After recovery: the newest snapshot (0 entries and sequence 0 when none) and the last event
    /// replayed. The events behind the snapshot count toward the next one.
    /// </summary>
    public void Recovered(long snapshotSequenceNr, long snapshotEntries, long lastSequenceNr)
    {
        Saving = false;
        SnapshotEntries = snapshotEntries;
        SinceSnapshot = Math.Max(0, lastSequenceNr - snapshotSequenceNr);
    }
}
