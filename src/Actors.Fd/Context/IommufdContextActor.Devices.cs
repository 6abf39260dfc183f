using Akka.Actor;
using System.Collections.Immutable;
using IommuActors.Domains.Ioas;
using IommuActors.Fd.Objects;
using IommuActors.Hardware.Platform;
using IommuActors.Uapi;
using IommuActors.Uapi.Structs;
using static IommuActors.Fd.Context.ContextProtocol;
using Errno = IommuActors.Uapi.Errno;
using Unit = IommuActors.Hardware.Units.UnitProtocol;

namespace IommuActors.Fd.Context;

// DEVICE objects (device.c): bind, attach with automatic HWPTs, replace, detach, unbind, and
// GET_HW_INFO. DMA ownership is settled by the device file with the ownership registry first.
public sealed partial class IommufdContextActor
{
    private bool TryDevice(uint id, out DeviceEntry device)
    {
        device = null!;
        if (!_table.Get(id, ObjectKind.Device).IsOk)
            return false;
        device = _devices[id];
        return true;
    }

    private DeviceSpec SpecOf(DeviceEntry d) => _with.Platform.Device(d.Pci)!;

    private UnitSpec UnitOf(DeviceEntry d) => _with.Platform.Unit(SpecOf(d).Unit);

    private void OnBindDevice(BindDevice m)
    {
        Begin(Sender, ActorRefs.Nobody, null);
        _failWith = e => new DeviceBindResult(_fileId, e, 0);
        if (_released || _with.Platform.Device(m.Pci) is null)
        {
            Fail(Errno.ENODEV);
            return;
        }
        var id = _table.NextFreeId;
        Save(new ObjectCreated(id, ObjectKind.Device, [], m.DeviceFileId, m.Pci, 0, false, 0),
            () => Reply(new DeviceBindResult(_fileId, 0, id)));
    }

    private void OnAttachDevice(AttachDevice m)
    {
        Begin(Sender, ActorRefs.Nobody, null);
        _failWith = e => new AttachResult(_fileId, e, 0);
        if (!TryDevice(m.DevId, out var dev))
        {
            Fail(Errno.ENOENT);
            return;
        }
        var pt = _table.Get(m.PtId);
        if (!pt.IsOk)
        {
            Fail(Errno.ENOENT);
            return;
        }
        if (m.Pasid != NoPasid && !SpecOf(dev).PasidCapable)
        {
            Fail(Errno.EOPNOTSUPP);
            return;
        }
        var unit = UnitOf(dev);
        switch (pt.Value!.Kind)
        {
            case ObjectKind.Ioas:
                AttachToIoas(m, dev, unit);
                return;
            case ObjectKind.HwptPaging or ObjectKind.HwptNested:
                AttachToHwpt(m, dev, m.PtId, () => Reply(new AttachResult(_fileId, 0, m.PtId)));
                return;
            default:
                Fail(Errno.EINVAL);
                return;
        }
    }

    /// <summary>§2.3: an existing automatic HWPT of the IOAS that fits, else a new one.</summary>
    private void AttachToIoas(AttachDevice m, DeviceEntry dev, UnitSpec unit)
    {
        if (dev.Attachments.TryGetValue(m.Pasid, out var current) && _hwpts.TryGetValue(current, out var cur)
            && cur.Auto && cur.Parent == m.PtId && cur.Unit == unit.Name)
        {
            Reply(new AttachResult(_fileId, 0, current));
            return;
        }
        // An automatic HWPT made for a PASID attach is PASID-capable; only such a one serves a PASID.
        var pasidFlag = m.Pasid != NoPasid ? HwptAllocFlags.Pasid : 0u;
        var reuse = _hwpts.Where(h => h.Value.Auto && !h.Value.Nested && h.Value.Parent == m.PtId && h.Value.Unit == unit.Name
                                      && (h.Value.Flags & HwptAllocFlags.Pasid) >= pasidFlag)
            .OrderBy(h => h.Key).Select(h => h.Key).FirstOrDefault();
        if (reuse != 0)
        {
            AttachToHwpt(m, dev, reuse, () => Reply(new AttachResult(_fileId, 0, reuse)));
            return;
        }
        var flags = (unit.DirtyTracking ? HwptAllocFlags.DirtyTracking : 0u) | pasidFlag;
        CreatePagingHwpt(m.PtId, unit, flags, auto: true, fault: 0, id =>
            AttachToHwpt(m, dev, id, () => Reply(new AttachResult(_fileId, 0, id)), dropOnFailure: id));
    }

    /// <summary>Attach, or replace when the device is attached at that PASID already; on failure nothing changed.</summary>
    private void AttachToHwpt(AttachDevice m, DeviceEntry dev, uint hwptId, Action then, uint dropOnFailure = 0)
    {
        var h = _hwpts[hwptId];
        var unit = UnitOf(dev);
        if (dev.Attachments.TryGetValue(m.Pasid, out var old) && old == hwptId)
        {
            then();
            return;
        }
        void Undo(int rc)
        {
            if (dropOnFailure != 0)
                DestroyObject(dropOnFailure, () => Fail(rc));
            else
                Fail(rc);
        }
        if (h.Unit != unit.Name || !PasidCompatible(dev, m.Pasid, h))
        {
            Undo(Errno.EINVAL);
            return;
        }
        // Another device of the same group in this context must name the same HWPT.
        var group = SpecOf(dev).Group;
        var sibling = _devices.Where(d => d.Key != m.DevId && SpecOf(d.Value).Unit == unit.Name && SpecOf(d.Value).Group == group
                                          && d.Value.Attachments.TryGetValue(m.Pasid, out var other) && other != hwptId && !dev.Attachments.ContainsKey(m.Pasid));
        if (sibling.Any())
        {
            Undo(Errno.EINVAL);
            return;
        }
        var ioasId = h.Nested ? _hwpts[h.Parent].Parent : h.Parent;
        var owner = $"dev{m.DevId}";
        var oldIoas = old != 0 && _hwpts.TryGetValue(old, out var oh) ? (oh.Nested ? _hwpts[oh.Parent].Parent : oh.Parent) : 0u;
        // Reserved regions of the device go into the IOAS on a plain attach; PASID attaches add none.
        var reserve = m.Pasid == NoPasid && ioasId != oldIoas && _ioas.TryGetValue(ioasId, out var ioas);
        void AttachInUnit()
        {
            ToUnits([new Unit.AttachDevice(unit.Name, dev.Pci, m.Pasid == NoPasid ? Unit.NoPasid : m.Pasid, h.DomainId)], replies =>
            {
                var rc = ErrnoOf(replies);
                if (rc != 0)
                {
                    if (reserve)
                    {
                        var io = _ioas[ioasId];
                        io.Ref.Tell(new IoasProtocol.RemoveReserved(io.Key, owner + "." + ioasId));
                        Await<IoasProtocol.ReservedResult>(_ => Undo(rc));
                    }
                    else
                        Undo(rc);
                    return;
                }
                var attachments = dev.Attachments.SetItem(m.Pasid, hwptId);
                Save(new AttachmentsChanged(m.DevId, attachments), () =>
                {
                    if (m.Pasid != NoPasid)
                        PublishPasidBind(dev, m.Pasid);
                    AfterDetachFrom(m.DevId, m.Pasid, old, oldIoas != ioasId, then);
                });
            });
        }
        if (!reserve)
        {
            AttachInUnit();
            return;
        }
        var target = _ioas[ioasId];
        var regions = unit.ReservedRegions.Select(r => new IoasProtocol.IovaSpan(r.Start, r.Last)).ToImmutableArray();
        target.Ref.Tell(new IoasProtocol.AddReserved(target.Key, owner + "." + ioasId, regions));
        Await<IoasProtocol.ReservedResult>(r =>
        {
            if (r.Errno != 0)
                Undo(r.Errno);
            else
                AttachInUnit();
        });
    }

    /// <summary>After a device left a HWPT (detach or replace away): its reserved regions leave the old IOAS, an unused automatic HWPT dies.</summary>
    private void AfterDetachFrom(uint devId, int pasid, uint oldHwpt, bool ioasChanged, Action then)
    {
        if (oldHwpt == 0 || !_hwpts.TryGetValue(oldHwpt, out var oh))
        {
            then();
            return;
        }
        var oldIoas = oh.Nested ? _hwpts[oh.Parent].Parent : oh.Parent;
        void Release()
        {
            if (oh.Auto && _table.UsersOf(oldHwpt) == 0)
                DestroyObject(oldHwpt, then);
            else
                then();
        }
        if (pasid != NoPasid || !ioasChanged || !_ioas.TryGetValue(oldIoas, out var ioas))
        {
            Release();
            return;
        }
        ioas.Ref.Tell(new IoasProtocol.RemoveReserved(ioas.Key, $"dev{devId}.{oldIoas}"));
        Await<IoasProtocol.ReservedResult>(_ => Release());
    }

    private void OnDetachDevice(DetachDevice m)
    {
        Begin(Sender, ActorRefs.Nobody, null);
        _failWith = e => new DetachResult(_fileId, e);
        DetachInternal(m.DevId, m.Pasid, () => Reply(new DetachResult(_fileId, 0)));
    }

    /// <summary>Detaching what is not attached succeeds: the kernel's detach never fails.</summary>
    private void DetachInternal(uint devId, int pasid, Action then)
    {
        if (!TryDevice(devId, out var dev) || !dev.Attachments.TryGetValue(pasid, out var hwpt))
        {
            then();
            return;
        }
        var unit = UnitOf(dev);
        ToUnits([new Unit.DetachDevice(unit.Name, dev.Pci, pasid == NoPasid ? Unit.NoPasid : pasid)], _ =>
            Save(new AttachmentsChanged(devId, dev.Attachments.Remove(pasid)), () =>
            {
                if (pasid != NoPasid)
                    PublishPasidUnbind(dev, pasid);
                AnswerFaultsOf(devId, pasid, hwpt, () => AfterDetachFrom(devId, pasid, hwpt, true, then));
            }));
    }

    private void OnUnbindDevice(UnbindDevice m)
    {
        Begin(Sender, ActorRefs.Nobody, null);
        _failWith = _ => new DeviceUnbound(_fileId, m.DevId);
        UnbindInternal(m.DevId, () => Reply(new DeviceUnbound(_fileId, m.DevId)));
    }

    /// <summary>Closing the device fd: every PASID, then the device itself, detached; then the DEVICE goes.</summary>
    private void UnbindInternal(uint devId, Action then)
    {
        if (!TryDevice(devId, out var dev))
        {
            then();
            return;
        }
        var pasids = dev.Attachments.Keys.OrderByDescending(p => p).ToList();
        void Next(int i)
        {
            if (i == pasids.Count)
            {
                Save(new ObjectDestroyed(devId), then);
                return;
            }
            DetachInternal(devId, pasids[i], () => Next(i + 1));
        }
        Next(0);
    }

    /// <summary>
    /// device.c's PASID rules: a PASID attach needs a HWPT allocated with IOMMU_HWPT_ALLOC_PASID and,
    /// when the device is attached without a PASID, that HWPT PASID-capable too; a plain attach to
    /// a HWPT without the flag is refused while PASIDs are attached.
    /// </summary>
    private bool PasidCompatible(DeviceEntry dev, int pasid, HwptEntry h)
    {
        var capable = (h.Flags & HwptAllocFlags.Pasid) != 0;
        if (pasid == NoPasid)
            return capable || dev.Attachments.Keys.All(k => k == NoPasid);
        if (!capable)
            return false;
        return !dev.Attachments.TryGetValue(NoPasid, out var rid) || !_hwpts.TryGetValue(rid, out var r)
               || (r.Flags & HwptAllocFlags.Pasid) != 0;
    }

    /// <summary>Hook for the IOASID notifier: a PASID of a device now points at a domain (BIND).</summary>
    private void PublishPasidBind(DeviceEntry dev, int pasid) =>
        Pasids()?.Tell(new Pasid.PasidExtensionActor.DeviceBound(pasid, dev.Pci));

    /// <summary>Hook for the IOASID notifier: a PASID of a device no longer points anywhere (UNBIND).</summary>
    private void PublishPasidUnbind(DeviceEntry dev, int pasid) =>
        Pasids()?.Tell(new Pasid.PasidExtensionActor.DeviceUnbound(pasid, dev.Pci));

    // ---- GET_HW_INFO ----

    private void OnGetHwInfo(IommuHwInfo cmd, uint size)
    {
        var flagsOk = cmd.Flags == 0 || cmd.Flags == HwInfo.FlagInputType;
        if (!flagsOk || ReservedOfHwInfo(cmd) != 0)
        {
            Done(Errno.EOPNOTSUPP);
            return;
        }
        if (!TryDevice(cmd.DevId, out var dev))
        {
            Done(Errno.ENOENT);
            return;
        }
        var unit = UnitOf(dev);
        var spec = SpecOf(dev);
        if (cmd.Flags == HwInfo.FlagInputType && cmd.OutDataType != unit.HwInfoType && cmd.OutDataType != HwInfo.TypeNone)
        {
            Done(Errno.EOPNOTSUPP);
            return;
        }
        var info = unit.HwInfo.IsDefault ? [] : unit.HwInfo.ToArray();
        var copy = new byte[cmd.DataLen];
        info.AsSpan(0, (int)Math.Min((uint)info.Length, cmd.DataLen)).CopyTo(copy);
        WriteMemory(cmd.DataUptr, copy, rc =>
        {
            if (rc != 0)
            {
                Done(rc);
                return;
            }
            var caps = (unit.DirtyTracking ? HwInfo.CapDirtyTracking : 0)
                       | (spec.PasidCapable && unit.PasidWidth > 0 ? HwInfo.CapPciPasidExec | HwInfo.CapPciPasidPriv : 0);
            var pasidLog2 = (byte)(spec.PasidCapable ? Math.Min(spec.PasidWidth, unit.PasidWidth) : 0);
            Respond(cmd with
            {
                DataLen = (uint)info.Length,
                OutDataType = info.Length == 0 ? HwInfo.TypeNone : unit.HwInfoType,
                OutMaxPasidLog2 = pasidLog2,
                OutCapabilities = caps,
            }, size);
        });
    }

    /// <summary>The three reserved bytes after out_max_pasid_log2 are zeroed by the codec; a caller's non-zero is seen in the raw bytes.</summary>
    private int ReservedOfHwInfo(IommuHwInfo cmd) =>
        _ioctl!.Inline.Length >= 32 && _ioctl.Inline.AsSpan(29, 3).ContainsAnyExcept((byte)0) ? 1 : 0;
}
