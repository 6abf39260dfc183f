namespace IommuActors.Domains.Pages;

/// <summary>
/// The page indexes of one pinned-pages object that are held, as the kernel's two interval trees
/// of an iopt_pages keep them (domains_itree, access_itree): a multiset of inclusive index spans,
/// one per holder of a range, where an index counts as pinned, and is charged, once however many
/// spans cover it. Plain class.
/// </summary>
public sealed class PinnedSpans
{
    private readonly List<(ulong First, ulong Last)> _spans = [];

    /// <summary>Indexes covered by at least one span: the pages pinned and charged (the kernel's npinned).</summary>
    public ulong Covered { get; private set; }

    public int Count => _spans.Count;

    public IReadOnlyList<(ulong First, ulong Last)> Spans => _spans;

    /// <summary>Hold [first, last] once more; answers how many of its pages were not held before.</summary>
    public ulong Add(ulong first, ulong last)
    {
        var fresh = Uncovered(first, last);
        _spans.Add((first, last));
        Covered += fresh;
        return fresh;
    }

    /// <summary>Let one holding of exactly [first, last] go; answers how many pages nothing holds any more (false when no such span is held).</summary>
    public bool Remove(ulong first, ulong last, out ulong freed)
    {
        freed = 0;
        var at = _spans.IndexOf((first, last));
        if (at < 0)
            return false;
        _spans.RemoveAt(at);
        freed = Uncovered(first, last);
        Covered -= freed;
        return true;
    }

    /// <summary>How many indexes of [first, last] no span covers.</summary>
    public ulong Uncovered(ulong first, ulong last)
    {
        var total = last - first + 1;
        var overlapping = _spans.Where(s => s.First <= last && first <= s.Last)
            .Select(s => (First: Math.Max(s.First, first), Last: Math.Min(s.Last, last)))
            .OrderBy(s => s.First).ToList();
        ulong covered = 0;
        ulong? next = null;
        foreach (var (from, to) in overlapping)
        {
            var start = next is { } n && n > from ? n : from;
            if (next is { } m && m > to)
                continue;
            covered += to - start + 1;
            next = to + 1;
        }
        return total - covered;
    }
}
