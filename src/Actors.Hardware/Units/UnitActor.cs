using System.Collections.Immutable;
using Akka.Actor;
using Akka.Persistence;
using IommuActors.Core.Messaging;
using IommuActors.Core.Persistence;
using IommuActors.Hardware.Platform;
using static IommuActors.Hardware.Units.UnitProtocol;

namespace IommuActors.Hardware.Units;

/// <summary>
/// One IOMMU unit. Persists what software programmed and replies after the write; the IOTLB and
/// fault handlers are volatile, as a real unit's are after reset.
/// </summary>
public sealed class UnitActor : SnapshottingActor
{
    private readonly UnitState _state;
    private int _unwritten;
    private readonly Dictionary<int, IActorRef> _faultHandlers = new();
    private readonly Dictionary<long, (Dma Request, IActorRef Sender)> _pending = new();
    private long _nextCookie = 1;

    public static Props Props(UnitSpec spec, IReadOnlyList<DeviceSpec> devices, int snapshotFloor = 1000) =>
        Akka.Actor.Props.Create(() => new UnitActor(spec, devices, snapshotFloor));

    public override string PersistenceId { get; }

    /// <summary>
    /// A packed page-table entry is about 8 bytes of the snapshot; a journal row of a map is its
    /// 16-byte event plus the row's own columns, some 100 bytes: 8 entries weigh about one row.
    /// </summary>
    public const long EntriesPerEvent = 8;

    public UnitActor(UnitSpec spec, IReadOnlyList<DeviceSpec> devices, int snapshotFloor) : base(snapshotFloor, EntriesPerEvent)
    {
        _state = new UnitState(spec, devices.Where(d => d.Unit == spec.Name).ToList());
        PersistenceId = $"unit-{spec.Name}";
        var unit = spec.Name;

        Recover<SnapshotOffer>(o =>
        {
            if (o.Snapshot is PackedUnitSnapshot packed)
                _state.Restore(packed);
            else if (o.Snapshot is SizedUnitSnapshot sized)
                _state.Restore(sized.Unit, sized.DomainPageSizes);
            else if (o.Snapshot is UnitSnapshot s)
                _state.Restore(s);
            else
                return;
            SnapshotOffered(o.Metadata, _state.SnapshotEntries);
        });
        Recover<RecoveryCompleted>(_ =>
        {
            RecoveredForSnapshots();
            _state.AfterRecovery();
        });
        Recover<object>(e => _state.Apply(e));

        Command<AllocateDomain>(m => Guarded(unit, _state.CheckAllocate(m),
            new DomainAllocatedSized(_state.NextDomainId, m.Kind, m.ParentId, m.DirtyTracking, m.Iopf, m.Stage1.IsDefault ? [] : m.Stage1, m.PageSizes),
            e => new DomainAllocatedReply(unit, e.DomainId)));
        Command<FreeDomain>(m => Guarded(unit, _state.CheckFree(m.DomainId), new DomainFreed(m.DomainId), _ => new Done(unit)));
        Command<MapRange>(m => Guarded(unit, _state.CheckMap(m), m.MaxPageSize == 0 ? (IPersistedEvent)new RangeMapped(m.DomainId, m.Iova, m.Length, m.Address, m.Access)
            : new RangeMappedCapped(m.DomainId, m.Iova, m.Length, m.Address, m.Access, m.MaxPageSize), _ => new Done(unit)));
        Command<UnmapRange>(m =>
        {
            var errno = _state.CheckUnmap(m);
            if (errno != 0) { Sender.Tell(new Failed(unit, errno)); return; }
            var before = _state.Domains[m.DomainId].Table.MappedBytes;
            Guarded(unit, 0, new RangeUnmapped(m.DomainId, m.Iova, m.Length), _ =>
            {
                if (m.Flush)
                {
                    _state.Iotlb.InvalidateRange(m.DomainId, m.Iova, m.Length);
                    // Combined stage-1/stage-2 entries of nested children are tagged by the child, so a stage-2 flush drops them too.
                    foreach (var child in _state.Domains.Values.Where(c => c.Kind == DomainKind.Nested && c.ParentId == m.DomainId))
                        _state.Iotlb.InvalidateDomain(child.Id);
                }
                return new Unmapped(unit, m.DomainId, before - _state.Domains[m.DomainId].Table.MappedBytes);
            });
        });
        Command<AttachDevice>(m => Guarded(unit, _state.CheckAttach(m), new DeviceAttached(m.Pci, m.Pasid, m.DomainId), _ => new Done(unit)));
        Command<DetachDevice>(m => Guarded(unit, _state.CheckDetach(m), new DeviceDetached(m.Pci, m.Pasid), _ =>
        {
            // Tearing down a PASID entry drains what the unit cached for it.
            if (m.Pasid != NoPasid) _state.Iotlb.InvalidatePasid(m.Pasid);
            return new Done(unit);
        }));
        Command<DetachPasid>(m => DetachPasidContexts(unit, m));
        Command<SetDirtyTracking>(m => Guarded(unit, _state.CheckDirty(m.DomainId), new DirtyTrackingSet(m.DomainId, m.Enabled), _ => new Done(unit)));
        Command<AddDevice>(m =>
        {
            var errno = _state.CheckAddDevice(m.Device);
            var sender = Sender;
            if (errno == -1)
                DeferAsync(new Done(unit), d => sender.Tell(d));
            else
                Guarded(unit, errno, new DeviceAdded(m.Device), _ => new Done(unit));
        });
        Command<RemoveDevice>(m => Guarded(unit, _state.CheckRemoveDevice(m.Pci), new DeviceRemoved(m.Pci), _ => new Done(unit)));
        Command<MarkDirty>(m =>
        {
            var errno = _state.CheckDirty(m.DomainId);
            if (errno != 0) { Sender.Tell(new Failed(unit, errno)); return; }
            Sender.Tell(new DirtyMarked(unit, m.DomainId, _state.MarkDirtyAt(m.DomainId, m.Iovas.IsDefault ? [] : m.Iovas)));
        });
        Command<SetStage1>(m => Guarded(unit, _state.CheckStage1(m), new Stage1Set(m.DomainId, m.Stage1), _ => new Done(unit)));

        Command<Invalidate>(m => Sender.Tell(new Invalidated(unit, m.Scope switch
        {
            InvalidateScope.All => _state.Iotlb.InvalidateAll(),
            InvalidateScope.Domain => _state.Iotlb.InvalidateDomain(m.DomainId),
            InvalidateScope.Range => _state.Iotlb.InvalidateRange(m.DomainId, m.Iova, m.Length),
            _ => _state.Iotlb.InvalidatePasid(m.Pasid),
        })));
        Command<ReadDirty>(m =>
        {
            var errno = _state.CheckDirty(m.DomainId);
            if (errno != 0) { Sender.Tell(new Failed(unit, errno)); return; }
            var table = _state.Domains[m.DomainId].Table;
            var leaves = table.ReadDirty(m.Iova, m.Length, m.Clear);
            Sender.Tell(new DirtyPages(unit, m.DomainId, [.. leaves], [.. leaves.Select(iova => table.LeafSizeAt(iova))]));
        });
        Command<RegisterFaultHandler>(m =>
        {
            if (!_state.Domains.ContainsKey(m.DomainId)) { Sender.Tell(new Failed(unit, Errno.ENOENT)); return; }
            _faultHandlers[m.DomainId] = m.Handler;
            Sender.Tell(new Done(unit));
        });
        Command<Dma>(m => HandleDma(unit, m, Sender, retried: false));
        Command<PageResponse>(m =>
        {
            if (!_pending.Remove(m.Cookie, out var p)) { Sender.Tell(new Failed(unit, Errno.EINVAL)); return; }
            Sender.Tell(new Done(unit));
            if (m.Success) HandleDma(unit, p.Request, p.Sender, retried: true);
            else p.Sender.Tell(new DmaFaulted(unit, new Fault(FaultKind.PageResponseFailed, p.Request.Pci, p.Request.Pasid,
                _state.Contexts.GetValueOrDefault((p.Request.Pci, p.Request.Pasid)), p.Request.Iova,
                p.Request.Direction == DmaDirection.Write ? Access.Write : Access.Read, m.Cookie)));
        });

        Command<GetUnitInfo>(_ => Sender.Tell(new UnitInfo(_state.Spec, _state.Domains.Count, _state.Contexts.Count,
            _state.Iotlb.Count, _state.Iotlb.Hits, _state.Iotlb.Misses)));
        Command<GetPasidReferences>(m => Sender.Tell(new PasidReferences(unit, m.Pasid,
            [.. _state.DevicesAt(m.Pasid).Select(pci => new ContextRef(pci, m.Pasid, _state.Contexts[(pci, m.Pasid)]))],
            _state.Iotlb.Entries.Count(e => e.Pasid == m.Pasid))));
        Command<GetDomainMappings>(m =>
        {
            if (!_state.Domains.TryGetValue(m.DomainId, out var d)) { Sender.Tell(new Failed(unit, Errno.ENOENT)); return; }
            Sender.Tell(new DomainMappings(unit, m.DomainId, [.. d.Table.Leaves.Select(p => new MappingRecord(p.Iova, p.Address, p.PageSize, p.Access))]));
        });
        SnapshotReplies();
    }

    private void Guarded<TEvent>(string unit, int errno, TEvent evt, Func<TEvent, object> reply) where TEvent : notnull
    {
        var sender = Sender;
        if (errno != 0)
        {
            // Behind the writes still in flight, so a pipelining requester gets replies in order.
            DeferAsync(new Failed(unit, errno), f => sender.Tell(f));
            return;
        }
        // Group commit: the state moves at once, so the next command validates against it, and
        // the reply waits for the journal. A failed write stops the actor, which recovers from
        // the journal without the event (and the requester, never answered, times out).
        _state.Apply(evt);
        _unwritten++;
        PersistAsync(evt, e =>
        {
            _unwritten--;
            sender.Tell(reply(e));
            // Only a state with no event still in flight matches LastSequenceNr: a snapshot taken
            // earlier would hold events that recovery then replays a second time.
            if (_unwritten == 0)
                SnapshotIfDue(_state.SnapshotEntries, _state.Snapshot);
        });
    }

    private void DetachPasidContexts(string unit, DetachPasid m)
    {
        var sender = Sender;
        var detached = m.Pasid == NoPasid ? []
            : m.Devices.IsDefaultOrEmpty ? _state.DevicesAt(m.Pasid)
            : _state.DevicesAt(m.Pasid).RemoveAll(pci => !m.Devices.Contains(pci));
        if (detached.IsEmpty)
        {
            sender.Tell(new PasidDetached(unit, m.Pasid, [], _state.Iotlb.InvalidatePasid(m.Pasid)));
            return;
        }
        var left = detached.Length;
        PersistAll(detached.Select(pci => new DeviceDetached(pci, m.Pasid)), e =>
        {
            _state.Apply(e);
            if (_unwritten == 0)
                SnapshotIfDue(_state.SnapshotEntries, _state.Snapshot);
            // The context entries go first, then the IOTLB is drained, as a driver's PASID teardown does.
            if (--left == 0)
                sender.Tell(new PasidDetached(unit, m.Pasid, detached, _state.Iotlb.InvalidatePasid(m.Pasid)));
        });
    }

    private void HandleDma(string unit, Dma m, IActorRef sender, bool retried)
    {
        var (segments, fault) = _state.Translate(m.Pci, m.Pasid, m.Iova, m.Length, m.Direction);
        if (fault is null)
        {
            sender.Tell(new DmaCompleted(unit, m.Pci, segments, _state.Contexts.GetValueOrDefault((m.Pci, m.Pasid))));
            return;
        }
        var domain = fault.DomainId != 0 ? _state.Domains.GetValueOrDefault(fault.DomainId) : null;
        var device = _state.Device(m.Pci);
        // A not-present fault in an IOPF domain from a PRI device waits for the page response.
        if (!retried && fault.Kind == FaultKind.NotPresent && domain is { Iopf: true } && device is { Pri: true }
            && _faultHandlers.TryGetValue(domain.Id, out var handler))
        {
            var cookie = _nextCookie++;
            _pending[cookie] = (m, sender);
            handler.Tell(new FaultRaised(unit, fault with { Cookie = cookie }));
            return;
        }
        if (domain is not null && _faultHandlers.TryGetValue(domain.Id, out var h))
            h.Tell(new FaultRaised(unit, fault));
        sender.Tell(new DmaFaulted(unit, fault));
    }

}
