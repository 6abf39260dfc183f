using Akka.Actor;
using IommuActors.Core.Messaging;
using IommuActors.Fd.Objects;
using IommuActors.Hardware.Platform;
using IommuActors.Uapi.Structs;
using static IommuActors.Fd.Context.ContextProtocol;
using Errno = IommuActors.Uapi.Errno;
using U = IommuActors.Hardware.Units.UnitProtocol;

namespace IommuActors.Fd.Context;

// The selftest's mock devices (selftest.c's selftest_obj of TYPE_IDEV): MOCK_DOMAIN makes a
// device behind the platform's mock unit (hot-plugged there), binds it as a DEVICE of this
// context and attaches it; the SELFTEST object it answers with stands for the device, and its
// IOMMU_DESTROY detaches, unbinds and unplugs it again. The ops that name a stdev (replace, the
// PASID ops) go through the same attach paths as a VFIO device's.
public sealed partial class IommufdContextActor
{
    /// <summary>The device flags mock_dev_create accepts.</summary>
    private const uint MockDeviceFlags = Selftest.DeviceNoDirty | Selftest.DeviceHugeIova | Selftest.DevicePasid;

    /// <summary>Groups of mock devices: one of its own each (generic_device_group), apart from the platform's numbers.</summary>
    private const int MockGroupBase = 1 << 30;

    private readonly Dictionary<uint, MockDeviceEntry> _mocks = new();
    private readonly Dictionary<string, DeviceSpec> _mockSpecs = new();

    /// <summary>PASID 1024 of a mock device fails every second attach with ENOMEM (the driver's fake error); volatile, as in the driver.</summary>
    private readonly HashSet<uint> _pasid1024Armed = new();

    private void ApplyMock(IPersistedEvent e)
    {
        switch (e)
        {
            case ObjectCreated { Kind: ObjectKind.Selftest } c:
                _mocks[c.Id] = new MockDeviceEntry(c.Key, c.Pci, c.Flags);
                _mockSpecs[c.Pci] = MockSpec(c.Id, c.Pci, c.Flags);
                break;
            case ObjectDestroyed d when _mocks.Remove(d.Id, out var gone):
                _mockSpecs.Remove(gone.Pci);
                break;
        }
    }

    private UnitSpec? MockUnit => _with.Platform.Units.FirstOrDefault(u => u.Kind == UnitKind.Mock);

    /// <summary>mock_dev_create: PASID-capable (MOCK_PASID_WIDTH bits) only with DEVICE_PASID; the mock IOMMU takes page requests from any device.</summary>
    private DeviceSpec MockSpec(uint stdevId, string pci, uint flags) =>
        new(pci, 0, 0, MockUnit?.Name ?? "", MockGroupBase + (int)stdevId,
            (flags & Selftest.DevicePasid) != 0 ? Selftest.MockPasidWidth : 0, Pri: true, Ats: false, Cdev: "");

    /// <summary>The MOCK_DOMAIN_FLAGS a mock device was made with; 0 for a platform device.</summary>
    private uint MockFlagsOf(DeviceEntry d) =>
        _mockSpecs.ContainsKey(d.Pci) ? _mocks.Values.FirstOrDefault(m => m.Pci == d.Pci)?.Flags ?? 0 : 0;

    private bool IsNoDirtyMock(DeviceEntry d) =>
        _mockSpecs.ContainsKey(d.Pci) && _mocks.Values.Any(m => m.Pci == d.Pci && (m.Flags & Selftest.DeviceNoDirty) != 0);

    /// <summary>The DEVICE object bound for a mock device (0 when there is none).</summary>
    private uint DeviceOfMock(MockDeviceEntry mock) => _devices.FirstOrDefault(d => d.Value.Pci == mock.Pci).Key;

    /// <summary>iommufd_test_get_selftest_obj: the id must name a SELFTEST object (ENOENT).</summary>
    private bool TryMock(uint stdevId, out MockDeviceEntry mock, out uint devId)
    {
        devId = 0;
        if (!_table.Get(stdevId, ObjectKind.Selftest).IsOk || !_mocks.TryGetValue(stdevId, out mock!))
        {
            mock = null!;
            return false;
        }
        devId = DeviceOfMock(mock);
        return true;
    }

    /// <summary>Sends a command to a unit and waits for its answer: the errno of a Failed, or 0 and the reply.</summary>
    private void AskUnit<T>(string unit, object command, Action<int, T?> then) where T : class
    {
        _with.Units.Tell(command);
        Await<object>(m => m is T || m is U.Failed f && f.Unit == unit, m =>
        {
            if (m is U.Failed f)
                then(f.Errno, null);
            else
                then(0, (T)m);
        });
    }

    // ---- MOCK_DOMAIN and MOCK_DOMAIN_FLAGS ----

    /// <summary>
    /// iommufd_test_mock_domain: the SELFTEST object's ID first, then the device (unknown flags
    /// EINVAL), its DEVICE, then the attach to cmd.id; IDs in that order. Any failure takes back
    /// what was made, so the ioctl leaves nothing behind.
    /// </summary>
    private void TestMockDomain(IommuTestCmd cmd, uint size)
    {
        var flags = (TestOp)cmd.Op == TestOp.MockDomainFlags ? cmd.U32(TestCmdLayout.MockDomain.DevFlags) : 0;
        var stdevId = _table.NextFreeId;
        if (stdevId == 0)
        {
            Done(Errno.EBUSY);
            return;
        }
        if ((flags & ~MockDeviceFlags) != 0)
        {
            Done(Errno.EINVAL);
            return;
        }
        if (MockUnit is not { } unit)
        {
            Done(Errno.ENODEV);
            return;
        }
        var key = NewKey("mock");
        var pci = $"iommufd_mock/{key}";
        AskUnit<U.Done>(unit.Name, new U.AddDevice(unit.Name, MockSpec(stdevId, pci, flags)), (rc, _) =>
        {
            if (rc != 0)
            {
                Done(rc);
                return;
            }
            Save(new ObjectCreated(stdevId, ObjectKind.Selftest, [], key, pci, flags, false, 0), () =>
            {
                var devId = _table.NextFreeId;
                if (devId == 0)
                {
                    DestroyMockDevice(stdevId, () => Done(Errno.EBUSY));
                    return;
                }
                Save(new ObjectCreated(devId, ObjectKind.Device, [], key, pci, 0, false, 0), () =>
                    AttachTo(new AttachDevice(_fileId, devId, cmd.Id, NoPasid), (errno, hwptId) =>
                    {
                        if (errno != 0)
                        {
                            DestroyMockDevice(stdevId, () => Done(errno));
                            return;
                        }
                        Respond(cmd.WithU32(TestCmdLayout.MockDomain.OutStdevId, stdevId)
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
    private void DestroyMockDevice(uint stdevId, Action then)
    {
        var mock = _mocks[stdevId];
        var devId = DeviceOfMock(mock);
        _pasid1024Armed.Remove(devId);
        UnbindInternal(devId, () => Save(new ObjectDestroyed(stdevId), () =>
        {
            if (MockUnit is not { } unit)
            {
                then();
                return;
            }
            AskUnit<U.Done>(unit.Name, new U.RemoveDevice(unit.Name, mock.Pci), (_, _) => then());
        }));
    }

    // ---- MOCK_DOMAIN_REPLACE ----

    /// <summary>iommufd_test_mock_domain_replace: the RID attachment moves to pt_id, which is answered with the HWPT now used.</summary>
    private void TestMockDomainReplace(IommuTestCmd cmd, uint size)
    {
        if (!TryMock(cmd.Id, out _, out var devId))
        {
            Done(Errno.ENOENT);
            return;
        }
        var ptId = cmd.U32(TestCmdLayout.MockDomainReplace.PtId);
        if (!TryDevice(devId, out var dev) || !dev.Attachments.ContainsKey(NoPasid))
        {
            // iommufd_device_do_replace: nothing attached to replace.
            Done(Errno.EINVAL);
            return;
        }
        AttachTo(new AttachDevice(_fileId, devId, ptId, NoPasid), (errno, hwptId) =>
        {
            if (errno != 0)
                Done(errno);
            else
                Respond(cmd.WithU32(TestCmdLayout.MockDomainReplace.PtId, hwptId), size);
        });
    }

    // ---- PASID_ATTACH, PASID_REPLACE, PASID_DETACH, PASID_CHECK_HWPT ----

    /// <summary>The test ops' PASID: IOMMU_NO_PASID (0) is the RID; past the mock's PASID width is no PASID a device has.</summary>
    private static int OpPasid(uint pasid) => pasid == 0 ? NoPasid : pasid >= 1u << Selftest.MockPasidWidth ? int.MinValue : (int)pasid;

    /// <summary>
    /// iommufd_test_pasid_attach and _replace: an attach of a PASID already attached is EBUSY, a
    /// replace of one that is not EINVAL; then the device's attach or replace path, answered with
    /// the HWPT used in pt_id.
    /// </summary>
    private void TestPasidAttach(IommuTestCmd cmd, uint size, bool replace)
    {
        if (!TryMock(cmd.Id, out _, out var devId) || !TryDevice(devId, out var dev))
        {
            Done(Errno.ENOENT);
            return;
        }
        var pasid = OpPasid(cmd.U32(TestCmdLayout.PasidAttach.Pasid));
        var ptId = cmd.U32(TestCmdLayout.PasidAttach.PtId);
        // iommu_attach_device_pasid: a PASID at or past the device's max_pasids (0 without DEVICE_PASID).
        if (pasid == int.MinValue || pasid != NoPasid && !SpecOf(dev).PasidCapable)
        {
            Done(Errno.EINVAL);
            return;
        }
        // iommufd_hw_pagetable_attach: the device is in that PASID's list already (EBUSY);
        // iommufd_device_do_replace: nothing attached there to replace (EINVAL).
        if (dev.Attachments.ContainsKey(pasid) != replace)
        {
            Done(replace ? Errno.EINVAL : Errno.EBUSY);
            return;
        }
        // The driver's set_dev_pasid for PASID 1024: every second attach to a new domain fails.
        var fakeError = pasid == (int)Selftest.PasidReserved && _table.Get(ptId).IsOk
                        && dev.Attachments.GetValueOrDefault(pasid) != ptId && SpecOf(dev).PasidCapable;
        if (fakeError && !_pasid1024Armed.Add(devId))
        {
            _pasid1024Armed.Remove(devId);
            Done(Errno.ENOMEM);
            return;
        }
        AttachTo(new AttachDevice(_fileId, devId, ptId, pasid), (errno, hwptId) =>
        {
            if (errno != 0)
            {
                if (fakeError)
                    _pasid1024Armed.Remove(devId);
                Done(errno);
                return;
            }
            Respond(cmd.WithU32(TestCmdLayout.PasidAttach.PtId, hwptId), size);
        });
    }

    /// <summary>iommufd_test_pasid_detach: detaching what is not attached succeeds.</summary>
    private void TestPasidDetach(IommuTestCmd cmd)
    {
        if (!TryMock(cmd.Id, out _, out var devId))
        {
            Done(Errno.ENOENT);
            return;
        }
        var pasid = OpPasid(cmd.U32(TestCmdLayout.PasidDetach.Pasid));
        if (pasid == (int)Selftest.PasidReserved)
            _pasid1024Armed.Remove(devId);
        DetachInternal(devId, pasid, () => Done(0));
    }

    /// <summary>
    /// iommufd_test_pasid_check_hwpt: with hwpt_id 0 the PASID must be detached, else attached to
    /// that HWPT (an ID that is no HWPT: ENOENT when missing, EINVAL otherwise); a mismatch is EINVAL.
    /// </summary>
    private void TestPasidCheckHwpt(IommuTestCmd cmd)
    {
        if (!TryMock(cmd.Id, out _, out var devId) || !TryDevice(devId, out var dev))
        {
            Done(Errno.ENOENT);
            return;
        }
        var attached = dev.Attachments.GetValueOrDefault(OpPasid(cmd.U32(TestCmdLayout.PasidCheck.Pasid)));
        var hwptId = cmd.U32(TestCmdLayout.PasidCheck.HwptId);
        if (hwptId == 0)
        {
            Done(attached == 0 ? 0 : Errno.EINVAL);
            return;
        }
        var hwpt = _table.Get(hwptId);
        if (!hwpt.IsOk)
        {
            Done(Errno.ENOENT);
            return;
        }
        Done(hwpt.Value!.Kind is ObjectKind.HwptPaging or ObjectKind.HwptNested && attached == hwptId ? 0 : Errno.EINVAL);
    }

    // ---- DEV_CHECK_CACHE and TRIGGER_VEVENT ----

    /// <summary>
    /// iommufd_test_dev_check_cache: id is a DEVICE (ENOENT); entry cache_id of the mock device's
    /// cache must hold the value. Only a vIOMMU invalidation changes those entries, and no vIOMMU
    /// can exist here, so each holds IOMMU_TEST_DEV_CACHE_DEFAULT; a device that is no mock device has none.
    /// </summary>
    private void TestDevCheckCache(IommuTestCmd cmd)
    {
        if (!TryDevice(cmd.Id, out var dev))
        {
            Done(Errno.ENOENT);
            return;
        }
        var ok = _mockSpecs.ContainsKey(dev.Pci) && cmd.U32(TestCmdLayout.CheckDevCache.Id) <= Selftest.DevCacheIdMax
                 && cmd.U32(TestCmdLayout.CheckDevCache.Cache) == Selftest.DevCacheDefault;
        Done(ok ? 0 : Errno.EINVAL);
    }

    /// <summary>iommufd_test_trigger_vevent: dev_id is a DEVICE (ENOENT); a device on no vIOMMU has nowhere to report (ENOENT), and no vIOMMU exists here.</summary>
    private void TestTriggerVevent(IommuTestCmd cmd) => Done(Errno.ENOENT);
}

/// <summary>A SELFTEST object: its key, the name of its mock device behind the mock unit, MOCK_DOMAIN_FLAGS' dev_flags.</summary>
internal sealed record MockDeviceEntry(string Key, string Pci, uint Flags);
