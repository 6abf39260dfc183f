using IommuActors.Domains.Pages;

namespace IommuActors.Domains.Ioas;

/// <summary>
/// Cutting areas in two (iopt_cut_iova / iopt_area_split): what lets a VFIO type1 (v1) unmap take
/// a piece out of the middle of a mapping. Both halves keep the same pages, each its share of them;
/// the domains keep what they map (a cut only happens where the domains hold no large pages).
/// </summary>
public sealed partial class IoPageTable
{
    /// <summary>
    /// Cut so that each of <paramref name="iovas"/> becomes the last IOVA of an area. An IOVA that no
    /// area holds, or that is already the first or last of its area, needs nothing. A cut is EINVAL
    /// when the new area would not start on the table's alignment (in IOVA, or in its user page), when
    /// an access holds pages of the area, or when domains hold it while large pages are allowed.
    /// All or nothing here (the kernel keeps the cuts made before the one refused, which no later
    /// VFIO unmap can tell apart). <paramref name="undo"/> restores the areas as they were (only
    /// valid before any other change of those areas); <see cref="LastCharged"/> and
    /// <see cref="LastReleased"/> say how the held spans moved: the halves are held, then the whole
    /// let go, so nothing is charged or freed in the end.
    /// </summary>
    public int Cut(IReadOnlyList<ulong> iovas, out Action undo, out List<IoArea> cutAreas)
    {
        StartChange();
        var done = new List<(IoArea Whole, IoArea Left, IoArea Right)>();
        undo = () => Uncut(done);
        cutAreas = [];
        foreach (var iova in iovas)
        {
            var area = FirstAreaTouching(iova, iova);
            if (area is null || iova == area.Iova || iova == area.Last)
                continue;
            var newStart = iova + 1;
            var mask = IovaAlignment - 1;
            var startByte = area.Pages.UserAddress % PinnedPagesPageSize + area.PagesOffset + (newStart - area.Iova);
            if ((newStart & mask) != 0 || (startByte & mask) != 0 || area.AccessPins > 0 || (HasDomains && !LargePagesDisabled))
            {
                Uncut(done);
                StartChange();
                undo = () => { };
                return Errno.EINVAL;
            }
            var left = new IoArea(area.Iova, newStart - area.Iova, area.Pages, area.PagesOffset, area.Protection);
            var right = new IoArea(newStart, area.Last - iova, area.Pages, area.PagesOffset + left.Length, area.Protection);
            _areas.Remove(area);
            _areas.Add(left);
            _areas.Add(right);
            area.Pages.AddUser();
            _pages.AddUser(area.Pages);
            if (HasDomains)
            {
                Hold([SpanOf(left), SpanOf(right)]);
                Unhold([SpanOf(area)]);
            }
            done.Add((area, left, right));
        }
        cutAreas = [.. done.Select(d => d.Whole)];
        return 0;
    }

    private void Uncut(List<(IoArea Whole, IoArea Left, IoArea Right)> done)
    {
        for (var i = done.Count - 1; i >= 0; i--)
        {
            var (whole, left, right) = done[i];
            _areas.Remove(left);
            _areas.Remove(right);
            _areas.Add(whole);
            whole.Pages.RemoveUser();
            _pages.RemoveUser(whole.Pages.Id);
            if (HasDomains)
            {
                Hold([SpanOf(whole)]);
                Unhold([SpanOf(left), SpanOf(right)]);
            }
        }
        done.Clear();
    }
}
