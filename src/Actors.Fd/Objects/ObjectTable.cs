using System.Collections.Immutable;
using IommuActors.Uapi;

namespace IommuActors.Fd.Objects;

/// <summary>The kinds of object an iommufd context holds (the kernel's IOMMUFD_OBJ_* types).</summary>
public enum ObjectKind
{
    Device,
    HwptPaging,
    HwptNested,
    Ioas,
    Access,
    Fault,
    Viommu,
    Vdevice,
    Veventq,
    HwQueue,
    Selftest,
}

/// <summary>One entry of the table: its ID, kind and the objects it holds a use on.</summary>
public sealed record ContextObject(uint Id, ObjectKind Kind, ImmutableSortedSet<uint> Uses);

/// <summary>
/// The object table of one iommufd context. IDs are allocated as the kernel's xarray does for
/// it (XA_FLAGS_ALLOC1 with a 31-bit limit): the lowest free ID from 1, reused after a destroy.
/// An object another object uses cannot be destroyed (EBUSY), and closing the context destroys
/// leaves first.
/// </summary>
public sealed class ObjectTable
{
    public const uint MaxId = int.MaxValue;

    private readonly SortedDictionary<uint, ContextObject> _objects = new();
    private readonly Dictionary<uint, int> _usedBy = new();
    private readonly SortedSet<uint> _freedBelowNext = new();
    private readonly SortedSet<uint> _tombstones = new();
    private uint _next = 1;
    private readonly int[] _byKind = new int[KindNames.Length];

    public int Count => _objects.Count;

    private static readonly string[] KindNames = Enum.GetNames<ObjectKind>();

    /// <summary>
    /// How many objects of each kind the table holds, kinds with none left out (for the live-objects
    /// metric: plain counters, so another thread may read them while the owner changes the table).
    /// </summary>
    public IEnumerable<(string Kind, long Count)> CountsByKind()
    {
        for (var kind = 0; kind < _byKind.Length; kind++)
            if (Volatile.Read(ref _byKind[kind]) is var count and > 0)
                yield return (KindNames[kind], count);
    }

    /// <summary>The ID the next <see cref="Add"/> hands out (0 when IDs ran out).</summary>
    public uint NextFreeId => _freedBelowNext.Count > 0 ? _freedBelowNext.Min : _next > MaxId ? 0 : _next;

    public IEnumerable<ContextObject> Objects => _objects.Values;

    /// <summary>IDs of objects gone as tombstones: no object, yet not handed out again while the context lives.</summary>
    public IEnumerable<uint> Tombstones => _tombstones;

    /// <summary>
    /// An object removed (<see cref="Remove"/>) whose ID stays taken (the kernel's
    /// iommufd_object_tombstone_user): lookups and DESTROY find nothing, and no new object gets it.
    /// </summary>
    public void KeepTaken(uint id)
    {
        if (_objects.ContainsKey(id))
            throw new InvalidOperationException($"Object {id} is still in the table.");
        _freedBelowNext.Remove(id);
        for (var free = _next; free < id; free++)
            _freedBelowNext.Add(free);
        _next = Math.Max(_next, id + 1);
        _tombstones.Add(id);
    }

    /// <summary>Adds an object that uses the given ones; ENOENT if one of them does not exist, EBUSY when IDs run out.</summary>
    public TableResult<ContextObject> Add(ObjectKind kind, params uint[] uses)
    {
        if (uses.FirstOrDefault(u => !_objects.ContainsKey(u)) is var missing && missing != 0)
            return TableResult<ContextObject>.Fail(Errno.ENOENT);
        if (_freedBelowNext.Count == 0 && _next > MaxId)
            return TableResult<ContextObject>.Fail(Errno.EBUSY);
        uint id;
        if (_freedBelowNext.Count > 0)
        {
            id = _freedBelowNext.Min;
            _freedBelowNext.Remove(id);
        }
        else
        {
            id = _next++;
        }
        var entry = new ContextObject(id, kind, [.. uses]);
        Insert(entry);
        return TableResult<ContextObject>.Ok(entry);
    }

    /// <summary>Puts an object back under the ID it had: recovery of a persisted context.</summary>
    public void Restore(ContextObject entry)
    {
        if (_objects.ContainsKey(entry.Id))
            throw new InvalidOperationException($"Object {entry.Id} is already in the table.");
        _freedBelowNext.Remove(entry.Id);
        for (var id = _next; id < entry.Id; id++)
            if (!_tombstones.Contains(id))
                _freedBelowNext.Add(id);
        _next = Math.Max(_next, entry.Id + 1);
        Insert(entry);
    }

    /// <summary>A lookup by ID for a command that wants one kind: a missing or other-kind ID is ENOENT.</summary>
    public TableResult<ContextObject> Get(uint id, params ObjectKind[] kinds)
    {
        if (!_objects.TryGetValue(id, out var entry) || (kinds.Length > 0 && !kinds.Contains(entry.Kind)))
            return TableResult<ContextObject>.Fail(Errno.ENOENT);
        return TableResult<ContextObject>.Ok(entry);
    }

    public int UsersOf(uint id) => _usedBy.GetValueOrDefault(id);

    /// <summary>Can the object be destroyed now: 0, or ENOENT / EBUSY as IOMMU_DESTROY answers.</summary>
    public int CheckRemovable(uint id)
    {
        if (!_objects.ContainsKey(id))
            return Errno.ENOENT;
        return UsersOf(id) > 0 ? Errno.EBUSY : 0;
    }

    public TableResult<ContextObject> Remove(uint id)
    {
        var check = CheckRemovable(id);
        if (check != 0)
            return TableResult<ContextObject>.Fail(check);
        var entry = _objects[id];
        _objects.Remove(id);
        Interlocked.Decrement(ref _byKind[(int)entry.Kind]);
        foreach (var used in entry.Uses)
            _usedBy[used]--;
        _usedBy.Remove(id);
        _freedBelowNext.Add(id);
        return TableResult<ContextObject>.Ok(entry);
    }

    /// <summary>Replaces what an object uses (attach, replace, detach), keeping the counts right.</summary>
    public int ChangeUses(uint id, ImmutableSortedSet<uint> uses)
    {
        if (!_objects.TryGetValue(id, out var entry))
            return Errno.ENOENT;
        if (uses.Any(u => !_objects.ContainsKey(u)))
            return Errno.ENOENT;
        foreach (var old in entry.Uses)
            _usedBy[old]--;
        foreach (var used in uses)
            _usedBy[used] = _usedBy.GetValueOrDefault(used) + 1;
        _objects[id] = entry with { Uses = uses };
        return 0;
    }

    /// <summary>
    /// The order in which closing the context destroys everything: objects nobody uses first,
    /// then those their destruction freed, as the kernel's release does.
    /// </summary>
    public IReadOnlyList<ContextObject> TeardownOrder()
    {
        var users = new Dictionary<uint, int>(_usedBy);
        var remaining = new SortedDictionary<uint, ContextObject>(_objects);
        var order = new List<ContextObject>(remaining.Count);
        while (remaining.Count > 0)
        {
            var leaves = remaining.Values.Where(o => users.GetValueOrDefault(o.Id) == 0).ToList();
            if (leaves.Count == 0)
                throw new InvalidOperationException("The object graph has a cycle: " + string.Join(",", remaining.Keys));
            foreach (var leaf in leaves)
            {
                remaining.Remove(leaf.Id);
                order.Add(leaf);
                foreach (var used in leaf.Uses)
                    users[used]--;
            }
        }
        return order;
    }

    private void Insert(ContextObject entry)
    {
        _objects.Add(entry.Id, entry);
        Interlocked.Increment(ref _byKind[(int)entry.Kind]);
        foreach (var used in entry.Uses)
            _usedBy[used] = _usedBy.GetValueOrDefault(used) + 1;
    }
}

/// <summary>A value or the errno that stands for why there is none.</summary>
public readonly record struct TableResult<T>(T? Value, int Errno)
{
    public bool IsOk => Errno == 0;

    public static TableResult<T> Ok(T value) => new(value, 0);

    public static TableResult<T> Fail(int errno) => new(default, errno);
}
