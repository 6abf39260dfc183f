using Akka.Actor;
using System.Collections.Immutable;
using IommuActors.Domains.Ioas;
using IommuActors.Fd.Objects;
using IommuActors.Uapi.Structs;
using static IommuActors.Fd.Context.ContextProtocol;
using static IommuActors.Fd.Files.FileProtocol;
using Errno = IommuActors.Uapi.Errno;

namespace IommuActors.Fd.Context;

// IOMMU_TEST_CMD, the selftest's ioctl (iommufd_test.h): every op of the kernel's list up to
// PASID_CHECK_HWPT. An op number past those answers EOPNOTSUPP, as the kernel does for one it does not know.
public sealed partial class IommufdContextActor
{
    private void OnTestCmd(IommuTestCmd cmd, uint size)
    {
        switch ((TestOp)cmd.Op)
        {
            case TestOp.AddReserved:
                TestAddReserved(cmd);
                return;
            case TestOp.TriggerIopf:
                TestTriggerIopf(cmd);
                return;
            case TestOp.CreateAccess:
                TestCreateAccess(cmd, size);
                return;
            case TestOp.AccessPages:
                TestAccessPages(cmd, size);
                return;
            case TestOp.DestroyAccessPages:
                TestDestroyAccessPages(cmd);
                return;
            case TestOp.AccessRw:
                TestAccessRw(cmd);
                return;
            case TestOp.AccessReplaceIoas:
                TestAccessReplaceIoas(cmd);
                return;
            case TestOp.SetTempMemoryLimit:
                TestSetTempMemoryLimit(cmd);
                return;
            case TestOp.MockDomain or TestOp.MockDomainFlags:
                TestMockDomain(cmd, size);
                return;
            case TestOp.MockDomainReplace:
                TestMockDomainReplace(cmd, size);
                return;
            case TestOp.MdCheckMap:
                TestMdCheckMap(cmd);
                return;
            case TestOp.MdCheckRefs:
                TestMdCheckRefs(cmd);
                return;
            case TestOp.MdCheckIotlb:
                TestMdCheckIotlb(cmd);
                return;
            case TestOp.DevCheckCache:
                TestDevCheckCache(cmd);
                return;
            case TestOp.Dirty:
                TestDirty(cmd, size);
                return;
            case TestOp.TriggerVevent:
                TestTriggerVevent(cmd);
                return;
            case TestOp.PasidAttach:
                TestPasidAttach(cmd, size, replace: false);
                return;
            case TestOp.PasidReplace:
                TestPasidAttach(cmd, size, replace: true);
                return;
            case TestOp.PasidDetach:
                TestPasidDetach(cmd);
                return;
            case TestOp.PasidCheckHwpt:
                TestPasidCheckHwpt(cmd);
                return;
            default:
                Done(Errno.EOPNOTSUPP);
                return;
        }
    }

    /// <summary>
    /// SET_TEMP_MEMORY_LIMIT: the kernel's limit on the temporary buffers its page batching may
    /// allocate, below sizeof(unsigned long) + sizeof(u32) EINVAL. It changes only how the kernel
    /// chunks its work, never a result, and the emulator has no such buffers: it is accepted and
    /// has no effect. (It is not the locked-memory accounting, which IOMMU_OPTION sets.)
    /// </summary>
    private void TestSetTempMemoryLimit(IommuTestCmd cmd) =>
        Done(cmd.U32(TestCmdLayout.MemoryLimit.Limit) < Selftest.MemoryLimitMin ? Errno.EINVAL : 0);

    /// <summary>ADD_RESERVED: id is an IOAS; [start, start + length) becomes reserved in it (EINVAL if a mapping is in the way).</summary>
    private void TestAddReserved(IommuTestCmd cmd)
    {
        var start = cmd.U64(TestCmdLayout.AddReserved.Start);
        var length = cmd.U64(TestCmdLayout.AddReserved.Length);
        if (!_table.Get(cmd.Id, ObjectKind.Ioas).IsOk || !_ioas.TryGetValue(cmd.Id, out var ioas))
        {
            Done(Errno.ENOENT);
            return;
        }
        if (length == 0 || start > ulong.MaxValue - (length - 1))
        {
            Done(Errno.EOVERFLOW);
            return;
        }
        // One owner per call, so each reservation stays until the IOAS goes, as the selftest's do.
        var owner = $"selftest.{++_tag}";
        ioas.Ref.Tell(new IoasProtocol.AddReserved(ioas.Key, owner, [new IoasProtocol.IovaSpan(start, start + length - 1)]));
        Await<IoasProtocol.ReservedResult>(r => Done(r.Errno));
    }

    /// <summary>
    /// TRIGGER_IOPF: the mock driver reports a page request for the device (dev_id) as hardware
    /// would: PASID 0 means none (the RID attachment takes it), otherwise the attachment of that
    /// PASID, or the RID's nested one (PageRequestRoute). It lands in the fault queue of the attached HWPT, if it has one; the response written
    /// back completes it. The request is reported even without a queue, and the ioctl succeeds.
    /// </summary>
    private void TestTriggerIopf(IommuTestCmd cmd)
    {
        var devId = cmd.U32(TestCmdLayout.TriggerIopf.DevId);
        if (!_table.Get(devId, ObjectKind.Device).IsOk || !_devices.TryGetValue(devId, out var dev))
        {
            Done(Errno.ENOENT);
            return;
        }
        var pasid = cmd.U32(TestCmdLayout.TriggerIopf.Pasid);
        var at = Faults.PageRequestRoute.AttachmentFor(pasid, dev.Attachments, UnitOf(dev).Kind == IommuActors.Hardware.Platform.UnitKind.Mock,
            id => _hwpts.TryGetValue(id, out var n) && n.Nested);
        if (at is { } key && dev.Attachments.TryGetValue(key, out var hwptId) && _hwpts.TryGetValue(hwptId, out var h)
            && _table.Get(hwptId).Value!.Uses.FirstOrDefault(u => _faults.ContainsKey(u)) is var faultId and not 0)
        {
            var q = QueueOf(faultId);
            q.ToDeliver.Add(new FaultGroup(devId, pasid == 0 ? -1 : (int)pasid, hwptId, h.Unit, UnitCookie: 0,
                cmd.U64(TestCmdLayout.TriggerIopf.Addr), cmd.U32(TestCmdLayout.TriggerIopf.Perm),
                cmd.U32(TestCmdLayout.TriggerIopf.Grpid)));
            q.Client.Tell(new FileReady(_faults[faultId].FileId, PollIn));
        }
        Done(0);
    }
}
