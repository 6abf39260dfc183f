using System.Collections.Immutable;
using Akka.Actor;
using IommuActors.Domains.Hwpt;
using IommuActors.Fd.Context;
using IommuActors.Fd.Objects;
using IommuActors.Hardware.Platform;
using IommuActors.Uapi.Structs;
using static IommuActors.Fd.Context.ContextProtocol;
using Errno = IommuActors.Uapi.Errno;
using H = IommuActors.Domains.Hwpt.HwptProtocol;

namespace IommuActors.Fd.Hwpts;

/// <summary>
/// The HWPT ioctls (hw_pagetable.c). A HWPT lives in the IOAS actor it mirrors, a nested one in
/// its parent's IOAS (src/Actors.Domains, HwptProtocol): that actor keeps every domain in step
/// with the mappings and talks to the units. The context keeps the object table entry (ID, kind,
/// unit, flags, what it uses); this class checks what only the context can see (objects, client
/// memory; <see cref="HwptRules"/>) and asks the IOAS for the rest, on the context's thread.
/// </summary>
internal sealed class HwptIoctls(IContextHost host)
{
    private readonly Stage1Reader _stage1 = new(host.Request);

    private ServedRequest Request => host.Request;

    private void Done(int errno) => Request.Done(errno);

    // ---- HWPT_ALLOC ----

    public void Alloc(IommuHwptAlloc cmd, uint size)
    {
        if (HwptRules.AllocArgsErrno(cmd, size) is var bad and not 0)
        {
            Done(bad);
            return;
        }
        if (!host.TryDevice(cmd.DevId, out var dev))
        {
            Done(Errno.ENOENT);
            return;
        }
        var pt = host.Table.Get(cmd.PtId);
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
                var viommu = host.Viommus[cmd.PtId];
                if (Viommus.ViommuRules.CheckNestedOnViommu(host.UnitOf(dev).Name, viommu.Unit, cmd.DataLen) is var refused and not 0)
                {
                    Done(refused);
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
        (cmd.Flags & HwptAllocFlags.FaultIdValid) != 0 ? host.Self : ActorRefs.Nobody;

    private void AllocPaging(IommuHwptAlloc cmd, uint size, DeviceEntry dev)
    {
        var home = host.Ioas[cmd.PtId];
        var unit = host.UnitOf(dev);
        var id = host.Table.NextFreeId;
        home.Ref.Tell(new H.AllocatePaging(home.Key, id, host.RefOf(dev), unit, cmd.Flags, FaultHandlerOf(cmd)));
        Request.Await<H.HwptAllocated>(r => r.HwptId == id, r =>
        {
            if (r.Errno != 0)
                Done(r.Errno);
            else
                Allocated(cmd, size, id, ObjectKind.HwptPaging, home, unit, r.DomainId);
        });
    }

    /// <summary>A nested HWPT over the paging HWPT parentId, made on cmd.PtId: that HWPT, or a vIOMMU over it.</summary>
    private void AllocNested(IommuHwptAlloc cmd, uint size, DeviceEntry dev, uint parentId)
    {
        var parent = host.Hwpts[parentId];
        var unit = host.UnitOf(dev);
        if (HwptRules.NestedErrno(cmd.Flags, unit, parent.Auto, parent.Flags, parent.Unit) is var bad and not 0)
        {
            Done(bad);
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
        Request.ReadMemory(cmd.DataUptr, cmd.DataLen, data =>
        {
            var home = host.Ioas[parent.Parent];
            _stage1.Read(home, cmd.DataType, data, stage1 =>
            {
                if (stage1 is not { } leaves)
                {
                    Done(Errno.ENOMEM);
                    return;
                }
                var id = host.Table.NextFreeId;
                home.Ref.Tell(new H.AllocateNested(home.Key, id, parentId, host.RefOf(dev), unit, cmd.Flags, cmd.DataType, [.. data], leaves,
                    FaultHandlerOf(cmd)));
                Request.Await<H.HwptAllocated>(r => r.HwptId == id, r =>
                {
                    if (r.Errno != 0)
                        Done(r.Errno);
                    else
                        Allocated(cmd, size, id, ObjectKind.HwptNested, home, unit, r.DomainId);
                });
            });
        });
    }

    /// <summary>
    /// The HWPT exists in its IOAS. The fault_id is looked up now, after the domain, as the kernel
    /// does: a bad one destroys the new HWPT again and the ioctl fails with ENOENT.
    /// </summary>
    private void Allocated(IommuHwptAlloc cmd, uint size, uint id, ObjectKind kind, IoasEntry home, UnitSpec unit, int domainId)
    {
        var withFault = (cmd.Flags & HwptAllocFlags.FaultIdValid) != 0;
        if (withFault && (cmd.FaultId == 0 || !host.Table.Get(cmd.FaultId, ObjectKind.Fault).IsOk))
        {
            home.Ref.Tell(new H.DestroyHwpt(home.Key, id));
            Request.Await<H.HwptDestroyResult>(d => d.HwptId == id, _ => Done(Errno.ENOENT));
            return;
        }
        var uses = withFault ? ImmutableArray.Create(cmd.PtId, cmd.FaultId) : [cmd.PtId];
        host.Save(new ObjectCreated(id, kind, uses, host.NewKey("hwpt"), unit.Name, cmd.Flags, false, domainId),
            () => Request.Respond(cmd with { OutHwptId = id }, size));
    }

    /// <summary>Destroying a HWPT: its IOAS frees the domain and drops the limits the HWPT set on it.</summary>
    public void FreeDomain(uint id, Action then)
    {
        var home = host.HomeOf(id);
        home.Ref.Tell(new H.DestroyHwpt(home.Key, id));
        Request.Await<H.HwptDestroyResult>(r => r.HwptId == id, r =>
        {
            // ENOENT: the IOAS never had it (a crash between the two journals), so it is gone already.
            if (r.Errno is 0 or Errno.ENOENT)
                then();
            else
                Request.Fail(r.Errno);
        });
    }

    // ---- dirty tracking ----

    public void SetDirtyTracking(IommuHwptSetDirtyTracking cmd, uint size)
    {
        if (HwptRules.DirtyTrackingFlagsErrno(cmd.Flags) is var bad and not 0)
        {
            Done(bad);
            return;
        }
        if (!host.Table.Get(cmd.HwptId, ObjectKind.HwptPaging).IsOk)
        {
            Done(Errno.ENOENT);
            return;
        }
        var home = host.HomeOf(cmd.HwptId);
        home.Ref.Tell(new H.SetDirtyTracking(home.Key, cmd.HwptId, cmd.Flags));
        Request.Await<H.DirtyTrackingResult>(r => r.HwptId == cmd.HwptId, r => Done(r.Errno));
    }

    public void GetDirtyBitmap(IommuHwptGetDirtyBitmap cmd, uint size)
    {
        if (HwptRules.DirtyBitmapArgsErrno(cmd.Flags, cmd.Reserved) is var bad and not 0)
        {
            Done(bad);
            return;
        }
        if (!host.Table.Get(cmd.HwptId, ObjectKind.HwptPaging).IsOk)
        {
            Done(Errno.ENOENT);
            return;
        }
        var home = host.HomeOf(cmd.HwptId);
        home.Ref.Tell(new H.GetDirtyBitmap(home.Key, cmd.HwptId, cmd.Iova, cmd.Length, cmd.PageSize, cmd.Flags));
        Request.Await<H.DirtyBitmap>(r => r.HwptId == cmd.HwptId, r =>
        {
            if (r.Errno != 0)
                Done(r.Errno);
            else
                Request.WriteMemory(cmd.Data, [.. r.Bitmap], rc => Done(rc));
        });
    }

    // ---- invalidation ----

    /// <summary>HWPT_INVALIDATE whose hwpt_id names a vIOMMU: the vIOMMU's cache invalidation (the errno and entries handled to finish with).</summary>
    public Action<IommuHwptInvalidate, Action<int, uint>>? ViommuInvalidate { get; init; }

    public void Invalidate(IommuHwptInvalidate cmd, uint size)
    {
        // Every path copies the struct back with entry_num = entries handled.
        void Finish(int rc, uint handled)
        {
            var back = UserStruct.CopyBack(cmd with { EntryNum = handled }, size);
            if (rc == 0)
                Request.Done(0, back);
            else
                Request.WriteMemory(Request.Ioctl!.Arg, back, wrc => Done(wrc != 0 ? wrc : rc));
        }
        if (HwptRules.InvalidateArgsErrno(cmd) is var bad and not 0)
        {
            Finish(bad, 0);
            return;
        }
        var obj = host.Table.Get(cmd.HwptId);
        if (!obj.IsOk)
        {
            Finish(Errno.ENOENT, 0);
            return;
        }
        if (obj.Value!.Kind == ObjectKind.Viommu && ViommuInvalidate is { } viommu)
        {
            viommu(cmd, Finish);
            return;
        }
        if (obj.Value!.Kind != ObjectKind.HwptNested)
        {
            Finish(Errno.EINVAL, 0);
            return;
        }
        var home = host.HomeOf(cmd.HwptId);
        var total = (ulong)cmd.EntryLen * cmd.EntryNum;
        // An unreadable array still goes to the driver, which checks the type before it copies the
        // first entry: a wrong type stays EINVAL, a right one fails that copy with EFAULT.
        Request.TryReadMemory(cmd.DataUptr, total > int.MaxValue ? null : (uint?)total, data =>
            _stage1.ReadAgain(home, cmd.HwptId, stage1 =>
            {
                if (stage1 is not { } leaves)
                {
                    Finish(Errno.ENOMEM, 0);
                    return;
                }
                home.Ref.Tell(new H.InvalidateHwpt(home.Key, cmd.HwptId, cmd.DataType, cmd.EntryLen, cmd.EntryNum, [.. data ?? []], leaves));
                Request.Await<H.InvalidateResult>(r => r.HwptId == cmd.HwptId, r => Finish(r.Errno, r.EntriesDone));
            }));
    }
}
