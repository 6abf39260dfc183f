using System.Collections.Immutable;
using Akka.Actor;
using IommuActors.Core.Messaging;
using IommuActors.Domains.Hwpt;
using IommuActors.Hardware.Platform;
using IommuActors.Hardware.Units;
using static IommuActors.Domains.Hwpt.HwptProtocol;
using static IommuActors.Domains.Ioas.IoasProtocol;
using U = IommuActors.Hardware.Units.UnitProtocol;

namespace IommuActors.Domains.Ioas;

/// <summary>
/// The HWPTs of this IOAS. They live here, not in actors of their own, because a paging HWPT is a
/// follower of the IOAS: keeping them in the IOAS makes "every domain reflects the map before the
/// reply" one actor's commit instead of a protocol between actors. Each HWPT operation runs alone
/// (no map or unmap in flight) and is applied only when every unit step took effect.
/// </summary>
public sealed partial class IoasActor
{
    private const ulong CpuPageSize = 4096;
    private static string DeviceOwner(string pci) => $"dev-{pci}";

    private void RecoverHwpts()
    {
        Recover<HwptCreated>(ApplyHwpt);
        Recover<HwptRemoved>(ApplyHwpt);
        Recover<HwptDeviceAttached>(ApplyHwpt);
        Recover<HwptDeviceDetached>(ApplyHwpt);
        Recover<HwptDirtyTrackingSet>(ApplyHwpt);
        Recover<HwptMockIotlbSet>(ApplyHwpt);
        Recover<HwptStage1Set>(ApplyHwpt);
    }

    /// <summary>The HWPT change and the IOAS reservations it owns (aperture, alignment, device regions), live and on replay.</summary>
    private void ApplyHwpt(IPersistedEvent e)
    {
        switch (e)
        {
            case HwptCreated c when c.Kind == HwptKind.Paging:
                _table.SetAlignment(HardwarePageTable.OwnerOf(c.HwptId), c.Alignment);
                _table.AddReserved(HardwarePageTable.OwnerOf(c.HwptId), ToRanges(c.Aperture));
                break;
            case HwptRemoved r:
                _table.RemoveAlignment(HardwarePageTable.OwnerOf(r.HwptId));
                _table.RemoveReserved(HardwarePageTable.OwnerOf(r.HwptId));
                break;
            case HwptDeviceAttached a when a.Pasid == NoPasid && !a.Reserved.IsDefaultOrEmpty:
                _table.RemoveReserved(DeviceOwner(a.Pci));
                _table.AddReserved(DeviceOwner(a.Pci), ToRanges(a.Reserved));
                break;
            case HwptDeviceDetached d when d.Pasid == NoPasid:
                _table.RemoveReserved(DeviceOwner(d.Pci));
                break;
        }
        _hwpts.Apply(e);
        SyncDomainPins();
    }

    private void HwptCommands()
    {
        Command<AllocatePaging>(OnAllocatePaging);
        Command<AllocateNested>(OnAllocateNested);
        Command<AttachToIoas>(OnAttachToIoas);
        Command<AttachToHwpt>(OnAttachToHwpt);
        Command<DetachDevice>(c => OnDetach(c.Pci, c.Pasid, touchUnit: true));
        Command<ForgetDevice>(c => OnDetach(c.Pci, c.Pasid, touchUnit: false));
        Command<DestroyHwpt>(OnDestroy);
        Command<SetDirtyTracking>(OnSetDirtyTracking);
        Command<GetDirtyBitmap>(OnGetDirtyBitmap);
        Command<InvalidateHwpt>(OnInvalidate);
        Command<GetHwpts>(_ => Sender.Tell(new Hwpts(_ioasId, _hwpts.Views())));
        Command<Pages.AccountProtocol.ReleaseResult>(_ => { });
    }

    /// <summary>iopt_table_add_domain's checks: alignment above PAGE_SIZE is EINVAL, misaligned areas and a blocked aperture EADDRINUSE, then pinning for the fill ENOMEM.</summary>
    private int CheckAddDomain(uint hwptId, UnitSpec unit)
    {
        var owner = HardwarePageTable.OwnerOf(hwptId);
        if (unit.MinPageSize > CpuPageSize)
            return Errno.EINVAL;
        var rc = _table.SetAlignment(owner, unit.MinPageSize);
        if (rc != 0)
            return rc;
        rc = _table.AddReserved(owner, ToRanges(Aperture(unit)));
        _table.RemoveAlignment(owner);
        _table.RemoveReserved(owner);
        return rc != 0 ? rc : CheckPinForNewDomain();
    }

    /// <summary>iopt_table_enforce_dev_resv_regions: a device's reserved regions may not cover an area or allowed range (EADDRINUSE).</summary>
    private int CheckDeviceRegions(DeviceRef device, int pasid)
    {
        if (pasid != NoPasid || device.ReservedRegions.IsDefaultOrEmpty)
            return 0;
        const string probe = "probe";
        var rc = _table.AddReserved(probe, ToRanges(device.ReservedRegions));
        _table.RemoveReserved(probe);
        return rc;
    }

    /// <summary>What lies outside the unit's aperture, reserved while a domain of it is in the IOAS.</summary>
    private static ImmutableArray<IovaSpan> Aperture(UnitSpec unit) =>
    [
        .. unit.ApertureStart == 0 ? [] : new[] { new IovaSpan(0, unit.ApertureStart - 1) },
        .. unit.ApertureEnd == ulong.MaxValue ? [] : new[] { new IovaSpan(unit.ApertureEnd + 1, ulong.MaxValue) },
    ];

    private HwptCreated Created(uint id, HwptKind kind, UnitSpec unit, int domainId, bool auto, uint flags, uint parent,
        uint dataType, ImmutableArray<byte> data, ImmutableArray<Stage1Entry> stage1) =>
        new(id, kind, unit.Name, domainId, auto, flags, parent, dataType, data.IsDefault ? [] : data, stage1.IsDefault ? [] : stage1,
            kind == HwptKind.Paging ? Aperture(unit) : [], kind == HwptKind.Paging ? unit.MinPageSize : 0, unit.PageSizes);

    /// <summary>Allocate a paging domain in the unit and fill it with every area (undone by freeing it).</summary>
    private List<CommitStep> NewPagingDomain(UnitSpec unit, uint flags, IActorRef faultHandler)
    {
        var name = unit.Name;
        var iopf = (flags & AllocFaultIdValid) != 0 && !faultHandler.IsNobody();
        var steps = new List<CommitStep>
        {
            new(_ => new U.AllocateDomain(name, (flags & AllocNestParent) != 0 ? DomainKind.NestParent : DomainKind.Paging, 0,
                (flags & AllocDirtyTracking) != 0, iopf, [], unit.PageSizes), _units,
                (r, _) => [(new U.FreeDomain(name, ((U.DomainAllocatedReply)r).DomainId), _units)]),
        };
        var cap = LeafCap;
        foreach (var a in _table.Areas.ToList())
        {
            var (iova, length, address, access) = (a.Iova, a.Length, a.Pages.UserAddress + a.PagesOffset, AccessOf(a.Protection));
            steps.Add(new(r => new U.MapRange(name, DomainOf(r), iova, length, address, access, cap), _units));
        }
        if (iopf)
            steps.Add(new(r => new U.RegisterFaultHandler(name, DomainOf(r), faultHandler), _units));
        ChargeForNewDomain(steps);
        return steps;
    }

    private static int DomainOf(IReadOnlyList<object> replies) => ((U.DomainAllocatedReply)replies[0]).DomainId;

    private void OnAllocatePaging(AllocatePaging c)
    {
        if (BlockedExclusive())
            return;
        var rc = (c.Flags & ~(AllocNestParent | AllocDirtyTracking | AllocFaultIdValid | AllocPasid)) != 0 ? Errno.EOPNOTSUPP
            : (c.Flags & AllocDirtyTracking) != 0 && !c.Unit.DirtyTracking ? Errno.EOPNOTSUPP
            : (c.Flags & AllocNestParent) != 0 && !c.Unit.Nesting ? Errno.EOPNOTSUPP
            : (c.Flags & AllocFaultIdValid) != 0 && !c.Unit.Iopf ? Errno.EOPNOTSUPP
            // A nest parent never reports faults itself: the two flags together are refused.
            : (c.Flags & AllocFaultIdValid) != 0 && (c.Flags & AllocNestParent) != 0 ? Errno.EOPNOTSUPP
            : _hwpts.Find(c.HwptId) is not null ? Errno.EEXIST
            : CheckAddDomain(c.HwptId, c.Unit);
        if (rc != 0)
        {
            Sender.Tell(new HwptAllocated(_ioasId, c.HwptId, rc, 0));
            return;
        }
        Begin(NewPagingDomain(c.Unit, c.Flags, c.FaultHandler), 0, ulong.MaxValue, true, Sender, replies =>
        {
            var e = Created(c.HwptId, HwptKind.Paging, c.Unit, DomainOf(replies), false, c.Flags, 0, DataNone, [], []);
            ApplyHwpt(e);
            return ([e], new HwptAllocated(_ioasId, c.HwptId, 0, e.DomainId));
        }, errno => new HwptAllocated(_ioasId, c.HwptId, errno, 0), null);
    }

    private void OnAllocateNested(AllocateNested c)
    {
        if (BlockedExclusive())
            return;
        var parent = _hwpts.Find(c.ParentHwptId);
        var data = c.Data.IsDefault ? [] : c.Data;
        var rc = (c.Flags & ~(AllocFaultIdValid | AllocPasid)) != 0 || data.IsEmpty || !c.Unit.Nesting ? Errno.EOPNOTSUPP
            : parent is null ? Errno.ENOENT
            : !parent.IsPaging || parent.Auto || (parent.Flags & AllocNestParent) == 0 || parent.Unit != c.Unit.Name ? Errno.EINVAL
            : _hwpts.Find(c.HwptId) is not null ? Errno.EEXIST
            : VendorData.CheckNestedData(VendorData.DataTypeFor(c.Unit.Stage1Format), c.DataType, data.AsSpan());
        if (rc != 0)
        {
            Sender.Tell(new HwptAllocated(_ioasId, c.HwptId, rc, 0));
            return;
        }
        var name = c.Unit.Name;
        var iopf = (c.Flags & AllocFaultIdValid) != 0 && !c.FaultHandler.IsNobody();
        var steps = new List<CommitStep>
        {
            new(_ => new U.AllocateDomain(name, DomainKind.Nested, parent!.DomainId, false, iopf, c.Stage1.IsDefault ? [] : c.Stage1), _units,
                (r, _) => [(new U.FreeDomain(name, ((U.DomainAllocatedReply)r).DomainId), _units)]),
        };
        if (iopf)
            steps.Add(new(r => new U.RegisterFaultHandler(name, DomainOf(r), c.FaultHandler), _units));
        Begin(steps, 0, ulong.MaxValue, true, Sender, replies =>
        {
            var e = Created(c.HwptId, HwptKind.Nested, c.Unit, DomainOf(replies), false, c.Flags, c.ParentHwptId, c.DataType, data, c.Stage1);
            ApplyHwpt(e);
            return ([e], new HwptAllocated(_ioasId, c.HwptId, 0, e.DomainId));
        }, errno => new HwptAllocated(_ioasId, c.HwptId, errno, 0), null);
    }

    /// <summary>
    /// Attach to the IOAS (iommufd_device_auto_get_domain): the first automatic HWPT on the device's
    /// unit is reused; otherwise a new automatic one is allocated, filled and attached, all or nothing.
    /// </summary>
    private void OnAttachToIoas(AttachToIoas c)
    {
        if (BlockedExclusive())
            return;
        var key = (c.Device.Pci, c.Pasid);
        var current = _hwpts.Attachments.TryGetValue(key, out var cur) ? _hwpts.Find(cur) : null;
        var needPasid = c.PasidCompat || c.Pasid != NoPasid;
        var candidate = _hwpts.CompatibleAuto(c.Unit.Name, needPasid);
        if (current is not null && !c.Replace)
        {
            Sender.Tell(new AttachResult(_ioasId, c.Device.Pci, c.Pasid, Errno.EBUSY, 0, false));
            return;
        }
        if (current is not null && candidate is not null && current.Id == candidate.Id)
        {
            Sender.Tell(new AttachResult(_ioasId, c.Device.Pci, c.Pasid, 0, current.Id, false));
            return;
        }
        var regions = CheckDeviceRegions(c.Device, c.Pasid);
        var rc = candidate is not null ? regions
            : _hwpts.Find(c.NewHwptId) is not null ? Errno.EEXIST
            // iommufd_device_auto_get_domain: an attach allocates with immediate_attach, so the device (its reserved
            // regions) comes before iopt_table_add_domain; a replace fills the new domain first and attaches after.
            : !c.Replace ? (regions != 0 ? regions : CheckAddDomain(c.NewHwptId, c.Unit))
            : CheckAddDomain(c.NewHwptId, c.Unit);
        var regionsAfterFill = rc == 0 && regions != 0;
        if (regionsAfterFill && (_account is null || _table.PagesToPinForDomain().Count == 0))
            rc = regions;
        if (rc != 0)
        {
            Sender.Tell(new AttachResult(_ioasId, c.Device.Pci, c.Pasid, rc, 0, false));
            return;
        }
        if (regionsAfterFill)
        {
            // Only the shared account can still refuse the fill (ENOMEM), and it answers first.
            var refused = new List<CommitStep>();
            ChargeForNewDomain(refused);
            refused.Add(new(_ => new U.Failed(c.Unit.Name, regions), ActorRefs.Nobody));
            Begin(refused, 0, ulong.MaxValue, true, Sender, _ => ([], new AttachResult(_ioasId, c.Device.Pci, c.Pasid, regions, 0, false)),
                errno => new AttachResult(_ioasId, c.Device.Pci, c.Pasid, errno, 0, false), null);
            return;
        }
        var name = c.Unit.Name;
        var flags = needPasid ? AllocPasid : 0;
        var steps = candidate is null ? NewPagingDomain(c.Unit, flags, ActorRefs.Nobody) : [];
        var created = candidate is null;
        var pci = c.Device.Pci;
        var pasid = c.Pasid;
        steps.Add(new(r => new U.AttachDevice(name, pci, pasid, created ? DomainOf(r) : candidate!.DomainId), _units,
            (_, _) => UndoAttach(name, pci, pasid, current)));
        AddFreeOfAbandonedAuto(steps, current);
        Begin(steps, 0, ulong.MaxValue, true, Sender, replies =>
        {
            var events = new List<IPersistedEvent>();
            var id = candidate?.Id ?? c.NewHwptId;
            if (created)
                events.Add(Created(id, HwptKind.Paging, c.Unit, DomainOf(replies), true, flags, 0, DataNone, [], []));
            events.Add(new HwptDeviceAttached(id, pci, pasid, c.Device.ReservedRegions.IsDefault ? [] : c.Device.ReservedRegions));
            AbandonedAutoRemoved(events, current);
            events.ForEach(ApplyHwpt);
            return (events, new AttachResult(_ioasId, pci, pasid, 0, id, created, created ? DomainOf(replies) : candidate!.DomainId));
        }, errno => new AttachResult(_ioasId, pci, pasid, errno, 0, false), null);
    }

    /// <summary>
    /// A refused step after the unit took the attach puts the context entry back as it was: detached,
    /// or (a replace) pointing at the old domain again, so the device translates as if nothing ran.
    /// </summary>
    private IEnumerable<(object, IActorRef)> UndoAttach(string unit, string pci, int pasid, HardwarePageTable? current) =>
        current is null ? [(new U.DetachDevice(unit, pci, pasid), _units)]
            : [(new U.AttachDevice(unit, pci, pasid, current.DomainId), _units)];

    /// <summary>A replace that moves the last device off an automatic HWPT destroys it (iommufd_hw_pagetable_put of an auto domain).</summary>
    private void AddFreeOfAbandonedAuto(List<CommitStep> steps, HardwarePageTable? current)
    {
        if (current is { Auto: true, Devices.Count: 1 })
            steps.Add(new(_ => new U.FreeDomain(current.Unit, current.DomainId), _units));
    }

    private static void AbandonedAutoRemoved(List<IPersistedEvent> events, HardwarePageTable? current)
    {
        if (current is { Auto: true, Devices.Count: 1 })
            events.Add(new HwptRemoved(current.Id));
    }

    private void OnAttachToHwpt(AttachToHwpt c)
    {
        if (BlockedExclusive())
            return;
        var key = (c.Device.Pci, c.Pasid);
        var target = _hwpts.Find(c.HwptId);
        var current = _hwpts.Attachments.TryGetValue(key, out var cur) ? _hwpts.Find(cur) : null;
        var rc = target is null ? Errno.ENOENT
            : current is not null && !c.Replace ? Errno.EBUSY
            : target.Unit != c.Unit.Name ? Errno.EINVAL
            // iommufd_hwpt_pasid_compat: a HWPT without IOMMU_HWPT_ALLOC_PASID takes no PASID, nor a device that has PASIDs attached.
            : (c.PasidCompat || c.Pasid != NoPasid) && (target.Flags & AllocPasid) == 0 ? Errno.EINVAL
            : target.Kind == HwptKind.Nested && target.DataType == DataVtdS1 ? VendorData.CheckVtdAttach(target.Data.AsSpan())
            : 0;
        if (rc == 0 && current is not null && current.Id == target!.Id)
        {
            Sender.Tell(new AttachResult(_ioasId, c.Device.Pci, c.Pasid, 0, target.Id, false));
            return;
        }
        if (rc == 0)
            rc = CheckDeviceRegions(c.Device, c.Pasid);
        if (rc != 0)
        {
            Sender.Tell(new AttachResult(_ioasId, c.Device.Pci, c.Pasid, rc, 0, false));
            return;
        }
        var (name, pci, pasid, domain) = (c.Unit.Name, c.Device.Pci, c.Pasid, target!.DomainId);
        var steps = new List<CommitStep>
        {
            new(_ => new U.AttachDevice(name, pci, pasid, domain), _units,
                (_, _) => UndoAttach(name, pci, pasid, current)),
        };
        AddFreeOfAbandonedAuto(steps, current);
        Begin(steps, 0, ulong.MaxValue, true, Sender, _ =>
        {
            var events = new List<IPersistedEvent> { new HwptDeviceAttached(c.HwptId, pci, pasid, c.Device.ReservedRegions.IsDefault ? [] : c.Device.ReservedRegions) };
            AbandonedAutoRemoved(events, current);
            events.ForEach(ApplyHwpt);
            return (events, new AttachResult(_ioasId, pci, pasid, 0, c.HwptId, false));
        }, errno => new AttachResult(_ioasId, pci, pasid, errno, 0, false), null);
    }

    private void OnDetach(string pci, int pasid, bool touchUnit)
    {
        if (BlockedExclusive())
            return;
        if (!_hwpts.Attachments.TryGetValue((pci, pasid), out var id) || _hwpts.Find(id) is not { } h)
        {
            Sender.Tell(new DetachResult(_ioasId, pci, pasid, Errno.ENOENT, 0, false));
            return;
        }
        var steps = new List<CommitStep>();
        // The unit may have lost the entry already: the IOMMU driver tears down the context entries
        // of a PASID freed while attached. The attachment is gone either way, and so is its record.
        if (touchUnit)
            steps.Add(new(_ => new U.DetachDevice(h.Unit, pci, pasid), _units, Tolerated: Errno.ENOENT));
        var destroy = h is { Auto: true, Devices.Count: 1 };
        if (destroy)
            steps.Add(new(_ => new U.FreeDomain(h.Unit, h.DomainId), _units));
        Begin(steps, 0, ulong.MaxValue, true, Sender, _ =>
        {
            var events = new List<IPersistedEvent> { new HwptDeviceDetached(pci, pasid) };
            if (destroy)
                events.Add(new HwptRemoved(id));
            events.ForEach(ApplyHwpt);
            return (events, new DetachResult(_ioasId, pci, pasid, 0, id, destroy));
        }, errno => new DetachResult(_ioasId, pci, pasid, errno, id, false), null);
    }

    private void OnDestroy(DestroyHwpt c)
    {
        if (BlockedExclusive())
            return;
        var rc = _hwpts.CheckDestroy(c.HwptId);
        if (rc != 0)
        {
            Sender.Tell(new HwptDestroyResult(_ioasId, c.HwptId, rc));
            return;
        }
        var h = _hwpts.Find(c.HwptId)!;
        Begin([new(_ => new U.FreeDomain(h.Unit, h.DomainId), _units)], 0, ulong.MaxValue, true, Sender, _ =>
        {
            var e = new HwptRemoved(c.HwptId);
            ApplyHwpt(e);
            return ([e], new HwptDestroyResult(_ioasId, c.HwptId, 0));
        }, errno => new HwptDestroyResult(_ioasId, c.HwptId, errno), null);
    }

    /// <summary>
    /// IOMMU_HWPT_SET_DIRTY_TRACKING: unknown flags EOPNOTSUPP; a nested or unknown HWPT ENOENT; a
    /// domain allocated without DIRTY_TRACKING EOPNOTSUPP; enabling first clears what was recorded.
    /// </summary>
    private void OnSetDirtyTracking(SetDirtyTracking c)
    {
        if (BlockedExclusive())
            return;
        var h = _hwpts.Find(c.HwptId);
        var rc = (c.Flags & ~1u) != 0 ? Errno.EOPNOTSUPP
            : h is null || !h.IsPaging ? Errno.ENOENT
            : (h.Flags & AllocDirtyTracking) == 0 ? Errno.EOPNOTSUPP
            : 0;
        if (rc != 0)
        {
            Sender.Tell(new DirtyTrackingResult(_ioasId, c.HwptId, rc));
            return;
        }
        var enable = (c.Flags & 1) != 0;
        var steps = new List<CommitStep>();
        if (enable)
            steps.Add(new(_ => new U.ReadDirty(h!.Unit, h.DomainId, 0, ulong.MaxValue, true), _units));
        steps.Add(new(_ => new U.SetDirtyTracking(h!.Unit, h.DomainId, enable), _units,
            (_, _) => [(new U.SetDirtyTracking(h!.Unit, h.DomainId, h.DirtyTracking), _units)]));
        Begin(steps, 0, ulong.MaxValue, true, Sender, _ =>
        {
            var e = new HwptDirtyTrackingSet(c.HwptId, enable);
            ApplyHwpt(e);
            return ([e], new DirtyTrackingResult(_ioasId, c.HwptId, 0));
        }, errno => new DirtyTrackingResult(_ioasId, c.HwptId, errno), null);
    }

    /// <summary>IOMMU_HWPT_GET_DIRTY_BITMAP, checked in the kernel's order (flags, HWPT, overflow, alignment, page size, dirty ops, coverage, tracking on).</summary>
    private void OnGetDirtyBitmap(GetDirtyBitmap c)
    {
        var h = _hwpts.Find(c.HwptId);
        var mask = _table.IovaAlignment - 1;
        var rc = (c.Flags & ~DirtyNoClear) != 0 ? Errno.EOPNOTSUPP
            : h is null || !h.IsPaging ? Errno.ENOENT
            : c.Length == 0 || c.Iova > ulong.MaxValue - (c.Length - 1) ? Errno.EOVERFLOW
            : ((c.Iova | (c.Iova + c.Length)) & mask) != 0 ? Errno.EINVAL
            : c.PageSize == 0 ? Errno.EINVAL
            : c.Iova % c.PageSize != 0 || (c.Iova + c.Length) % c.PageSize != 0 ? Errno.EINVAL
            : (h.Flags & AllocDirtyTracking) == 0 ? Errno.EOPNOTSUPP
            : _table.GetSlices(c.Iova, c.Length, out _) != 0 ? Errno.EINVAL
            // Last, from the driver's read: a bitmap is refused while tracking is off (VT-d and mock alike).
            : !h!.DirtyTracking ? Errno.EINVAL
            : 0;
        if (rc != 0)
        {
            Sender.Tell(new DirtyBitmap(_ioasId, c.HwptId, rc, []));
            return;
        }
        if (Blocked(c.Iova, c.Iova + c.Length - 1, unmap: false))
            return;
        var clear = (c.Flags & DirtyNoClear) == 0;
        Begin([new(_ => new U.ReadDirty(h!.Unit, h.DomainId, c.Iova, c.Length, clear), _units)], c.Iova, c.Iova + c.Length - 1, false, Sender,
            replies =>
            {
                var pages = (U.DirtyPages)replies[0];
                var dirty = pages.Iovas.Select((iova, i) => (iova, pages.Sizes[i]));
                return ([], new DirtyBitmap(_ioasId, c.HwptId, 0, DirtyBitmapBuilder.Build(c.Iova, c.Length, c.PageSize, dirty)));
            }, errno => new DirtyBitmap(_ioasId, c.HwptId, errno, []), null);
    }

    /// <summary>IOMMU_HWPT_INVALIDATE: entries handled in order; EntriesDone counts those handled before a bad one.</summary>
    private void OnInvalidate(InvalidateHwpt c)
    {
        if (BlockedExclusive())
            return;
        var entries = c.Entries.IsDefault ? [] : c.Entries;
        var h = _hwpts.Find(c.HwptId);
        var rc = c.EntryCount != 0 && c.EntryLength == 0 ? Errno.EINVAL
            : h is null ? Errno.ENOENT
            : h.Kind != HwptKind.Nested ? Errno.EINVAL
            : 0;
        if (rc != 0)
        {
            Sender.Tell(new InvalidateResult(_ioasId, c.HwptId, rc, 0));
            return;
        }
        var (parseErrno, parsed) = Invalidation.Parse(h!.DataType, c.DataType, c.EntryLength, c.EntryCount, entries.AsSpan());
        var iotlb = h.MockIotlb.ToArray();
        var steps = new List<CommitStep>();
        foreach (var s in parsed)
        {
            if (h.DataType == DataSelftest)
            {
                if (s.All) Array.Clear(iotlb);
                else iotlb[s.MockIotlbIndex] = 0;
                steps.Add(new(_ => new U.Invalidate(h.Unit, InvalidateScope.Domain, h.DomainId, 0, 0, NoPasid), _units));
            }
            else
                steps.Add(new(_ => new U.Invalidate(h.Unit, s.All ? InvalidateScope.Domain : InvalidateScope.Range, h.DomainId, s.Iova, s.Length, NoPasid), _units));
        }
        var done = (uint)parsed.Count;
        var newStage1 = !c.Stage1.IsDefault && done > 0;
        if (newStage1)
            steps.Insert(0, new(_ => new U.SetStage1(h.Unit, h.DomainId, c.Stage1), _units));
        Begin(steps, 0, ulong.MaxValue, true, Sender, _ =>
        {
            var reply = new InvalidateResult(_ioasId, c.HwptId, parseErrno, done);
            IPersistedEvent? e = done == 0 ? null
                : h.DataType == DataSelftest ? new HwptMockIotlbSet(c.HwptId, [.. iotlb])
                : newStage1 ? new HwptStage1Set(c.HwptId, c.Stage1)
                : null;
            if (e is null)
                return ([], reply);
            ApplyHwpt(e);
            return ([e], reply);
        }, errno => new InvalidateResult(_ioasId, c.HwptId, errno, 0), null);
    }
}
