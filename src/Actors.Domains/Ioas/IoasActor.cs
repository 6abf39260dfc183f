using System.Collections.Immutable;
using Akka.Actor;
using Akka.Persistence;
using IommuActors.Core.Messaging;
using IommuActors.Core.Persistence;
using IommuActors.Domains.Hwpt;
using IommuActors.Domains.Pages;
using static IommuActors.Domains.Ioas.IoasProtocol;

namespace IommuActors.Domains.Ioas;

/// <summary>
/// One IOAS: owns an IoPageTable, validates each command against it, applies it, persists the
/// event (group commit) and replies after the write. Unmaps over pages held by accesses wait for
/// the accesses to let go, stashing everything else.
/// </summary>
public sealed partial class IoasActor : SnapshottingActor
{
    private readonly string _ioasId;
    private readonly ulong _limitPages;
    private readonly TimeSpan _accessGrace;
    private IoPageTable _table;
    private long _pagesCounter;
    private int _inFlight;
    private readonly Dictionary<string, (IActorRef Ref, List<(ulong Iova, ulong Length)> Pins)> _accesses = new();
    private (IActorRef ReplyTo, UnmapRange Command, HashSet<string> Waiting)? _pendingUnmap;
    private (IActorRef ReplyTo, CopyRange Command)? _pendingCopy;

    public override string PersistenceId { get; }

    /// <summary>
    /// Units: where UnitProtocol commands go (the unit shard region in the host), needed once HWPTs
    /// exist. Account: the shared locked-memory accounts; without it the IOAS keeps its own.
    /// </summary>
    public static Props Props(string ioasId, ulong limitPages, int snapshotFloor = 1000, TimeSpan? accessGrace = null,
        IActorRef? units = null, AccountBinding? account = null) =>
        Akka.Actor.Props.Create(() => new IoasActor(ioasId, limitPages, snapshotFloor, accessGrace ?? TimeSpan.FromSeconds(5),
            units ?? ActorRefs.Nobody, account));

    /// <summary>
    /// A packed area is five or six bytes of the snapshot; a journal row of a map is its event of
    /// about 50 bytes plus the row's own columns: 16 areas weigh about one row.
    /// </summary>
    public const long EntriesPerEvent = 16;

    public IoasActor(string ioasId, ulong limitPages, int snapshotFloor, TimeSpan accessGrace, IActorRef units, AccountBinding? account)
        : base(snapshotFloor, EntriesPerEvent)
    {
        _ioasId = ioasId;
        _limitPages = account is null ? limitPages : ulong.MaxValue;
        _accessGrace = accessGrace;
        _units = units;
        _account = account;
        _table = new IoPageTable(new LockedMemoryAccount(_limitPages));
        if (account is not null)
            _table.Account.SetMode(account.Mode);
        PersistenceId = $"ioas-{ioasId}";
        Live(Core.Telemetry.IommuMetrics.Mappings, () => _table.AreaCount);
        Recovering();
        Active();
    }

    private void Recovering()
    {
        Recover<SnapshotOffer>(offer =>
        {
            switch (offer.Snapshot)
            {
                case Hwpt.HwptProtocol.PackedIoasSnapshot p:
                    Restore(p.Rest.Ioas, p.Rest.Hwpts, PackedAreas.Unpack(_ioasId, p.Areas));
                    break;
                case Hwpt.HwptProtocol.IoasHwptTableSnapshot t:
                    Restore(t.Ioas, t.Hwpts);
                    break;
                case Hwpt.HwptProtocol.IoasHwptSnapshot h:
                    Restore(FromOldForm(h.Ioas), h.Hwpts);
                    break;
                case IoasSnapshot s:
                    Restore(FromOldForm(s));
                    break;
            }
            SnapshotOffered(offer.Metadata, SnapshotEntries);
        });
        RecoverHwpts();
        Recover<RecoveryCompleted>(_ =>
        {
            RecoveredForSnapshots();
            ReconcileAccount();
        });
        Recover<RangeMapped>(Apply);
        Recover<SlicesCopied>(Apply);
        Recover<SlicesMapped>(e => Apply(new SlicesCopied(e.Iova, e.Protection, [.. e.Slices.Select(FromOldForm)])));
        Recover<RangeUnmapped>(e => _table.Unmap(e.Iova, e.Length, out _));
        Recover<AllUnmapped>(_ => _table.UnmapAll(out ulong _));
        Recover<AreasCut>(e => _table.Cut(e.Iovas, out _, out _));
        Recover<AllowedSet>(e => _table.SetAllowed(ToRanges(e.Ranges)));
        Recover<ReservedAdded>(e => _table.AddReserved(e.Owner, ToRanges(e.Ranges)));
        Recover<ReservedRemoved>(e => _table.RemoveReserved(e.Owner));
        Recover<AlignmentRaised>(e => _table.SetAlignment(e.Owner, e.Alignment));
        Recover<AlignmentDropped>(e => _table.RemoveAlignment(e.Owner));
        Recover<OptionChanged>(e => ApplyOption(e.OptionId, e.Value));
    }

    private void Active()
    {
        CommitReplies();
        HwptCommands();
        Command<MapRange>(OnMap);
        Command<UnmapRange>(c => OnUnmap(c, Sender, retried: false));
        Command<CopyRange>(OnCopy);
        Command<GetPagesForCopy>(g =>
        {
            if (!Blocked(g.Iova, Last(g.Iova, g.Length), unmap: false))
                OnGetPagesForCopy(g);
        });
        Command<AllowIovas>(c =>
        {
            var rc = _table.SetAllowed(ToRanges(c.Ranges));
            Reply(rc, new AllowedSet(c.Ranges), new AllowIovasResult(_ioasId, rc), errno => new AllowIovasResult(_ioasId, errno));
        });
        Command<GetIovaRanges>(_ => Sender.Tell(new IovaRanges(_ioasId,
            [.. _table.UsableRanges().Select(r => new IovaSpan(r.Start, r.Last))], _table.IovaAlignment)));
        Command<SetOption>(c =>
        {
            var rc = ApplyOption(c.OptionId, c.Value);
            Reply(rc, new OptionChanged(c.OptionId, c.Value), new OptionResult(_ioasId, rc), errno => new OptionResult(_ioasId, errno));
        });
        Command<GetOption>(c => Sender.Tell(c.OptionId switch
        {
            OptionHugePages => new OptionValue(_ioasId, 0, _table.LargePagesDisabled ? 0ul : 1ul),
            OptionRlimitMode => new OptionValue(_ioasId, 0, (ulong)_table.Account.Mode),
            _ => new OptionValue(_ioasId, Errno.EOPNOTSUPP, 0),
        }));
        Command<AddReserved>(c =>
        {
            var rc = _table.AddReserved(c.Owner, ToRanges(c.Ranges));
            Reply(rc, new ReservedAdded(c.Owner, c.Ranges), new ReservedResult(_ioasId, rc), errno => new ReservedResult(_ioasId, errno));
        });
        Command<RemoveReserved>(c =>
        {
            _table.RemoveReserved(c.Owner);
            Reply(0, new ReservedRemoved(c.Owner), new ReservedResult(_ioasId, 0), errno => new ReservedResult(_ioasId, errno));
        });
        Command<RaiseAlignment>(c =>
        {
            var rc = _table.SetAlignment(c.Owner, c.Alignment);
            Reply(rc, new AlignmentRaised(c.Owner, c.Alignment), new AlignmentResult(_ioasId, rc, _table.IovaAlignment),
                errno => new AlignmentResult(_ioasId, errno, 0));
        });
        Command<DropAlignment>(c =>
        {
            _table.RemoveAlignment(c.Owner);
            Reply(0, new AlignmentDropped(c.Owner), new AlignmentResult(_ioasId, 0, _table.IovaAlignment), errno => new AlignmentResult(_ioasId, errno, 0));
        });
        Command<PinPages>(OnPin);
        Command<UnpinPages>(OnUnpin);
        Command<Retire>(OnRetire);
        Command<GetMappings>(_ => Sender.Tell(CurrentMappings()));
        Command<GetPinned>(_ => Sender.Tell(PinnedNow()));
        Command<GetSummary>(_ => Sender.Tell(MappingSummary.Of(_ioasId, _table)));
        SnapshotReplies();
    }

    /// <summary>The user pages this IOAS holds pinned, one view per held span of a pinned-pages object.</summary>
    private Pinned PinnedNow() => new(_ioasId, [.. _table.HeldSpans.Select(s =>
    {
        var first = _table.PinnedPages[s.PagesId].UserAddress / PinnedPages.PageSize * PinnedPages.PageSize;
        return new PinnedView(s.PagesId, first + s.First * PinnedPages.PageSize, (s.Last - s.First + 1) * PinnedPages.PageSize);
    })]);

    private void OnMap(MapRange c)
    {
        // An automatic IOVA may land where an unmap in flight could still be undone; a fixed one is checked by range.
        if (c.FixedIova ? Blocked(c.Iova, Last(c.Iova, c.Length), unmap: false) : BlockedForAutoIova())
            return;
        var pagesId = $"{_ioasId}/{_pagesCounter}";
        var rc = _table.Map(pagesId, c.UserAddress, c.Length, c.Protection, c.FixedIova ? c.Iova : null, out var iova);
        if (rc != 0)
        {
            Sender.Tell(Answered(c, new MapResult(_ioasId, rc, 0)));
            return;
        }
        _pagesCounter++;
        var e = new RangeMapped(iova, c.Protection, pagesId, c.UserAddress, c.Length);
        var steps = new List<CommitStep>();
        // With a domain the pages are pinned now: the client says first whether they all are there.
        if (c.UserMemory is { } user && UserPagePins.ForMap(_hwpts.Paging.Count(), c.UserAddress, c.Length, c.Protection) is { } check)
            steps.Add(new CommitStep(_ => check, user));
        ChargeStep(steps, _table.LastCharged, steps.Count);
        foreach (var h in _hwpts.Paging)
            steps.Add(MapStep(h, iova, c.Length, c.UserAddress, c.Protection, LeafCap));
        Begin(steps, iova, iova + c.Length - 1, unmap: false, Sender,
            _ => ([e], Answered(c, new MapResult(_ioasId, 0, iova))),
            errno => Answered(c, new MapResult(_ioasId, errno, 0)),
            () => _table.Unmap(iova, c.Length, out _));
    }

    private void OnUnmap(UnmapRange c, IActorRef replyTo, bool retried)
    {
        ulong unmapped;
        var all = c.Iova == 0 && c.Length == ulong.MaxValue;
        var last = all ? ulong.MaxValue : Last(c.Iova, c.Length);
        var cut = c.CutFirst && !all && _table.LargePagesDisabled ? CutPoints(c.Iova, c.Length) : [];
        // The operation spans the whole of the areas it may cut, so nothing else touches them meanwhile.
        var (spanStart, spanLast) = CutSpan(cut, c.Iova, last);
        if (!retried && Blocked(spanStart, spanLast, unmap: true))
            return;
        var cutRc = _table.Cut(cut, out var undoCut, out var cutAreas);
        if (cutRc != 0)
        {
            replyTo.Tell(Answered(c, new UnmapResult(_ioasId, cutRc, 0)));
            CheckRetired();
            return;
        }
        // A cut moves the held spans (halves held, the whole let go): the account follows in the same commit.
        AreasCut? cutEvent = cutAreas.Count == 0 ? null : new AreasCut([.. cut]);
        List<Pages.AccountProtocol.PageSpan> cutCharged = [.. _table.LastCharged], cutReleased = [.. _table.LastReleased];
        // What the unmap removes (lowest first, up to an area sticking out), for the domains and the undo.
        var touched = c.Length == 0 ? [] : IoPageTable.UnmapPrefix(_table.AreasTouching(c.Iova, last), c.Iova, last)
            .Select(a => (a.Iova, a.Length, a.Protection, a.Pages, a.PagesOffset)).ToList();
        // IOAS_UNMAP: 0..U64_MAX means everything; otherwise values at U64_MAX overflow.
        var rc = all ? _table.UnmapAll(out unmapped)
            : c.Iova >= ulong.MaxValue || c.Length >= ulong.MaxValue ? Fail(Errno.EOVERFLOW, out unmapped)
            : _table.Unmap(c.Iova, c.Length, out unmapped);
        if (rc == Errno.EBUSY)
        {
            if (!retried)
            {
                // Cut again (the same way) when the accesses have let go.
                undoCut();
                AskAccessesToLetGo(c, replyTo);
                return;
            }
            // iopt_unmap_iova_range: an access that was told and still holds its pages is "not responding".
            rc = Errno.EDEADLOCK;
        }
        IPersistedEvent e = all ? new AllUnmapped(unmapped) : new RangeUnmapped(c.Iova, c.Length);
        // An ENOENT after some areas went is a partial unmap: those are journaled and leave the domains.
        var partial = rc == Errno.ENOENT && unmapped > 0;
        if (rc != 0 && !partial)
        {
            // The kernel keeps the cuts of an unmap that then fails: they are journaled alone.
            if (cutEvent is null)
                replyTo.Tell(Answered(c, new UnmapResult(_ioasId, rc, unmapped)));
            else
                BeginCut(c, replyTo, cutEvent, cutCharged, cutReleased, spanStart, spanLast, rc, unmapped, undoCut);
            CheckRetired();
            return;
        }
        var steps = new List<CommitStep>();
        ChargeStep(steps, cutCharged);
        foreach (var h in _hwpts.Paging)
            steps.AddRange(UnmapSteps(h, touched));
        ReleaseStep(steps, [.. cutReleased, .. _table.LastReleased]);
        var done = unmapped;
        IReadOnlyList<IPersistedEvent> events = cutEvent is null ? [e] : [cutEvent, e];
        var (opStart, opLast) = touched.Count == 0 ? (c.Iova, c.Iova) : (touched[0].Iova, touched[^1].Iova + touched[^1].Length - 1);
        if (cut.Length > 0)
            (opStart, opLast) = (Math.Min(opStart, spanStart), Math.Max(opLast, spanLast));
        Begin(steps, opStart, opLast, unmap: true, replyTo,
            _ => (events, Answered(c, new UnmapResult(_ioasId, rc, done))),
            errno => Answered(c, new UnmapResult(_ioasId, errno, 0)),
            () =>
            {
                // The areas come back over the same pinned pages, as if the unmap had never run, then uncut.
                foreach (var t in touched)
                    _table.MapSlices([new PagesSlice(t.Pages, t.PagesOffset, t.Length)], t.Protection, t.Iova, out _);
                undoCut();
            });
    }

    /// <summary>VFIO type1's cut points: the last IOVA of the range, and the one before it (none before IOVA 0).</summary>
    private static ulong[] CutPoints(ulong iova, ulong length) =>
        iova == 0 ? [unchecked(iova + length - 1)] : [unchecked(iova + length - 1), iova - 1];

    /// <summary>[start, last] widened to the areas holding the cut points.</summary>
    private (ulong Start, ulong Last) CutSpan(ulong[] cut, ulong start, ulong last)
    {
        foreach (var point in cut)
            foreach (var a in _table.AreasTouching(point, point))
                (start, last) = (Math.Min(start, a.Iova), Math.Max(last, a.Last));
        return (start, last);
    }

    /// <summary>Journal cuts whose unmap then failed with <paramref name="rc"/>; the answer carries rc.</summary>
    private void BeginCut(UnmapRange c, IActorRef replyTo, AreasCut cutEvent, List<Pages.AccountProtocol.PageSpan> charged,
        List<Pages.AccountProtocol.PageSpan> released, ulong start, ulong last, int rc, ulong unmapped, Action undoCut)
    {
        var steps = new List<CommitStep>();
        ChargeStep(steps, charged);
        ReleaseStep(steps, released);
        Begin(steps, start, last, unmap: true, replyTo,
            _ => ([cutEvent], Answered(c, new UnmapResult(_ioasId, rc, unmapped))),
            errno => Answered(c, new UnmapResult(_ioasId, errno, 0)),
            undoCut);
    }

    private static object Answered(MapRange c, MapResult r) => c.Answer is { } answer ? answer(r) : r;
    private static object Answered(UnmapRange c, UnmapResult r) => c.Answer is { } answer ? answer(r) : r;
    private static object Answered(CopyRange c, CopyResult r) => c.Answer is { } answer ? answer(r) : r;

    private static ulong Last(ulong iova, ulong length) =>
        length == 0 ? iova : iova > ulong.MaxValue - (length - 1) ? ulong.MaxValue : iova + length - 1;

    private static int Fail(int rc, out ulong unmapped)
    {
        unmapped = 0;
        return rc;
    }

    /// <summary>iommufd_access_notify_unmap: every access holding pages in the range is asked to unpin before the unmap retries.</summary>
    private void AskAccessesToLetGo(UnmapRange c, IActorRef replyTo)
    {
        var last = c.Iova == 0 && c.Length == ulong.MaxValue ? ulong.MaxValue : c.Iova + c.Length - 1;
        var holders = _accesses.Where(a => a.Value.Pins.Any(p => p.Iova <= last && c.Iova <= p.Iova + p.Length - 1)).ToList();
        _pendingUnmap = (replyTo, c, holders.Select(h => h.Key).ToHashSet());
        foreach (var h in holders)
            h.Value.Ref.Tell(new AccessUnmapRequested(_ioasId, c.Iova, c.Length));
        SetReceiveTimeout(_accessGrace);
        Become(WaitingForAccesses);
    }

    private void WaitingForAccesses()
    {
        CommitReplies();
        Command<UnpinPages>(OnUnpin);
        Command<AccessUnmapDone>(d =>
        {
            _pendingUnmap!.Value.Waiting.Remove(d.AccessId);
            if (_pendingUnmap.Value.Waiting.Count == 0)
                FinishUnmapAfterAccesses();
        });
        Command<ReceiveTimeout>(_ => FinishUnmapAfterAccesses());
        Command<Retire>(OnRetire);
        Command<GetMappings>(_ => Sender.Tell(CurrentMappings()));
        Command<GetPinned>(_ => Sender.Tell(PinnedNow()));
        Command<GetSummary>(_ => Sender.Tell(MappingSummary.Of(_ioasId, _table)));
        CommandAny(_ => Stash.Stash());
    }

    private void FinishUnmapAfterAccesses()
    {
        SetReceiveTimeout(null);
        var (replyTo, command, _) = _pendingUnmap!.Value;
        _pendingUnmap = null;
        Become(Active);
        OnUnmap(command, replyTo, retried: true);
        Stash.UnstashAll();
    }

    private void OnCopy(CopyRange c)
    {
        if (c.FixedIova ? Blocked(c.DestinationIova, Last(c.DestinationIova, c.Length), unmap: false) : BlockedForAutoIova())
            return;
        _pendingCopy = (Sender, c);
        c.Source.Tell(new GetPagesForCopy(c.Source.Path.Name, c.SourceIova, c.Length));
        Become(WaitingForSource);
    }

    /// <summary>The destination of a copy waits for the source's pages; its own table is untouched meanwhile.</summary>
    private void WaitingForSource()
    {
        CommitReplies();
        Command<PagesForCopy>(OnPagesForCopy);
        Command<GetPagesForCopy>(OnGetPagesForCopy);
        Command<Retire>(OnRetire);
        Command<GetMappings>(_ => Sender.Tell(CurrentMappings()));
        Command<GetPinned>(_ => Sender.Tell(PinnedNow()));
        Command<GetSummary>(_ => Sender.Tell(MappingSummary.Of(_ioasId, _table)));
        CommandAny(_ => Stash.Stash());
    }

    private void OnPagesForCopy(PagesForCopy p)
    {
        var (replyTo, c) = _pendingCopy!.Value;
        _pendingCopy = null;
        Become(Active);
        if (p.Errno != 0)
        {
            replyTo.Tell(Answered(c, new CopyResult(_ioasId, p.Errno, 0)));
        }
        else
        {
            var slices = p.Slices.Select(ToSlice).ToList();
            var rc = _table.MapSlices(slices, c.Protection, c.FixedIova ? c.DestinationIova : null, out var iova);
            if (rc != 0)
                replyTo.Tell(Answered(c, new CopyResult(_ioasId, rc, 0)));
            else
            {
                var e = new SlicesCopied(iova, c.Protection, p.Slices);
                var steps = new List<CommitStep>();
                ChargeStep(steps, _table.LastCharged);
                foreach (var h in _hwpts.Paging)
                {
                    var at = iova;
                    foreach (var s in slices)
                    {
                        steps.Add(MapStep(h, at, s.Length, s.Pages.UserAddress + s.Offset, c.Protection, LeafCap));
                        at += s.Length;
                    }
                }
                var length = (ulong)slices.Sum(s => (decimal)s.Length);
                Begin(steps, iova, iova + length - 1, unmap: false, replyTo,
                    _ => ([e], Answered(c, new CopyResult(_ioasId, 0, iova))),
                    errno => Answered(c, new CopyResult(_ioasId, errno, 0)),
                    () => _table.Unmap(iova, length, out _));
            }
        }
        Stash.UnstashAll();
        CheckRetired();
    }

    private void OnGetPagesForCopy(GetPagesForCopy g)
    {
        // IOAS_COPY checks the values before the source range is looked up.
        if (g.Iova >= ulong.MaxValue || g.Length >= ulong.MaxValue)
        {
            Sender.Tell(new PagesForCopy(_ioasId, Errno.EOVERFLOW, []));
            return;
        }
        var rc = _table.GetSlices(g.Iova, g.Length, out var slices);
        Sender.Tell(new PagesForCopy(_ioasId, rc, [.. slices.Select(s =>
            new PinnedSliceRecord(s.Pages.Id, s.Pages.UserAddress, s.Pages.Length, s.Pages.Writable, s.Offset, s.Length))]));
    }

    private int ApplyOption(int optionId, ulong value)
    {
        if (value > 1)
            return Errno.EINVAL;
        return optionId switch
        {
            OptionHugePages => _table.SetLargePages(value == 1),
            OptionRlimitMode => _table.Account.SetMode((RlimitMode)value),
            _ => Errno.EOPNOTSUPP,
        };
    }

    /// <summary>Persist the change already applied and reply once it is written; failures are answered at once.</summary>
    private void Reply(int rc, IPersistedEvent e, object reply, Func<int, object> failed, IActorRef? replyTo = null)
    {
        var to = replyTo ?? Sender;
        if (rc != 0)
        {
            to.Tell(reply);
            return;
        }
        _inFlight++;
        _awaitingWrite.Enqueue((to, failed));
        PersistAsync(e, _ =>
        {
            _inFlight--;
            _awaitingWrite.Dequeue();
            to.Tell(reply);
            SnapshotWhenSettled();
            CheckRetired();
        });
    }

    private void Apply(RangeMapped e)
    {
        _table.Map(e.PagesId, e.UserAddress, e.Length, e.Protection, e.Iova, out _);
        // A map undone by a refusing domain used a pages number without an event: numbers stay unique.
        var number = long.Parse(e.PagesId.AsSpan(e.PagesId.LastIndexOf('/') + 1), System.Globalization.CultureInfo.InvariantCulture);
        _pagesCounter = Math.Max(_pagesCounter + 1, number + 1);
    }

    private void Apply(SlicesCopied e) =>
        _table.MapSlices(e.Slices.Select(ToSlice).ToList(), e.Protection, e.Iova, out _);

    private PagesSlice ToSlice(PinnedSliceRecord r) => new(
        _table.PinnedPages.TryGetValue(r.PagesId, out var known) ? known : new PinnedPages(r.PagesId, r.UserAddress, r.PagesLength, r.PagesWritable),
        r.Offset, r.Length);

    /// <summary>A slice journaled before pages remembered their writability: writable, as the copy was accepted then.</summary>
    private static PinnedSliceRecord FromOldForm(SliceRecord r) => new(r.PagesId, r.UserAddress, r.PagesLength, true, r.Offset, r.Length);

    private static IoasTableSnapshot FromOldForm(IoasSnapshot s) => new(
        [.. s.Areas.Select(a => new PinnedAreaRecord(a.Iova, a.Protection, FromOldForm(a.Slice)))],
        s.Allowed, s.Reserved, s.Alignments, s.LargePagesDisabled, s.RlimitMode, s.PagesCounter);

    private static List<IovaRange> ToRanges(ImmutableArray<IovaSpan> spans) => [.. spans.Select(s => new IovaRange(s.Start, s.Last))];

    private static ImmutableArray<IovaSpan> ToSpans(IEnumerable<IovaRange> ranges) => [.. ranges.Select(r => new IovaSpan(r.Start, r.Last))];

    private Mappings CurrentMappings() => new(_ioasId,
        [.. _table.Areas.Select(a => new MappingView(a.Iova, a.Length, a.Protection, a.Pages.Id, a.PagesOffset))],
        _table.Account.Charged);

    /// <summary>
    /// Snapshots if the policy says so; only when nothing is in flight does the table equal what the
    /// journal holds. A snapshot costs one entry per area and HWPT.
    /// </summary>
    private void SnapshotWhenSettled()
    {
        if (_inFlight == 0 && _pending.Count == 0)
            SnapshotIfDue(SnapshotEntries, TakeSnapshot);
    }

    private long SnapshotEntries => _table.AreaCount + _hwpts.Records().Length;

    /// <summary>The areas packed, the rest (limits, HWPTs) as records.</summary>
    private Hwpt.HwptProtocol.PackedIoasSnapshot TakeSnapshot() =>
        new(new(TakeIoasSnapshot(), _hwpts.Records()), PackedAreas.Pack(_ioasId, _table.Areas));

    private IoasTableSnapshot TakeIoasSnapshot() => new(
        [],
        ToSpans(_table.Allowed),
        _table.Reserved.GroupBy(r => r.Owner).ToImmutableDictionary(g => g.Key, g => ToSpans(g.Select(r => r.Range))),
        _table.AlignmentOwners.ToImmutableDictionary(),
        _table.LargePagesDisabled,
        (int)_table.Account.Mode,
        _pagesCounter);

    private void Restore(IoasTableSnapshot s, ImmutableArray<Hwpt.HwptProtocol.HwptRecord> hwpts, List<IoArea>? packed = null)
    {
        Restore(s, packed);
        _hwpts.Restore(hwpts);
        SyncDomainPins();
    }

    /// <summary>Rebuild the table from a snapshot: areas first, then the limits that were set over them.</summary>
    private void Restore(IoasTableSnapshot s, List<IoArea>? packed = null)
    {
        _table = new IoPageTable(new LockedMemoryAccount(_limitPages));
        _table.Account.SetMode((RlimitMode)s.RlimitMode);
        _table.SetLargePages(!s.LargePagesDisabled);
        if (packed is not null)
            _table.RestoreAreas(packed);
        foreach (var a in s.Areas)
            _table.MapSlices([ToSlice(a.Slice)], a.Protection, a.Iova, out _);
        _table.SetAllowed(ToRanges(s.Allowed));
        foreach (var (owner, spans) in s.Reserved)
            _table.AddReserved(owner, ToRanges(spans));
        foreach (var (owner, alignment) in s.Alignments)
            _table.SetAlignment(owner, alignment);
        _pagesCounter = s.PagesCounter;
    }
}
