using System.Diagnostics.CodeAnalysis;
using System.Runtime.InteropServices;
using IommuActors.Domains.Pages;

namespace IommuActors.Domains.Ioas;

/// <summary>
/// The pinned-pages objects one table's areas use, by id, each with how many of this table's areas
/// use it: one dictionary entry a pages object (a table that also kept the counts in a second
/// dictionary paid for two). Read as a dictionary of the pages. Plain class.
/// </summary>
internal sealed class PagesInTable : IReadOnlyDictionary<string, PinnedPages>
{
    private struct Use
    {
        public PinnedPages Pages;
        public int Areas;
    }

    private readonly Dictionary<string, Use> _byId = new(StringComparer.Ordinal);

    /// <summary>One more area uses these pages; the first object seen under an id stays the one kept.</summary>
    public void AddUser(PinnedPages pages)
    {
        ref var use = ref CollectionsMarshal.GetValueRefOrAddDefault(_byId, pages.Id, out var existed);
        if (!existed)
            use.Pages = pages;
        use.Areas++;
    }

    /// <summary>One area less uses the pages of this id; the last one gone takes them out of the table.</summary>
    public void RemoveUser(string id)
    {
        ref var use = ref CollectionsMarshal.GetValueRefOrNullRef(_byId, id);
        if (System.Runtime.CompilerServices.Unsafe.IsNullRef(ref use))
            return;
        if (--use.Areas == 0)
            _byId.Remove(id);
    }

    public PinnedPages this[string key] => _byId[key].Pages;
    public IEnumerable<string> Keys => _byId.Keys;
    public IEnumerable<PinnedPages> Values => _byId.Values.Select(u => u.Pages);
    public int Count => _byId.Count;
    public bool ContainsKey(string key) => _byId.ContainsKey(key);

    public bool TryGetValue(string key, [MaybeNullWhen(false)] out PinnedPages value)
    {
        var found = _byId.TryGetValue(key, out var use);
        value = use.Pages;
        return found;
    }

    public IEnumerator<KeyValuePair<string, PinnedPages>> GetEnumerator() =>
        _byId.Select(kv => new KeyValuePair<string, PinnedPages>(kv.Key, kv.Value.Pages)).GetEnumerator();

    System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();
}
