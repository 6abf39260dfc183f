using Akka.Actor;
using System.Collections.Immutable;
using IommuActors.Domains.Ioas;
using IommuActors.Fd.Objects;
using IommuActors.Hardware.Platform;
using IommuActors.Hardware.Units;
using IommuActors.Uapi.Structs;
using static IommuActors.Fd.Context.ContextProtocol;
using Errno = IommuActors.Uapi.Errno;
using Unit = IommuActors.Hardware.Units.UnitProtocol;

namespace IommuActors.Fd.Context;

// HWPTs and the domains behind them (hw_pagetable.c, the attach half of device.c). Until the
// Domains project's HWPT actor takes it over, the context keeps each paging domain in step with
// its IOAS itself: every map, copy and unmap that succeeds is replayed into the unit's domains.
public sealed partial class IommufdContextActor
{
    /// <summary>What each IOAS has mapped, as the units need it (IOVA -> length, user address, protection).</summary>
    private readonly Dictionary<uint, SortedDictionary<ulong, (ulong Length, ulong UserVa, Protection Prot)>> _areas = new();

    private SortedDictionary<ulong, (ulong Length, ulong UserVa, Protection Prot)> AreasOf(uint ioas) =>
        _areas.TryGetValue(ioas, out var a) ? a : _areas[ioas] = new();

    // The same areas' starts, for range queries in O(log n): an IOAS may hold 100,000 areas.
    private readonly Dictionary<uint, SortedSet<ulong>> _starts = new();

    private SortedSet<ulong> StartsOf(uint ioas) => _starts.TryGetValue(ioas, out var s) ? s : _starts[ioas] = [];

    /// <summary>Starts of the areas that may touch [iova, last]: the one before iova, and those inside.</summary>
    private IEnumerable<ulong> StartsTouching(uint ioas, ulong iova, ulong last)
    {
        var starts = StartsOf(ioas);
        if (iova > 0 && starts.GetViewBetween(0, iova - 1) is { Count: > 0 } before)
            yield return before.Max;
        foreach (var start in starts.GetViewBetween(iova, Math.Max(iova, last)).ToList())
            yield return start;
    }

    private IEnumerable<(uint Id, HwptEntry Hwpt)> DomainsOf(uint ioas) =>
        _hwpts.Where(h => !h.Value.Nested && h.Value.Parent == ioas).Select(h => (h.Key, h.Value));

    private static Access AccessOf(Protection p) =>
        (p.HasFlag(Protection.Read) ? Access.Read : Access.None) | (p.HasFlag(Protection.Write) ? Access.Write : Access.None);

    /// <summary>Sends every message to the units and continues when each has answered.</summary>
    private void ToUnits(IReadOnlyList<object> messages, Action<IReadOnlyList<object>> then)
    {
        var replies = new List<object>();
        if (messages.Count == 0)
        {
            then(replies);
            return;
        }
        foreach (var m in messages)
            _with.Units.Tell(m);
        void Next() => Await<object>(IsUnitReply, r =>
        {
            replies.Add(r);
            if (replies.Count == messages.Count)
                then(replies);
            else
                Next();
        });
        Next();
    }

    private static bool IsUnitReply(object m) => m is Unit.Done or Unit.Failed or Unit.Unmapped
        or Unit.DomainAllocatedReply or Unit.UnitInfo or Unit.DirtyPages or Unit.Invalidated;

    private static int ErrnoOf(IReadOnlyList<object> replies) =>
        replies.OfType<Unit.Failed>().Select(f => f.Errno).FirstOrDefault();

    /// <summary>A new area of an IOAS goes into every paging domain of it.</summary>
    private void AreaMapped(uint ioas, ulong iova, ulong length, ulong userVa, Protection prot, Action then)
    {
        AreasOf(ioas)[iova] = (length, userVa, prot);
        StartsOf(ioas).Add(iova);
        ToUnits([.. DomainsOf(ioas).Select(d => (object)new Unit.MapRange(d.Hwpt.Unit, d.Hwpt.DomainId, iova, length, userVa, AccessOf(prot)))],
            _ => then());
    }

    /// <summary>Areas inside [iova, iova+length) left the IOAS: they leave its domains too.</summary>
    private void AreasUnmapped(uint ioas, ulong iova, ulong length, Action then)
    {
        var last = length == 0 ? iova : iova + length - 1;
        var areas = AreasOf(ioas);
        var gone = StartsTouching(ioas, iova, last).Where(k => k >= iova)
            .Select(k => KeyValuePair.Create(k, areas[k])).Where(a => a.Key + a.Value.Length - 1 <= last).ToList();
        foreach (var a in gone)
        {
            areas.Remove(a.Key);
            StartsOf(ioas).Remove(a.Key);
        }
        ToUnits([.. from d in DomainsOf(ioas) from a in gone
                    select (object)new Unit.UnmapRange(d.Hwpt.Unit, d.Hwpt.DomainId, a.Key, a.Value.Length, true)], _ => then());
    }

    /// <summary>The user addresses behind [iova, iova+length) of an IOAS, piece by piece.</summary>
    private List<(ulong Offset, ulong Length, ulong UserVa)> UserPieces(uint ioas, ulong iova, ulong length)
    {
        var pieces = new List<(ulong, ulong, ulong)>();
        var last = iova + length - 1;
        var areas = AreasOf(ioas);
        foreach (var start in StartsTouching(ioas, iova, last))
        {
            var a = areas[start];
            var end = start + a.Length - 1;
            if (end < iova || start > last)
                continue;
            var from = Math.Max(start, iova);
            var to = Math.Min(end, last);
            pieces.Add((from - iova, to - from + 1, a.UserVa + (from - start)));
        }
        return pieces;
    }

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
        var unit = UnitOf(dev);
        switch (pt.Value!.Kind)
        {
            case ObjectKind.Ioas:
                if ((cmd.Flags & ~(HwptAllocFlags.NestParent | HwptAllocFlags.DirtyTracking | HwptAllocFlags.FaultIdValid | HwptAllocFlags.Pasid)) != 0
                    || cmd.DataLen != 0)
                {
                    Done(Errno.EOPNOTSUPP);
                    return;
                }
                if ((cmd.Flags & HwptAllocFlags.DirtyTracking) != 0 && !unit.DirtyTracking)
                {
                    Done(Errno.EOPNOTSUPP);
                    return;
                }
                if ((cmd.Flags & HwptAllocFlags.NestParent) != 0 && !unit.Nesting)
                {
                    Done(Errno.EOPNOTSUPP);
                    return;
                }
                WithFault(cmd, () => CreatePagingHwpt(cmd.PtId, unit, cmd.Flags, auto: false, FaultOf(cmd), id => Respond(cmd with { OutHwptId = id }, size)));
                return;
            case ObjectKind.HwptPaging:
                AllocNested(cmd, size, unit, _hwpts[cmd.PtId]);
                return;
            default:
                Done(Errno.EINVAL);
                return;
        }
    }

    private static uint FaultOf(IommuHwptAlloc cmd) => (cmd.Flags & HwptAllocFlags.FaultIdValid) != 0 ? cmd.FaultId : 0;

    /// <summary>The fault_id lookup comes after the domain exists in the kernel; no state changed before, so checking first answers the same.</summary>
    private void WithFault(IommuHwptAlloc cmd, Action then)
    {
        var fault = FaultOf(cmd);
        if (fault != 0 && !_table.Get(fault, ObjectKind.Fault).IsOk || (cmd.Flags & HwptAllocFlags.FaultIdValid) != 0 && fault == 0)
        {
            Done(Errno.ENOENT);
            return;
        }
        then();
    }

    private void AllocNested(IommuHwptAlloc cmd, uint size, UnitSpec unit, HwptEntry parent)
    {
        if ((cmd.Flags & ~(HwptAllocFlags.FaultIdValid | HwptAllocFlags.Pasid)) != 0 || cmd.DataLen == 0 || !unit.Nesting)
        {
            Done(Errno.EOPNOTSUPP);
            return;
        }
        if (parent.Auto || (parent.Flags & HwptAllocFlags.NestParent) == 0 || parent.Unit != unit.Name)
        {
            Done(Errno.EINVAL);
            return;
        }
        if (cmd.DataType != HwptDataType.VtdS1 || unit.Kind != UnitKind.IntelVtd && unit.Kind != UnitKind.Mock)
        {
            Done(Errno.EOPNOTSUPP);
            return;
        }
        if (cmd.DataLen < IommuHwptVtdS1.MinSize)
        {
            Done(Errno.EINVAL);
            return;
        }
        ReadMemory(cmd.DataUptr, cmd.DataLen, data =>
        {
            // iommu_copy_struct_from_user: bytes past the driver struct must be zero.
            if (data.AsSpan(IommuHwptVtdS1.MinSize).ContainsAnyExcept((byte)0))
            {
                Done(Errno.E2BIG);
                return;
            }
            var s1 = IommuHwptVtdS1.Read(data);
            if ((s1.Flags & ~(VtdS1Flags.Sre | VtdS1Flags.Eafe | VtdS1Flags.Wpe)) != 0 || s1.Reserved != 0)
            {
                Done(Errno.EOPNOTSUPP);
                return;
            }
            WithFault(cmd, () =>
            {
                // The guest's stage-1 table lives in guest memory the unit cannot walk here: the domain starts empty.
                _with.Units.Tell(new Unit.AllocateDomain(unit.Name, DomainKind.Nested, parent.DomainId, false,
                    FaultOf(cmd) != 0, []));
                Await<object>(IsUnitReply, r =>
                {
                    if (r is not Unit.DomainAllocatedReply d)
                    {
                        Done(r is Unit.Failed f ? f.Errno : Errno.EINVAL);
                        return;
                    }
                    var id = _table.NextFreeId;
                    var uses = FaultOf(cmd) != 0 ? ImmutableArray.Create(cmd.PtId, FaultOf(cmd)) : [cmd.PtId];
                    Save(new ObjectCreated(id, ObjectKind.HwptNested, uses, NewKey("hwpt"), unit.Name, cmd.Flags, false, d.DomainId), () =>
                        RegisterFaultHandler(id, () => Respond(cmd with { OutHwptId = id }, size)));
                });
            });
        });
    }

    /// <summary>
    /// A paging HWPT on an IOAS: a domain in the unit, the IOAS narrowed to what the domain can
    /// map (aperture reserved, alignment raised), and every existing area filled in.
    /// </summary>
    private void CreatePagingHwpt(uint ioasId, UnitSpec unit, uint flags, bool auto, uint fault, Action<uint> then)
    {
        var ioas = _ioas[ioasId];
        if (unit.MinPageSize > PageSize)
        {
            Fail(Errno.EINVAL);
            return;
        }
        var kind = (flags & HwptAllocFlags.NestParent) != 0 ? DomainKind.NestParent : DomainKind.Paging;
        _with.Units.Tell(new Unit.AllocateDomain(unit.Name, kind, 0, (flags & HwptAllocFlags.DirtyTracking) != 0, fault != 0, []));
        Await<object>(IsUnitReply, r =>
        {
            if (r is not Unit.DomainAllocatedReply d)
            {
                Fail(r is Unit.Failed f ? f.Errno : Errno.EINVAL);
                return;
            }
            var id = _table.NextFreeId;
            var owner = $"hwpt{id}.{d.DomainId}";
            ioas.Ref.Tell(new IoasProtocol.RaiseAlignment(ioas.Key, owner, unit.MinPageSize));
            Await<IoasProtocol.AlignmentResult>(a =>
            {
                if (a.Errno != 0)
                {
                    UndoDomain(unit.Name, d.DomainId, () => Fail(a.Errno));
                    return;
                }
                ImmutableArray<IoasProtocol.IovaSpan> outside = unit.ApertureEnd == ulong.MaxValue ? [] : [new(unit.ApertureEnd + 1, ulong.MaxValue)];
                ioas.Ref.Tell(new IoasProtocol.AddReserved(ioas.Key, owner, outside));
                Await<IoasProtocol.ReservedResult>(res =>
                {
                    if (res.Errno != 0)
                    {
                        ioas.Ref.Tell(new IoasProtocol.DropAlignment(ioas.Key, owner));
                        Await<IoasProtocol.AlignmentResult>(_ => UndoDomain(unit.Name, d.DomainId, () => Fail(res.Errno)));
                        return;
                    }
                    var fill = AreasOf(ioasId).Select(x => (object)new Unit.MapRange(unit.Name, d.DomainId, x.Key, x.Value.Length, x.Value.UserVa, AccessOf(x.Value.Prot))).ToList();
                    ToUnits(fill, _ =>
                    {
                        var uses = fault != 0 ? ImmutableArray.Create(ioasId, fault) : [ioasId];
                        Save(new ObjectCreated(id, ObjectKind.HwptPaging, uses, owner, unit.Name, flags, auto, d.DomainId), () =>
                            RegisterFaultHandler(id, () => then(id)));
                    });
                });
            });
        });
    }

    private void UndoDomain(string unit, int domainId, Action then)
    {
        _with.Units.Tell(new Unit.FreeDomain(unit, domainId));
        Await<object>(IsUnitReply, _ => then());
    }

    /// <summary>Destroying a HWPT: its IOAS forgets the limits it set, the unit frees its domain.</summary>
    private void FreeHwptDomain(uint id, Action then)
    {
        var h = _hwpts[id];
        if (h.Nested || !_ioas.TryGetValue(h.Parent, out var ioas))
        {
            UndoDomain(h.Unit, h.DomainId, then);
            return;
        }
        ioas.Ref.Tell(new IoasProtocol.RemoveReserved(ioas.Key, h.Key));
        Await<IoasProtocol.ReservedResult>(_ =>
        {
            ioas.Ref.Tell(new IoasProtocol.DropAlignment(ioas.Key, h.Key));
            Await<IoasProtocol.AlignmentResult>(_ => UndoDomain(h.Unit, h.DomainId, then));
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
        var h = _hwpts[cmd.HwptId];
        if ((h.Flags & HwptAllocFlags.DirtyTracking) == 0)
        {
            Done(Errno.EOPNOTSUPP);
            return;
        }
        var enable = (cmd.Flags & IommuHwptSetDirtyTracking.Enable) != 0;
        var steps = new List<object>();
        // Enabling starts from a clean slate: what was recorded before is read and dropped.
        if (enable)
            steps.Add(new Unit.ReadDirty(h.Unit, h.DomainId, 0, ulong.MaxValue, true));
        steps.Add(new Unit.SetDirtyTracking(h.Unit, h.DomainId, enable));
        ToUnits(steps, replies =>
        {
            var rc = ErrnoOf(replies);
            if (rc != 0)
                Done(rc);
            else
                Save(new DirtyTrackingChanged(cmd.HwptId, enable), () => Done(0));
        });
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
        var h = _hwpts[cmd.HwptId];
        var last = cmd.Iova + cmd.Length - 1;
        if (last < cmd.Iova && cmd.Length != 0 || cmd.Length == 0 && cmd.Iova > 0)
        {
            Done(Errno.EOVERFLOW);
            return;
        }
        ioasAlignment(h.Parent, alignment =>
        {
            if (cmd.Iova % alignment != 0 || (cmd.Iova + cmd.Length) % alignment != 0 || cmd.PageSize == 0
                || cmd.Iova % cmd.PageSize != 0 || (cmd.Iova + cmd.Length) % cmd.PageSize != 0)
            {
                Done(Errno.EINVAL);
                return;
            }
            if ((h.Flags & HwptAllocFlags.DirtyTracking) == 0)
            {
                Done(Errno.EOPNOTSUPP);
                return;
            }
            var clear = (cmd.Flags & IommuHwptGetDirtyBitmap.NoClear) == 0;
            ToUnits([new Unit.ReadDirty(h.Unit, h.DomainId, cmd.Iova, cmd.Length, clear)], replies =>
            {
                if (replies[0] is not Unit.DirtyPages dirty)
                {
                    Done(ErrnoOf(replies) is var e and not 0 ? e : Errno.EINVAL);
                    return;
                }
                var pages = cmd.Length / cmd.PageSize;
                var bitmap = new byte[(pages + 63) / 64 * 8];
                foreach (var iova in dirty.Iovas)
                {
                    var bit = (iova - cmd.Iova) / cmd.PageSize;
                    if (iova >= cmd.Iova && bit < pages)
                        bitmap[bit / 8] |= (byte)(1 << (int)(bit % 8));
                }
                WriteMemory(cmd.Data, bitmap, rc => Done(rc));
            });
        });
    }

    private void ioasAlignment(uint ioasId, Action<ulong> then)
    {
        if (!_ioas.TryGetValue(ioasId, out var ioas))
        {
            then(1);
            return;
        }
        ioas.Ref.Tell(new IoasProtocol.GetIovaRanges(ioas.Key));
        Await<IoasProtocol.IovaRanges>(r => then(Math.Max(1, r.Alignment)));
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
                WriteMemory(_ioctl!.Arg, back, wrc => Done(wrc != 0 ? wrc : rc));
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
        var h = _hwpts[cmd.HwptId];
        if (cmd.DataType != HwptInvalidateDataType.VtdS1 || cmd.EntryLen < IommuHwptVtdS1Invalidate.MinSize && cmd.EntryNum != 0)
        {
            Finish(Errno.EINVAL, 0);
            return;
        }
        if (cmd.EntryNum == 0)
        {
            Finish(0, 0);
            return;
        }
        ReadMemory(cmd.DataUptr, checked(cmd.EntryLen * cmd.EntryNum), data =>
        {
            var steps = new List<object>();
            uint handled = 0;
            var rc = 0;
            for (var i = 0; i < cmd.EntryNum; i++)
            {
                var raw = data.AsSpan((int)(i * cmd.EntryLen), (int)cmd.EntryLen);
                if (raw.Length > IommuHwptVtdS1Invalidate.MinSize && raw[IommuHwptVtdS1Invalidate.MinSize..].ContainsAnyExcept((byte)0))
                {
                    rc = Errno.E2BIG;
                    break;
                }
                var e = IommuHwptVtdS1Invalidate.Read(raw);
                if ((e.Flags & ~IommuHwptVtdS1Invalidate.FlagLeaf) != 0 || e.Reserved != 0)
                {
                    rc = Errno.EINVAL;
                    break;
                }
                steps.Add(e.Npages == ulong.MaxValue
                    ? new Unit.Invalidate(h.Unit, InvalidateScope.Domain, h.DomainId, 0, 0, Unit.NoPasid)
                    : new Unit.Invalidate(h.Unit, InvalidateScope.Range, h.DomainId, e.Addr, e.Npages * PageSize, Unit.NoPasid));
                handled++;
            }
            ToUnits(steps, _ => Finish(rc, handled));
        });
    }
}
