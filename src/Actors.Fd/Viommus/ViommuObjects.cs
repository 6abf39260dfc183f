using System.Collections.Immutable;
using IommuActors.Core.Messaging;
using IommuActors.Fd.Context;
using IommuActors.Fd.Objects;
using IommuActors.Hardware.Platform;
using IommuActors.Uapi.Structs;
using static IommuActors.Fd.Context.ContextProtocol;
using Errno = IommuActors.Uapi.Errno;

namespace IommuActors.Fd.Viommus;

/// <summary>
/// A VIOMMU object: its key, the unit it stands for (the iommu_dev of the device it was made
/// with), its type, and the nesting parent HWPT it holds.
/// </summary>
internal sealed record ViommuEntry(string Key, string Unit, uint Type, uint Hwpt);

/// <summary>A VDEVICE object: its key, its vIOMMU, the DEVICE it names and that device's virtual ID.</summary>
internal sealed record VdeviceEntry(string Key, uint Viommu, uint DevId, ulong VirtId);

/// <summary>
/// VIOMMU objects (viommu.c) and the ioctls of what hangs off them. IOMMU_VIOMMU_ALLOC is checked
/// by <see cref="ViommuRules"/> in the kernel's order, the driver data of the selftest's type read
/// and answered, then journaled by the context as an object that uses its parent HWPT (so DESTROY
/// of the parent is EBUSY while it lives). Runs on the context's thread; the context persists.
/// </summary>
internal sealed class ViommuObjects(IContextHost host)
{
    private readonly Dictionary<uint, ViommuEntry> _viommus = new();
    private readonly Dictionary<uint, VdeviceEntry> _vdevices = new();

    private ServedRequest Request => host.Request;

    public IReadOnlyDictionary<uint, ViommuEntry> Viommus => _viommus;

    public string? KeyOf(uint id) => _viommus.TryGetValue(id, out var v) ? v.Key : _vdevices.TryGetValue(id, out var d) ? d.Key : null;

    /// <summary>The vDEVICE of a device (under the given vIOMMU only, when one is named).</summary>
    public uint? VdeviceOfDevice(uint devId, uint? viommuId = null) =>
        _vdevices.Where(v => v.Value.DevId == devId && (viommuId is null || v.Value.Viommu == viommuId))
            .Select(v => (uint?)v.Key).FirstOrDefault();

    /// <summary>The vDEVICEs as the snapshot keeps them.</summary>
    public ImmutableDictionary<uint, VdeviceRecord> VdeviceRecords =>
        _vdevices.ToImmutableDictionary(v => v.Key, v => new VdeviceRecord(v.Value.DevId, v.Value.VirtId));

    /// <summary>After a snapshot's objects: what their rows do not hold.</summary>
    public void Restore(ImmutableDictionary<uint, VdeviceRecord>? records)
    {
        foreach (var (id, r) in records ?? ImmutableDictionary<uint, VdeviceRecord>.Empty)
            if (_vdevices.TryGetValue(id, out var v))
                _vdevices[id] = v with { DevId = r.DevId, VirtId = r.VirtId };
    }

    public string? UnitOf(uint id) => _viommus.TryGetValue(id, out var v) ? v.Unit : null;

    public uint? FlagsOf(uint id) => _viommus.TryGetValue(id, out var v) ? v.Type : null;

    /// <summary>The journal's view of vIOMMUs; runs before the context's own Apply for every event.</summary>
    public void Apply(IPersistedEvent e)
    {
        switch (e)
        {
            case ObjectCreated { Kind: ObjectKind.Viommu } c:
                _viommus[c.Id] = new ViommuEntry(c.Key, c.Pci, c.Flags, c.Uses.FirstOrDefault());
                break;
            case VdeviceCreated v:
                _vdevices[v.Id] = new VdeviceEntry(v.Key, v.ViommuId, v.DevId, v.VirtId);
                break;
            // A snapshot's row: the device and virtual ID follow in Restore.
            case ObjectCreated { Kind: ObjectKind.Vdevice } c:
                _vdevices.TryAdd(c.Id, new VdeviceEntry(c.Key, c.Uses.FirstOrDefault(), 0, 0));
                break;
            case ObjectDestroyed d:
                _viommus.Remove(d.Id);
                _vdevices.Remove(d.Id);
                break;
        }
    }

    // ---- IOMMU_VIOMMU_ALLOC ----

    public void Alloc(IommuViommuAlloc cmd, uint size)
    {
        var rc = ViommuRules.CheckHead(cmd.Flags, cmd.Type);
        if (rc != 0)
        {
            Request.Done(rc);
            return;
        }
        if (!host.TryDevice(cmd.DevId, out var dev))
        {
            Request.Done(Errno.ENOENT);
            return;
        }
        var unit = host.UnitOf(dev);
        if (!ViommuRules.UnitBacks(unit, cmd.Type))
        {
            Request.Done(Errno.EOPNOTSUPP);
            return;
        }
        var hwpt = host.Table.Get(cmd.HwptId);
        var parent = host.Hwpts.GetValueOrDefault(cmd.HwptId);
        rc = ViommuRules.CheckParent(hwpt.IsOk ? hwpt.Value!.Kind : null, parent?.Flags ?? 0, parent?.Auto ?? false);
        if (rc != 0)
        {
            Request.Done(rc);
            return;
        }
        // The mock takes driver data only when given some (user_data is NULL for data_len 0).
        if (cmd.Type != Selftest.ViommuType || cmd.DataLen == 0)
        {
            Create(cmd, size, unit);
            return;
        }
        // At most 64 KiB are read: the tail past the struct only has to be zero, and beyond that it is taken as zero.
        Request.ReadMemory(cmd.DataUptr, Math.Min(cmd.DataLen, 1u << 16), data =>
        {
            var check = ViommuRules.CheckSelftestData(data);
            if (check != 0)
            {
                Request.Done(check);
                return;
            }
            Request.WriteMemory(cmd.DataUptr, ViommuRules.SelftestReply(data), wrc =>
            {
                if (wrc != 0)
                    Request.Done(wrc);
                else
                    Create(cmd, size, unit);
            });
        });
    }

    private void Create(IommuViommuAlloc cmd, uint size, UnitSpec unit)
    {
        var id = host.Table.NextFreeId;
        if (id == 0)
        {
            Request.Fail(Errno.ENOSPC);
            return;
        }
        host.Save(new ObjectCreated(id, ObjectKind.Viommu, [cmd.HwptId], host.NewKey("viommu"), unit.Name, cmd.Type, false, 0),
            () => Request.Respond(cmd with { OutViommuId = id }, size));
    }

    // ---- IOMMU_VDEVICE_ALLOC ----

    public void VdeviceAlloc(IommuVdeviceAlloc cmd, uint size)
    {
        var viommuFound = IsViommu(cmd.ViommuId);
        var deviceFound = host.TryDevice(cmd.DevId, out var dev);
        var rc = ViommuRules.CheckVdevice(viommuFound, deviceFound,
            deviceFound ? host.UnitOf(dev).Name : "", viommuFound ? _viommus[cmd.ViommuId].Unit : "",
            VdeviceOfDevice(cmd.DevId) is not null,
            _vdevices.Values.Any(v => v.Viommu == cmd.ViommuId && v.VirtId == cmd.VirtId));
        if (rc != 0)
        {
            Request.Done(rc);
            return;
        }
        var id = host.Table.NextFreeId;
        if (id == 0)
        {
            Request.Fail(Errno.ENOSPC);
            return;
        }
        host.Save(new VdeviceCreated(id, cmd.ViommuId, cmd.DevId, cmd.VirtId, host.NewKey("vdevice")),
            () => Request.Respond(cmd with { OutVdeviceId = id }, size));
    }

    // ---- IOMMU_HWPT_INVALIDATE on a vIOMMU ----

    /// <summary>
    /// The device caches behind a vIOMMU (the driver's cache_invalidate), once the ioctl's own
    /// checks passed: a selftest vIOMMU zeroes the mock devices' cache entries its vDEVICEs name
    /// (<see cref="ViommuRules.InvalidateCaches"/>); another type has no such invalidation modelled
    /// (EOPNOTSUPP). Ends with the errno and the entries handled.
    /// </summary>
    public void Invalidate(IommuHwptInvalidate cmd, Action<int, uint> finish)
    {
        var viommu = _viommus[cmd.HwptId];
        if (viommu.Type != Selftest.ViommuType)
        {
            finish(Errno.EOPNOTSUPP, 0);
            return;
        }
        var total = (ulong)cmd.EntryLen * cmd.EntryNum;
        Request.TryReadMemory(cmd.DataUptr, total > int.MaxValue ? null : (uint?)total, data =>
        {
            var (rc, done, cleared) = ViommuRules.InvalidateCaches(cmd.DataType, cmd.EntryLen, cmd.EntryNum, data,
                virtId => _vdevices.Values.FirstOrDefault(v => v.Viommu == cmd.HwptId && v.VirtId == virtId)?.DevId);
            foreach (var (devId, cacheId) in cleared)
                if (host.TryDevice(devId, out var dev))
                    host.Mocks.ClearCache(dev.Pci, cacheId);
            finish(rc, done);
        });
    }

    // ---- not modelled yet: the answers of a driver without them ----

    private bool IsViommu(uint id) => _viommus.ContainsKey(id) && host.Table.Get(id, ObjectKind.Viommu).IsOk;


    public void VeventqAlloc(IommuVeventqAlloc cmd, uint size) =>
        Request.Done(cmd.Flags != 0 || cmd.Reserved != 0 || IsViommu(cmd.ViommuId) ? Errno.EOPNOTSUPP : Errno.ENOENT);

    public void HwQueueAlloc(IommuHwQueueAlloc cmd, uint size) =>
        Request.Done(cmd.Flags != 0 || IsViommu(cmd.ViommuId) ? Errno.EOPNOTSUPP : Errno.ENOENT);
}
