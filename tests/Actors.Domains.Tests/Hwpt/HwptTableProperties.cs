using FsCheck.Xunit;
using IommuActors.Domains.Hwpt;
using static IommuActors.Domains.Hwpt.HwptProtocol;

namespace IommuActors.Domains.Tests.Hwpt;

/// <summary>
/// Random allocate/attach/detach/destroy sequences over a HwptTable, driven the way the IOAS actor
/// drives it (its queries decide, its events change it), checked against a plain list of HWPTs in
/// creation order after every step.
/// </summary>
public sealed class HwptTableProperties
{
    private const int Devices = 4;
    private const uint MaxId = 4;
    private static readonly string[] Units = ["u0", "u1"];

    private sealed class ModelHwpt(uint id, HwptKind kind, string unit, bool auto, uint parent)
    {
        public uint Id { get; } = id;
        public HwptKind Kind { get; } = kind;
        public string Unit { get; } = unit;
        public bool Auto { get; } = auto;
        public uint Parent { get; } = parent;
        public SortedSet<string> Devices { get; } = [];
    }

    private static string Pci(int d) => $"0000:00:0{d}.0";

    /// <summary>A device sits on one unit; attaching it elsewhere is EINVAL.</summary>
    private static string UnitOf(int d) => Units[d % 2];

    [Property(MaxTest = 1000)]
    public bool Random_sequences_keep_every_device_attached_once_and_agree_with_the_model(int[] raw)
    {
        var table = new HwptTable();
        var model = new List<ModelHwpt>();
        for (var i = 0; i < raw.Length; i++)
        {
            var x = OperationBits.Of(raw[i], i);
            var op = x % 6;
            var a = x >> 4;
            var b = x >> 12;
            var replace = (x >> 20) % 2 != 0;
            int expected, actual;
            switch (op)
            {
                case 0:
                    actual = AllocatePaging(table, a % MaxId + 1, Units[b % 2]);
                    expected = ModelAllocatePaging(model, a % MaxId + 1, Units[b % 2]);
                    break;
                case 1:
                    actual = AllocateNested(table, a % MaxId + 1, b % MaxId + 1);
                    expected = ModelAllocateNested(model, a % MaxId + 1, b % MaxId + 1);
                    break;
                case 2:
                    actual = AttachToIoas(table, (int)(a % Devices), replace);
                    expected = ModelAttachToIoas(model, (int)(a % Devices), replace);
                    break;
                case 3:
                    actual = AttachToHwpt(table, (int)(a % Devices), b % MaxId + 1, replace);
                    expected = ModelAttachToHwpt(model, (int)(a % Devices), b % MaxId + 1, replace);
                    break;
                case 4:
                    actual = Detach(table, (int)(a % Devices));
                    expected = ModelDetach(model, (int)(a % Devices));
                    break;
                default:
                    actual = Destroy(table, a % MaxId + 1);
                    expected = ModelDestroy(model, a % MaxId + 1);
                    break;
            }
            if (actual != expected || !Invariants(table) || !SameAsModel(table, model) || !SurvivesRecords(table))
                return false;
        }
        return true;
    }

    [Property(MaxTest = 200)]
    public bool An_automatic_HWPT_goes_with_its_last_device_however_the_devices_leave(int[] raw)
    {
        var table = new HwptTable();
        for (var d = 0; d < Devices; d++)
            AttachToIoas(table, d, replace: false);
        for (var i = 0; i < raw.Length; i++)
        {
            var x = OperationBits.Of(raw[i], i);
            var d = (int)(x % Devices);
            if ((x >> 4) % 3 == 0)
                Detach(table, d);
            else if ((x >> 4) % 3 == 1)
                AttachToIoas(table, d, replace: true);
            else
                AttachToHwpt(table, d, (x >> 8) % MaxId + 1, replace: true);
            if (table.All.Values.Any(h => h.Auto && h.Devices.Count == 0))
                return false;
        }
        return true;
    }

    // The driver: what the IOAS actor checks with the table's queries, and the events it then applies.

    private static HwptCreated Created(uint id, HwptKind kind, string unit, bool auto, uint parent, uint flags) =>
        new(id, kind, unit, (int)id + 100, auto, flags, parent, DataNone, [], [], [], kind == HwptKind.Paging ? 4096UL : 0);

    private static int AllocatePaging(HwptTable t, uint id, string unit)
    {
        if (t.Find(id) is not null)
            return Errno.EEXIST;
        t.Apply(Created(id, HwptKind.Paging, unit, false, 0, AllocNestParent));
        return 0;
    }

    private static int AllocateNested(HwptTable t, uint id, uint parentId)
    {
        var parent = t.Find(parentId);
        var rc = parent is null ? Errno.ENOENT
            : !parent.IsPaging || parent.Auto ? Errno.EINVAL
            : t.Find(id) is not null ? Errno.EEXIST
            : 0;
        if (rc == 0)
            t.Apply(Created(id, HwptKind.Nested, parent!.Unit, false, parentId, 0));
        return rc;
    }

    /// <summary>The context hands out the lowest free object ID.</summary>
    private static uint LowestFree(IEnumerable<uint> used)
    {
        var taken = used.ToHashSet();
        uint id = 1;
        while (taken.Contains(id))
            id++;
        return id;
    }

    private static int AttachToIoas(HwptTable t, int d, bool replace)
    {
        var key = (Pci(d), NoPasid);
        var current = t.Attachments.TryGetValue(key, out var cur) ? t.Find(cur) : null;
        if (current is not null && !replace)
            return Errno.EBUSY;
        var candidate = t.CompatibleAuto(UnitOf(d));
        if (current is not null && candidate is not null && current.Id == candidate.Id)
            return 0;
        var id = candidate?.Id ?? LowestFree(t.All.Keys);
        var abandoned = current is { Auto: true, Devices.Count: 1 };
        if (candidate is null)
            t.Apply(Created(id, HwptKind.Paging, UnitOf(d), true, 0, 0));
        t.Apply(new HwptDeviceAttached(id, Pci(d), NoPasid, []));
        if (abandoned)
            t.Apply(new HwptRemoved(current!.Id));
        return 0;
    }

    private static int AttachToHwpt(HwptTable t, int d, uint id, bool replace)
    {
        var key = (Pci(d), NoPasid);
        var target = t.Find(id);
        var current = t.Attachments.TryGetValue(key, out var cur) ? t.Find(cur) : null;
        var rc = target is null ? Errno.ENOENT
            : current is not null && !replace ? Errno.EBUSY
            : target.Unit != UnitOf(d) ? Errno.EINVAL
            : 0;
        if (rc != 0 || current?.Id == id)
            return rc;
        var abandoned = current is { Auto: true, Devices.Count: 1 };
        t.Apply(new HwptDeviceAttached(id, Pci(d), NoPasid, []));
        if (abandoned)
            t.Apply(new HwptRemoved(current!.Id));
        return 0;
    }

    private static int Detach(HwptTable t, int d)
    {
        if (!t.Attachments.TryGetValue((Pci(d), NoPasid), out var id) || t.Find(id) is not { } h)
            return Errno.ENOENT;
        var destroy = h is { Auto: true, Devices.Count: 1 };
        t.Apply(new HwptDeviceDetached(Pci(d), NoPasid));
        if (destroy)
            t.Apply(new HwptRemoved(id));
        return 0;
    }

    private static int Destroy(HwptTable t, uint id)
    {
        var rc = t.CheckDestroy(id);
        if (rc == 0)
            t.Apply(new HwptRemoved(id));
        return rc;
    }

    // The reference model: a list in creation order, rules written out plainly.

    private static ModelHwpt? Find(List<ModelHwpt> m, uint id) => m.FirstOrDefault(h => h.Id == id);

    private static ModelHwpt? HolderOf(List<ModelHwpt> m, int d) => m.FirstOrDefault(h => h.Devices.Contains(Pci(d)));

    private static int ModelAllocatePaging(List<ModelHwpt> m, uint id, string unit)
    {
        if (Find(m, id) is not null)
            return Errno.EEXIST;
        m.Add(new ModelHwpt(id, HwptKind.Paging, unit, false, 0));
        return 0;
    }

    private static int ModelAllocateNested(List<ModelHwpt> m, uint id, uint parentId)
    {
        var parent = Find(m, parentId);
        if (parent is null)
            return Errno.ENOENT;
        if (parent.Kind != HwptKind.Paging || parent.Auto)
            return Errno.EINVAL;
        if (Find(m, id) is not null)
            return Errno.EEXIST;
        m.Add(new ModelHwpt(id, HwptKind.Nested, parent.Unit, false, parentId));
        return 0;
    }

    /// <summary>Moving a device off an automatic HWPT it was the last user of destroys that HWPT.</summary>
    private static void Leave(List<ModelHwpt> m, ModelHwpt from, int d)
    {
        from.Devices.Remove(Pci(d));
        if (from.Auto && from.Devices.Count == 0)
            m.Remove(from);
    }

    private static int ModelAttachToIoas(List<ModelHwpt> m, int d, bool replace)
    {
        var current = HolderOf(m, d);
        if (current is not null && !replace)
            return Errno.EBUSY;
        // iommufd_device_auto_get_domain: the first automatic HWPT of the unit, in creation order.
        var target = m.FirstOrDefault(h => h.Auto && h.Kind == HwptKind.Paging && h.Unit == UnitOf(d));
        if (target is not null && target == current)
            return 0;
        if (target is null)
        {
            target = new ModelHwpt(LowestFree(m.Select(h => h.Id)), HwptKind.Paging, UnitOf(d), true, 0);
            m.Add(target);
        }
        target.Devices.Add(Pci(d));
        if (current is not null)
            Leave(m, current, d);
        return 0;
    }

    private static int ModelAttachToHwpt(List<ModelHwpt> m, int d, uint id, bool replace)
    {
        var target = Find(m, id);
        var current = HolderOf(m, d);
        if (target is null)
            return Errno.ENOENT;
        if (current is not null && !replace)
            return Errno.EBUSY;
        if (target.Unit != UnitOf(d))
            return Errno.EINVAL;
        if (target == current)
            return 0;
        target.Devices.Add(Pci(d));
        if (current is not null)
            Leave(m, current, d);
        return 0;
    }

    private static int ModelDetach(List<ModelHwpt> m, int d)
    {
        var current = HolderOf(m, d);
        if (current is null)
            return Errno.ENOENT;
        Leave(m, current, d);
        return 0;
    }

    private static int ModelDestroy(List<ModelHwpt> m, uint id)
    {
        var h = Find(m, id);
        if (h is null)
            return Errno.ENOENT;
        if (h.Devices.Count > 0 || m.Any(c => c.Kind == HwptKind.Nested && c.Parent == id))
            return Errno.EBUSY;
        m.Remove(h);
        return 0;
    }

    // Checks.

    /// <summary>Each device in one HWPT, the attachment index agreeing with it; no orphaned child; no automatic HWPT without devices.</summary>
    private static bool Invariants(HwptTable t)
    {
        var seen = new HashSet<(string, int)>();
        foreach (var h in t.All.Values)
        {
            foreach (var d in h.Devices)
            {
                if (!seen.Add(d) || !t.Attachments.TryGetValue(d, out var id) || id != h.Id)
                    return false;
            }
            if (h.Kind == HwptKind.Nested && t.Find(h.ParentId) is not { IsPaging: true })
                return false;
            if (h.Auto && h.Devices.Count == 0)
                return false;
        }
        return seen.Count == t.Attachments.Count;
    }

    private static bool SameAsModel(HwptTable t, List<ModelHwpt> m)
    {
        var actual = t.All.Values.OrderBy(h => h.Id)
            .Select(h => (h.Id, h.Kind, h.Unit, h.Auto, h.ParentId, string.Join(",", h.Devices.Select(d => d.Pci))));
        var expected = m.OrderBy(h => h.Id)
            .Select(h => (h.Id, h.Kind, h.Unit, h.Auto, h.Parent, string.Join(",", h.Devices)));
        if (!actual.SequenceEqual(expected))
            return false;
        foreach (var unit in Units)
        {
            var auto = m.FirstOrDefault(h => h.Auto && h.Unit == unit)?.Id;
            if (t.CompatibleAuto(unit)?.Id != auto)
                return false;
        }
        for (uint id = 1; id <= MaxId + 1; id++)
        {
            var h = Find(m, id);
            var expect = h is null ? Errno.ENOENT
                : h.Devices.Count > 0 || m.Any(c => c.Kind == HwptKind.Nested && c.Parent == id) ? Errno.EBUSY : 0;
            if (t.CheckDestroy(id) != expect || t.HasChildren(id) != m.Any(c => c.Kind == HwptKind.Nested && c.Parent == id))
                return false;
        }
        // The domains a map must reach: every paging HWPT.
        return t.Paging.Select(h => h.Id).Order().SequenceEqual(m.Where(h => h.Kind == HwptKind.Paging).Select(h => h.Id).Order());
    }

    /// <summary>What a snapshot keeps is the table: restored from its records it answers the same.</summary>
    private static bool SurvivesRecords(HwptTable t)
    {
        var copy = new HwptTable();
        copy.Restore(t.Records());
        return copy.Records().SequenceEqual(t.Records(), RecordComparer.Instance)
            && copy.Attachments.OrderBy(kv => kv.Key).SequenceEqual(t.Attachments.OrderBy(kv => kv.Key))
            && Units.All(u => copy.CompatibleAuto(u)?.Id == t.CompatibleAuto(u)?.Id);
    }

    private sealed class RecordComparer : IEqualityComparer<HwptRecord>
    {
        public static readonly RecordComparer Instance = new();

        public bool Equals(HwptRecord? x, HwptRecord? y) =>
            x is not null && y is not null && x.HwptId == y.HwptId && x.Kind == y.Kind && x.Unit == y.Unit && x.DomainId == y.DomainId
            && x.Auto == y.Auto && x.Flags == y.Flags && x.ParentHwptId == y.ParentHwptId && x.DirtyTracking == y.DirtyTracking
            && x.Devices.SequenceEqual(y.Devices) && x.MockIotlb.SequenceEqual(y.MockIotlb) && x.PageSizes == y.PageSizes;

        public int GetHashCode(HwptRecord r) => r.HwptId.GetHashCode();
    }
}
