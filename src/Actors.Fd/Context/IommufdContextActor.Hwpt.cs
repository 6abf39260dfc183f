using System.Collections.Immutable;
using Akka.Actor;
using IommuActors.Domains.Hwpt;
using IommuActors.Fd.Objects;
using IommuActors.Hardware.Platform;
using IommuActors.Uapi.Structs;
using static IommuActors.Fd.Context.ContextProtocol;
using Errno = IommuActors.Uapi.Errno;
using H = IommuActors.Domains.Hwpt.HwptProtocol;

namespace IommuActors.Fd.Context;

// HWPT ioctls (hw_pagetable.c). A HWPT lives in the IOAS actor it mirrors, a nested one in its
// parent's IOAS (src/Actors.Domains, HwptProtocol): that actor keeps every domain in step with the
// mappings and talks to the units. The context keeps the object table entry (ID, kind, unit,
// flags, what it uses), checks what only it can see (objects, client memory) and asks the IOAS
// for the rest.
public sealed partial class IommufdContextActor
{
    /// <summary>The IOAS object a HWPT belongs to: its own for a paging HWPT, its parent's for a nested one.</summary>
    private uint IoasOf(HwptEntry h) => !h.Nested ? h.Parent : _hwpts[ParentHwptOf(h)].Parent;

    /// <summary>The nesting parent of a nested HWPT: the HWPT it was made on, or that of the vIOMMU it was made on.</summary>
    private uint ParentHwptOf(HwptEntry nested) =>
        _viommus.TryGetValue(nested.Parent, out var viommu) ? viommu.Hwpt : nested.Parent;

    private IoasEntry HomeOf(uint hwptId) => _ioas[IoasOf(_hwpts[hwptId])];

    /// <summary>A device as the IOAS needs it: where it sits and the reserved regions a plain attach reserves.</summary>
    private H.DeviceRef RefOf(DeviceEntry d)
    {
        var unit = UnitOf(d);
        return new H.DeviceRef(d.Pci, unit.Name, SpecOf(d).Group,
            [.. unit.ReservedRegions.Select(r => new Domains.Ioas.IoasProtocol.IovaSpan(r.Start, r.Last))]);
    }

    private static int UnitPasid(int pasid) => pasid == NoPasid ? H.NoPasid : pasid;

    // ---- HWPT_ALLOC ----

    private void OnHwptAlloc(IommuHwptAlloc cmd, uint size)
    {
        if (cmd.Reserved != 0 || cmd.Reserved2 != 0 && size > 44)
        {
            Done(Errno.EOPNOTSUPP);
            return;
        }
        if ((cmd.DataType == HwptDataType.None) != (cmd.DataLen == 0))
        {
            Done(Errno.EINVAL);
            return;
        }
        if (!TryDevice(cmd.DevId, out var dev))
        {
            Done(Errno.ENOENT);
            return;
        }
        var pt = _table.Get(cmd.PtId);
        // hw_pagetable.c looks pt_id up with any type and answers a miss as EINVAL.
        if (!pt.IsOk)
        {
            Done(Errno.EINVAL);
            return;
        }
        switch (pt.Value!.Kind)
        {
            case ObjectKind.Ioas:
                // No driver here takes vendor data for a paging domain.
                if (cmd.DataLen != 0)
                {
                    Done(Errno.EOPNOTSUPP);
                    return;
                }
                AllocPaging(cmd, size, dev);
                return;
            case ObjectKind.HwptPaging:
                AllocNested(cmd, size, dev, cmd.PtId);
                return;
            case ObjectKind.Viommu:
                var viommu = _viommus[cmd.PtId];
                var rc = Viommus.ViommuRules.CheckNestedOnViommu(UnitOf(dev).Name, viommu.Unit, cmd.DataLen);
                if (rc != 0)
                {
                    Done(rc);
                    return;
                }
                AllocNested(cmd, size, dev, viommu.Hwpt);
                return;
            default:
                Done(Errno.EINVAL);
                return;
        }
    }

    private IActorRef FaultHandlerOf(IommuHwptAlloc cmd) =>
        (cmd.Flags & HwptAllocFlags.FaultIdValid) != 0 ? Self : ActorRefs.Nobody;

    private void AllocPaging(IommuHwptAlloc cmd, uint size, DeviceEntry dev)
    {
        var home = _ioas[cmd.PtId];
        var unit = UnitOf(dev);
        var id = _table.NextFreeId;
        home.Ref.Tell(new H.AllocatePaging(home.Key, id, RefOf(dev), unit, cmd.Flags, FaultHandlerOf(cmd)));
        Await<H.HwptAllocated>(r => r.HwptId == id, r =>
        {
            if (r.Errno != 0)
                Done(r.Errno);
            else
                HwptAllocated(cmd, size, id, ObjectKind.HwptPaging, home, unit, r.DomainId);
        });
    }

    /// <summary>A nested HWPT over the paging HWPT parentId, made on cmd.PtId: that HWPT, or a vIOMMU over it.</summary>
    private void AllocNested(IommuHwptAlloc cmd, uint size, DeviceEntry dev, uint parentId)
    {
        var parent = _hwpts[parentId];
        var unit = UnitOf(dev);
        if ((cmd.Flags & ~(HwptAllocFlags.FaultIdValid | HwptAllocFlags.Pasid)) != 0 || !unit.Nesting)
        {
            Done(Errno.EOPNOTSUPP);
            return;
        }
        if (parent.Auto || (parent.Flags & HwptAllocFlags.NestParent) == 0 || parent.Unit != unit.Name)
        {
            Done(Errno.EINVAL);
            return;
        }
        // The driver checks the data type and the struct's size before it copies the struct: a
        // zeroed buffer of the caller's length gives exactly those answers.
        var precheck = VendorData.CheckNestedData(VendorData.DataTypeFor(unit.Stage1Format), cmd.DataType,
            new byte[Math.Min(cmd.DataLen, 4096u)]);
        if (precheck != 0)
        {
            Done(precheck);
            return;
        }
        ReadMemory(cmd.DataUptr, cmd.DataLen, data =>
        {
            var home = _ioas[parent.Parent];
            ReadStage1(home, cmd.DataType, data, stage1 =>
            {
                if (stage1 is not { } leaves)
                {
                    Done(Errno.ENOMEM);
                    return;
                }
                var id = _table.NextFreeId;
                home.Ref.Tell(new H.AllocateNested(home.Key, id, parentId, RefOf(dev), unit, cmd.Flags, cmd.DataType, [.. data], leaves,
                    FaultHandlerOf(cmd)));
                Await<H.HwptAllocated>(r => r.HwptId == id, r =>
                {
                    if (r.Errno != 0)
                        Done(r.Errno);
                    else
                        HwptAllocated(cmd, size, id, ObjectKind.HwptNested, home, unit, r.DomainId);
                });
            });
        });
    }

    /// <summary>
    /// The HWPT exists in its IOAS. The fault_id is looked up now, after the domain, as the kernel
    /// does: a bad one destroys the new HWPT again and the ioctl fails with ENOENT.
    /// </summary>
    private void HwptAllocated(IommuHwptAlloc cmd, uint size, uint id, ObjectKind kind, IoasEntry home, UnitSpec unit, int domainId)
    {
        var withFault = (cmd.Flags & HwptAllocFlags.FaultIdValid) != 0;
        if (withFault && (cmd.FaultId == 0 || !_table.Get(cmd.FaultId, ObjectKind.Fault).IsOk))
        {
            home.Ref.Tell(new H.DestroyHwpt(home.Key, id));
            Await<H.HwptDestroyResult>(d => d.HwptId == id, _ => Done(Errno.ENOENT));
            return;
        }
        var uses = withFault ? ImmutableArray.Create(cmd.PtId, cmd.FaultId) : [cmd.PtId];
        Save(new ObjectCreated(id, kind, uses, NewKey("hwpt"), unit.Name, cmd.Flags, false, domainId),
            () => Respond(cmd with { OutHwptId = id }, size));
    }

    /// <summary>Destroying a HWPT: its IOAS frees the domain and drops the limits the HWPT set on it.</summary>
    private void FreeHwptDomain(uint id, Action then)
    {
        var home = HomeOf(id);
        home.Ref.Tell(new H.DestroyHwpt(home.Key, id));
        Await<H.HwptDestroyResult>(r => r.HwptId == id, r =>
        {
            // ENOENT: the IOAS never had it (a crash between the two journals), so it is gone already.
            if (r.Errno is 0 or Errno.ENOENT)
                then();
            else
                Fail(r.Errno);
        });
    }

    // ---- dirty tracking ----

    private void OnSetDirtyTracking(IommuHwptSetDirtyTracking cmd, uint size)
    {
        if ((cmd.Flags & ~IommuHwptSetDirtyTracking.Enable) != 0)
        {
            Done(Errno.EOPNOTSUPP);
            return;
        }
        if (!_table.Get(cmd.HwptId, ObjectKind.HwptPaging).IsOk)
        {
            Done(Errno.ENOENT);
            return;
        }
        var home = HomeOf(cmd.HwptId);
        home.Ref.Tell(new H.SetDirtyTracking(home.Key, cmd.HwptId, cmd.Flags));
        Await<H.DirtyTrackingResult>(r => r.HwptId == cmd.HwptId, r => Done(r.Errno));
    }

    private void OnGetDirtyBitmap(IommuHwptGetDirtyBitmap cmd, uint size)
    {
        if ((cmd.Flags & ~IommuHwptGetDirtyBitmap.NoClear) != 0 || cmd.Reserved != 0)
        {
            Done(Errno.EOPNOTSUPP);
            return;
        }
        if (!_table.Get(cmd.HwptId, ObjectKind.HwptPaging).IsOk)
        {
            Done(Errno.ENOENT);
            return;
        }
        var home = HomeOf(cmd.HwptId);
        home.Ref.Tell(new H.GetDirtyBitmap(home.Key, cmd.HwptId, cmd.Iova, cmd.Length, cmd.PageSize, cmd.Flags));
        Await<H.DirtyBitmap>(r => r.HwptId == cmd.HwptId, r =>
        {
            if (r.Errno != 0)
                Done(r.Errno);
            else
                WriteMemory(cmd.Data, [.. r.Bitmap], rc => Done(rc));
        });
    }

    // ---- invalidation ----

    private void OnInvalidate(IommuHwptInvalidate cmd, uint size)
    {
        // Every path copies the struct back with entry_num = entries handled.
        void Finish(int rc, uint handled)
        {
            var back = UserStruct.CopyBack(cmd with { EntryNum = handled }, size);
            if (rc == 0)
                Done(0, back);
            else
                WriteMemory(_request.Ioctl!.Arg, back, wrc => Done(wrc != 0 ? wrc : rc));
        }
        if (cmd.Reserved != 0)
        {
            Finish(Errno.EOPNOTSUPP, 0);
            return;
        }
        if (cmd.EntryNum != 0 && (cmd.DataUptr == 0 || cmd.EntryLen == 0))
        {
            Finish(Errno.EINVAL, 0);
            return;
        }
        var obj = _table.Get(cmd.HwptId);
        if (!obj.IsOk)
        {
            Finish(Errno.ENOENT, 0);
            return;
        }
        if (obj.Value!.Kind != ObjectKind.HwptNested)
        {
            Finish(Errno.EINVAL, 0);
            return;
        }
        var home = HomeOf(cmd.HwptId);
        var total = (ulong)cmd.EntryLen * cmd.EntryNum;
        // An unreadable array still goes to the driver, which checks the type before it copies the
        // first entry: a wrong type stays EINVAL, a right one fails that copy with EFAULT.
        TryReadMemory(cmd.DataUptr, total > int.MaxValue ? null : (uint?)total, data =>
            ReadStage1Again(home, cmd.HwptId, stage1 =>
            {
                if (stage1 is not { } leaves)
                {
                    Finish(Errno.ENOMEM, 0);
                    return;
                }
                home.Ref.Tell(new H.InvalidateHwpt(home.Key, cmd.HwptId, cmd.DataType, cmd.EntryLen, cmd.EntryNum, [.. data ?? []], leaves));
                Await<H.InvalidateResult>(r => r.HwptId == cmd.HwptId, r => Finish(r.Errno, r.EntriesDone));
            }));
    }
}
