using FsCheck.Xunit;
using IommuActors.Domains.Ioas;
using IommuActors.Domains.Pages;

namespace IommuActors.Domains.Tests.Ioas;

/// <summary>Random map/unmap/copy sequences on a 64-page window, checked against a plain list of intervals.</summary>
public sealed class IoPageTableProperties
{
    private const ulong Page = 4096;
    private const ulong Window = 64;

    private sealed record ModelArea(ulong Start, ulong Last, string PagesId, ulong PagesPages);

    [Property(MaxTest = 300)]
    public bool Random_sequences_agree_with_the_interval_model_and_never_overlap_or_lose_accounting(int[] raw)
    {
        var table = new IoPageTable(new LockedMemoryAccount(40));
        table.SetAllowed([new IovaRange(0, Window * Page - 1)]);
        var model = new List<ModelArea>();
        var next = 0;
        for (var i = 0; i + 3 < raw.Length; i += 4)
        {
            var kind = (uint)raw[i] % 4;
            var a = (ulong)((uint)raw[i + 1] % Window);
            var b = (ulong)((uint)raw[i + 2] % 8) + 1;
            var c = (ulong)((uint)raw[i + 3] % Window);
            int expected, actual;
            switch (kind)
            {
                case 0:
                {
                    var id = $"p{next++}";
                    actual = table.Map(id, (ulong)next << 24, b * Page, Protection.Read, a * Page, out _);
                    expected = ExpectMap(model, a, b, id, b);
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
                    actual = table.GetSlices(a * Page, b * Page, out var slices);
                    expected = ExpectSlices(model, a, a + b - 1, out var pieces);
                    if (actual == 0 && actual == expected)
                    {
                        actual = table.MapSlices(slices, Protection.Read, c * Page, out _);
                        expected = ExpectCopy(model, c, pieces);
                    }
                    break;
                }
                default:
                {
                    var id = $"p{next++}";
                    actual = table.Map(id, (ulong)next << 24, b * Page, Protection.Read, null, out var iova);
                    expected = actual;
                    if (actual == 0)
                    {
                        var start = iova / Page;
                        if (iova % Page != 0 || start + b > Window || Overlaps(model, start, start + b - 1))
                            return false;
                        model.Add(new ModelArea(start, start + b - 1, id, b));
                    }
                    else if (actual != Errno.ENOSPC && actual != Errno.ENOMEM)
                        return false;
                    break;
                }
            }
            if (actual != expected || !SameAreas(table, model) || table.Account.Charged != Charged(model))
                return false;
        }
        return true;
    }

    private static bool Overlaps(List<ModelArea> model, ulong start, ulong last) =>
        model.Any(m => m.Start <= last && start <= m.Last);

    private static ulong Charged(List<ModelArea> model) =>
        model.DistinctBy(m => m.PagesId).Aggregate(0UL, (sum, m) => sum + m.PagesPages);

    private static int ExpectMap(List<ModelArea> model, ulong start, ulong pages, string id, ulong pagesPages)
    {
        if (Overlaps(model, start, start + pages - 1))
            return Errno.EEXIST;
        if (Charged(model) + pagesPages > 40)
            return Errno.ENOMEM;
        model.Add(new ModelArea(start, start + pages - 1, id, pagesPages));
        return 0;
    }

    private static int ExpectUnmap(List<ModelArea> model, ulong start, ulong last, out ulong unmapped)
    {
        unmapped = 0;
        var touched = model.Where(m => m.Start <= last && start <= m.Last).ToList();
        if (touched.Count == 0 || touched.Any(m => m.Start < start || m.Last > last))
            return Errno.ENOENT;
        foreach (var m in touched)
        {
            model.Remove(m);
            unmapped += (m.Last - m.Start + 1) * Page;
        }
        return 0;
    }

    private static int ExpectSlices(List<ModelArea> model, ulong start, ulong last, out List<ModelArea> pieces)
    {
        pieces = [];
        var cursor = start;
        foreach (var m in model.Where(m => m.Start <= last && start <= m.Last).OrderBy(m => m.Start))
        {
            if (m.Start > cursor)
                return Errno.ENOENT;
            var to = Math.Min(m.Last, last);
            pieces.Add(m with { Start = cursor, Last = to });
            cursor = to + 1;
        }
        return cursor > last ? 0 : Errno.ENOENT;
    }

    private static int ExpectCopy(List<ModelArea> model, ulong destination, List<ModelArea> pieces)
    {
        var length = pieces.Aggregate(0UL, (sum, p) => sum + p.Last - p.Start + 1);
        if (Overlaps(model, destination, destination + length - 1))
            return Errno.EEXIST;
        var at = destination;
        foreach (var p in pieces)
        {
            var n = p.Last - p.Start + 1;
            model.Add(p with { Start = at, Last = at + n - 1 });
            at += n;
        }
        return 0;
    }

    private static bool SameAreas(IoPageTable table, List<ModelArea> model)
    {
        var actual = table.Areas.Select(a => (a.Iova / Page, a.Last / Page, a.Pages.Id)).ToList();
        var expected = model.OrderBy(m => m.Start).Select(m => (m.Start, m.Last, m.PagesId)).ToList();
        if (!actual.SequenceEqual(expected))
            return false;
        // No two areas overlap: each starts after the previous one ends.
        return table.Areas.Zip(table.Areas.Skip(1)).All(p => p.Item1.Last < p.Item2.Iova);
    }
}
