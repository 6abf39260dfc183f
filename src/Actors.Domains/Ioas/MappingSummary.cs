using IommuActors.Domains.Pages;
using static IommuActors.Domains.Ioas.IoasProtocol;

namespace IommuActors.Domains.Ioas;

/// <summary>An IOAS's mappings in a few figures, for iommuctl objects (<see cref="GetSummary"/>).</summary>
public static class MappingSummary
{
    public static Summary Of(string ioasId, IoPageTable table) =>
        new(ioasId, table.AreaCount, table.Areas.Aggregate(0ul, (sum, a) => sum + a.Length), DistinctPages(table.HeldSpans), table.Account.Charged);

    /// <summary>
    /// The pages the spans cover, each page of a pinned-pages object once: an area and an access
    /// pinning the same page hold one page of memory between them.
    /// </summary>
    public static ulong DistinctPages(IEnumerable<AccountProtocol.PageSpan> spans)
    {
        var pages = 0ul;
        foreach (var group in spans.GroupBy(s => s.PagesId))
        {
            var end = 0ul; // one past the last page counted in this object
            var any = false;
            foreach (var span in group.OrderBy(s => s.First))
            {
                var first = any ? Math.Max(span.First, end) : span.First;
                if (span.Last >= first) pages += span.Last - first + 1;
                if (!any || span.Last + 1 > end) end = span.Last + 1;
                any = true;
            }
        }
        return pages;
    }
}
