using IommuActors.Domains.Ioas;
using IommuActors.Uapi.Structs;
using Errno = IommuActors.Uapi.Errno;

namespace IommuActors.Fd.Accesses;

/// <summary>One area's share of an access range: its IOVA piece, the area's permission, the user address behind the piece's start.</summary>
public sealed record AccessPiece(ulong Iova, ulong Length, Protection Protection, ulong UserVa);

/// <summary>
/// The rules of the selftest's accesses (selftest.c's access ops over device.c's
/// iommufd_access_pin_pages and iommufd_access_rw), apart from the IOAS and the client memory
/// they act on: the argument checks, how a range falls on the IOAS's areas, which pages must match.
/// </summary>
public static class AccessRules
{
    private const ulong Page = Selftest.AccessPageSize;

    /// <summary>An access made with NEEDS_PIN_PAGES pins, and raises its IOAS's IOVA alignment to a page.</summary>
    public static bool NeedsPinPages(uint createFlags) => (createFlags & Selftest.FlagsAccessCreateNeedsPinPages) != 0;

    /// <summary>CREATE_ACCESS: NEEDS_PIN_PAGES is the only flag (EOPNOTSUPP).</summary>
    public static int CreateFlagsErrno(uint flags) => (flags & ~Selftest.FlagsAccessCreateNeedsPinPages) != 0 ? Errno.EOPNOTSUPP : 0;

    /// <summary>ACCESS_PAGES, before the fd is looked at: more than 16 MiB is ENOMEM, a flag besides WRITE and SYZ EOPNOTSUPP.</summary>
    public static int PagesArgsErrno(ulong length, uint flags) =>
        length > Selftest.AccessMaxLength ? Errno.ENOMEM
        : (flags & ~(Selftest.FlagsAccessWrite | Selftest.FlagsAccessSyz)) != 0 ? Errno.EOPNOTSUPP : 0;

    /// <summary>ACCESS_RW, before the fd is looked at: more than 16 MiB is ENOMEM, a flag besides WRITE, SLOW_PATH and SYZ EOPNOTSUPP.</summary>
    public static int RwArgsErrno(ulong length, uint flags) =>
        length > Selftest.AccessMaxLength ? Errno.ENOMEM
        : (flags & ~(Selftest.AccessRwWrite | Selftest.AccessRwSlowPath | Selftest.FlagsAccessSyz)) != 0 ? Errno.EOPNOTSUPP : 0;

    /// <summary>Zero length is EINVAL, a range past the top of the IOVA space EOVERFLOW.</summary>
    public static int RangeErrno(ulong iova, ulong length) =>
        length == 0 ? Errno.EINVAL : iova > ulong.MaxValue - (length - 1) ? Errno.EOVERFLOW : 0;

    /// <summary>
    /// MOCK_FLAGS_ACCESS_SYZ: the u64 IOVA is read as {u32 nth area, u32 offset}, and becomes that
    /// area's IOVA plus the offset (0 when there are fewer areas). Without the flag the IOVA is kept.
    /// </summary>
    public static ulong SyzIova(uint flags, ulong iova, IReadOnlyList<IoasProtocol.MappingView> areas)
    {
        if ((flags & Selftest.FlagsAccessSyz) == 0)
            return iova;
        var nth = (uint)iova;
        var offset = (uint)(iova >> 32);
        return nth < areas.Count ? areas[(int)nth].Iova + offset : 0;
    }

    /// <summary>
    /// iopt_for_each_contig_area over [iova, iova+length): the areas (in IOVA order) for as long as
    /// they follow each other without a hole, cut to the range; complete when they cover all of it.
    /// </summary>
    public static (List<(ulong Iova, ulong Length, Protection Protection)> Spans, bool Complete) Walk(
        IEnumerable<IoasProtocol.MappingView> areas, ulong iova, ulong length)
    {
        var last = iova + length - 1;
        var spans = new List<(ulong Iova, ulong Length, Protection Protection)>();
        var cursor = iova;
        foreach (var a in areas)
        {
            var areaLast = a.Iova + a.Length - 1;
            if (areaLast < cursor)
                continue;
            if (a.Iova > cursor)
                break;
            var end = Math.Min(areaLast, last);
            spans.Add((cursor, end - cursor + 1, a.Protection));
            if (end == last)
                return (spans, true);
            cursor = end + 1;
        }
        return (spans, false);
    }

    /// <summary>
    /// iommufd_access_pin_pages per area: the piece must start on a page of the user memory behind
    /// it and, unless it ends the range, end on one (EINVAL); the area must allow the access (EPERM);
    /// then the areas must cover the range (ENOENT).
    /// </summary>
    public static int PinErrno(IReadOnlyList<AccessPiece> pieces, bool complete, bool write)
    {
        for (var i = 0; i < pieces.Count; i++)
        {
            var p = pieces[i];
            var endsRange = complete && i == pieces.Count - 1;
            if (p.UserVa % Page != 0 || (!endsRange && (p.UserVa + p.Length) % Page != 0))
                return Errno.EINVAL;
            if (!p.Protection.HasFlag(write ? Protection.Write : Protection.Read))
                return Errno.EPERM;
        }
        return complete ? 0 : Errno.ENOENT;
    }

    /// <summary>
    /// iommufd_access_rw: the pieces moved before the first one without the permission, and the
    /// errno: EPERM at such a piece, else ENOENT when the areas stop short of the range.
    /// </summary>
    public static (List<AccessPiece> Moved, int Errno) RwPieces(IReadOnlyList<AccessPiece> pieces, bool complete, bool write)
    {
        var allowed = pieces.TakeWhile(p => p.Protection.HasFlag(write ? Protection.Write : Protection.Read)).ToList();
        return (allowed, allowed.Count < pieces.Count ? Errno.EPERM : complete ? 0 : Errno.ENOENT);
    }

    /// <summary>
    /// iommufd_test_check_pages: page k of the pin must be the page at uptr (moved back to the
    /// IOVA's page start) plus k pages. The first user page that does not match, or null when all
    /// do (or uptr is NULL: the selftest lets syzkaller skip the check).
    /// </summary>
    public static ulong? FirstMismatch(IReadOnlyList<AccessPiece> pieces, ulong iova, ulong length, ulong uptr)
    {
        if (uptr == 0)
            return null;
        var first = iova & ~(Page - 1);
        var count = (((iova + length - 1) & ~(Page - 1)) - first) / Page + 1;
        var userStart = unchecked(uptr - (iova - first));
        for (ulong k = 0; k < count; k++)
        {
            var user = unchecked(userStart + k * Page) & ~(Page - 1);
            var pinned = UserVaAt(pieces, iova + k * Page);
            if (pinned is not { } va || (va & ~(Page - 1)) != user)
                return user;
        }
        return null;
    }

    /// <summary>The user address behind an IOVA of the pieces, or null outside them.</summary>
    public static ulong? UserVaAt(IEnumerable<AccessPiece> pieces, ulong iova)
    {
        foreach (var p in pieces)
        {
            if (iova >= p.Iova && iova - p.Iova < p.Length)
                return p.UserVa + (iova - p.Iova);
        }
        return null;
    }
}
