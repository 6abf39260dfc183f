using FsCheck;
using FsCheck.Xunit;
using IommuActors.Core.Persistence;
using Xunit;

namespace IommuActors.Host.Tests.Persistence;

public sealed class SnapshotPolicyTests
{
    [Fact]
    public void A_small_entity_waits_for_the_floor_however_small_its_snapshot()
    {
        var policy = new SnapshotPolicy(floor: 10);
        policy.Journaled(9);
        Assert.False(policy.Due(entries: 1));
        policy.Journaled();
        Assert.True(policy.Due(entries: 1));
    }

    [Fact]
    public void A_large_entity_waits_until_its_events_since_the_snapshot_match_the_snapshot_size()
    {
        var policy = new SnapshotPolicy(floor: 10);
        policy.Started(entries: 100_000);
        policy.Saved();
        policy.Journaled(99_999);
        Assert.False(policy.Due(entries: 100_000));
        policy.Journaled();
        Assert.True(policy.Due(entries: 100_000));
    }

    [Fact]
    public void An_entity_with_packed_entries_snapshots_once_its_events_weigh_as_much_as_its_entries()
    {
        // 16 packed entries cost about one journal row: 100,000 entries weigh 6,250 events.
        var policy = new SnapshotPolicy(floor: 10, entriesPerEvent: 16);
        policy.Started(entries: 100_000);
        policy.Saved();
        policy.Journaled(6_249);
        Assert.False(policy.Due(entries: 100_000));
        policy.Journaled();
        Assert.True(policy.Due(entries: 100_000));
        // The floor still holds for a small entity.
        policy.Started(entries: 100);
        policy.Saved();
        policy.Journaled(9);
        Assert.False(policy.Due(entries: 100));
        policy.Journaled();
        Assert.True(policy.Due(entries: 100));
    }

    [Fact]
    public void An_entity_that_only_grows_snapshots_again_once_its_events_match_the_last_snapshot()
    {
        // Each event adds an entry: 1,000 events after a snapshot of 1,000 the entity holds 2,000.
        var policy = new SnapshotPolicy(floor: 10);
        policy.Started(entries: 1_000);
        policy.Saved();
        policy.Journaled(999);
        Assert.False(policy.Due(entries: 1_999));
        policy.Journaled();
        Assert.True(policy.Due(entries: 2_000));
    }

    [Fact]
    public void An_entity_that_shrank_snapshots_once_its_events_match_its_size_now()
    {
        var policy = new SnapshotPolicy(floor: 10);
        policy.Started(entries: 1_000);
        policy.Saved();
        policy.Journaled(49);
        Assert.False(policy.Due(entries: 50));
        policy.Journaled();
        Assert.True(policy.Due(entries: 50));
    }

    [Fact]
    public void A_fresh_entity_snapshots_at_the_floor_whatever_its_size()
    {
        var policy = new SnapshotPolicy(floor: 10);
        policy.Journaled(9);
        Assert.False(policy.Due(entries: 9));
        policy.Journaled();
        Assert.True(policy.Due(entries: 10));
    }

    [Fact]
    public void A_growing_entity_snapshots_at_sizes_that_double()
    {
        var policy = new SnapshotPolicy(floor: 16);
        var sizes = new List<long>();
        for (long entries = 1; entries <= 1_000; entries++)
        {
            policy.Journaled();
            if (!policy.Due(entries))
                continue;
            policy.Started(entries);
            policy.Saved();
            sizes.Add(entries);
        }
        Assert.Equal([16L, 32, 64, 128, 256, 512], sizes);
    }

    [Fact]
    public void No_second_snapshot_starts_while_one_is_being_written_and_events_meanwhile_count_toward_the_next()
    {
        var policy = new SnapshotPolicy(floor: 5);
        policy.Journaled(5);
        policy.Started(entries: 3);
        policy.Journaled(7);
        Assert.False(policy.Due(entries: 3));
        policy.Saved();
        Assert.Equal(7, policy.SinceSnapshot);
        Assert.True(policy.Due(entries: 3));
    }

    [Fact]
    public void A_failed_snapshot_leaves_the_events_it_covered_counted()
    {
        var policy = new SnapshotPolicy(floor: 5);
        policy.Journaled(6);
        policy.Started(entries: 2);
        policy.Journaled(1);
        policy.Failed();
        Assert.Equal(7, policy.SinceSnapshot);
        Assert.True(policy.Due(entries: 2));
    }

    [Fact]
    public void Recovery_counts_the_events_replayed_behind_the_snapshot()
    {
        var policy = new SnapshotPolicy(floor: 10);
        policy.Recovered(snapshotSequenceNr: 1_000, snapshotEntries: 400, lastSequenceNr: 1_390);
        Assert.Equal(390, policy.SinceSnapshot);
        Assert.Equal(400, policy.SnapshotEntries);
        Assert.False(policy.Due(entries: 400));
        policy.Journaled(10);
        Assert.True(policy.Due(entries: 400));
    }

    [Fact]
    public void Recovery_without_a_snapshot_counts_every_event()
    {
        var policy = new SnapshotPolicy(floor: 3);
        policy.Recovered(snapshotSequenceNr: 0, snapshotEntries: 0, lastSequenceNr: 4);
        Assert.True(policy.Due(entries: 1));
    }

    /// <summary>
    /// The amortization: whatever the sizes an entity goes through, an event adding or removing at
    /// most one entry, the entries written in snapshots stay within twice the events journaled (a
    /// snapshot written when the entity grew since the last one holds at most the last one's size
    /// plus the events since), so writing snapshots costs O(1) per event; and after each event
    /// (snapshots written at once) the journal behind the newest snapshot holds fewer events than
    /// max(floor, snapshot entries), which bounds recovery.
    /// </summary>
    [Property(MaxTest = 300)]
    public bool Snapshot_entries_written_stay_within_twice_the_events_journaled_and_the_tail_stays_bounded(PositiveInt floorSeed, int[] steps)
    {
        var floor = floorSeed.Get % 50 + 1;
        var policy = new SnapshotPolicy(floor);
        long events = 0, written = 0, entries = 0;
        foreach (var step in steps)
        {
            // Mostly growth, so the entity reaches sizes well past the floor.
            entries = Math.Max(0, entries + (((step & 0x7fffffff) % 4) switch { 0 => -1, 1 => 0, _ => 1 }));
            policy.Journaled();
            events++;
            if (policy.Due(entries))
            {
                policy.Started(entries);
                policy.Saved();
                written += entries;
            }
            if (policy.SinceSnapshot >= Math.Max(floor, policy.SnapshotEntries))
                return false;
        }
        return written <= 2 * events;
    }
}
