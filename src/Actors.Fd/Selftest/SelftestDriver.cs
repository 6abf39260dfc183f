using Akka.Actor;
using IommuActors.Domains.Ioas;
using IommuActors.Fd.Context;
using IommuActors.Fd.Faults;
using IommuActors.Fd.Objects;
using IommuActors.Hardware.Platform;
using IommuActors.Uapi.Structs;
using static IommuActors.Fd.Context.ContextProtocol;
using Errno = IommuActors.Uapi.Errno;
using U = IommuActors.Hardware.Units.UnitProtocol;

namespace IommuActors.Fd.Selftests;

/// <summary>
/// IOMMU_TEST_CMD, the selftest's ioctl (selftest.c, iommufd_test.h): every op of the kernel's
/// list up to PASID_CHECK_HWPT, served on the context's thread as one of its requests (the ops
/// look into the object table). An op number past those answers EOPNOTSUPP, as the kernel does.
/// The mock devices: MOCK_DOMAIN makes a device behind the platform's mock unit (hot-plugged
/// there), binds it as a DEVICE of the context and attaches it; the SELFTEST object it answers
/// with stands for the device, and its IOMMU_DESTROY detaches, unbinds and unplugs it again.
/// </summary>
internal sealed class SelftestDriver(ISelftestHost host, MockDevices mocks)
{
    private readonly MockDomainChecks _checks = new(host);

    /// <summary>PASID 1024 of a mock device fails every second attach with ENOMEM (the driver's fake error); volatile, as in the driver.</summary>
    private readonly HashSet<uint> _pasid1024Armed = new();

    private ServedRequest Request => host.Request;

    private void Done(int errno) => Request.Done(errno);

    public void Serve(IommuTestCmd cmd, uint size)
    {
        switch ((TestOp)cmd.Op)
        {
            case TestOp.AddReserved: AddReserved(cmd); return;
            case TestOp.TriggerIopf: TriggerIopf(cmd); return;
            case TestOp.CreateAccess or TestOp.AccessPages or TestOp.DestroyAccessPages or TestOp.AccessRw or TestOp.AccessReplaceIoas:
                host.ServeAccessOp(cmd, size);
                return;
            case TestOp.SetTempMemoryLimit: Done(SelftestRules.MemoryLimitErrno(cmd.U32(TestCmdLayout.MemoryLimit.Limit))); return;
            case TestOp.MockDomain or TestOp.MockDomainFlags: MockDomain(cmd, size); return;
            case TestOp.MockDomainReplace: MockDomainReplace(cmd, size); return;
            case TestOp.MdCheckMap: _checks.CheckMap(cmd); return;
            case TestOp.MdCheckRefs: _checks.CheckRefs(cmd); return;
            case TestOp.MdCheckIotlb: _checks.CheckIotlb(cmd); return;
            case TestOp.DevCheckCache: DevCheckCache(cmd); return;
            case TestOp.Dirty: _checks.Dirty(cmd, size); return;
            // iommufd_test_trigger_vevent: a device on no vIOMMU has nowhere to report, and no vIOMMU exists here.
            case TestOp.TriggerVevent: Done(Errno.ENOENT); return;
            case TestOp.PasidAttach: PasidAttach(cmd, size, replace: false); return;
            case TestOp.PasidReplace: PasidAttach(cmd, size, replace: true); return;
            case TestOp.PasidDetach: PasidDetach(cmd); return;
            case TestOp.PasidCheckHwpt: PasidCheckHwpt(cmd); return;
            default: Done(Errno.EOPNOTSUPP); return;
        }
    }

    /// <summary>The DEVICE object bound for a mock device (0 when there is none).</summary>
    private uint DeviceOf(MockDevice mock) => host.Devices.FirstOrDefault(d => d.Value.Pci == mock.Pci).Key;

    /// <summary>iommufd_test_get_selftest_obj: the id must name a SELFTEST object (ENOENT); then its DEVICE.</summary>
    private bool TryMock(uint stdevId, out uint devId)
    {
        devId = 0;
        if (!host.Table.Get(stdevId, ObjectKind.Selftest).IsOk || !mocks.TryGet(stdevId, out var mock))
            return false;
        devId = DeviceOf(mock);
        return true;
    }

    /// <summary>ADD_RESERVED: id is an IOAS; [start, start + length) becomes reserved in it (EINVAL if a mapping is in the way).</summary>
    private void AddReserved(IommuTestCmd cmd)
    {
        var start = cmd.U64(TestCmdLayout.AddReserved.Start);
        var length = cmd.U64(TestCmdLayout.AddReserved.Length);
        if (!host.Table.Get(cmd.Id, ObjectKind.Ioas).IsOk || !host.Ioas.TryGetValue(cmd.Id, out var ioas))
        {
            Done(Errno.ENOENT);
            return;
        }
        if (SelftestRules.ReservedRangeErrno(start, length) is var rc and not 0)
        {
            Done(rc);
            return;
        }
        // One owner per call, so each reservation stays until the IOAS goes, as the selftest's do.
        var owner = $"selftest.{Request.NextTag()}";
        ioas.Ref.Tell(new IoasProtocol.AddReserved(ioas.Key, owner, [new IoasProtocol.IovaSpan(start, start + length - 1)]));
        Request.Await<IoasProtocol.ReservedResult>(r => Done(r.Errno));
    }

    /// <summary>
    /// TRIGGER_IOPF: the mock driver reports a page request for the device (dev_id) as hardware
    /// would: PASID 0 means none (the RID attachment takes it), otherwise the attachment of that
    /// PASID, or the RID's nested one (PageRequestRoute). It lands in the fault queue of the
    /// attached HWPT, if it has one; the response written back completes it. The request is
    /// reported even without a queue, and the ioctl succeeds.
    /// </summary>
    private void TriggerIopf(IommuTestCmd cmd)
    {
        var devId = cmd.U32(TestCmdLayout.TriggerIopf.DevId);
        if (!host.TryDevice(devId, out var dev))
        {
            Done(Errno.ENOENT);
            return;
        }
        var pasid = cmd.U32(TestCmdLayout.TriggerIopf.Pasid);
        var at = PageRequestRoute.AttachmentFor(pasid, dev.Attachments, host.UnitOf(dev).Kind == UnitKind.Mock,
            id => host.Hwpts.TryGetValue(id, out var n) && n.Nested);
        if (at is { } key && dev.Attachments.TryGetValue(key, out var hwptId) && host.Hwpts.TryGetValue(hwptId, out var h)
            && host.Table.Get(hwptId).Value!.Uses.FirstOrDefault(u => host.Table.Get(u, ObjectKind.Fault).IsOk) is var faultId and not 0)
        {
            host.QueuePageRequest(faultId, new FaultGroup(devId, pasid == 0 ? -1 : (int)pasid, hwptId, h.Unit, UnitCookie: 0,
                cmd.U64(TestCmdLayout.TriggerIopf.Addr), cmd.U32(TestCmdLayout.TriggerIopf.Perm),
                cmd.U32(TestCmdLayout.TriggerIopf.Grpid)));
            // Answered once the queue holds the group: a poll right after the ioctl sees the fd readable.
            Request.Await<Faults.FaultQueueProtocol.GroupQueued>(q => q.FaultId == faultId, _ => Done(0));
            return;
        }
        Done(0);
    }

    /// <summary>DEV_CHECK_CACHE: id is a DEVICE (ENOENT), then <see cref="SelftestRules.DevCacheErrno"/>.</summary>
    private void DevCheckCache(IommuTestCmd cmd)
    {
        if (!host.TryDevice(cmd.Id, out var dev))
        {
            Done(Errno.ENOENT);
            return;
        }
        Done(SelftestRules.DevCacheErrno(mocks.CacheOf(dev.Pci, cmd.U32(TestCmdLayout.CheckDevCache.Id)),
            cmd.U32(TestCmdLayout.CheckDevCache.Cache)));
    }

    // ---- MOCK_DOMAIN, MOCK_DOMAIN_FLAGS, MOCK_DOMAIN_REPLACE ----

    /// <summary>
    /// iommufd_test_mock_domain: the SELFTEST object's ID first, then the device (unknown flags
    /// EINVAL), its DEVICE, then the attach to cmd.id; IDs in that order. Any failure takes back
    /// what was made, so the ioctl leaves nothing behind.
    /// </summary>
    private void MockDomain(IommuTestCmd cmd, uint size)
    {
        var flags = (TestOp)cmd.Op == TestOp.MockDomainFlags ? cmd.U32(TestCmdLayout.MockDomain.DevFlags) : 0;
        var stdevId = host.Table.NextFreeId;
        if (stdevId == 0)
        {
            Done(Errno.EBUSY);
            return;
        }
        if (SelftestRules.MockDeviceFlagsErrno(flags) is var rc and not 0)
        {
            Done(rc);
            return;
        }
        if (mocks.Unit is not { } unit)
        {
            Done(Errno.ENODEV);
            return;
        }
        var key = host.NewKey("mock");
        var pci = $"iommufd_mock/{key}";
        host.AskUnit<U.Done>(unit, new U.AddDevice(unit, mocks.SpecFor(stdevId, pci, flags)), (added, _) =>
        {
            if (added != 0)
            {
                Done(added);
                return;
            }
            host.Save(new ObjectCreated(stdevId, ObjectKind.Selftest, [], key, pci, flags, false, 0), () =>
            {
                var devId = host.Table.NextFreeId;
                if (devId == 0)
                {
                    DestroyMockDevice(stdevId, () => Done(Errno.EBUSY));
                    return;
                }
                host.Save(new ObjectCreated(devId, ObjectKind.Device, [], key, pci, 0, false, 0), () =>
                    host.AttachTo(new AttachDevice(host.FileId, devId, cmd.Id, NoPasid), (errno, hwptId) =>
                    {
                        if (errno != 0)
                        {
                            DestroyMockDevice(stdevId, () => Done(errno));
                            return;
                        }
                        Request.Respond(cmd.WithU32(TestCmdLayout.MockDomain.OutStdevId, stdevId)
                            .WithU32(TestCmdLayout.MockDomain.OutHwptId, hwptId)
                            .WithU32(TestCmdLayout.MockDomain.OutIdevId, devId), size);
                    }));
            });
        });
    }

    /// <summary>
    /// iommufd_selftest_destroy: every attachment of the device goes, then its DEVICE, then the
    /// SELFTEST object, and the device leaves the unit. Detaching and unplugging cannot fail.
    /// </summary>
    public void DestroyMockDevice(uint stdevId, Action then)
    {
        var mock = mocks.Of(stdevId)!;
        var devId = DeviceOf(mock);
        _pasid1024Armed.Remove(devId);
        host.Unbind(devId, () => host.Save(new ObjectDestroyed(stdevId), () =>
        {
            if (mocks.Unit is not { } unit)
            {
                then();
                return;
            }
            host.AskUnit<U.Done>(unit, new U.RemoveDevice(unit, mock.Pci), (_, _) => then());
        }));
    }

    /// <summary>iommufd_test_mock_domain_replace: the RID attachment moves to pt_id, which is answered with the HWPT now used.</summary>
    private void MockDomainReplace(IommuTestCmd cmd, uint size)
    {
        if (!TryMock(cmd.Id, out var devId))
        {
            Done(Errno.ENOENT);
            return;
        }
        var ptId = cmd.U32(TestCmdLayout.MockDomainReplace.PtId);
        if (!host.TryDevice(devId, out var dev) || !dev.Attachments.ContainsKey(NoPasid))
        {
            // iommufd_device_do_replace: nothing attached to replace.
            Done(Errno.EINVAL);
            return;
        }
        host.AttachTo(new AttachDevice(host.FileId, devId, ptId, NoPasid), (errno, hwptId) =>
        {
            if (errno != 0)
                Done(errno);
            else
                Request.Respond(cmd.WithU32(TestCmdLayout.MockDomainReplace.PtId, hwptId), size);
        });
    }

    // ---- PASID_ATTACH, PASID_REPLACE, PASID_DETACH, PASID_CHECK_HWPT ----

    /// <summary>
    /// iommufd_test_pasid_attach and _replace: the PASID checks (SelftestRules.PasidAttachErrno),
    /// then the device's attach or replace path, answered with the HWPT used in pt_id.
    /// </summary>
    private void PasidAttach(IommuTestCmd cmd, uint size, bool replace)
    {
        if (!TryMock(cmd.Id, out var devId) || !host.TryDevice(devId, out var dev))
        {
            Done(Errno.ENOENT);
            return;
        }
        var pasid = SelftestRules.OpPasid(cmd.U32(TestCmdLayout.PasidAttach.Pasid), NoPasid);
        var ptId = cmd.U32(TestCmdLayout.PasidAttach.PtId);
        var capable = host.SpecOf(dev).PasidCapable;
        if (SelftestRules.PasidAttachErrno(pasid, NoPasid, capable, dev.Attachments.ContainsKey(pasid), replace) is var rc and not 0)
        {
            Done(rc);
            return;
        }
        // The driver's set_dev_pasid for PASID 1024: every second attach to a new domain fails.
        var fakeError = pasid == (int)Selftest.PasidReserved && host.Table.Get(ptId).IsOk
                        && dev.Attachments.GetValueOrDefault(pasid) != ptId && capable;
        if (fakeError && !_pasid1024Armed.Add(devId))
        {
            _pasid1024Armed.Remove(devId);
            Done(Errno.ENOMEM);
            return;
        }
        host.AttachTo(new AttachDevice(host.FileId, devId, ptId, pasid), (errno, hwptId) =>
        {
            if (errno != 0)
            {
                if (fakeError)
                    _pasid1024Armed.Remove(devId);
                Done(errno);
                return;
            }
            Request.Respond(cmd.WithU32(TestCmdLayout.PasidAttach.PtId, hwptId), size);
        });
    }

    /// <summary>iommufd_test_pasid_detach: detaching what is not attached succeeds.</summary>
    private void PasidDetach(IommuTestCmd cmd)
    {
        if (!TryMock(cmd.Id, out var devId))
        {
            Done(Errno.ENOENT);
            return;
        }
        var pasid = SelftestRules.OpPasid(cmd.U32(TestCmdLayout.PasidDetach.Pasid), NoPasid);
        if (pasid == (int)Selftest.PasidReserved)
            _pasid1024Armed.Remove(devId);
        host.Detach(devId, pasid, () => Done(0));
    }

    /// <summary>iommufd_test_pasid_check_hwpt: a mock device (ENOENT), then <see cref="SelftestRules.PasidCheckHwptErrno"/>.</summary>
    private void PasidCheckHwpt(IommuTestCmd cmd)
    {
        if (!TryMock(cmd.Id, out var devId) || !host.TryDevice(devId, out var dev))
        {
            Done(Errno.ENOENT);
            return;
        }
        var attached = dev.Attachments.GetValueOrDefault(SelftestRules.OpPasid(cmd.U32(TestCmdLayout.PasidCheck.Pasid), NoPasid));
        var hwptId = cmd.U32(TestCmdLayout.PasidCheck.HwptId);
        var hwpt = host.Table.Get(hwptId);
        Done(SelftestRules.PasidCheckHwptErrno(attached, hwptId, hwpt.IsOk ? hwpt.Value!.Kind : null));
    }
}
