using Akka.Actor;
using Akka.Persistence;
using static IommuActors.Domains.Pages.AccountProtocol;

namespace IommuActors.Domains.Pages;

/// <summary>
/// Locked-memory accounts shared across IOAS, one ledger per account key, all under one limit
/// (RLIMIT_MEMLOCK in pages). Persists each accepted change before answering; a recovered IOAS
/// restates its holdings with ReconcileHolder, which repairs a charge whose IOAS crashed before
/// writing its own event.
/// </summary>
public sealed class AccountActor : ReceivePersistentActor
{
    private readonly ulong _limitPages;
    private readonly int _snapshotEvery;
    private readonly Dictionary<string, AccountLedger> _ledgers = new();
    private int _inFlight;
    private int _sinceSnapshot;

    public override string PersistenceId { get; }

    public static Props Props(string name, ulong limitPages, int snapshotEvery = 1000) =>
        Akka.Actor.Props.Create(() => new AccountActor(name, limitPages, snapshotEvery));

    public AccountActor(string name, ulong limitPages, int snapshotEvery)
    {
        _limitPages = limitPages;
        _snapshotEvery = Math.Max(1, snapshotEvery);
        PersistenceId = $"locked-memory-{name}";

        Recover<SnapshotOffer>(o =>
        {
            if (o.Snapshot is not AccountSnapshot s)
                return;
            _ledgers.Clear();
            foreach (var a in s.Accounts)
                foreach (var h in a.Holders)
                    Ledger(a.Account).Apply(h.Holder, h.Pages);
        });
        Recover<PagesCharged>(e => Ledger(e.Account).Apply(e.Holder, e.Pages));
        Recover<PagesReleased>(e => Ledger(e.Account).Release(e.Holder, e.PagesIds));
        Recover<HolderReconciled>(e => Ledger(e.Account).Reconcile(e.Holder, e.Pages));

        Command<ChargePages>(c =>
        {
            var ledger = Ledger(c.EntityId);
            var rc = ledger.Charge(c.Holder, c.Pages);
            if (rc != 0)
            {
                Sender.Tell(new ChargeResult(c.EntityId, c.Holder, rc, ledger.Charged));
                return;
            }
            Persisted(new PagesCharged(c.EntityId, c.Holder, c.Pages), new ChargeResult(c.EntityId, c.Holder, 0, ledger.Charged));
        });
        Command<ReleasePages>(c =>
        {
            var ledger = Ledger(c.EntityId);
            ledger.Release(c.Holder, c.PagesIds);
            Persisted(new PagesReleased(c.EntityId, c.Holder, c.PagesIds), new ReleaseResult(c.EntityId, c.Holder, ledger.Charged));
        });
        Command<ReconcileHolder>(c =>
        {
            var ledger = Ledger(c.EntityId);
            ledger.Reconcile(c.Holder, c.Pages);
            Persisted(new HolderReconciled(c.EntityId, c.Holder, c.Pages), new ReleaseResult(c.EntityId, c.Holder, ledger.Charged));
        });
        Command<GetAccount>(c =>
        {
            var ledger = Ledger(c.EntityId);
            Sender.Tell(new AccountView(c.EntityId, ledger.Charged, ledger.LimitPages, ledger.PagesObjects));
        });
        Command<SaveSnapshotSuccess>(s => DeleteSnapshots(new SnapshotSelectionCriteria(s.Metadata.SequenceNr - 1)));
        Command<SaveSnapshotFailure>(_ => { });
        Command<DeleteSnapshotsSuccess>(_ => { });
        Command<DeleteSnapshotsFailure>(_ => { });
    }

    private AccountLedger Ledger(string key)
    {
        if (!_ledgers.TryGetValue(key, out var ledger))
            _ledgers[key] = ledger = new AccountLedger(_limitPages);
        return ledger;
    }

    /// <summary>The ledger already moved; the answer waits for the journal (group commit).</summary>
    private void Persisted(Core.Messaging.IPersistedEvent e, object reply)
    {
        var to = Sender;
        _inFlight++;
        PersistAsync(e, _ =>
        {
            _inFlight--;
            to.Tell(reply);
            if (++_sinceSnapshot >= _snapshotEvery && _inFlight == 0)
            {
                _sinceSnapshot = 0;
                SaveSnapshot(new AccountSnapshot([.. _ledgers.OrderBy(l => l.Key, StringComparer.Ordinal)
                    .Select(l => new AccountRecord(l.Key, l.Value.Records()))]));
            }
        });
    }
}
