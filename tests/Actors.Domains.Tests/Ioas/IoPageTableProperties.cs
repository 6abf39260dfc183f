using FsCheck.Xunit;
using IommuActors.Domains.Ioas;
using IommuActors.Domains.Pages;

namespace IommuActors.Domains.Tests.Ioas;

/// <summary>
/// Random map/unmap/copy sequences on two tables of a 64-page window, with domains coming and
/// going and accesses pinning, checked against a plain list of intervals per table. The charge of
/// a table is the pages it pins, each once: the pages under every area while it has a domain, and
/// the pages under what accesses pin; the spans it holds are exactly those. Maps and copies are
/// read-only or writeable at random; a writeable copy over pages a read-only map created is EPERM.
/// </summary>
public sealed class IoPageTableProperties
{
    private const ulong Page = 4096;
    private const ulong Window = 64;
    private const ulong Limit = 40;
    private const Protection ReadWrite = Protection.Read | Protection.Write;

    /// <summary>IOVA pages [Start, Last] backed by the pages object's indexes from PagesFirst on.</summary>
    private sealed record ModelArea(ulong Start, ulong Last, string PagesId, ulong PagesFirst);

    private sealed class ModelTable
    {
        public List<ModelArea> Areas { get; } = [];
        public List<(ulong Start, ulong Last)> Pins { get; } = [];
        public bool HasDomain { get; set; }
    }

    [Property(MaxTest = 300)]
    public bool Random_sequences_agree_with_the_interval_model_and_never_overlap_or_lose_accounting(int[] raw)
    {
        var tables = new[] { NewTable(), NewTable() };
        var models = new[] { new ModelTable(), new ModelTable() };
        var next = 0;
        var writablePages = new HashSet<string>();
        for (var i = 0; i < raw.Length; i++)
        {
            var x = OperationBits.Of(raw[i], i);
            var which = (int)(x % 2);
            var (table, model) = (tables[which], models[which]);
            var kind = (x >> 1) % 9;
            var a = (ulong)((x >> 5) % Window);
            var b = (ulong)((x >> 11) % 8) + 1;
            var c = (ulong)((x >> 14) % Window);
            int expected, actual;
            switch (kind)
            {
                case 0:
                {
                    var id = $"p{next++}";
                    var writable = ((x >> 21) & 1) != 0;
                    if (writable)
                        writablePages.Add(id);
                    actual = table.Map(id, (ulong)next << 24, b * Page, writable ? ReadWrite : Protection.Read, a * Page, out _);
                    expected = ExpectMap(model, a, b, id);
                    break;
                }
                case 1:
                {
                    actual = table.Unmap(a * Page, b * 2 * Page, out var unmapped);
                    expected = ExpectUnmap(model, a, a + b * 2 - 1, out var modelUnmapped);
                    if (unmapped != modelUnmapped)
                        return false;
                    break;
                }
                case 2:
                {
                    // IOAS_COPY, into the same table or the other one.
                    var (into, intoModel) = (tables[(int)(x >> 20) % 2], models[(int)(x >> 20) % 2]);
                    actual = table.GetSlices(a * Page, b * Page, out var slices);
                    expected = ExpectSlices(model, a, a + b - 1, out var pieces);
                    if (actual == 0 && actual == expected)
                    {
                        var writeable = ((x >> 22) & 1) != 0;
                        actual = into.MapSlices(slices, writeable ? ReadWrite : Protection.Read, c * Page, out _);
                        expected = ExpectCopy(intoModel, c, pieces, writeable && pieces.Any(p => !writablePages.Contains(p.PagesId)));
                    }
                    break;
                }
                case 3:
                {
                    var id = $"p{next++}";
                    actual = table.Map(id, (ulong)next << 24, b * Page, Protection.Read, null, out var iova);
                    var picked = PickIova(model, b);
                    expected = picked is { } start ? ExpectMap(model, start, b, id) : Errno.ENOSPC;
                    if (actual == 0 && expected == 0 && iova != picked * Page)
                        return false;
                    break;
                }
                case 4:
                    actual = table.AddDomain("hwpt-1");
                    expected = ExpectAddDomain(model);
                    break;
                case 5:
                    table.RemoveDomain("hwpt-1");
                    model.HasDomain = false;
                    actual = expected = 0;
                    break;
                case 6:
                    actual = table.PinForAccess(a * Page, b * Page, write: false);
                    expected = ExpectPin(model, a, a + b - 1);
                    break;
                case 7:
                {
                    if (model.Pins.Count == 0)
                        continue;
                    var (start, last) = model.Pins[(int)(c % (ulong)model.Pins.Count)];
                    model.Pins.Remove((start, last));
                    actual = table.UnpinForAccess(start * Page, (last - start + 1) * Page);
                    expected = 0;
                    break;
                }
                default:
                {
                    actual = table.UnmapAll(out var unmapped);
                    expected = ExpectUnmap(model, 0, ulong.MaxValue / Page, out var modelUnmapped);
                    if (expected == Errno.ENOENT)
                        expected = 0;
                    if (unmapped != modelUnmapped)
                        return false;
                    break;
                }
            }
            if (actual != expected)
                return false;
            for (var t = 0; t < 2; t++)
            {
                if (!SameAreas(tables[t], models[t]) || tables[t].Account.Charged != Charged(models[t])
                    || !tables[t].HeldSpans.Select(h => (h.PagesId, h.First, h.Last)).Order().SequenceEqual(Spans(models[t]).Order()))
                    return false;
            }
        }
        // Unpinning and unmapping everything gives every charge back.
        for (var t = 0; t < 2; t++)
        {
            foreach (var (start, last) in models[t].Pins)
                tables[t].UnpinForAccess(start * Page, (last - start + 1) * Page);
            if (tables[t].UnmapAll(out _) != 0 || tables[t].Account.Charged != 0 || tables[t].AreaCount != 0)
                return false;
        }
        return true;
    }

    private static IoPageTable NewTable()
    {
        var table = new IoPageTable(new LockedMemoryAccount(Limit));
        table.SetAllowed([new IovaRange(0, Window * Page - 1)]);
        return table;
    }

    private static bool Overlaps(ModelTable model, ulong start, ulong last) =>
        model.Areas.Any(m => m.Start <= last && start <= m.Last);

    private static bool PinnedByAccess(ModelTable model, ModelArea area) =>
        model.Pins.Any(p => p.Start <= area.Last && area.Start <= p.Last);

    /// <summary>The spans a table holds: every area's while it has a domain, and each access pin's part of every area under it.</summary>
    private static List<(string PagesId, ulong First, ulong Last)> Spans(ModelTable model) =>
    [
        .. model.Areas.Where(_ => model.HasDomain).Select(m => (m.PagesId, m.PagesFirst, m.PagesFirst + m.Last - m.Start)),
        .. model.Pins.SelectMany(p => model.Areas.Where(m => m.Start <= p.Last && p.Start <= m.Last).Select(m =>
        {
            var from = Math.Max(p.Start, m.Start);
            var to = Math.Min(p.Last, m.Last);
            return (m.PagesId, m.PagesFirst + from - m.Start, m.PagesFirst + to - m.Start);
        })),
    ];

    /// <summary>Every page any span covers counts once (pages->npinned).</summary>
    private static ulong Charged(ModelTable model) => (ulong)Spans(model)
        .SelectMany(s => Enumerable.Range(0, (int)(s.Last - s.First + 1)).Select(i => (s.PagesId, s.First + (ulong)i)))
        .Distinct().Count();

    /// <summary>Apply a change to the model; refused (and undone) with ENOMEM when it pins fresh pages past the limit.</summary>
    private static int Charging(ModelTable model, Action change, Action undo)
    {
        var before = Charged(model);
        change();
        var after = Charged(model);
        if (after > before && after > Limit)
        {
            undo();
            return Errno.ENOMEM;
        }
        return 0;
    }

    /// <summary>
    /// iopt_alloc_iova in pages: the user addresses here are 16 MiB aligned, so the alignment is the
    /// length's power of two; the lowest aligned fit from page 1 on, off every area.
    /// </summary>
    private static ulong? PickIova(ModelTable model, ulong pages)
    {
        var alignment = System.Numerics.BitOperations.RoundUpToPowerOf2(pages);
        for (var start = alignment; start + pages <= Window; start += alignment)
        {
            if (!Overlaps(model, start, start + pages - 1))
                return start;
        }
        return null;
    }

    private static int ExpectMap(ModelTable model, ulong start, ulong pages, string id)
    {
        if (Overlaps(model, start, start + pages - 1))
            return Errno.EEXIST;
        var area = new ModelArea(start, start + pages - 1, id, 0);
        return Charging(model, () => model.Areas.Add(area), () => model.Areas.Remove(area));
    }

    private static int ExpectUnmap(ModelTable model, ulong start, ulong last, out ulong unmapped)
    {
        unmapped = 0;
        var touched = model.Areas.Where(m => m.Start <= last && start <= m.Last).OrderBy(m => m.Start).ToList();
        if (touched.Count == 0)
            return Errno.ENOENT;
        // Lowest first, each area whole, up to the first one sticking out of the range.
        var goes = touched.TakeWhile(m => m.Start >= start && m.Last <= last).ToList();
        if (goes.Any(m => PinnedByAccess(model, m)))
            return Errno.EBUSY;
        foreach (var m in goes)
        {
            model.Areas.Remove(m);
            unmapped += (m.Last - m.Start + 1) * Page;
        }
        return goes.Count < touched.Count ? Errno.ENOENT : 0;
    }

    private static int ExpectSlices(ModelTable model, ulong start, ulong last, out List<ModelArea> pieces)
    {
        pieces = [];
        var cursor = start;
        foreach (var m in model.Areas.Where(m => m.Start <= last && start <= m.Last).OrderBy(m => m.Start))
        {
            if (m.Start > cursor)
                return Errno.ENOENT;
            var to = Math.Min(m.Last, last);
            pieces.Add(m with { Start = cursor, Last = to, PagesFirst = m.PagesFirst + cursor - m.Start });
            cursor = to + 1;
        }
        return cursor > last ? 0 : Errno.ENOENT;
    }

    private static int ExpectCopy(ModelTable model, ulong destination, List<ModelArea> pieces, bool overReadOnlyPages)
    {
        var length = pieces.Aggregate(0UL, (sum, p) => sum + p.Last - p.Start + 1);
        if (Overlaps(model, destination, destination + length - 1))
            return Errno.EEXIST;
        if (overReadOnlyPages)
            return Errno.EPERM;
        var added = new List<ModelArea>();
        var at = destination;
        foreach (var p in pieces)
        {
            var n = p.Last - p.Start + 1;
            added.Add(p with { Start = at, Last = at + n - 1 });
            at += n;
        }
        return Charging(model, () => model.Areas.AddRange(added), () => added.ForEach(a => model.Areas.Remove(a)));
    }

    private static int ExpectAddDomain(ModelTable model) =>
        model.HasDomain ? 0 : Charging(model, () => model.HasDomain = true, () => model.HasDomain = false);

    private static int ExpectPin(ModelTable model, ulong start, ulong last)
    {
        var rc = ExpectSlices(model, start, last, out _);
        if (rc != 0)
            return rc;
        return Charging(model, () => model.Pins.Add((start, last)), () => model.Pins.RemoveAt(model.Pins.Count - 1));
    }

    private static bool SameAreas(IoPageTable table, ModelTable model)
    {
        var actual = table.Areas.Select(a => (a.Iova / Page, a.Last / Page, a.Pages.Id)).ToList();
        var expected = model.Areas.OrderBy(m => m.Start).Select(m => (m.Start, m.Last, m.PagesId)).ToList();
        if (!actual.SequenceEqual(expected))
            return false;
        // No two areas overlap: each starts after the previous one ends.
        return table.Areas.Zip(table.Areas.Skip(1)).All(p => p.Item1.Last < p.Item2.Iova);
    }
}
