using System.Collections.Immutable;
using System.Collections;
using IommuActors.Uapi;

namespace IommuActors.Ioasid.Pasid;

/// <summary>
/// The system-wide PASID space: a 20-bit range of which [First, Last] is usable, at most
/// Capacity PASIDs out at once (leased or quarantined). PASID 0 (RID_PASID) is never handed out.
/// </summary>
public sealed class PasidSpace
{
    public const int Width = 20;
    public const int MaxPasid = (1 << Width) - 1;

    private readonly BitArray _taken;
    private readonly Dictionary<int, string> _owners = new();
    private readonly HashSet<int> _quarantined = new();
    private int _cursor;

    public PasidSpace(int first, int last, int capacity)
    {
        if (first < 1 || last > MaxPasid || first > last || capacity < 0)
            throw new ArgumentOutOfRangeException(nameof(first), "usable range must lie in [1, 2^20-1]");
        First = first;
        Last = last;
        Capacity = capacity;
        _taken = new BitArray(last + 1);
        _cursor = first;
    }

    public int First { get; }
    public int Last { get; }
    public int Capacity { get; }
    public int Leased => _owners.Count;
    public int Quarantined => _quarantined.Count;
    public int InUse => _owners.Count + _quarantined.Count;

    public IReadOnlyDictionary<int, string> Owners => _owners;
    public IReadOnlyCollection<int> QuarantinedPasids => _quarantined;

    public string? OwnerOf(int pasid) => _owners.GetValueOrDefault(pasid);

    /// <summary>The PASIDs leased to <paramref name="owner"/>, ascending.</summary>
    public IReadOnlyList<int> LeasesOf(string owner) => _owners.Where(kv => kv.Value == owner).Select(kv => kv.Key).Order().ToList();
    public bool IsQuarantined(int pasid) => _quarantined.Contains(pasid);

    /// <summary>Leases one PASID to <paramref name="owner"/>: the lowest free one at or after the cursor, wrapping.</summary>
    public (int Errno, int Pasid) Lease(string owner)
    {
        var block = LeaseBlock(owner, 1);
        return (block.Errno, block.Pasids.Length == 1 ? block.Pasids[0] : 0);
    }

    /// <summary>Leases <paramref name="count"/> PASIDs at once, or none (ENOSPC) when they do not all fit.</summary>
    public (int Errno, int[] Pasids) LeaseBlock(string owner, int count)
    {
        if (count < 1)
            return (Errno.EINVAL, []);
        if (InUse + count > Capacity || InUse + count > Last - First + 1)
            return (Errno.ENOSPC, []);
        var result = new int[count];
        for (var i = 0; i < count; i++)
        {
            while (_taken[_cursor])
                _cursor = _cursor == Last ? First : _cursor + 1;
            result[i] = _cursor;
            Take(_cursor, owner);
        }
        return (0, result);
    }

    /// <summary>Marks a specific PASID leased (journal replay, or a platform needing vPASID == pPASID).</summary>
    public int LeaseExact(string owner, int pasid)
    {
        if (pasid < First || pasid > Last)
            return Errno.EINVAL;
        if (_taken[pasid])
            return Errno.EEXIST;
        if (InUse + 1 > Capacity)
            return Errno.ENOSPC;
        Take(pasid, owner);
        return 0;
    }

    /// <summary>Returns a PASID to the pool; only its owner may.</summary>
    public int Release(string owner, int pasid)
    {
        var errno = CheckOwner(owner, pasid);
        if (errno != 0)
            return errno;
        _owners.Remove(pasid);
        _taken[pasid] = false;
        return 0;
    }

    /// <summary>Keeps a PASID out of circulation because someone may still use it; it still counts against capacity.</summary>
    public int Quarantine(string owner, int pasid)
    {
        var errno = CheckOwner(owner, pasid);
        if (errno != 0)
            return errno;
        _owners.Remove(pasid);
        _quarantined.Add(pasid);
        return 0;
    }

    /// <summary>An operator (or a late acknowledgement) declares a quarantined PASID safe again.</summary>
    public int ClearQuarantine(int pasid)
    {
        if (!_quarantined.Remove(pasid))
            return Errno.ENOENT;
        _taken[pasid] = false;
        return 0;
    }

    public PasidSpaceProtocol.SpaceSnapshot Snapshot() =>
        new(_owners.ToImmutableDictionary(), _quarantined.Order().ToImmutableArray(), _cursor);

    /// <summary>Replaces the whole state with a snapshot's, cursor included, so the next lease is the one it would have been.</summary>
    public void Restore(PasidSpaceProtocol.SpaceSnapshot snapshot)
    {
        _taken.SetAll(false);
        _owners.Clear();
        _quarantined.Clear();
        foreach (var (pasid, owner) in snapshot.Owners)
        {
            _taken[pasid] = true;
            _owners[pasid] = owner;
        }
        foreach (var pasid in snapshot.Quarantined)
        {
            _taken[pasid] = true;
            _quarantined.Add(pasid);
        }
        _cursor = snapshot.Cursor;
    }

    private int CheckOwner(string owner, int pasid)
    {
        if (pasid < First || pasid > Last)
            return Errno.EINVAL;
        if (!_owners.TryGetValue(pasid, out var holder))
            return Errno.ENOENT;
        return holder == owner ? 0 : Errno.EACCES;
    }

    private void Take(int pasid, string owner)
    {
        _taken[pasid] = true;
        _owners[pasid] = owner;
        _quarantined.Remove(pasid);
        _cursor = pasid == Last ? First : pasid + 1;
    }
}
