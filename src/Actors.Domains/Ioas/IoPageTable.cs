using IommuActors.Domains.Pages;
using PageSpan = IommuActors.Domains.Pages.AccountProtocol.PageSpan;

namespace IommuActors.Domains.Ioas;

/// <summary>Read/write permissions of an area (IOMMU_IOAS_MAP_READABLE / _WRITEABLE).</summary>
[Flags]
public enum Protection
{
    None = 0,
    Read = 1,
    Write = 2,
}

/// <summary>An inclusive IOVA range [Start, Last], as the kernel's interval trees keep them.</summary>
public readonly record struct IovaRange(ulong Start, ulong Last)
{
    public bool Overlaps(ulong start, ulong last) => Start <= last && start <= Last;
}

/// <summary>One mapped area: IOVA range backed by [PagesOffset, PagesOffset+Length) of a PinnedPages.</summary>
public sealed class IoArea(ulong iova, ulong length, PinnedPages pages, ulong pagesOffset, Protection protection)
{
    public ulong Iova { get; } = iova;
    public ulong Length { get; } = length;
    public ulong Last => Iova + Length - 1;
    public PinnedPages Pages { get; } = pages;
    public ulong PagesOffset { get; } = pagesOffset;
    public Protection Protection { get; } = protection;

    /// <summary>How many access pins hold this area (the kernel's area->num_accesses).</summary>
    public int AccessPins { get; internal set; }
}

/// <summary>A piece of pinned pages handed from a copy source to its destination.</summary>
public readonly record struct PagesSlice(PinnedPages Pages, ulong Offset, ulong Length);

/// <summary>
/// The io_pagetable: non-overlapping areas keyed by IOVA, reserved ranges by owner, allowed ranges,
/// and the IOVA alignment raised by owners. Every operation answers the kernel's errno in the
/// kernel's order and changes nothing when it fails.
/// </summary>
public sealed partial class IoPageTable(LockedMemoryAccount account)
{
    public const ulong MaxIova = ulong.MaxValue;

    private AreaIndex _areas = new();
    private readonly List<(IovaRange Range, string Owner)> _reserved = [];
    private readonly Dictionary<string, ulong> _alignments = new();
    private readonly PagesInTable _pages = new();
    private List<IovaRange> _allowed = [];

    public LockedMemoryAccount Account { get; } = account;
    public bool LargePagesDisabled { get; private set; }
    public int AreaCount => _areas.Count;
    public IReadOnlyCollection<IoArea> Areas => _areas;
    public IReadOnlyList<IovaRange> Allowed => _allowed;
    public IEnumerable<(IovaRange Range, string Owner)> Reserved => _reserved;
    public IReadOnlyDictionary<string, ulong> AlignmentOwners => _alignments;
    public IReadOnlyDictionary<string, PinnedPages> PinnedPages => _pages;

    /// <summary>
    /// iopt_calculate_iova_alignment: 1 for a fresh table, PAGE_SIZE once huge pages are disabled
    /// (every map is then done page by page), and never below what an attached owner raised.
    /// </summary>
    public ulong IovaAlignment => Math.Max(BaseAlignment, _alignments.Count == 0 ? 1 : _alignments.Values.Max());

    private ulong BaseAlignment => LargePagesDisabled ? PinnedPagesPageSize : 1;

    /// <summary>Map user memory: the pages are created, then an area refers to them; they are pinned and charged once, when a domain needs them.</summary>
    public int Map(string pagesId, ulong userAddress, ulong length, Protection protection, ulong? fixedIova, out ulong iova)
    {
        iova = 0;
        // iopt_alloc_user_pages: an empty or wrapping user range is refused before any IOVA work.
        if (length == 0)
            return Errno.EINVAL;
        if (userAddress > ulong.MaxValue - length)
            return Errno.EOVERFLOW;
        if (_pages.ContainsKey(pagesId))
            return Errno.EEXIST;
        var pages = new PinnedPages(pagesId, userAddress, length, (protection & Protection.Write) != 0);
        return MapSlices([new PagesSlice(pages, 0, length)], protection, fixedIova, out iova);
    }

    /// <summary>Map pieces of existing pages contiguously (IOAS_COPY's destination side, iopt_map_pages).</summary>
    public int MapSlices(IReadOnlyList<PagesSlice> slices, Protection protection, ulong? fixedIova, out ulong iova)
    {
        iova = 0;
        StartChange();
        if ((protection & (Protection.Read | Protection.Write)) == 0)
            return Errno.EINVAL;
        ulong length = 0;
        foreach (var s in slices)
            length += s.Length;
        if (length == 0)
            return Errno.EINVAL;
        // iopt_alloc_area_pages: the length honours the table's alignment, whoever picks the IOVA.
        if ((length & (IovaAlignment - 1)) != 0)
            return Errno.EINVAL;
        var first = slices[0];
        var userAddress = first.Pages.UserAddress + first.Offset;
        var rc = fixedIova is { } want ? CheckFixedIova(want, length) : AllocateIova(userAddress, length, out want);
        if (rc != 0)
            return rc;
        // iopt_insert_area, slice by slice: a writeable area over pages pinned read-only is EPERM,
        // then the area's offset in its first user page must honour the alignment too (EINVAL).
        var mask = IovaAlignment - 1;
        foreach (var s in slices)
        {
            if ((protection & Protection.Write) != 0 && !s.Pages.Writable)
                return Errno.EPERM;
            if (((s.Pages.UserAddress + s.Offset) % PinnedPagesPageSize & mask) != 0)
                return Errno.EINVAL;
        }

        // iopt_area_fill_domains: only a table with domains pins (and charges) what it maps, page by page.
        if (HasDomains)
        {
            rc = Hold([.. slices.Select(s => SpanOf(s.Pages, s.Offset, s.Length))]);
            if (rc != 0)
                return rc;
        }
        foreach (var s in slices)
            _pages.AddUser(s.Pages);

        var at = want;
        foreach (var s in slices)
        {
            _areas.Add(new IoArea(at, s.Length, s.Pages, s.Offset, protection));
            s.Pages.AddUser();
            at += s.Length;
        }
        iova = want;
        return 0;
    }

    /// <summary>
    /// A snapshot's areas into this empty table in one go (sorted, disjoint, as a table held them):
    /// the tree is built from the sorted list rather than one insert at a time. No domain yet, so
    /// nothing is pinned; the limits set over the areas come after.
    /// </summary>
    public void RestoreAreas(List<IoArea> sorted)
    {
        if (_areas.Count != 0 || HasDomains)
            throw new InvalidOperationException("areas are restored into an empty table without domains");
        for (var i = 1; i < sorted.Count; i++)
            if (sorted[i].Iova <= sorted[i - 1].Last)
                throw new ArgumentException("restored areas overlap or are out of order", nameof(sorted));
        _areas = AreaIndex.FromSorted(sorted);
        foreach (var a in sorted)
        {
            _pages.AddUser(a.Pages);
            a.Pages.AddUser();
        }
    }

    /// <summary>iopt_check_iova: alignment, overflow, reserved (EINVAL), then existing areas (EEXIST).</summary>
    private int CheckFixedIova(ulong iova, ulong length)
    {
        if ((iova & (IovaAlignment - 1)) != 0)
            return Errno.EINVAL;
        if (iova > ulong.MaxValue - (length - 1))
            return Errno.EOVERFLOW;
        var last = iova + length - 1;
        if (_reserved.Any(r => r.Range.Overlaps(iova, last)))
            return Errno.EINVAL;
        if (FirstAreaTouching(iova, last) is not null)
            return Errno.EEXIST;
        return 0;
    }

    /// <summary>
    /// iopt_alloc_iova: the IOVA is aligned to the length's power of two, capped by the lowest set bit
    /// of the user address and by the huge page size (EOVERFLOW for a length of half the space or
    /// more, EINVAL when that alignment is below the table's); it keeps the user address's offset in
    /// its page, never starts in the first page nor ends in the last, and is the lowest fit in the
    /// allowed spans off reserved ranges and areas (ENOSPC).
    /// </summary>
    private int AllocateIova(ulong userAddress, ulong length, out ulong iova)
    {
        iova = 0;
        if (length == 0 || length >= ulong.MaxValue / 2)
            return Errno.EOVERFLOW;
        var alignment = RoundUpPowerOfTwo(length);
        if (userAddress != 0)
            alignment = Math.Min(alignment, userAddress & (~userAddress + 1));
        if (alignment >= HugePageSize)
            alignment = HugePageSize;
        if (alignment < IovaAlignment)
            return Errno.EINVAL;
        var pageOffset = userAddress % PinnedPagesPageSize;

        foreach (var span in AllowedSpans())
        {
            // The allowed span is first trimmed to its first aligned start, then searched for holes.
            var from = span.Start;
            if (!TryAlign(ref from, span.Last, length, alignment, pageOffset))
                continue;
            foreach (var hole in UnusedHoles(from, span.Last))
            {
                var at = hole.Start;
                if (TryAlign(ref at, hole.Last, length, alignment, pageOffset))
                {
                    iova = at;
                    return 0;
                }
            }
        }
        return Errno.ENOSPC;
    }

    private const ulong PinnedPagesPageSize = Pages.PinnedPages.PageSize;

    /// <summary>HPAGE_SIZE with transparent huge pages: the largest alignment an automatic IOVA is given.</summary>
    public const ulong HugePageSize = 2UL << 20;

    /// <summary>__alloc_iova_check_range: align up, put the page offset back, and the range must still fit before last.</summary>
    private static bool TryAlign(ref ulong start, ulong last, ulong length, ulong alignment, ulong pageOffset)
    {
        if (start > ulong.MaxValue - (alignment - 1))
            return false;
        var aligned = ((start + alignment - 1) & ~(alignment - 1)) | pageOffset;
        if (aligned >= last || last - aligned < length - 1)
            return false;
        start = aligned;
        return true;
    }

    /// <summary>The allowed ranges merged where they touch, within [PAGE_SIZE, ULONG_MAX - PAGE_SIZE]; all of it when none are set.</summary>
    private IEnumerable<IovaRange> AllowedSpans()
    {
        const ulong low = PinnedPagesPageSize, high = MaxIova - PinnedPagesPageSize;
        if (_allowed.Count == 0)
        {
            yield return new IovaRange(low, high);
            yield break;
        }
        IovaRange? run = null;
        foreach (var a in _allowed)
        {
            if (a.Last < low || a.Start > high)
                continue;
            var clipped = new IovaRange(Math.Max(a.Start, low), Math.Min(a.Last, high));
            if (run is { } r && r.Last + 1 >= clipped.Start)
                run = new IovaRange(r.Start, Math.Max(r.Last, clipped.Last));
            else
            {
                if (run is { } done)
                    yield return done;
                run = clipped;
            }
        }
        if (run is { } tail)
            yield return tail;
    }

    /// <summary>The holes of [start, last] covered by neither a reserved range nor an area, lowest first.</summary>
    private IEnumerable<IovaRange> UnusedHoles(ulong start, ulong last)
    {
        var blocked = _reserved.Select(r => r.Range).Where(r => r.Overlaps(start, last)).OrderBy(r => r.Start).ToList();
        var areas = AreasFrom(start, last).GetEnumerator();
        var hasArea = areas.MoveNext();
        var reservedAt = 0;
        var cursor = start;
        while (true)
        {
            IovaRange next;
            if (hasArea && (reservedAt == blocked.Count || areas.Current.Iova <= blocked[reservedAt].Start))
            {
                next = new IovaRange(areas.Current.Iova, areas.Current.Last);
                hasArea = areas.MoveNext();
            }
            else if (reservedAt < blocked.Count)
                next = blocked[reservedAt++];
            else
                break;
            if (next.Last < cursor)
                continue;
            if (next.Start > cursor)
                yield return new IovaRange(cursor, next.Start - 1);
            if (next.Last >= last)
                yield break;
            cursor = next.Last + 1;
        }
        yield return new IovaRange(cursor, last);
    }

    /// <summary>Areas touching [start, last] in IOVA order, read lazily from the tree.</summary>
    private IEnumerable<IoArea> AreasFrom(ulong start, ulong last)
    {
        if (_areas.Count == 0)
            yield break;
        var before = _areas.Floor(start);
        if (before is not null && before.Last >= start)
            yield return before;
        if (start == MaxIova || start == last)
            yield break;
        foreach (var area in _areas.Between(start + 1, last))
            yield return area;
    }

    private static IEnumerable<IovaRange> SubtractBlocked(IovaRange range, List<IovaRange> blocked)
    {
        var cursor = range.Start;
        foreach (var b in blocked)
        {
            if (b.Last < cursor || b.Start > range.Last)
                continue;
            if (b.Start > cursor)
                yield return new IovaRange(cursor, b.Start - 1);
            if (b.Last >= range.Last)
                yield break;
            cursor = b.Last + 1;
        }
        yield return new IovaRange(cursor, range.Last);
    }

    private static ulong RoundUpPowerOfTwo(ulong value)
    {
        if (value > 1UL << 63)
            return 1UL << 63;
        return System.Numerics.BitOperations.RoundUpToPowerOf2(value);
    }

    private IoArea? FirstAreaTouching(ulong start, ulong last)
    {
        if (_areas.Count == 0)
            return null;
        var before = _areas.Floor(start);
        if (before is not null && before.Last >= start)
            return before;
        if (start == MaxIova || start == last)
            return null;
        return _areas.FirstBetween(start + 1, last);
    }

    /// <summary>Areas touching [start, last], in IOVA order.</summary>
    public List<IoArea> AreasTouching(ulong start, ulong last)
    {
        var found = new List<IoArea>();
        if (_areas.Count == 0)
            return found;
        var before = _areas.Floor(start);
        if (before is not null && before.Last >= start)
            found.Add(before);
        // A one-byte range has nothing after its start.
        if (start < MaxIova && start < last)
            found.AddRange(_areas.Between(start + 1, last));
        return found;
    }

    /// <summary>
    /// iopt_unmap_iova: length 0 is EINVAL, a wrapping range EOVERFLOW; nothing mapped in the range is
    /// ENOENT. Then the areas go lowest first, each whole, until one sticks out of the range: that one
    /// stops the unmap with ENOENT, and the areas before it stay unmapped (<paramref name="unmapped"/>
    /// counts them). An access holding pages of an area that would go makes it EBUSY before anything
    /// goes (the IOAS asks the accesses to let go and tries again).
    /// </summary>
    public int Unmap(ulong iova, ulong length, out ulong unmapped)
    {
        unmapped = 0;
        if (length == 0)
            return Errno.EINVAL;
        if (iova > ulong.MaxValue - (length - 1))
            return Errno.EOVERFLOW;
        return UnmapRange(iova, iova + length - 1, out unmapped);
    }

    /// <summary>iopt_unmap_all: everything goes; an empty table is not an error.</summary>
    public int UnmapAll(out ulong unmapped)
    {
        var rc = UnmapRange(0, MaxIova, out unmapped);
        return rc == Errno.ENOENT ? 0 : rc;
    }

    /// <summary>The areas an unmap of [start, last] would remove that accesses still hold.</summary>
    public List<IoArea> PinnedAreasIn(ulong start, ulong last) =>
        AreasTouching(start, last).Where(a => a.AccessPins > 0).ToList();

    private int UnmapRange(ulong start, ulong last, out ulong unmapped)
    {
        unmapped = 0;
        StartChange();
        var touched = AreasTouching(start, last);
        if (touched.Count == 0)
            return Errno.ENOENT;
        var whole = UnmapPrefix(touched, start, last);
        if (whole.Any(a => a.AccessPins > 0))
            return Errno.EBUSY;
        foreach (var area in whole)
        {
            _areas.Remove(area);
            unmapped += area.Length;
            area.Pages.RemoveUser();
            // iopt_area_unfill_domains: the area's pages no other span holds are unpinned and given back.
            if (HasDomains)
                Unhold([SpanOf(area)]);
            _pages.RemoveUser(area.Pages.Id);
        }
        return whole.Count < touched.Count ? Errno.ENOENT : 0;
    }

    /// <summary>The areas an unmap of [start, last] removes: from the lowest, those wholly inside, up to the first that sticks out.</summary>
    public static List<IoArea> UnmapPrefix(List<IoArea> touched, ulong start, ulong last) =>
        [.. touched.TakeWhile(a => a.Iova >= start && a.Last <= last)];

    /// <summary>
    /// iopt_get_pages (IOAS_COPY's source side): [iova, iova+length) must be covered by contiguous
    /// areas (ENOENT otherwise); answers the pieces of pinned pages behind it.
    /// </summary>
    public int GetSlices(ulong iova, ulong length, out List<PagesSlice> slices)
    {
        slices = [];
        if (length == 0)
            return Errno.EINVAL;
        if (iova > ulong.MaxValue - (length - 1))
            return Errno.EOVERFLOW;
        var last = iova + length - 1;
        var cursor = iova;
        foreach (var area in AreasTouching(iova, last))
        {
            if (area.Iova > cursor)
                return Errno.ENOENT;
            var from = cursor - area.Iova;
            var to = Math.Min(area.Last, last);
            slices.Add(new PagesSlice(area.Pages, area.PagesOffset + from, to - cursor + 1));
            if (to == last)
                return 0;
            cursor = to + 1;
        }
        slices = [];
        return Errno.ENOENT;
    }

    /// <summary>IOAS_ALLOW_IOVAS: ranges must be well formed and disjoint (EINVAL) and clear of every reservation (EADDRINUSE).</summary>
    public int SetAllowed(IReadOnlyList<IovaRange> ranges)
    {
        var sorted = ranges.OrderBy(r => r.Start).ToList();
        for (var i = 0; i < sorted.Count; i++)
        {
            if (sorted[i].Start > sorted[i].Last)
                return Errno.EINVAL;
            if (i > 0 && sorted[i - 1].Last >= sorted[i].Start)
                return Errno.EINVAL;
        }
        foreach (var r in sorted)
        {
            if (_reserved.Any(x => x.Range.Overlaps(r.Start, r.Last)))
                return Errno.EADDRINUSE;
        }
        _allowed = sorted;
        return 0;
    }

    /// <summary>iopt_reserve_iova: a reservation may not cover an area or an allowed range (EADDRINUSE).</summary>
    public int AddReserved(string owner, IReadOnlyList<IovaRange> ranges)
    {
        foreach (var r in ranges)
        {
            if (r.Start > r.Last)
                return Errno.EINVAL;
            if (FirstAreaTouching(r.Start, r.Last) is not null)
                return Errno.EADDRINUSE;
            if (_allowed.Any(a => a.Overlaps(r.Start, r.Last)))
                return Errno.EADDRINUSE;
        }
        foreach (var r in ranges)
            _reserved.Add((r, owner));
        return 0;
    }

    /// <summary>iopt_remove_reserved_iova: an owner's reservations go all at once.</summary>
    public void RemoveReserved(string owner) => _reserved.RemoveAll(r => r.Owner == owner);

    /// <summary>
    /// iopt_check_iova_alignment: the alignment is a power of two (EINVAL), and raising it over
    /// areas that would violate it is EADDRINUSE.
    /// </summary>
    public int SetAlignment(string owner, ulong alignment)
    {
        if (alignment == 0 || (alignment & (alignment - 1)) != 0)
            return Errno.EINVAL;
        if (AnyAreaMisaligned(Math.Max(alignment, IovaAlignmentWithout(owner))))
            return Errno.EADDRINUSE;
        _alignments[owner] = alignment;
        return 0;
    }

    public void RemoveAlignment(string owner) => _alignments.Remove(owner);

    private ulong IovaAlignmentWithout(string owner) =>
        Math.Max(BaseAlignment, _alignments.Where(kv => kv.Key != owner).Select(kv => kv.Value).DefaultIfEmpty(1UL).Max());

    /// <summary>iopt_check_iova_alignment: an area's IOVA, length and offset in its first user page must all honour the alignment.</summary>
    private bool AnyAreaMisaligned(ulong alignment)
    {
        var mask = alignment - 1;
        if (mask == 0)
            return false;
        foreach (var a in _areas)
        {
            var pageOffset = (a.Pages.UserAddress + a.PagesOffset) % PinnedPagesPageSize;
            if ((a.Iova & mask) != 0 || (a.Length & mask) != 0 || (pageOffset & mask) != 0)
                return true;
        }
        return false;
    }

    /// <summary>
    /// IOMMU_OPTION_HUGE_PAGES (iopt_enable_large_pages / iopt_disable_large_pages): enabling always
    /// succeeds; disabling is EINVAL only while domains already hold areas, and EADDRINUSE when an
    /// area cannot honour the PAGE_SIZE alignment it brings.
    /// </summary>
    public int SetLargePages(bool enabled)
    {
        if (enabled || LargePagesDisabled)
        {
            LargePagesDisabled = !enabled;
            return 0;
        }
        if (HasDomains && _areas.Count > 0)
            return Errno.EINVAL;
        if (IovaAlignment < PinnedPagesPageSize && AnyAreaMisaligned(PinnedPagesPageSize))
            return Errno.EADDRINUSE;
        LargePagesDisabled = true;
        return 0;
    }

    /// <summary>IOAS_IOVA_RANGES: the holes between reserved ranges over the whole IOVA space.</summary>
    public List<IovaRange> UsableRanges() =>
        SubtractBlocked(new IovaRange(0, MaxIova), _reserved.Select(r => r.Range).OrderBy(r => r.Start).ToList())
            .Where(r => r.Start <= r.Last).ToList();

    /// <summary>An access pins [iova, iova+length): contiguous areas must cover it (ENOENT), with the permission asked (EPERM).</summary>
    public int PinForAccess(ulong iova, ulong length, bool write)
    {
        if (length == 0)
            return Errno.EINVAL;
        if (iova > ulong.MaxValue - (length - 1))
            return Errno.EOVERFLOW;
        var rc = GetSlices(iova, length, out _);
        if (rc != 0)
            return rc;
        var areas = AreasTouching(iova, iova + length - 1);
        if (write && areas.Any(a => (a.Protection & Protection.Write) == 0))
            return Errno.EPERM;
        // iopt_area_add_access: the pages under the access that nothing holds yet are pinned and charged.
        StartChange();
        rc = Hold(AccessSpans(areas, iova, iova + length - 1));
        if (rc != 0)
            return rc;
        foreach (var a in areas)
            a.AccessPins++;
        return 0;
    }

    /// <summary>An access lets go of a range it pinned before; ENOENT if nothing there was pinned.</summary>
    public int UnpinForAccess(ulong iova, ulong length)
    {
        if (length == 0 || iova > ulong.MaxValue - (length - 1))
            return Errno.EINVAL;
        var areas = AreasTouching(iova, iova + length - 1);
        if (areas.Count == 0 || areas.Any(a => a.AccessPins == 0))
            return Errno.ENOENT;
        // iopt_area_remove_access: what no domain or other access holds is unpinned.
        StartChange();
        Unhold(AccessSpans(areas, iova, iova + length - 1));
        foreach (var a in areas)
            a.AccessPins--;
        return 0;
    }

    /// <summary>The owners of the domains filled from this table (the kernel's iopt->domains).</summary>
    public IReadOnlyCollection<string> DomainOwners => _domains;

    /// <summary>While a domain is attached every area's pages are pinned; without one only what accesses pin is.</summary>
    public bool HasDomains => _domains.Count > 0;

    /// <summary>Every span this table holds (an area's while domains exist, an access's pin), with repeats: what it has charged.</summary>
    public IEnumerable<PageSpan> HeldSpans => _pins.SelectMany(kv => kv.Value.Spans.Select(s => new PageSpan(kv.Key, s.First, s.Last)));

    /// <summary>The spans the last operation took and let go of (empty when it failed); the shared account is told exactly these.</summary>
    public IReadOnlyList<PageSpan> LastCharged => _lastCharged;
    public IReadOnlyList<PageSpan> LastReleased => _lastReleased;

    /// <summary>What filling a first domain would hold: every area's span (nothing once a domain exists).</summary>
    public List<PageSpan> PagesToPinForDomain() => HasDomains ? [] : [.. _areas.Select(SpanOf)];

    /// <summary>
    /// iopt_table_add_domain's fill: the first domain pins and charges the pages under every area
    /// that no access pinned already, all or nothing (ENOMEM over the limit); later domains are
    /// filled from pages already pinned.
    /// </summary>
    public int AddDomain(string owner)
    {
        StartChange();
        if (_domains.Contains(owner))
            return 0;
        var rc = Hold(PagesToPinForDomain());
        if (rc != 0)
            return rc;
        _domains.Add(owner);
        return 0;
    }

    /// <summary>iopt_table_remove_domain: with the last domain gone, the pages no access holds are unpinned and their charge given back.</summary>
    public void RemoveDomain(string owner)
    {
        StartChange();
        if (!_domains.Remove(owner) || HasDomains)
            return;
        Unhold([.. _areas.Select(SpanOf)]);
    }

    private readonly HashSet<string> _domains = [];
    private readonly Dictionary<string, PinnedSpans> _pins = new();
    private readonly List<PageSpan> _lastCharged = [];
    private readonly List<PageSpan> _lastReleased = [];

    private void StartChange()
    {
        _lastCharged.Clear();
        _lastReleased.Clear();
    }

    /// <summary>The page indexes of a pinned-pages object behind [offset, offset+length) of it.</summary>
    private static PageSpan SpanOf(PinnedPages pages, ulong offset, ulong length)
    {
        var start = pages.UserAddress % PinnedPagesPageSize + offset;
        return new PageSpan(pages.Id, start / PinnedPagesPageSize, (start + length - 1) / PinnedPagesPageSize);
    }

    private static PageSpan SpanOf(IoArea a) => SpanOf(a.Pages, a.PagesOffset, a.Length);

    /// <summary>The spans an access over [first, last] holds in each area it covers (iopt_area_iova_to_index).</summary>
    private static List<PageSpan> AccessSpans(List<IoArea> areas, ulong first, ulong last) => [.. areas.Select(a =>
    {
        var from = Math.Max(first, a.Iova);
        var to = Math.Min(last, a.Last);
        return SpanOf(a.Pages, a.PagesOffset + (from - a.Iova), to - from + 1);
    })];

    /// <summary>All or nothing against the limit: only the pages no span of this table covered yet are charged.</summary>
    private int Hold(List<PageSpan> spans)
    {
        ulong fresh = 0;
        foreach (var s in spans)
        {
            if (!_pins.TryGetValue(s.PagesId, out var held))
                _pins[s.PagesId] = held = new PinnedSpans();
            fresh += held.Add(s.First, s.Last);
        }
        var rc = fresh == 0 ? 0 : Account.Charge(fresh);
        if (rc != 0)
        {
            Drop(spans);
            return rc;
        }
        _lastCharged.AddRange(spans);
        return 0;
    }

    private void Unhold(List<PageSpan> spans)
    {
        var freed = Drop(spans);
        if (freed != 0)
            Account.Uncharge(freed);
        _lastReleased.AddRange(spans);
    }

    private ulong Drop(List<PageSpan> spans)
    {
        ulong freed = 0;
        foreach (var s in spans)
        {
            if (!_pins.TryGetValue(s.PagesId, out var held) || !held.Remove(s.First, s.Last, out var f))
                continue;
            freed += f;
            if (held.Count == 0)
                _pins.Remove(s.PagesId);
        }
        return freed;
    }
}
