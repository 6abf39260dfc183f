using FsCheck.Xunit;
using IommuActors.Domains.Pages;
using static IommuActors.Domains.Pages.AccountProtocol;

namespace IommuActors.Domains.Tests.Pages;

/// <summary>
/// Random charge/release/reconcile sequences from several holders on one ledger, checked against
/// a plain map of pages objects to the holders pinning them.
/// </summary>
public sealed class AccountLedgerProperties
{
    private const ulong Limit = 16;
    private const int Objects = 8;
    private const int Holders = 3;

    /// <summary>A pages object has one size wherever it is charged.</summary>
    private static PagesCharge Pages(int n) => new($"p{n}", (ulong)(n % 5) + 1);

    private static string Holder(int n) => $"ioas-{n}";

    [Property(MaxTest = 1000)]
    public bool Random_sequences_keep_the_charge_equal_to_the_live_pins_and_agree_with_the_model(int[] raw)
    {
        var ledger = new AccountLedger(Limit);
        var model = new Dictionary<string, (ulong Pages, HashSet<string> Holders)>();
        for (var i = 0; i < raw.Length; i++)
        {
            var x = OperationBits.Of(raw[i], i);
            var op = x % 4;
            var holder = Holder((int)((x >> 2) % Holders));
            var pick = Pick(x >> 4);
            switch (op)
            {
                case 0:
                case 1:
                {
                    var before = ledger.Records();
                    var chargedBefore = ledger.Charged;
                    var rc = ledger.Charge(holder, pick);
                    var fresh = pick.Where(p => !model.ContainsKey(p.PagesId)).DistinctBy(p => p.PagesId).Aggregate(0UL, (s, p) => s + p.Pages);
                    var expected = Charged(model) + fresh > Limit ? Errno.ENOMEM : 0;
                    if (rc != expected)
                        return false;
                    if (rc != 0)
                    {
                        // A refused charge leaves the ledger exactly as it was.
                        if (ledger.Charged != chargedBefore || !Same(ledger.Records(), before))
                            return false;
                        break;
                    }
                    foreach (var p in pick)
                    {
                        if (!model.TryGetValue(p.PagesId, out var e))
                            model[p.PagesId] = e = (p.Pages, []);
                        e.Holders.Add(holder);
                    }
                    if (ledger.Charged > Limit)
                        return false;
                    break;
                }
                case 2:
                {
                    var ids = pick.Select(p => p.PagesId).ToList();
                    ledger.Release(holder, ids);
                    foreach (var id in ids)
                    {
                        if (model.TryGetValue(id, out var e) && e.Holders.Remove(holder) && e.Holders.Count == 0)
                            model.Remove(id);
                    }
                    break;
                }
                default:
                {
                    ledger.Reconcile(holder, pick);
                    foreach (var (id, e) in model.ToList())
                    {
                        if (e.Holders.Remove(holder) && e.Holders.Count == 0)
                            model.Remove(id);
                    }
                    foreach (var p in pick)
                    {
                        if (!model.TryGetValue(p.PagesId, out var e))
                            model[p.PagesId] = e = (p.Pages, []);
                        e.Holders.Add(holder);
                    }
                    break;
                }
            }
            if (ledger.Charged != Charged(model) || ledger.PagesObjects != model.Count || !Same(ledger.Records(), Records(model)))
                return false;
        }
        // Every holder letting go of everything brings the ledger back to zero.
        for (var h = 0; h < Holders; h++)
            ledger.Release(Holder(h), [.. Enumerable.Range(0, Objects).Select(n => Pages(n).PagesId)]);
        return ledger.Charged == 0 && ledger.PagesObjects == 0 && ledger.Records().IsEmpty;
    }

    [Property(MaxTest = 200)]
    public bool A_pages_object_shared_by_holders_is_charged_once_and_released_with_the_last(int[] raw)
    {
        var ledger = new AccountLedger(ulong.MaxValue);
        var p = Pages(3);
        var holders = raw.Select(r => Holder((int)((uint)r % Holders))).Distinct().ToList();
        foreach (var h in holders)
        {
            if (ledger.Charge(h, [p]) != 0 || ledger.Charged != p.Pages)
                return false;
        }
        for (var i = 0; i < holders.Count; i++)
        {
            ledger.Release(holders[i], [p.PagesId]);
            var expected = i == holders.Count - 1 ? 0UL : p.Pages;
            if (ledger.Charged != expected)
                return false;
        }
        return ledger.PagesObjects == 0;
    }

    /// <summary>Up to four objects chosen by the bits of one number, possibly repeated.</summary>
    private static List<PagesCharge> Pick(uint bits) =>
        [.. Enumerable.Range(0, (int)(bits % 5)).Select(k => Pages((int)((bits >> (3 + 3 * k)) % Objects)))];

    private static ulong Charged(Dictionary<string, (ulong Pages, HashSet<string> Holders)> model) =>
        model.Values.Aggregate(0UL, (s, e) => s + e.Pages);

    private static List<(string Holder, string PagesId, ulong Pages)> Records(Dictionary<string, (ulong Pages, HashSet<string> Holders)> model) =>
        [.. model.SelectMany(kv => kv.Value.Holders.Select(h => (h, kv.Key, kv.Value.Pages)))];

    private static bool Same(IEnumerable<HolderRecord> records, IEnumerable<(string Holder, string PagesId, ulong Pages)> expected) =>
        records.SelectMany(r => r.Pages.Select(p => (r.Holder, p.PagesId, p.Pages))).Order()
            .SequenceEqual(expected.Order());

    private static bool Same(IEnumerable<HolderRecord> records, IEnumerable<HolderRecord> expected) =>
        Same(records, expected.SelectMany(r => r.Pages.Select(p => (r.Holder, p.PagesId, p.Pages))));
}
