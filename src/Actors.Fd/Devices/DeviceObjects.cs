using Akka.Actor;
using IommuActors.Fd.Context;
using IommuActors.Fd.Faults;
using IommuActors.Fd.Hwpts;
using IommuActors.Fd.Objects;
using IommuActors.Uapi;
using IommuActors.Uapi.Structs;
using static IommuActors.Fd.Context.ContextProtocol;
using Errno = IommuActors.Uapi.Errno;
using H = IommuActors.Domains.Hwpt.HwptProtocol;

namespace IommuActors.Fd.Devices;

/// <summary>
/// DEVICE objects (device.c): attach with automatic HWPTs, replace, detach, unbind, and
/// GET_HW_INFO, on the context's thread as part of its requests. The IOAS that holds a HWPT owns
/// its attachments and does the attach all or nothing; this class checks what needs the whole
/// device or its group (<see cref="DeviceRules"/>), tells the PASID extension (pasids: the VM's
/// PASID actor, null when the host wired none) of PASID binds, and has a detach answer the
/// faults that came through the attachment.
/// </summary>
internal sealed class DeviceObjects(IContextHost host, FaultObjects faults, Viommus.ViommuObjects viommus, Func<IActorRef?> pasids)
{
    private ServedRequest Request => host.Request;

    /// <summary>
    /// Attach, or replace when attached at that PASID (iommufd_device_change_pt): pt_id is an IOAS
    /// (an automatic HWPT is found or made) or a HWPT. Ends with the errno and the HWPT now used.
    /// </summary>
    public void AttachTo(AttachDevice m, Action<int, uint> then)
    {
        if (!host.TryDevice(m.DevId, out var dev))
        {
            then(Errno.ENOENT, 0);
            return;
        }
        var pt = host.Table.Get(m.PtId);
        if (!pt.IsOk)
        {
            then(Errno.ENOENT, 0);
            return;
        }
        if (m.Pasid != NoPasid && !host.SpecOf(dev).PasidCapable)
        {
            then(Errno.EOPNOTSUPP, 0);
            return;
        }
        switch (pt.Value!.Kind)
        {
            case ObjectKind.Ioas:
                if (DeviceRules.AutoDomainErrno(m.Pasid != NoPasid, dev.Attachments.Keys.Any(k => k != NoPasid)) is var noAuto and not 0)
                {
                    then(noAuto, 0);
                    return;
                }
                Attach(m, dev, m.PtId, 0, then);
                return;
            case ObjectKind.HwptPaging or ObjectKind.HwptNested:
                // The mock driver's attach_dev: a device made with NO_DIRTY refuses a dirty-tracking domain.
                if (host.Mocks.IsNoDirty(dev.Pci) && (host.Hwpts[m.PtId].Flags & HwptAllocFlags.DirtyTracking) != 0)
                {
                    then(Errno.EINVAL, 0);
                    return;
                }
                // A nested domain of a vIOMMU names the device by its virtual ID: without a vDEVICE the driver's attach_dev is ENOENT.
                if (m.Pasid == NoPasid && host.Hwpts[m.PtId] is { Nested: true } nested
                    && Viommus.ViommuRules.AttachErrno(viommus.Viommus.ContainsKey(nested.Parent),
                        viommus.VdeviceOfDevice(m.DevId, nested.Parent) is not null) is var noVdev and not 0)
                {
                    then(noVdev, 0);
                    return;
                }
                Attach(m, dev, host.IoasOf(host.Hwpts[m.PtId]), m.PtId, then);
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
        var unit = host.UnitOf(dev);
        var old = dev.Attachments.GetValueOrDefault(m.Pasid);
        if (old != 0 && old == hwptId)
        {
            then(0, hwptId);
            return;
        }
        var ridFlags = dev.Attachments.TryGetValue(NoPasid, out var rid) ? host.Hwpts[rid].Flags : (uint?)null;
        if (DeviceRules.PasidCompatErrno(m.Pasid != NoPasid, ridFlags) is var incompatible and not 0)
        {
            then(incompatible, 0);
            return;
        }
        // The group attaches as one: another device of it in this context must use the same HWPT.
        if (old == 0 && GroupSibling(m.DevId, dev, m.Pasid) is { } sibling)
        {
            var siblingHwpt = host.Hwpts[sibling];
            var joins = hwptId != 0 ? sibling == hwptId : siblingHwpt.Auto && siblingHwpt.Parent == ioasId;
            if (!joins)
            {
                then(Errno.EINVAL, 0);
                return;
            }
            hwptId = sibling;
        }
        var home = host.Ioas[ioasId];
        var oldIoas = old != 0 ? host.IoasOf(host.Hwpts[old]) : 0;
        var pasidCompat = dev.Attachments.Keys.Any(k => k != NoPasid);
        var newId = host.Table.NextFreeId;
        home.Ref.Tell(hwptId == 0
            ? new H.AttachToIoas(home.Key, host.RefOf(dev), unit, ContextViews.UnitPasid(m.Pasid), newId, old != 0, pasidCompat)
            : new H.AttachToHwpt(home.Key, hwptId, host.RefOf(dev), unit, ContextViews.UnitPasid(m.Pasid), old != 0, pasidCompat));
        Request.Await<H.AttachResult>(r => r.Pci == dev.Pci && r.Pasid == ContextViews.UnitPasid(m.Pasid), r =>
        {
            if (r.Errno != 0)
            {
                then(r.Errno, 0);
                return;
            }
            void Record() => host.Save(new AttachmentsChanged(m.DevId, dev.Attachments.SetItem(m.Pasid, r.HwptId)), () =>
            {
                // A replace keeps the PASID bound (to another page table): only a first attach is a BIND, and the
                // attach answers once every subscriber applied it; one that missed the ack timeout undoes it.
                if (m.Pasid != NoPasid && old == 0)
                    PublishPasidBind(dev, m.Pasid, errno =>
                    {
                        if (errno == 0)
                            then(0, r.HwptId);
                        else
                            Detach(m.DevId, m.Pasid, _ => then(errno, 0));
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
            host.Save(new ObjectCreated(r.HwptId, ObjectKind.HwptPaging, [ioasId], host.NewKey("hwpt"), unit.Name, 0, true, r.DomainId), Record);
        });
    }

    /// <summary>The HWPT another device of the same group in this context is attached to at that PASID, if any.</summary>
    private uint? GroupSibling(uint devId, DeviceEntry dev, int pasid)
    {
        var spec = host.SpecOf(dev);
        foreach (var (id, other) in host.Devices)
        {
            var os = host.SpecOf(other);
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
            if (host.Hwpts[oldHwpt].Auto && host.Table.UsersOf(oldHwpt) == 0)
                host.Save(new ObjectDestroyed(oldHwpt), then);
            else
                then();
            return;
        }
        var oldHome = host.HomeOf(oldHwpt);
        oldHome.Ref.Tell(new H.ForgetDevice(oldHome.Key, dev.Pci, ContextViews.UnitPasid(pasid)));
        Request.Await<H.DetachResult>(r => r.Pci == dev.Pci && r.Pasid == ContextViews.UnitPasid(pasid), r => AutoGone(oldHwpt, r, then));
    }

    private void AutoGone(uint hwptId, H.DetachResult r, Action then)
    {
        if (r.Errno == 0 && r.AutoDestroyed && host.Table.Get(hwptId).IsOk)
            host.Save(new ObjectDestroyed(hwptId), then);
        else
            then();
    }

    public void Detach(uint devId, int pasid, Action then) => Detach(devId, pasid, _ => then());

    /// <summary>
    /// Detaching what is not attached succeeds: the kernel's detach never fails. A PASID detach answers once every
    /// subscriber applied its UNBIND; the detach is done either way, ETIMEDOUT says a subscriber missed the ack timeout.
    /// Strict (the detach ioctl): an IOAS that could not detach (its unit did not answer) fails it and both keep the
    /// attachment; an unbind or a release goes on regardless.
    /// </summary>
    public void Detach(uint devId, int pasid, Action<int> then, bool strict = false)
    {
        if (!host.TryDevice(devId, out var dev) || !dev.Attachments.TryGetValue(pasid, out var hwpt))
        {
            then(0);
            return;
        }
        var home = host.HomeOf(hwpt);
        home.Ref.Tell(new H.DetachDevice(home.Key, dev.Pci, ContextViews.UnitPasid(pasid)));
        Request.Await<H.DetachResult>(r => r.Pci == dev.Pci && r.Pasid == ContextViews.UnitPasid(pasid), r =>
        {
            // The IOAS owns the attachment: the context forgets it only when the IOAS did (or never had it).
            if (strict && r.Errno is not (0 or Errno.ENOENT))
            {
                Request.Fail(r.Errno);
                return;
            }
            host.Save(new AttachmentsChanged(devId, dev.Attachments.Remove(pasid)), () =>
            {
                if (pasid == NoPasid)
                    faults.AnswerFaultsOf(devId, pasid, hwpt, () => AutoGone(hwpt, r, () => then(0)));
                else
                    PublishPasidUnbind(dev, pasid, errno => faults.AnswerFaultsOf(devId, pasid, hwpt, () => AutoGone(hwpt, r, () => then(errno))));
            });
        });
    }

    /// <summary>Closing the device fd: every PASID, then the device itself, detached; then the DEVICE goes.</summary>
    public void Unbind(uint devId, Action then)
    {
        if (!host.TryDevice(devId, out var dev))
        {
            then();
            return;
        }
        var pasids = dev.Attachments.Keys.OrderByDescending(p => p).ToList();
        void Next(int i)
        {
            if (i == pasids.Count)
            {
                // The device's vDEVICE goes with it, its ID left a tombstone the user cannot reuse (iommufd_device_remove_vdev).
                if (viommus.VdeviceOfDevice(devId) is { } vdev)
                    host.Save(new ObjectTombstoned(vdev), () => host.Save(new ObjectDestroyed(devId), then));
                else
                    host.Save(new ObjectDestroyed(devId), then);
                return;
            }
            Detach(devId, pasids[i], () => Next(i + 1));
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
        if (pasids() is not { } extension)
        {
            then(0);
            return;
        }
        extension.Tell(evt);
        Request.Await<Pasid.PasidExtensionActor.DeviceEventApplied>(a => a.Pasid == pasid && a.Pci == dev.Pci, a => then(a.Errno));
    }

    // ---- GET_HW_INFO ----

    public void GetHwInfo(IommuHwInfo cmd, uint size)
    {
        // The three reserved bytes after out_max_pasid_log2 are zeroed by the codec: a caller's non-zero is seen in the raw bytes.
        if (DeviceRules.HwInfoArgsErrno(cmd.Flags, Request.Ioctl!.Inline) is var bad and not 0)
        {
            Request.Done(bad);
            return;
        }
        if (!host.TryDevice(cmd.DevId, out var dev))
        {
            Request.Done(Errno.ENOENT);
            return;
        }
        var unit = host.UnitOf(dev);
        var spec = host.SpecOf(dev);
        if (DeviceRules.HwInfoTypeErrno(cmd.Flags, cmd.OutDataType, unit) is var type and not 0)
        {
            Request.Done(type);
            return;
        }
        var info = unit.HwInfo.IsDefault ? [] : unit.HwInfo.ToArray();
        var copy = new byte[cmd.DataLen];
        info.AsSpan(0, (int)Math.Min((uint)info.Length, cmd.DataLen)).CopyTo(copy);
        Request.WriteMemory(cmd.DataUptr, copy, rc =>
        {
            if (rc != 0)
            {
                Request.Done(rc);
                return;
            }
            Request.Respond(cmd with
            {
                DataLen = (uint)info.Length,
                OutDataType = info.Length == 0 ? HwInfo.TypeNone : unit.HwInfoType,
                OutMaxPasidLog2 = DeviceRules.MaxPasidLog2(spec, unit),
                OutCapabilities = DeviceRules.HwInfoCaps(spec, unit),
            }, size);
        });
    }
}
