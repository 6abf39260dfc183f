using FsCheck.Xunit;
using IommuActors.Domains.Ioas;
using IommuActors.Domains.Pages;

namespace IommuActors.Domains.Tests.Ioas;

/// <summary>
/// The blocked area index against a sorted dictionary: random adds and removes over a space of a
/// few thousand IOVAs (blocks fill, split, shrink and go), each followed by the lookups the table
/// makes (the area at or before an IOVA, the areas starting in a range, the first of them).
/// </summary>
public sealed class AreaIndexProperties
{
    private static readonly PinnedPages Pages = new("p/0", 0, 1 << 20, true);

    private static IoArea Area(ulong iova) => new(iova, 1, Pages, 0, Protection.Read);

    [Property(MaxTest = 40)]
    public bool Random_adds_and_removes_answer_as_a_sorted_dictionary(int seed, bool upwards)
    {
        var random = new Random(seed);
        var index = new AreaIndex();
        var model = new SortedDictionary<ulong, IoArea>();
        const int space = 3000;
        for (var step = 0; step < 6000; step++)
        {
            // Filling upwards first (as a VMM maps guest RAM), then at random.
            var iova = upwards && step < space ? (ulong)step * 2 : (ulong)random.Next(space) * 2;
            if (random.Next(3) > 0 || step < space / 2)
            {
                if (model.ContainsKey(iova))
                {
                    if (!Throws(() => index.Add(Area(iova))))
                        return false;
                }
                else
                {
                    var a = Area(iova);
                    index.Add(a);
                    model[iova] = a;
                }
            }
            else if (index.Remove(model.GetValueOrDefault(iova) ?? Area(iova)) != model.Remove(iova))
                return false;
            if (step % 97 == 0 && !Agrees(index, model, random))
                return false;
        }
        return Agrees(index, model, random);
    }

    [Property(MaxTest = 20)]
    public bool Built_from_a_sorted_list_it_answers_as_one_filled_area_by_area(int seed)
    {
        var random = new Random(seed);
        var model = new SortedDictionary<ulong, IoArea>();
        for (var i = 0; i < 1500; i++)
            model.TryAdd((ulong)random.Next(5000), Area((ulong)random.Next(5000)));
        var sorted = model.Keys.Select(Area).ToList();
        var built = AreaIndex.FromSorted(sorted);
        var rebuilt = new SortedDictionary<ulong, IoArea>(sorted.ToDictionary(a => a.Iova));
        // And it keeps working after changes.
        foreach (var a in sorted.Where((_, i) => i % 3 == 0))
        {
            built.Remove(a);
            rebuilt.Remove(a.Iova);
        }
        foreach (var iova in Enumerable.Range(0, 300).Select(_ => (ulong)random.Next(5000)).Distinct().Where(i => !rebuilt.ContainsKey(i)))
        {
            var a = Area(iova);
            built.Add(a);
            rebuilt[iova] = a;
        }
        return Agrees(built, rebuilt, random);
    }

    [Property]
    public bool An_unsorted_list_is_refused(ulong a, ulong b) =>
        a >= b ? Throws(() => AreaIndex.FromSorted([Area(a), Area(b)])) : AreaIndex.FromSorted([Area(a), Area(b)]).Count == 2;

    private static bool Agrees(AreaIndex index, SortedDictionary<ulong, IoArea> model, Random random)
    {
        if (index.Count != model.Count || !index.SequenceEqual(model.Values))
            return false;
        for (var k = 0; k < 30; k++)
        {
            var first = (ulong)random.Next(6100);
            var last = first + (ulong)random.Next(400);
            var floor = model.Where(kv => kv.Key <= first).Select(kv => kv.Value).LastOrDefault();
            var between = model.Where(kv => kv.Key >= first && kv.Key <= last).Select(kv => kv.Value).ToList();
            if (!ReferenceEquals(index.Floor(first), floor) || !index.Between(first, last).SequenceEqual(between)
                || !ReferenceEquals(index.FirstBetween(first, last), between.FirstOrDefault()))
                return false;
        }
        return !index.Between(5, 4).Any() && ReferenceEquals(index.Floor(ulong.MaxValue), model.Values.LastOrDefault());
    }

    private static bool Throws(Action action)
    {
        try
        {
            action();
            return false;
        }
        catch (Exception e) when (e is InvalidOperationException or ArgumentException)
        {
            return true;
        }
    }
}
