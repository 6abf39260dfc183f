using FsCheck.Xunit;
using IommuActors.Domains.Pages;
using static IommuActors.Domains.Pages.AccountProtocol;

namespace IommuActors.Domains.Tests.Pages;

/// <summary>
/// Random charge/release/reconcile sequences of page spans from several holders on one ledger,
/// checked against a plain model: every holding listed, and the charge counted page by page as
/// the set of indexes any holding covers.
/// </summary>
public sealed class AccountLedgerProperties
{
    private const ulong Limit = 16;
    private const int Objects = 4;
    private const int Holders = 3;

    private static string Holder(int n) => $"ioas-{n}";

    private sealed class Model
    {
        public readonly List<(string Holder, PageSpan Span)> Held = [];

        public ulong Charged => Held.GroupBy(h => h.Span.PagesId)
            .Aggregate(0UL, (sum, g) => sum + (ulong)g.SelectMany(h => Indexes(h.Span)).Distinct().Count());

        public int Objects => Held.Select(h => h.Span.PagesId).Distinct().Count();

        public void Release(string holder, IEnumerable<PageSpan> spans)
        {
            foreach (var s in spans)
            {
                var at = Held.IndexOf((holder, s));
                if (at >= 0)
                    Held.RemoveAt(at);
            }
        }

        private static IEnumerable<ulong> Indexes(PageSpan s)
        {
            for (var i = s.First; i <= s.Last; i++)
                yield return i;
        }
    }

    [Property(MaxTest = 1000)]
    public bool Random_sequences_charge_each_covered_page_once_and_agree_with_the_model(int[] raw)
    {
        var ledger = new AccountLedger(Limit);
        var model = new Model();
        for (var i = 0; i < raw.Length; i++)
        {
            var x = OperationBits.Of(raw[i], i);
            var holder = Holder((int)((x >> 2) % Holders));
            var pick = Pick(x >> 4);
            switch (x % 4)
            {
                case 0:
                case 1:
                {
                    var before = model.Charged;
                    var records = ledger.Records();
                    model.Held.AddRange(pick.Select(s => (holder, s)));
                    var after = model.Charged;
                    var expected = after > before && after > Limit ? Errno.ENOMEM : 0;
                    if (expected != 0)
                        model.Release(holder, pick);
                    if (ledger.Charge(holder, pick) != expected)
                        return false;
                    // A refused charge leaves the ledger exactly as it was.
                    if (expected != 0 && !ledger.Records().SequenceEqual(records, RecordComparer.Instance))
                        return false;
                    break;
                }
                case 2:
                    ledger.Release(holder, pick);
                    model.Release(holder, pick);
                    break;
                default:
                    ledger.Reconcile(holder, pick);
                    model.Held.RemoveAll(h => h.Holder == holder);
                    model.Held.AddRange(pick.Select(s => (holder, s)));
                    break;
            }
            if (ledger.Charged != model.Charged || ledger.PagesObjects != model.Objects || !Same(ledger, model))
                return false;
        }
        // Every holder letting go of what it holds brings the ledger back to zero.
        foreach (var r in ledger.Records())
            ledger.Release(r.Holder, r.Spans);
        return ledger.Charged == 0 && ledger.PagesObjects == 0 && ledger.Records().IsEmpty;
    }

    [Property(MaxTest = 500)]
    public bool A_holder_holds_exactly_what_the_model_says_and_nothing_else(int[] raw, int otherBits)
    {
        var ledger = new AccountLedger(ulong.MaxValue);
        var model = new Model();
        for (var i = 0; i < raw.Length; i++)
        {
            var x = OperationBits.Of(raw[i], i);
            var holder = Holder((int)((x >> 2) % Holders));
            var pick = Pick(x >> 4);
            if (x % 3 == 2)
            {
                ledger.Release(holder, pick);
                model.Release(holder, pick);
            }
            else
            {
                ledger.Charge(holder, pick);
                model.Held.AddRange(pick.Select(s => (holder, s)));
            }
        }
        var other = Pick(OperationBits.Of(otherBits, -1)).OrderBy(s => s.PagesId, StringComparer.Ordinal).ToList();
        for (var h = 0; h < Holders; h++)
        {
            // Listed as a holder lists them: the spans of one pages object together.
            var mine = model.Held.Where(x => x.Holder == Holder(h)).Select(x => x.Span).OrderBy(s => s.PagesId, StringComparer.Ordinal).ToList();
            if (!ledger.HoldsExactly(Holder(h), mine))
                return false;
            var same = mine.Order(SpanOrder).SequenceEqual(other.Order(SpanOrder));
            if (ledger.HoldsExactly(Holder(h), other) != same)
                return false;
        }
        return true;
    }

    private static readonly Comparer<PageSpan> SpanOrder = Comparer<PageSpan>.Create((a, b) =>
        (a.PagesId, a.First, a.Last).CompareTo((b.PagesId, b.First, b.Last)));

    [Property(MaxTest = 500)]
    public bool Releasing_the_spans_of_a_charge_undoes_it_exactly_whatever_came_between(int[] raw, int chargeBits)
    {
        var ledger = new AccountLedger(ulong.MaxValue);
        var between = raw.Select((r, i) => (Holder: Holder((int)(OperationBits.Of(r, i) % Holders)), Spans: Pick(OperationBits.Of(r, i) >> 2))).ToList();
        foreach (var (h, spans) in between.Take(between.Count / 2))
            ledger.Charge(h, spans);
        var charge = Pick(OperationBits.Of(chargeBits, -1));
        ledger.Charge("ioas-x", charge);
        foreach (var (h, spans) in between.Skip(between.Count / 2))
            ledger.Charge(h, spans);
        var withIt = ledger.Charged;
        ledger.Release("ioas-x", charge);

        var without = new AccountLedger(ulong.MaxValue);
        foreach (var (h, spans) in between)
            without.Charge(h, spans);
        return ledger.Charged == without.Charged && withIt >= without.Charged
            && ledger.Records().SequenceEqual(without.Records(), RecordComparer.Instance);
    }

    /// <summary>Up to three spans chosen by the bits of one number: object, first index 0..7, 1..4 pages each.</summary>
    private static List<PageSpan> Pick(uint bits) =>
        [.. Enumerable.Range(0, (int)(bits % 4)).Select(k =>
        {
            var b = bits >> (2 + 7 * k);
            var first = (ulong)((b >> 2) % 8);
            return new PageSpan($"p{b % Objects}", first, first + (b >> 5) % 4);
        })];

    private static bool Same(AccountLedger ledger, Model model) =>
        ledger.Records().SelectMany(r => r.Spans.Select(s => (r.Holder, s.PagesId, s.First, s.Last))).Order()
            .SequenceEqual(model.Held.Select(h => (h.Holder, h.Span.PagesId, h.Span.First, h.Span.Last)).Order());

    private sealed class RecordComparer : IEqualityComparer<HolderSpansRecord>
    {
        public static readonly RecordComparer Instance = new();

        public bool Equals(HolderSpansRecord? a, HolderSpansRecord? b) =>
            a is not null && b is not null && a.Holder == b.Holder && a.Spans.SequenceEqual(b.Spans);

        public int GetHashCode(HolderSpansRecord r) => r.Holder.GetHashCode();
    }
}
