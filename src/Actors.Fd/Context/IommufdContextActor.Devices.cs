using Akka.Actor;
using System.Collections.Immutable;
using IommuActors.Fd.Objects;
using IommuActors.Hardware.Platform;
using IommuActors.Uapi;
using IommuActors.Uapi.Structs;
using static IommuActors.Fd.Context.ContextProtocol;
using Errno = IommuActors.Uapi.Errno;
using H = IommuActors.Domains.Hwpt.HwptProtocol;

namespace IommuActors.Fd.Context;

// DEVICE objects (device.c): bind, attach with automatic HWPTs, replace, detach, unbind, and
// GET_HW_INFO. DMA ownership is settled by the device file with the ownership registry first.
public sealed partial class IommufdContextActor
{
    // The views of ContextViews, read through the host this context is.
    private IContextHost Host => this;
    private bool TryDevice(uint id, out DeviceEntry device) => Host.TryDevice(id, out device);
    private DeviceSpec SpecOf(DeviceEntry d) => Host.SpecOf(d);
    private UnitSpec UnitOf(DeviceEntry d) => Host.UnitOf(d);
    private uint IoasOf(HwptEntry h) => Host.IoasOf(h);
    private IoasEntry HomeOf(uint hwptId) => Host.HomeOf(hwptId);
    private H.DeviceRef RefOf(DeviceEntry d) => Host.RefOf(d);
    private static int UnitPasid(int pasid) => ContextViews.UnitPasid(pasid);

    private void OnBindDevice(BindDevice m)
    {
        Begin(Sender, ActorRefs.Nobody, null);
        _request.FailWith = e => new DeviceBindResult(_fileId, e, 0);
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
        _request.FailWith = e => new AttachResult(_fileId, e, 0);
        AttachTo(m, (errno, ptId) =>
        {
            if (errno != 0)
                Fail(errno);
            else
                Reply(new AttachResult(_fileId, 0, ptId));
        });
    }

    /// <summary>
    /// Attach, or replace when attached at that PASID (iommufd_device_change_pt): pt_id is an IOAS
    /// (an automatic HWPT is found or made) or a HWPT. Ends with the errno and the HWPT now used.
    /// </summary>
    private void AttachTo(AttachDevice m, Action<int, uint> then)
    {
        if (!TryDevice(m.DevId, out var dev))
        {
            then(Errno.ENOENT, 0);
            return;
        }
        var pt = _table.Get(m.PtId);
        if (!pt.IsOk)
        {
            then(Errno.ENOENT, 0);
            return;
        }
        if (m.Pasid != NoPasid && !SpecOf(dev).PasidCapable)
        {
            then(Errno.EOPNOTSUPP, 0);
            return;
        }
        switch (pt.Value!.Kind)
        {
            case ObjectKind.Ioas:
                Attach(m, dev, m.PtId, 0, then);
                return;
            case ObjectKind.HwptPaging or ObjectKind.HwptNested:
                // The mock driver's attach_dev: a device made with NO_DIRTY refuses a dirty-tracking domain.
                if (_mocks.IsNoDirty(dev.Pci) && (_hwpts[m.PtId].Flags & HwptAllocFlags.DirtyTracking) != 0)
                {
                    then(Errno.EINVAL, 0);
                    return;
                }
                // A nested domain of a vIOMMU names the device by its virtual ID: without a vDEVICE the driver's attach_dev is ENOENT.
                if (m.Pasid == NoPasid && _hwpts[m.PtId] is { Nested: true } nested
                    && Viommus.ViommuRules.AttachErrno(_viommu.Viommus.ContainsKey(nested.Parent), _viommu.VdeviceOfDevice(m.DevId, nested.Parent) is not null) is var noVdev and not 0)
                {
                    then(noVdev, 0);
                    return;
                }
                Attach(m, dev, IoasOf(_hwpts[m.PtId]), m.PtId, then);
                return;
            default:
                then(Errno.EINVAL, 0);
                return;
        }
    }

    /// <summary>
    /// Attach, or replace when the device is attached at that PASID already (device.c). The rules
    /// that need the whole device or its group are checked here; the IOAS that holds the target
    /// HWPT (or, for hwptId 0, picks or makes an automatic one) does the rest, all or nothing.
    /// </summary>
    private void Attach(AttachDevice m, DeviceEntry dev, uint ioasId, uint hwptId, Action<int, uint> then)
    {
        var unit = UnitOf(dev);
        var old = dev.Attachments.GetValueOrDefault(m.Pasid);
        if (old != 0 && old == hwptId)
        {
            then(0, hwptId);
            return;
        }
        // iommufd_hwpt_pasid_compat: a PASID attach needs the device's RID attachment PASID-capable.
        if (m.Pasid != NoPasid && dev.Attachments.TryGetValue(NoPasid, out var rid) && (_hwpts[rid].Flags & HwptAllocFlags.Pasid) == 0)
        {
            then(Errno.EINVAL, 0);
            return;
        }
        // The group attaches as one: another device of it in this context must use the same HWPT.
        if (old == 0 && GroupSibling(m.DevId, dev, m.Pasid) is { } sibling)
        {
            var siblingHwpt = _hwpts[sibling];
            var joins = hwptId != 0 ? sibling == hwptId : siblingHwpt.Auto && siblingHwpt.Parent == ioasId;
            if (!joins)
            {
                then(Errno.EINVAL, 0);
                return;
            }
            hwptId = sibling;
        }
        var home = _ioas[ioasId];
        var oldIoas = old != 0 ? IoasOf(_hwpts[old]) : 0;
        var pasidCompat = dev.Attachments.Keys.Any(k => k != NoPasid);
        var newId = _table.NextFreeId;
        home.Ref.Tell(hwptId == 0
            ? new H.AttachToIoas(home.Key, RefOf(dev), unit, UnitPasid(m.Pasid), newId, old != 0, pasidCompat)
            : new H.AttachToHwpt(home.Key, hwptId, RefOf(dev), unit, UnitPasid(m.Pasid), old != 0, pasidCompat));
        Await<H.AttachResult>(r => r.Pci == dev.Pci && r.Pasid == UnitPasid(m.Pasid), r =>
        {
            if (r.Errno != 0)
            {
                then(r.Errno, 0);
                return;
            }
            void Record() => Save(new AttachmentsChanged(m.DevId, dev.Attachments.SetItem(m.Pasid, r.HwptId)), () =>
            {
                // A replace keeps the PASID bound (to another page table): only a first attach is a BIND, and the
                // attach answers once every subscriber applied it; one that missed the ack timeout undoes it.
                if (m.Pasid != NoPasid && old == 0)
                    PublishPasidBind(dev, m.Pasid, errno =>
                    {
                        if (errno == 0)
                            then(0, r.HwptId);
                        else
                            DetachInternal(m.DevId, m.Pasid, _ => then(errno, 0));
                    });
                else
                    MovedAway(dev, m.Pasid, old, oldIoas != ioasId, () => then(0, r.HwptId));
            });
            if (!r.Created)
            {
                Record();
                return;
            }
            // The IOAS made an automatic HWPT for it, with the ID reserved above.
            var flags = Hwpts.HwptRules.AutoFlags(pasidCompat, m.Pasid != NoPasid);
            Save(new ObjectCreated(r.HwptId, ObjectKind.HwptPaging, [ioasId], NewKey("hwpt"), unit.Name, flags, true, 0), Record);
        });
    }

    /// <summary>The HWPT another device of the same group in this context is attached to at that PASID, if any.</summary>
    private uint? GroupSibling(uint devId, DeviceEntry dev, int pasid)
    {
        var spec = SpecOf(dev);
        foreach (var (id, other) in _devices)
        {
            var os = SpecOf(other);
            if (id != devId && os.Unit == spec.Unit && os.Group == spec.Group && other.Attachments.TryGetValue(pasid, out var h))
                return h;
        }
        return null;
    }

    /// <summary>
    /// After a replace moved the device off oldHwpt: an IOAS other than the new one forgets the
    /// device (the unit was rewritten by the new attach); an automatic HWPT left without devices is gone.
    /// </summary>
    private void MovedAway(DeviceEntry dev, int pasid, uint oldHwpt, bool otherIoas, Action then)
    {
        if (oldHwpt == 0)
        {
            then();
            return;
        }
        if (!otherIoas)
        {
            // The same IOAS replaced it and, when automatic and now unused, destroyed it already.
            if (_hwpts[oldHwpt].Auto && _table.UsersOf(oldHwpt) == 0)
                Save(new ObjectDestroyed(oldHwpt), then);
            else
                then();
            return;
        }
        var oldHome = HomeOf(oldHwpt);
        oldHome.Ref.Tell(new H.ForgetDevice(oldHome.Key, dev.Pci, UnitPasid(pasid)));
        Await<H.DetachResult>(r => r.Pci == dev.Pci && r.Pasid == UnitPasid(pasid), r => AutoGone(oldHwpt, r, then));
    }

    private void AutoGone(uint hwptId, H.DetachResult r, Action then)
    {
        if (r.Errno == 0 && r.AutoDestroyed && _table.Get(hwptId).IsOk)
            Save(new ObjectDestroyed(hwptId), then);
        else
            then();
    }

    private void OnDetachDevice(DetachDevice m)
    {
        Begin(Sender, ActorRefs.Nobody, null);
        _request.FailWith = e => new DetachResult(_fileId, e);
        DetachInternal(m.DevId, m.Pasid, errno => Reply(new DetachResult(_fileId, errno)), strict: true);
    }

    private void DetachInternal(uint devId, int pasid, Action then) => DetachInternal(devId, pasid, _ => then());

    /// <summary>
    /// Detaching what is not attached succeeds: the kernel's detach never fails. A PASID detach answers once every
    /// subscriber applied its UNBIND; the detach is done either way, ETIMEDOUT says a subscriber missed the ack timeout.
    /// Strict (the detach ioctl): an IOAS that could not detach (its unit did not answer) fails it and both keep the
    /// attachment; an unbind or a release goes on regardless.
    /// </summary>
    private void DetachInternal(uint devId, int pasid, Action<int> then, bool strict = false)
    {
        if (!TryDevice(devId, out var dev) || !dev.Attachments.TryGetValue(pasid, out var hwpt))
        {
            then(0);
            return;
        }
        var home = HomeOf(hwpt);
        home.Ref.Tell(new H.DetachDevice(home.Key, dev.Pci, UnitPasid(pasid)));
        Await<H.DetachResult>(r => r.Pci == dev.Pci && r.Pasid == UnitPasid(pasid), r =>
        {
            // The IOAS owns the attachment: the context forgets it only when the IOAS did (or never had it).
            if (strict && r.Errno is not (0 or Errno.ENOENT))
            {
                Fail(r.Errno);
                return;
            }
            Save(new AttachmentsChanged(devId, dev.Attachments.Remove(pasid)), () =>
            {
                if (pasid == NoPasid)
                    _faults.AnswerFaultsOf(devId, pasid, hwpt, () => AutoGone(hwpt, r, () => then(0)));
                else
                    PublishPasidUnbind(dev, pasid, errno => _faults.AnswerFaultsOf(devId, pasid, hwpt, () => AutoGone(hwpt, r, () => then(errno))));
            });
        });
    }

    private void OnUnbindDevice(UnbindDevice m)
    {
        Begin(Sender, ActorRefs.Nobody, null);
        _request.FailWith = _ => new DeviceUnbound(_fileId, m.DevId);
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
                // The device's vDEVICE goes with it (iommufd_device_remove_vdev).
                if (_viommu.VdeviceOfDevice(devId) is { } vdev)
                    Save(new ObjectDestroyed(vdev), () => Save(new ObjectDestroyed(devId), then));
                else
                    Save(new ObjectDestroyed(devId), then);
                return;
            }
            DetachInternal(devId, pasids[i], () => Next(i + 1));
        }
        Next(0);
    }

    /// <summary>Hook for the IOASID notifier: a PASID of a device now points at a domain (BIND); then the errno.</summary>
    private void PublishPasidBind(DeviceEntry dev, int pasid, Action<int> then) =>
        PublishPasidEvent(new Pasid.PasidExtensionActor.DeviceBound(pasid, dev.Pci), dev, pasid, then);

    /// <summary>Hook for the IOASID notifier: a PASID of a device no longer points anywhere (UNBIND); then the errno.</summary>
    private void PublishPasidUnbind(DeviceEntry dev, int pasid, Action<int> then) =>
        PublishPasidEvent(new Pasid.PasidExtensionActor.DeviceUnbound(pasid, dev.Pci), dev, pasid, then);

    private void PublishPasidEvent(object evt, DeviceEntry dev, int pasid, Action<int> then)
    {
        if (Pasids() is not { } pasids)
        {
            then(0);
            return;
        }
        pasids.Tell(evt);
        Await<Pasid.PasidExtensionActor.DeviceEventApplied>(a => a.Pasid == pasid && a.Pci == dev.Pci, a => then(a.Errno));
    }

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
        _request.Ioctl!.Inline.Length >= 32 && _request.Ioctl.Inline.AsSpan(29, 3).ContainsAnyExcept((byte)0) ? 1 : 0;
}
