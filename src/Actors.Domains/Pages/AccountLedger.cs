using System.Collections.Immutable;
using static IommuActors.Domains.Pages.AccountProtocol;

namespace IommuActors.Domains.Pages;

/// <summary>
/// The locked-memory ledger of one account (a user or a process): which pinned-pages objects are
/// charged and which IOAS hold each. A pages object is charged when its first holder takes it
/// and given back with its last holder. Plain class; the account actor owns one per key.
/// </summary>
public sealed class AccountLedger(ulong limitPages)
{
    private readonly Dictionary<string, (ulong Pages, HashSet<string> Holders)> _pages = new();

    public ulong LimitPages { get; } = limitPages;
    public ulong Charged { get; private set; }
    public int PagesObjects => _pages.Count;

    /// <summary>All or nothing: the pages not yet charged must fit under the limit, else ENOMEM.</summary>
    public int Charge(string holder, IEnumerable<PagesCharge> pages)
    {
        var list = pages.ToList();
        ulong fresh = 0;
        foreach (var p in list.Where(p => !_pages.ContainsKey(p.PagesId)).DistinctBy(p => p.PagesId))
            fresh += p.Pages;
        if (fresh > LimitPages || Charged > LimitPages - fresh)
            return Errno.ENOMEM;
        Apply(holder, list);
        return 0;
    }

    /// <summary>Charge without the limit: replaying what was already accepted.</summary>
    public void Apply(string holder, IEnumerable<PagesCharge> pages)
    {
        foreach (var p in pages)
        {
            if (!_pages.TryGetValue(p.PagesId, out var entry))
            {
                _pages[p.PagesId] = entry = (p.Pages, []);
                Charged += p.Pages;
            }
            entry.Holders.Add(holder);
        }
    }

    public void Release(string holder, IEnumerable<string> pagesIds)
    {
        foreach (var id in pagesIds)
        {
            if (!_pages.TryGetValue(id, out var entry) || !entry.Holders.Remove(holder) || entry.Holders.Count > 0)
                continue;
            _pages.Remove(id);
            Charged -= entry.Pages;
        }
    }

    /// <summary>Make the holder's share exactly the given pages (after the holder recovered).</summary>
    public void Reconcile(string holder, IEnumerable<PagesCharge> pages)
    {
        Release(holder, _pages.Where(kv => kv.Value.Holders.Contains(holder)).Select(kv => kv.Key).ToList());
        Apply(holder, pages);
    }

    public ImmutableArray<HolderRecord> Records() => [.. _pages
        .SelectMany(kv => kv.Value.Holders.Select(h => (Holder: h, Charge: new PagesCharge(kv.Key, kv.Value.Pages))))
        .GroupBy(x => x.Holder).OrderBy(g => g.Key)
        .Select(g => new HolderRecord(g.Key, [.. g.Select(x => x.Charge).OrderBy(c => c.PagesId, StringComparer.Ordinal)]))];
}
