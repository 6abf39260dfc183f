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

/// <summary>
/// The PASIDs of one set (one VM): quota, per-PASID state and references, bind counts (level
/// semantics: first bind / last unbind), and the SPID (guest PASID) alias with no duplicates.
/// A FREE_PENDING PASID still counts against the quota until it is reclaimed.
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
    }

    private readonly SortedDictionary<int, Entry> _entries = new();
    private readonly Dictionary<int, int> _bySpid = new();

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

    public int AdjustQuota(int quota) => quota < _entries.Count || quota < 0 ? PasidErrno.EINVAL : Set(() => Quota = quota);

    /// <summary>Whether one more PASID fits the quota; ask before leasing from the space.</summary>
    public int CheckRoom() => _entries.Count >= Quota ? PasidErrno.EDQUOT : PasidErrno.Ok;

    /// <summary>Adds a PASID leased from the space: IDLE with the allocation's reference.</summary>
    public int Admit(int pasid)
    {
        if (pasid <= 0 || pasid > PasidSpace.MaxPasid)
            return PasidErrno.EINVAL;
        if (_entries.ContainsKey(pasid))
            return PasidErrno.EEXIST;
        if (_entries.Count >= Quota)
            return PasidErrno.EDQUOT;
        _entries[pasid] = new Entry { State = PasidState.Idle, Refs = 1 };
        return PasidErrno.Ok;
    }

    /// <summary>Takes a reference; a FREE_PENDING PASID has left the set and is unobtainable.</summary>
    public int Get(int pasid)
    {
        var errno = Usable(pasid, out var e);
        if (errno != PasidErrno.Ok)
            return errno;
        e!.Refs++;
        e.State = PasidState.Active;
        return PasidErrno.Ok;
    }

    /// <summary>Drops a reference. Reclaimable reports that the last reference of a FREE_PENDING PASID went and no acks are owed.</summary>
    public (int Errno, bool Reclaimable) Put(int pasid)
    {
        if (!_entries.TryGetValue(pasid, out var e))
            return (PasidErrno.ENOENT, false);
        if (e.Refs == 0)
            return (PasidErrno.EINVAL, false);
        e.Refs--;
        if (e.State == PasidState.Active && e.Refs <= 1 && e.Binds == 0)
            e.State = PasidState.Idle;
        return (PasidErrno.Ok, IsReclaimable(e));
    }

    /// <summary>Binds the PASID (device or page table), optionally attaching its SPID. FirstBind means BIND is published.</summary>
    public (int Errno, bool FirstBind) Bind(int pasid, int? spid)
    {
        var errno = Usable(pasid, out var e);
        if (errno != PasidErrno.Ok)
            return (errno, false);
        if (spid is { } s && e!.Spid != s)
        {
            if (s <= 0)
                return (PasidErrno.EINVAL, false);
            if (_bySpid.ContainsKey(s))
                return (PasidErrno.EEXIST, false);
            if (e.Spid is { } old)
                return (PasidErrno.EBUSY, false);
            e.Spid = s;
            _bySpid[s] = pasid;
        }
        e!.Binds++;
        e.Refs++;
        e.State = PasidState.Active;
        return (PasidErrno.Ok, e.Binds == 1);
    }

    /// <summary>Unbinds once; LastUnbind means UNBIND is published and the SPID is detached. Allowed while FREE_PENDING.</summary>
    public (int Errno, bool LastUnbind, bool Reclaimable) Unbind(int pasid)
    {
        if (!_entries.TryGetValue(pasid, out var e))
            return (PasidErrno.ENOENT, false, false);
        if (e.Binds == 0)
            return (PasidErrno.EINVAL, false, false);
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
        return (PasidErrno.Ok, last, IsReclaimable(e));
    }

    /// <summary>Finds the host PASID of a guest PASID, optionally taking a reference (VDCM programming a queue).</summary>
    public (int Errno, int Pasid) FindBySpid(int spid, bool takeRef)
    {
        if (!_bySpid.TryGetValue(spid, out var pasid))
            return (PasidErrno.ENOENT, 0);
        if (takeRef)
        {
            var errno = Get(pasid);
            if (errno != PasidErrno.Ok)
                return (errno, 0);
        }
        return (PasidErrno.Ok, pasid);
    }

    /// <summary>
    /// ioasid free: always succeeds on an owned PASID. It leaves the set at once (FREE_PENDING), drops the
    /// allocation's reference, and waits for acknowledgements when <paramref name="awaitAcks"/>.
    /// </summary>
    public (int Errno, FreeOutcome Outcome, bool Reclaimable) Free(int pasid, bool awaitAcks)
    {
        if (!_entries.TryGetValue(pasid, out var e))
            return (PasidErrno.ENOENT, FreeOutcome.AlreadyPending, false);
        if (e.State == PasidState.FreePending)
            return (PasidErrno.Ok, FreeOutcome.AlreadyPending, false);
        e.State = PasidState.FreePending;
        // The allocation's reference may already have been put by a misbehaving user; free still succeeds.
        if (e.Refs > 0)
            e.Refs--;
        e.AwaitingAcks = awaitAcks;
        return (PasidErrno.Ok, FreeOutcome.NowPending, IsReclaimable(e));
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
    public int Remove(int pasid)
    {
        if (!_entries.Remove(pasid, out var e))
            return PasidErrno.ENOENT;
        if (e.Spid is { } s)
            _bySpid.Remove(s);
        return PasidErrno.Ok;
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
            return PasidErrno.ENOENT;
        return PasidErrno.Ok;
    }

    private static int Set(Action a)
    {
        a();
        return PasidErrno.Ok;
    }
}
