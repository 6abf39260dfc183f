using System.Collections.Immutable;
using Akka.Actor;
using IommuActors.Core.Messaging;
using IommuActors.Domains.Hwpt;
using IommuActors.Domains.Pages;
using IommuActors.Hardware.Units;
using static IommuActors.Domains.Ioas.IoasProtocol;

namespace IommuActors.Domains.Ioas;

/// <summary>
/// Where an IOAS charges locked memory: the shared accounts, the keys of the two RLIMIT modes, and
/// the mode a new IOAS starts in (its iommufd's; an OPTION event in its own journal overrides it).
/// </summary>
public sealed record AccountBinding(IActorRef Accounts, string UserKey, string ProcessKey, RlimitMode Mode = RlimitMode.PerUser);

/// <summary>
/// The commit pipeline: an operation is applied to the table at once (so the next one validates
/// against it), its domain and account steps run in a DomainCommit child, and it is persisted and
/// answered when they all took effect, or undone in the table when one was refused. Operations
/// whose IOVA ranges do not meet run side by side; one that meets an operation whose domain steps
/// are still running (and so may still be undone) waits, with everything after it, until none is.
/// </summary>
public sealed partial class IoasActor
{
    private static readonly TimeSpan CommitTimeout = TimeSpan.FromSeconds(30);

    private readonly IActorRef _units;
    private readonly AccountBinding? _account;
    private readonly HwptTable _hwpts = new();
    private readonly Dictionary<long, PendingOperation> _pending = new();
    private long _nextToken = 1;
    private bool _draining;

    private sealed record PendingOperation(ulong Start, ulong Last, bool Unmap, IActorRef ReplyTo,
        Func<IReadOnlyList<object>, (IReadOnlyList<IPersistedEvent> Events, object Reply)> Succeed,
        Func<int, object> Fail, Action? Rollback);

    private string AccountKey => _table.Account.Mode == RlimitMode.PerUser ? _account!.UserKey : _account!.ProcessKey;

    /// <summary>True (and the message stashed) when the operation must wait for the ones in flight.</summary>
    private bool Blocked(ulong start, ulong last, bool unmap)
    {
        if (!_draining && !_pending.Values.Any(p => p.Start <= last && start <= p.Last))
            return false;
        _draining = true;
        Stash.Stash();
        return true;
    }

    private bool BlockedForAutoIova()
    {
        if (!_draining && !_pending.Values.Any(p => p.Unmap))
            return false;
        _draining = true;
        Stash.Stash();
        return true;
    }

    /// <summary>HWPT operations run alone: they change what every later map must reach.</summary>
    private bool BlockedExclusive() => Blocked(0, ulong.MaxValue, unmap: true);

    private void Begin(List<CommitStep> steps, ulong start, ulong last, bool unmap, IActorRef replyTo,
        Func<IReadOnlyList<object>, (IReadOnlyList<IPersistedEvent> Events, object Reply)> succeed, Func<int, object> fail, Action? rollback)
    {
        var token = _nextToken++;
        _pending[token] = new PendingOperation(start, last, unmap, replyTo, succeed, fail, rollback);
        if (steps.Count == 0)
            Finish(token, []);
        else
            Context.ActorOf(DomainCommit.Props(token, steps, CommitTimeout), $"commit-{token}");
    }

    private void CommitReplies()
    {
        Command<CommitSucceeded>(s => Finish(s.Token, s.Replies));
        Command<CommitFailed>(f =>
        {
            if (!_pending.Remove(f.Token, out var op))
                return;
            op.Rollback?.Invoke();
            op.ReplyTo.Tell(op.Fail(f.Errno));
            Settled();
        });
    }

    /// <summary>
    /// The operation took effect everywhere: it leaves the set that later operations wait for (it can
    /// no longer be undone, and what follows validates against the table it changed) and is answered
    /// once its events are written. The journal writes events in the order they are handed to it, so
    /// an unmap right behind a map of the same range is written after it, and the writes of every
    /// operation in flight go to the store together (group commit).
    /// </summary>
    private void Finish(long token, IReadOnlyList<object> replies)
    {
        if (!_pending.Remove(token, out var op))
            return;
        var (events, reply) = op.Succeed(replies);
        if (events.Count == 0)
        {
            op.ReplyTo.Tell(reply);
            Settled();
            return;
        }
        _inFlight++;
        _awaitingWrite.Enqueue((op.ReplyTo, op.Fail));
        var left = events.Count;
        PersistAllAsync(events, _ =>
        {
            if (--left > 0)
                return;
            _inFlight--;
            _awaitingWrite.Dequeue();
            op.ReplyTo.Tell(reply);
            SnapshotWhenSettled();
            CheckRetired();
        });
        Settled();
    }

    /// <summary>The answers waiting for their journal writes, in write order (the journal confirms in that order).</summary>
    private readonly Queue<(IActorRef ReplyTo, Func<int, object> Failed)> _awaitingWrite = new();

    /// <summary>
    /// The store could not take a write (it is away, or failed): every operation still waiting for
    /// its write is answered EIO, and the IOAS stops (Akka stops it after this) to come back from
    /// its journal, where none of them is, on its next message: the table it had applied them to
    /// goes with it. A later operation was never applied, so it is unaffected.
    /// </summary>
    protected override void OnPersistFailure(Exception cause, object @event, long sequenceNr)
    {
        FailAwaitingWrites();
        base.OnPersistFailure(cause, @event, sequenceNr);
    }

    /// <summary>
    /// The store refused one write (the journal is up; the event could not be stored): the same, but
    /// Akka would carry on with the event applied to the table, so the IOAS stops itself.
    /// </summary>
    protected override void OnPersistRejected(Exception cause, object @event, long sequenceNr)
    {
        FailAwaitingWrites();
        base.OnPersistRejected(cause, @event, sequenceNr);
        Context.Stop(Self);
    }

    private void FailAwaitingWrites()
    {
        while (_awaitingWrite.TryDequeue(out var waiting))
            waiting.ReplyTo.Tell(waiting.Failed(Errno.EIO));
    }

    private void Settled()
    {
        if (_draining && _pending.Count == 0)
        {
            _draining = false;
            Stash.UnstashAll();
        }
        CheckRetired();
    }

    private IActorRef? _retiring;

    /// <summary>Nothing asked of this IOAS is still being done or written.</summary>
    private bool Idle => _pending.Count == 0 && _inFlight == 0 && !_draining && _pendingUnmap is null && _pendingCopy is null;

    private void OnRetire(Retire r)
    {
        if (Idle)
        {
            Sender.Tell(new RetireResult(_ioasId, 0));
            return;
        }
        if (!r.Wait)
        {
            Sender.Tell(new RetireResult(_ioasId, Errno.EBUSY));
            return;
        }
        _retiring = Sender;
    }

    private void CheckRetired()
    {
        if (_retiring is not null && Idle)
        {
            _retiring.Tell(new RetireResult(_ioasId, 0));
            _retiring = null;
        }
    }

    private static Access AccessOf(Protection p) =>
        ((p & Protection.Read) != 0 ? Access.Read : Access.None) | ((p & Protection.Write) != 0 ? Access.Write : Access.None);

    /// <summary>
    /// The largest leaf a domain map may use: PAGE_SIZE once large pages are disabled (the kernel
    /// then maps page by page, so a VFIO type1 unmap can cut anywhere), else any.
    /// </summary>
    private ulong LeafCap => _table.LargePagesDisabled ? PinnedPages.PageSize : 0;

    private CommitStep MapStep(HardwarePageTable h, ulong iova, ulong length, ulong address, Protection protection, ulong cap) => new(
        _ => new UnitProtocol.MapRange(h.Unit, h.DomainId, iova, length, address, AccessOf(protection), cap), _units,
        (_, _) => [(new UnitProtocol.UnmapRange(h.Unit, h.DomainId, iova, length, true), _units)]);

    /// <summary>One unit unmap per run of adjacent areas (iommu_unmap stops at a hole); undone by mapping each area again.</summary>
    private IEnumerable<CommitStep> UnmapSteps(HardwarePageTable h, List<(ulong Iova, ulong Length, Protection Protection, PinnedPages Pages, ulong PagesOffset)> areas)
    {
        var cap = LeafCap;
        var i = 0;
        while (i < areas.Count)
        {
            var j = i;
            while (j + 1 < areas.Count && areas[j].Iova + areas[j].Length == areas[j + 1].Iova)
                j++;
            var run = areas.GetRange(i, j - i + 1);
            var start = run[0].Iova;
            var length = run[^1].Iova + run[^1].Length - start;
            yield return new CommitStep(_ => new UnitProtocol.UnmapRange(h.Unit, h.DomainId, start, length, true), _units,
                (_, _) => run.Select(a => ((object)new UnitProtocol.MapRange(h.Unit, h.DomainId, a.Iova, a.Length,
                    a.Pages.UserAddress + a.PagesOffset, AccessOf(a.Protection), cap), _units)));
            i = j + 1;
        }
    }

    /// <summary>
    /// The shared account's charge for the spans this table just took, as the step at <paramref name="at"/>
    /// (undone by releasing the same spans). Every span goes, even one over pages already pinned: the
    /// account keeps the same holdings as the table, so each release later meets its charge.
    /// </summary>
    private void ChargeStep(List<CommitStep> steps, IReadOnlyList<AccountProtocol.PageSpan> spans, int at = 0)
    {
        if (_account is null || spans.Count == 0)
            return;
        var key = AccountKey;
        var holder = _ioasId;
        var accounts = _account.Accounts;
        ImmutableArray<AccountProtocol.PageSpan> charged = [.. spans];
        steps.Insert(at, new CommitStep(_ => new AccountProtocol.ChargePages(key, holder, charged), accounts,
            (_, _) => [(new AccountProtocol.ReleasePages(key, holder, charged), accounts)]));
    }

    private void ReleaseStep(List<CommitStep> steps, IReadOnlyList<AccountProtocol.PageSpan> released)
    {
        if (_account is null || released.Count == 0)
            return;
        var key = AccountKey;
        var holder = _ioasId;
        ImmutableArray<AccountProtocol.PageSpan> spans = [.. released];
        steps.Add(new CommitStep(_ => new AccountProtocol.ReleasePages(key, holder, spans), _account.Accounts));
    }

    /// <summary>After recovery the account learns exactly what this IOAS pins (a charge made before a crash but never journaled here goes back).</summary>
    private void ReconcileAccount()
    {
        if (_account is null)
            return;
        _account.Accounts.Tell(new AccountProtocol.ReconcileHolder(AccountKey, _ioasId, [.. _table.HeldSpans]));
    }
}
