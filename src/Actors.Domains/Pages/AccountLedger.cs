using System.Collections.Immutable;
using System.Runtime.InteropServices;
using static IommuActors.Domains.Pages.AccountProtocol;

namespace IommuActors.Domains.Pages;

/// <summary>
/// The locked-memory ledger of one account (a user or a process), page exact as the kernel's
/// accounting of an iopt_pages: each holder (an IOAS) states the index spans of a pinned-pages
/// object it holds, and a page is charged while at least one span of any holder covers it, once.
/// Charging and releasing the same spans are exact inverses whatever happened in between.
/// Plain class; the account actor owns one per key.
/// </summary>
public sealed class AccountLedger(ulong limitPages)
{
    private sealed class Entry
    {
        public readonly PinnedSpans Spans = new();
        public readonly List<(string Holder, ulong First, ulong Last)> Held = [];
    }

    private readonly Dictionary<string, Entry> _pages = new();
    private readonly Dictionary<string, long> _spansOf = new();

    public ulong LimitPages { get; } = limitPages;
    public ulong Charged { get; private set; }
    public int PagesObjects => _pages.Count;

    /// <summary>All or nothing: when the pages no one held yet would take the charge past the limit, ENOMEM and nothing changes.</summary>
    public int Charge(string holder, IEnumerable<PageSpan> spans)
    {
        var list = spans.ToList();
        var before = Charged;
        Apply(holder, list);
        // incr_user_locked_vm: only pages newly pinned are counted against the limit.
        if (Charged > before && Charged > LimitPages)
        {
            Release(holder, list);
            return Errno.ENOMEM;
        }
        return 0;
    }

    /// <summary>Hold without the limit: replaying what was already accepted.</summary>
    public void Apply(string holder, IEnumerable<PageSpan> spans)
    {
        foreach (var s in spans)
        {
            if (!_pages.TryGetValue(s.PagesId, out var entry))
                _pages[s.PagesId] = entry = new Entry();
            Charged += entry.Spans.Add(s.First, s.Last);
            entry.Held.Add((holder, s.First, s.Last));
            _spansOf[holder] = _spansOf.GetValueOrDefault(holder) + 1;
        }
    }

    /// <summary>Let go of spans this holder charged before; a span it does not hold is ignored.</summary>
    public void Release(string holder, IEnumerable<PageSpan> spans)
    {
        foreach (var s in spans)
        {
            if (!_pages.TryGetValue(s.PagesId, out var entry))
                continue;
            var at = entry.Held.IndexOf((holder, s.First, s.Last));
            if (at < 0)
                continue;
            entry.Held.RemoveAt(at);
            if (--CollectionsMarshal.GetValueRefOrNullRef(_spansOf, holder) == 0)
                _spansOf.Remove(holder);
            entry.Spans.Remove(s.First, s.Last, out var freed);
            Charged -= freed;
            if (entry.Held.Count == 0)
                _pages.Remove(s.PagesId);
        }
    }

    /// <summary>
    /// Whether the holder holds exactly these spans (as a multiset), so a reconcile would change
    /// nothing. Spans of one pages object are expected together, as a holder lists them; when they
    /// are not the answer is a safe false.
    /// </summary>
    public bool HoldsExactly(string holder, IReadOnlyList<PageSpan> spans)
    {
        if (_spansOf.GetValueOrDefault(holder) != spans.Count)
            return false;
        var visited = new HashSet<string>(StringComparer.Ordinal);
        var given = new List<(ulong, ulong)>();
        var held = new List<(ulong, ulong)>();
        for (var i = 0; i < spans.Count;)
        {
            var id = spans[i].PagesId;
            if (!visited.Add(id) || !_pages.TryGetValue(id, out var entry))
                return false;
            given.Clear();
            for (; i < spans.Count && spans[i].PagesId == id; i++)
                given.Add((spans[i].First, spans[i].Last));
            held.Clear();
            foreach (var h in entry.Held)
                if (h.Holder == holder)
                    held.Add((h.First, h.Last));
            if (given.Count != held.Count)
                return false;
            if (given.Count > 1)
            {
                given.Sort();
                held.Sort();
            }
            for (var k = 0; k < given.Count; k++)
                if (given[k] != held[k])
                    return false;
        }
        return true;
    }

    /// <summary>Make the holder's share exactly the given spans (after the holder recovered).</summary>
    public void Reconcile(string holder, IEnumerable<PageSpan> spans)
    {
        Release(holder, HeldBy(holder).ToList());
        Apply(holder, spans);
    }

    /// <summary>Journals written before charges were page exact: a holder held whole objects, at most once each.</summary>
    public void ApplyWholeObjects(string holder, IEnumerable<PagesCharge> objects)
    {
        foreach (var o in objects)
        {
            if (_pages.TryGetValue(o.PagesId, out var entry) && entry.Held.Any(h => h.Holder == holder))
                continue;
            Apply(holder, [new PageSpan(o.PagesId, 0, o.Pages - 1)]);
        }
    }

    /// <summary>Journals written before charges were page exact: the holder lets go of everything it holds in these objects.</summary>
    public void ReleaseWholeObjects(string holder, IEnumerable<string> pagesIds)
    {
        foreach (var id in pagesIds)
        {
            if (_pages.TryGetValue(id, out var entry))
                Release(holder, [.. entry.Held.Where(h => h.Holder == holder).Select(h => new PageSpan(id, h.First, h.Last))]);
        }
    }

    public ImmutableArray<HolderSpansRecord> Records() => [.. _pages
        .SelectMany(kv => kv.Value.Held.Select(h => (h.Holder, Span: new PageSpan(kv.Key, h.First, h.Last))))
        .GroupBy(x => x.Holder).OrderBy(g => g.Key, StringComparer.Ordinal)
        .Select(g => new HolderSpansRecord(g.Key, [.. g.Select(x => x.Span).Order(SpanOrder)]))];

    private IEnumerable<PageSpan> HeldBy(string holder) => _pages
        .SelectMany(kv => kv.Value.Held.Where(h => h.Holder == holder).Select(h => new PageSpan(kv.Key, h.First, h.Last)));

    private static readonly Comparer<PageSpan> SpanOrder = Comparer<PageSpan>.Create((a, b) =>
    {
        var c = string.CompareOrdinal(a.PagesId, b.PagesId);
        return c != 0 ? c : a.First != b.First ? a.First.CompareTo(b.First) : a.Last.CompareTo(b.Last);
    });
}
