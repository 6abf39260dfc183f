using Akka.Actor;
using Akka.Persistence;
using IommuActors.Core.Persistence;
using static IommuActors.Domains.Pages.AccountProtocol;

namespace IommuActors.Domains.Pages;

/// <summary>
/// Locked-memory accounts shared across IOAS, one page-exact ledger per account key, all under
/// one limit (RLIMIT_MEMLOCK in pages). Persists each accepted change before answering; a recovered IOAS
/// restates its holdings with ReconcileHolder, which repairs a charge whose IOAS crashed before
/// writing its own event.
/// </summary>
public sealed class AccountActor : SnapshottingActor
{
    private readonly ulong _limitPages;
    private readonly Dictionary<string, AccountLedger> _ledgers = new();
    private int _inFlight;

    public override string PersistenceId { get; }

    public static Props Props(string name, ulong limitPages, int snapshotFloor = 1000) =>
        Akka.Actor.Props.Create(() => new AccountActor(name, limitPages, snapshotFloor));

    /// <summary>
    /// A packed span is about six bytes of the snapshot; a journal row of a charge is its event of
    /// a few dozen bytes plus the row's own columns: 16 spans weigh about one row.
    /// </summary>
    public const long EntriesPerEvent = 16;

    public AccountActor(string name, ulong limitPages, int snapshotFloor) : base(snapshotFloor, EntriesPerEvent)
    {
        _limitPages = limitPages;
        PersistenceId = $"locked-memory-{name}";

        Recover<SnapshotOffer>(o =>
        {
            _ledgers.Clear();
            if (o.Snapshot is AccountSpansSnapshot s)
            {
                foreach (var a in s.Accounts)
                    foreach (var h in a.Holders)
                        Ledger(a.Account).Apply(h.Holder, h.Spans);
            }
            else if (o.Snapshot is AccountSnapshot old)
            {
                foreach (var a in old.Accounts)
                    foreach (var h in a.Holders)
                        Ledger(a.Account).ApplyWholeObjects(h.Holder, h.Pages);
            }
            SnapshotOffered(o.Metadata, SnapshotEntries);
        });
        Recover<RecoveryCompleted>(_ => RecoveredForSnapshots());
        Recover<PageSpansCharged>(e => Ledger(e.Account).Apply(e.Holder, e.Spans));
        Recover<PageSpansReleased>(e => Ledger(e.Account).Release(e.Holder, e.Spans));
        Recover<HolderSpansReconciled>(e => Ledger(e.Account).Reconcile(e.Holder, e.Spans));
        Recover<PagesCharged>(e => Ledger(e.Account).ApplyWholeObjects(e.Holder, e.Pages));
        Recover<PagesReleased>(e => Ledger(e.Account).ReleaseWholeObjects(e.Holder, e.PagesIds));
        Recover<HolderReconciled>(e =>
        {
            var ledger = Ledger(e.Account);
            ledger.Reconcile(e.Holder, []);
            ledger.ApplyWholeObjects(e.Holder, e.Pages);
        });

        Command<ChargePages>(c =>
        {
            var ledger = Ledger(c.EntityId);
            var rc = ledger.Charge(c.Holder, c.Spans);
            if (rc != 0)
            {
                Sender.Tell(new ChargeResult(c.EntityId, c.Holder, rc, ledger.Charged));
                return;
            }
            Persisted(new PageSpansCharged(c.EntityId, c.Holder, c.Spans), new ChargeResult(c.EntityId, c.Holder, 0, ledger.Charged));
        });
        Command<ReleasePages>(c =>
        {
            var ledger = Ledger(c.EntityId);
            ledger.Release(c.Holder, c.Spans);
            Persisted(new PageSpansReleased(c.EntityId, c.Holder, c.Spans), new ReleaseResult(c.EntityId, c.Holder, ledger.Charged));
        });
        Command<ReconcileHolder>(c =>
        {
            var ledger = Ledger(c.EntityId);
            // The usual case after a restart: the journal already holds what the IOAS restates.
            if (ledger.HoldsExactly(c.Holder, c.Spans))
            {
                Sender.Tell(new ReleaseResult(c.EntityId, c.Holder, ledger.Charged));
                return;
            }
            ledger.Reconcile(c.Holder, c.Spans);
            Persisted(new HolderSpansReconciled(c.EntityId, c.Holder, c.Spans), new ReleaseResult(c.EntityId, c.Holder, ledger.Charged));
        });
        Command<GetAccount>(c =>
        {
            var ledger = Ledger(c.EntityId);
            Sender.Tell(new AccountView(c.EntityId, ledger.Charged, ledger.LimitPages, ledger.PagesObjects));
        });
        SnapshotReplies();
    }

    private AccountLedger Ledger(string key)
    {
        if (!_ledgers.TryGetValue(key, out var ledger))
            _ledgers[key] = ledger = new AccountLedger(_limitPages);
        return ledger;
    }

    /// <summary>About one snapshot entry per pinned-pages object an account holds.</summary>
    private long SnapshotEntries => _ledgers.Values.Sum(l => (long)l.PagesObjects) + 1;

    /// <summary>The ledger already moved; the answer waits for the journal (group commit).</summary>
    private void Persisted(Core.Messaging.IPersistedEvent e, object reply)
    {
        var to = Sender;
        _inFlight++;
        PersistAsync(e, _ =>
        {
            _inFlight--;
            to.Tell(reply);
            if (_inFlight == 0)
                SnapshotIfDue(SnapshotEntries, () => new AccountSpansSnapshot([.. _ledgers.OrderBy(l => l.Key, StringComparer.Ordinal)
                    .Select(l => new AccountSpansRecord(l.Key, l.Value.Records()))]));
        });
    }
}
