using System.Globalization;
using IommuActors.Core.Serialization;
using IommuActors.Domains.Pages;

namespace IommuActors.Domains.Ioas;

/// <summary>
/// An IOAS's areas as its snapshot keeps them, in IOVA order, five or six bytes for an ordinary
/// map. Per area one flags integer (protection; whether its pages were written before and are
/// named by their index; whether its pages are its own "{ioas}/{n}" ones, named by n as the
/// difference from the previous such n; whether the area covers its pages exactly, so their length
/// and the offset are implied; whether the pages are writable; whether the gap, the length and the
/// user-address step below are whole pages, written in pages), then the gap from the previous
/// area's end and the length, then either the pages' index and the offset, or the new pages: id,
/// user address as the step from the previous new pages', and unless implied their length and the
/// offset. Read back into the areas a fresh table takes in one go (IoPageTable.RestoreAreas).
/// </summary>
public static class PackedAreas
{
    private const ulong ProtectionMask = 3;
    private const ulong Seen = 1 << 2;
    private const ulong OwnId = 1 << 3;
    private const ulong Exact = 1 << 4;
    private const ulong Writable = 1 << 5;
    private const ulong InPages = 1 << 6;
    private const ulong Page = PinnedPages.PageSize;

    public static byte[] Pack(string ioasId, IReadOnlyCollection<IoArea> areas)
    {
        var prefix = ioasId + "/";
        var writer = new CompactWriter();
        writer.UInt((ulong)areas.Count);
        var seen = new Dictionary<PinnedPages, int>(ReferenceEqualityComparer.Instance);
        ulong next = 0, lastUser = 0, lastNumber = 0;
        foreach (var a in areas)
        {
            var gap = a.Iova - next;
            next = a.Iova + a.Length;
            var flags = (ulong)a.Protection & ProtectionMask;
            if (seen.TryGetValue(a.Pages, out var index))
            {
                flags |= Seen;
                if (gap % Page == 0 && a.Length % Page == 0)
                    flags |= InPages;
                Span(writer.UInt(flags), flags, gap, a.Length).UInt((ulong)index).UInt(a.PagesOffset);
                continue;
            }
            seen[a.Pages] = seen.Count;
            var own = OwnNumber(prefix, a.Pages.Id, out var number);
            var exact = a.PagesOffset == 0 && a.Pages.Length == a.Length;
            var step = (long)(a.Pages.UserAddress - lastUser);
            lastUser = a.Pages.UserAddress;
            flags |= (own ? OwnId : 0) | (exact ? Exact : 0) | (a.Pages.Writable ? Writable : 0);
            if (gap % Page == 0 && a.Length % Page == 0 && step % (long)Page == 0)
                flags |= InPages;
            Span(writer.UInt(flags), flags, gap, a.Length);
            if (own)
            {
                writer.Int((long)(number - lastNumber));
                lastNumber = number;
            }
            else
                writer.String(a.Pages.Id);
            writer.Int((flags & InPages) != 0 ? step / (long)Page : step);
            if (!exact)
                writer.UInt(a.Pages.Length).UInt(a.PagesOffset);
        }
        return writer.ToArray();
    }

    public static List<IoArea> Unpack(string ioasId, byte[] bytes)
    {
        var prefix = ioasId + "/";
        var reader = new CompactReader(bytes);
        var count = checked((int)reader.UInt());
        var areas = new List<IoArea>(count);
        var pages = new List<PinnedPages>();
        ulong next = 0, lastUser = 0, lastNumber = 0;
        for (var i = 0; i < count; i++)
        {
            var flags = reader.UInt();
            var unit = (flags & InPages) != 0 ? Page : 1;
            var iova = next + reader.UInt() * unit;
            var length = reader.UInt() * unit;
            next = iova + length;
            var protection = (Protection)(flags & ProtectionMask);
            PinnedPages p;
            ulong offset;
            if ((flags & Seen) != 0)
            {
                p = pages[checked((int)reader.UInt())];
                offset = reader.UInt();
            }
            else
            {
                string id;
                if ((flags & OwnId) != 0)
                {
                    lastNumber += (ulong)reader.Int();
                    id = prefix + lastNumber.ToString(CultureInfo.InvariantCulture);
                }
                else
                    id = reader.String();
                lastUser += (ulong)(reader.Int() * (long)unit);
                var pagesLength = length;
                offset = 0;
                if ((flags & Exact) == 0)
                {
                    pagesLength = reader.UInt();
                    offset = reader.UInt();
                }
                p = new PinnedPages(id, lastUser, pagesLength, (flags & Writable) != 0);
                pages.Add(p);
            }
            areas.Add(new IoArea(iova, length, p, offset, protection));
        }
        return areas;
    }

    private static CompactWriter Span(CompactWriter writer, ulong flags, ulong gap, ulong length) =>
        (flags & InPages) != 0 ? writer.UInt(gap / Page).UInt(length / Page) : writer.UInt(gap).UInt(length);

    /// <summary>Whether the id is "{ioas}/{n}" with n written the way the IOAS writes it (no sign, no leading zero).</summary>
    private static bool OwnNumber(string prefix, string id, out ulong number)
    {
        number = 0;
        return id.StartsWith(prefix, StringComparison.Ordinal)
            && ulong.TryParse(id.AsSpan(prefix.Length), NumberStyles.None, CultureInfo.InvariantCulture, out number)
            && (id[prefix.Length] != '0' || id.Length == prefix.Length + 1);
    }
}
