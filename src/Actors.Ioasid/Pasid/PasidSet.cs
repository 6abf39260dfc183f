using System.Collections.Immutable;
using IommuActors.Uapi;

namespace IommuActors.Ioasid.Pasid;

public enum PasidState
{
    Idle,
    Active,
    FreePending,
}

/// <summary>What a free or put did to a PASID, so the owner knows what to publish and reclaim.</summary>
public enum FreeOutcome
{
    /// <summary>IDLE/ACTIVE -> FREE_PENDING: publish one FREE and wait for references and acknowledgements.</summary>
    NowPending,

    /// <summary>Already FREE_PENDING: nothing new happens (one FREE per transition).</summary>
    AlreadyPending,
}

public sealed record PasidEntry(int Pasid, PasidState State, int Refs, int Binds, int? Spid, bool AwaitingAcks);

/// <summary>What one holder (a subscriber, a device binding, or "" for the user) holds on one PASID.</summary>
public sealed record PasidHold(int Pasid, string Holder, int Refs, int Binds, int? Spid, PasidState State);

/// <summary>
/// The PASIDs of one set (one VM): quota, per-PASID state and references, bind counts (level
/// semantics: first bind / last unbind), and the SPID (guest PASID) alias with no duplicates.
/// A FREE_PENDING PASID still counts against the quota until it is reclaimed.
/// References and binds are counted per holder ("" is the user, who holds the allocation's
/// reference), so a subscriber that lost its memory can ask the set what it holds.
/// </summary>
public sealed class PasidSet
{
    private sealed class Entry
    {
        public PasidState State;
        public int Refs;
        public int Binds;
        public int? Spid;
        public bool AwaitingAcks;
        public readonly SortedDictionary<string, int> Held = new(StringComparer.Ordinal);
        public readonly SortedDictionary<string, int> Bound = new(StringComparer.Ordinal);
    }

    private readonly SortedDictionary<int, Entry> _entries = new();
    private readonly Dictionary<int, int> _bySpid = new();
    private readonly SortedSet<int> _quarantinedAway = new();

    public PasidSet(string key, int quota)
    {
        Key = key;
        Quota = quota;
    }

    public string Key { get; }
    public int Quota { get; private set; }
    public int Count => _entries.Count;
    public IEnumerable<int> Pasids => _entries.Keys;

    public PasidEntry? Find(int pasid) =>
        _entries.TryGetValue(pasid, out var e) ? new PasidEntry(pasid, e.State, e.Refs, e.Binds, e.Spid, e.AwaitingAcks) : null;

    public IReadOnlyList<PasidEntry> Entries() => _entries.Keys.Select(p => Find(p)!).ToList();

    /// <summary>
    /// PASIDs this set removed as quarantined; kept until the space is seen to hold them quarantined, so a
    /// crash between the set's removal and the space's quarantine cannot turn into a release.
    /// </summary>
    public IReadOnlyCollection<int> QuarantinedAway => _quarantinedAway;

    /// <summary>Every hold whose holder starts with <paramref name="holderPrefix"/> ("" for all), by PASID then holder.</summary>
    public IReadOnlyList<PasidHold> Holds(string holderPrefix)
    {
        var holds = new List<PasidHold>();
        foreach (var (pasid, e) in _entries)
            foreach (var holder in e.Held.Keys.Union(e.Bound.Keys).Where(h => h.StartsWith(holderPrefix, StringComparison.Ordinal)).Order(StringComparer.Ordinal))
                holds.Add(new PasidHold(pasid, holder, e.Held.GetValueOrDefault(holder), e.Bound.GetValueOrDefault(holder), e.Spid, e.State));
        return holds;
    }

    /// <summary>
    /// ioasid_adjust_set: a quota in [1, 2^20-1] and not below what the set holds (FREE_PENDING PASIDs count until
    /// reclaimed, and so do <paramref name="leasesInFlight"/>); otherwise EINVAL and the quota stays as it was.
    /// </summary>
    public int AdjustQuota(int quota, int leasesInFlight = 0) =>
        quota < 1 || quota > PasidSpace.MaxPasid || quota < _entries.Count + leasesInFlight ? Errno.EINVAL : Set(() => Quota = quota);

    /// <summary>Replays a quota change the journal holds (checked when it was made).</summary>
    public void RestoreQuota(int quota) => Quota = quota;

    /// <summary>Whether one more PASID fits the quota; ask before leasing from the space.</summary>
    public int CheckRoom() => _entries.Count >= Quota ? Errno.EDQUOT : 0;

    /// <summary>Adds a PASID leased from the space: IDLE with the allocation's reference.</summary>
    public int Admit(int pasid)
    {
        if (pasid <= 0 || pasid > PasidSpace.MaxPasid)
            return Errno.EINVAL;
        if (_entries.ContainsKey(pasid))
            return Errno.EEXIST;
        if (_entries.Count >= Quota)
            return Errno.EDQUOT;
        var entry = new Entry { State = PasidState.Idle, Refs = 1 };
        entry.Held[""] = 1;
        _entries[pasid] = entry;
        _quarantinedAway.Remove(pasid);
        return 0;
    }

    /// <summary>Takes a reference; a FREE_PENDING PASID has left the set and is unobtainable.</summary>
    public int Get(int pasid, string holder = "")
    {
        var errno = Usable(pasid, out var e);
        if (errno != 0)
            return errno;
        Add(e!.Held, holder, 1);
        e.Refs++;
        e.State = PasidState.Active;
        return 0;
    }

    /// <summary>Drops a reference. Reclaimable reports that the last reference of a FREE_PENDING PASID went and no acks are owed.</summary>
    public (int Errno, bool Reclaimable) Put(int pasid, string holder = "")
    {
        if (!_entries.TryGetValue(pasid, out var e))
            return (Errno.ENOENT, false);
        // A holder can only put what it took: one subscriber cannot drop another's reference.
        if (e.Held.GetValueOrDefault(holder) == 0)
            return (Errno.EINVAL, false);
        Add(e.Held, holder, -1);
        e.Refs--;
        if (e.State == PasidState.Active && e.Refs <= 1 && e.Binds == 0)
            e.State = PasidState.Idle;
        return (0, IsReclaimable(e));
    }

    /// <summary>
    /// Binds the PASID (device or page table), optionally attaching its SPID. Publish means BIND goes to the
    /// subscribers: on the first bind, and on a later bind that attaches the guest PASID (a device attached at the
    /// PASID before PASID_MAP_GUEST), since the guest PASID is what KVM needs to learn from it.
    /// </summary>
    public (int Errno, bool Publish) Bind(int pasid, int? spid, string holder = "")
    {
        var errno = Usable(pasid, out var e);
        if (errno != 0)
            return (errno, false);
        var attached = false;
        if (spid is { } s && e!.Spid != s)
        {
            if (s <= 0)
                return (Errno.EINVAL, false);
            if (_bySpid.ContainsKey(s))
                return (Errno.EEXIST, false);
            if (e.Spid is { } old)
                return (Errno.EBUSY, false);
            e.Spid = s;
            _bySpid[s] = pasid;
            attached = true;
        }
        Add(e!.Bound, holder, 1);
        e.Binds++;
        e.Refs++;
        e.State = PasidState.Active;
        return (0, e.Binds == 1 || attached);
    }

    /// <summary>Unbinds once; LastUnbind means UNBIND is published and the SPID is detached. Allowed while FREE_PENDING.</summary>
    public (int Errno, bool LastUnbind, bool Reclaimable) Unbind(int pasid, string holder = "")
    {
        if (!_entries.TryGetValue(pasid, out var e))
            return (Errno.ENOENT, false, false);
        if (e.Bound.GetValueOrDefault(holder) == 0)
            return (Errno.EINVAL, false, false);
        Add(e.Bound, holder, -1);
        e.Binds--;
        e.Refs--;
        var last = e.Binds == 0;
        if (last && e.Spid is { } s)
        {
            _bySpid.Remove(s);
            e.Spid = null;
        }
        if (e.State == PasidState.Active && e.Refs <= 1 && e.Binds == 0)
            e.State = PasidState.Idle;
        return (0, last, IsReclaimable(e));
    }

    /// <summary>
    /// Detaches the PASID's guest PASID (SPID), leaving its binds and references as they are: what undoing a later
    /// bind that attached the guest PASID needs (the binds before it stay). Answers the SPID detached, if any.
    /// </summary>
    public int? DetachSpid(int pasid)
    {
        if (!_entries.TryGetValue(pasid, out var e) || e.Spid is not { } spid)
            return null;
        _bySpid.Remove(spid);
        e.Spid = null;
        return spid;
    }

    /// <summary>Finds the host PASID of a guest PASID, optionally taking a reference (VDCM programming a queue).</summary>
    public (int Errno, int Pasid) FindBySpid(int spid, bool takeRef, string holder = "")
    {
        if (!_bySpid.TryGetValue(spid, out var pasid))
            return (Errno.ENOENT, 0);
        if (takeRef)
        {
            var errno = Get(pasid, holder);
            if (errno != 0)
                return (errno, 0);
        }
        return (0, pasid);
    }

    /// <summary>
    /// ioasid free: succeeds once on an owned PASID. It leaves the set at once (FREE_PENDING), drops the
    /// allocation's reference, and waits for acknowledgements when <paramref name="awaitAcks"/>. A PASID already
    /// FREE_PENDING has left the set: freeing it again is ENOENT, as freeing one already reclaimed is (the
    /// answer must not depend on how fast the subscribers acknowledge the first FREE). Its guest PASID (SPID) is
    /// detached at once too, even while a device's bind still holds the PASID: the guest PASID no longer leads
    /// anywhere and may be mapped to another host PASID.
    /// </summary>
    public (int Errno, FreeOutcome Outcome, bool Reclaimable) Free(int pasid, bool awaitAcks)
    {
        if (!_entries.TryGetValue(pasid, out var e))
            return (Errno.ENOENT, FreeOutcome.AlreadyPending, false);
        if (e.State == PasidState.FreePending)
            return (Errno.ENOENT, FreeOutcome.AlreadyPending, false);
        e.State = PasidState.FreePending;
        if (e.Spid is { } spid)
        {
            _bySpid.Remove(spid);
            e.Spid = null;
        }
        // The allocation's reference may already have been put by a misbehaving user; free still succeeds.
        if (e.Held.GetValueOrDefault("") > 0)
        {
            Add(e.Held, "", -1);
            e.Refs--;
        }
        e.AwaitingAcks = awaitAcks;
        return (0, FreeOutcome.NowPending, IsReclaimable(e));
    }

    /// <summary>
    /// What a subscriber does with SET_FREED in one step: every reference and bind held by holders starting with
    /// <paramref name="holderPrefix"/> (not "", the user's) on the given PASIDs goes. Answers the PASIDs that
    /// became reclaimable.
    /// </summary>
    public IReadOnlyList<int> ReleaseHolds(string holderPrefix, IEnumerable<int> pasids)
    {
        var reclaimable = new List<int>();
        if (holderPrefix.Length == 0)
            return reclaimable;
        foreach (var pasid in pasids)
        {
            if (!_entries.TryGetValue(pasid, out var e))
                continue;
            foreach (var holder in e.Held.Keys.Where(h => h.StartsWith(holderPrefix, StringComparison.Ordinal)).ToList())
            {
                e.Refs -= e.Held[holder];
                e.Held.Remove(holder);
            }
            foreach (var holder in e.Bound.Keys.Where(h => h.StartsWith(holderPrefix, StringComparison.Ordinal)).ToList())
            {
                var n = e.Bound[holder];
                e.Refs -= n;
                e.Binds -= n;
                e.Bound.Remove(holder);
            }
            if (e.Binds == 0 && e.Spid is { } s)
            {
                _bySpid.Remove(s);
                e.Spid = null;
            }
            if (e.State == PasidState.Active && e.Refs <= 1 && e.Binds == 0)
                e.State = PasidState.Idle;
            if (IsReclaimable(e))
                reclaimable.Add(pasid);
        }
        return reclaimable;
    }

    /// <summary>All subscribers acknowledged the FREE.</summary>
    public bool Acknowledged(int pasid)
    {
        if (!_entries.TryGetValue(pasid, out var e) || e.State != PasidState.FreePending)
            return false;
        e.AwaitingAcks = false;
        return IsReclaimable(e);
    }

    /// <summary>Removes a reclaimed (or quarantined) PASID from the set; its return to the space is the caller's.</summary>
    public int Remove(int pasid, bool quarantined = false)
    {
        if (!_entries.Remove(pasid, out var e))
            return Errno.ENOENT;
        if (e.Spid is { } s)
            _bySpid.Remove(s);
        if (quarantined)
            _quarantinedAway.Add(pasid);
        return 0;
    }

    /// <summary>The space holds the PASID quarantined (or no longer under this set): nothing left to remember.</summary>
    public void QuarantineSettled(int pasid) => _quarantinedAway.Remove(pasid);

    public PasidSetProtocol.SetSnapshot Snapshot() => new(Quota,
        _entries.Select(kv => new PasidSetProtocol.SetSnapshotEntry(kv.Key, kv.Value.State, kv.Value.Spid ?? 0, kv.Value.AwaitingAcks,
            kv.Value.Held.ToImmutableDictionary(StringComparer.Ordinal), kv.Value.Bound.ToImmutableDictionary(StringComparer.Ordinal))).ToImmutableArray(),
        _quarantinedAway.ToImmutableArray());

    /// <summary>Replaces the whole state with a snapshot's; the events after it are applied on top.</summary>
    public void Restore(PasidSetProtocol.SetSnapshot snapshot)
    {
        _entries.Clear();
        _bySpid.Clear();
        _quarantinedAway.Clear();
        Quota = snapshot.Quota;
        foreach (var s in snapshot.Entries)
        {
            var e = new Entry { State = s.State, Spid = s.Spid == 0 ? null : s.Spid, AwaitingAcks = s.AwaitingAcks };
            foreach (var (holder, n) in s.Held)
                e.Held[holder] = n;
            foreach (var (holder, n) in s.Bound)
                e.Bound[holder] = n;
            e.Refs = e.Held.Values.Sum() + e.Bound.Values.Sum();
            e.Binds = e.Bound.Values.Sum();
            _entries[s.Pasid] = e;
            if (e.Spid is { } spid)
                _bySpid[spid] = s.Pasid;
        }
        _quarantinedAway.UnionWith(snapshot.QuarantinedAway);
    }

    /// <summary>VM exit: frees every PASID not yet pending; returns those that became FREE_PENDING.</summary>
    public IReadOnlyList<int> FreeAll(bool awaitAcks)
    {
        var freed = new List<int>();
        foreach (var pasid in _entries.Keys.ToList())
            if (Free(pasid, awaitAcks).Outcome == FreeOutcome.NowPending)
                freed.Add(pasid);
        return freed;
    }

    public bool IsReclaimable(int pasid) => _entries.TryGetValue(pasid, out var e) && IsReclaimable(e);

    private static bool IsReclaimable(Entry e) => e.State == PasidState.FreePending && e.Refs <= 0 && !e.AwaitingAcks;

    private int Usable(int pasid, out Entry? e)
    {
        if (!_entries.TryGetValue(pasid, out e) || e.State == PasidState.FreePending)
            return Errno.ENOENT;
        return 0;
    }

    private static void Add(SortedDictionary<string, int> counts, string holder, int delta)
    {
        var n = counts.GetValueOrDefault(holder) + delta;
        if (n == 0)
            counts.Remove(holder);
        else
            counts[holder] = n;
    }

    private static int Set(Action a)
    {
        a();
        return 0;
    }
}
