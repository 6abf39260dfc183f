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
        policy.Journaled(99_999);
        Assert.False(policy.Due(entries: 100_000));
        policy.Journaled();
        Assert.True(policy.Due(entries: 100_000));
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
    /// The amortization: whatever the sizes an entity goes through, the entries written in snapshots
    /// never exceed the events journaled, so writing snapshots costs O(1) per event; and after each
    /// event (snapshots written at once) the journal behind the newest snapshot holds fewer events
    /// than max(floor, snapshot entries), which bounds recovery.
    /// </summary>
    [Property(MaxTest = 300)]
    public bool Snapshot_entries_written_never_exceed_the_events_journaled_and_the_tail_stays_bounded(PositiveInt floorSeed, int[] sizeSeeds)
    {
        var floor = floorSeed.Get % 50 + 1;
        var policy = new SnapshotPolicy(floor);
        long events = 0, written = 0;
        foreach (var seed in sizeSeeds)
        {
            var entries = (long)(seed & 0x7fffffff) % 5_000;
            policy.Journaled();
            events++;
            if (policy.Due(entries))
            {
                policy.Started(entries);
                policy.Saved();
                written += entries;
            }
            if (policy.SinceSnapshot >= Math.Max(floor, entries))
                return false;
        }
        return written <= events;
    }
}
