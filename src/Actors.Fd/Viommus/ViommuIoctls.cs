using IommuActors.Fd.Context;
using IommuActors.Fd.Objects;
using IommuActors.Hardware.Platform;
using IommuActors.Uapi.Structs;
using static IommuActors.Fd.Context.ContextProtocol;
using Errno = IommuActors.Uapi.Errno;

namespace IommuActors.Fd.Viommus;

/// <summary>What the vIOMMU ioctls need of their context beyond the object table.</summary>
internal interface IViommuHost : IContextHost
{
    /// <summary>The device's unit as its driver presents it.</summary>
    UnitSpec UnitOf(DeviceEntry device);

    IReadOnlyDictionary<uint, ViommuEntry> Viommus { get; }
}

/// <summary>
/// A VIOMMU object: its key, the unit it stands for (the iommu_dev of the device it was made
/// with), its type, and the nesting parent HWPT it holds.
/// </summary>
internal sealed record ViommuEntry(string Key, string Unit, uint Type, uint Hwpt);

/// <summary>
/// IOMMU_VIOMMU_ALLOC (viommu.c): checked by <see cref="ViommuRules"/> in the kernel's order, the
/// driver data of the selftest's type read and answered, then journaled by the context as an
/// object that uses its parent HWPT (so DESTROY of the parent is EBUSY while it lives).
/// </summary>
internal sealed class ViommuIoctls(IViommuHost host)
{
    private ServedRequest Request => host.Request;

    public void Alloc(IommuViommuAlloc cmd, uint size)
    {
        var rc = ViommuRules.CheckHead(cmd.Flags, cmd.Type);
        if (rc != 0)
        {
            Request.Done(rc);
            return;
        }
        if (!host.Table.Get(cmd.DevId, ObjectKind.Device).IsOk || !host.Devices.TryGetValue(cmd.DevId, out var dev))
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
}
