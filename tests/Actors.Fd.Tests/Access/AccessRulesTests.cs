using IommuActors.Domains.Ioas;
using IommuActors.Fd.Accesses;
using IommuActors.Uapi.Structs;
using Xunit;
using Errno = IommuActors.Uapi.Errno;

namespace IommuActors.Fd.Tests.Accesses;

public sealed class AccessRulesTests
{
    private const Protection RW = Protection.Read | Protection.Write;

    private static IoasProtocol.MappingView Area(ulong iova, ulong length, Protection prot = RW) => new(iova, length, prot, "p", 0);

    [Fact]
    public void Arguments_are_checked_length_first_then_flags()
    {
        Assert.Equal(0, AccessRules.CreateFlagsErrno(Selftest.FlagsAccessCreateNeedsPinPages));
        Assert.Equal(Errno.EOPNOTSUPP, AccessRules.CreateFlagsErrno(2));
        Assert.True(AccessRules.NeedsPinPages(Selftest.FlagsAccessCreateNeedsPinPages));
        Assert.False(AccessRules.NeedsPinPages(0));

        Assert.Equal(0, AccessRules.PagesArgsErrno(Selftest.AccessMaxLength, Selftest.FlagsAccessWrite | Selftest.FlagsAccessSyz));
        Assert.Equal(Errno.ENOMEM, AccessRules.PagesArgsErrno(Selftest.AccessMaxLength + 1, 0x80));
        Assert.Equal(Errno.EOPNOTSUPP, AccessRules.PagesArgsErrno(4096, Selftest.AccessRwSlowPath));

        Assert.Equal(0, AccessRules.RwArgsErrno(1, Selftest.AccessRwWrite | Selftest.AccessRwSlowPath | Selftest.FlagsAccessSyz));
        Assert.Equal(Errno.ENOMEM, AccessRules.RwArgsErrno(Selftest.AccessMaxLength + 1, 0x80));
        Assert.Equal(Errno.EOPNOTSUPP, AccessRules.RwArgsErrno(1, 1u << 1));
    }

    [Fact]
    public void A_range_is_not_empty_and_stays_below_the_top_of_the_IOVA_space()
    {
        Assert.Equal(Errno.EINVAL, AccessRules.RangeErrno(0x1000, 0));
        Assert.Equal(0, AccessRules.RangeErrno(ulong.MaxValue, 1));
        Assert.Equal(Errno.EOVERFLOW, AccessRules.RangeErrno(ulong.MaxValue, 2));
        Assert.Equal(0, AccessRules.RangeErrno(0, ulong.MaxValue));
    }

    [Fact]
    public void Syz_reads_the_IOVA_as_the_nth_area_and_an_offset()
    {
        IoasProtocol.MappingView[] areas = [Area(0x10000, 0x1000), Area(0x40000, 0x2000)];
        Assert.Equal(0x40000ul + 0x10, AccessRules.SyzIova(Selftest.FlagsAccessSyz, 1 | (0x10ul << 32), areas));
        Assert.Equal(0ul, AccessRules.SyzIova(Selftest.FlagsAccessSyz, 2, areas));
        Assert.Equal(0x12345ul, AccessRules.SyzIova(0, 0x12345, areas));
    }

    [Fact]
    public void A_walk_follows_contiguous_areas_and_stops_at_a_hole()
    {
        IoasProtocol.MappingView[] areas = [Area(0x0, 0x1000), Area(0x1000, 0x1000, Protection.Read), Area(0x3000, 0x1000)];
        var (spans, complete) = AccessRules.Walk(areas, 0x800, 0x1000);
        Assert.True(complete);
        Assert.Equal([(0x800ul, 0x800ul, RW), (0x1000ul, 0x800ul, Protection.Read)], spans);

        (spans, complete) = AccessRules.Walk(areas, 0x800, 0x3000);
        Assert.False(complete);
        Assert.Equal(2, spans.Count);

        (spans, complete) = AccessRules.Walk(areas, 0x2000, 0x100);
        Assert.False(complete);
        Assert.Empty(spans);
    }

    [Fact]
    public void A_pin_needs_page_aligned_user_memory_the_permission_and_the_whole_range()
    {
        AccessPiece[] two = [new(0x0, 0x1000, RW, 0x7000), new(0x1000, 0x800, Protection.Read, 0x9000)];
        Assert.Equal(0, AccessRules.PinErrno(two, complete: true, write: false));
        Assert.Equal(Errno.EPERM, AccessRules.PinErrno(two, complete: true, write: true));
        // The last piece may end off a page only when it ends the range.
        Assert.Equal(Errno.EINVAL, AccessRules.PinErrno(two, complete: false, write: false));
        Assert.Equal(Errno.EINVAL, AccessRules.PinErrno([new(0, 0x1000, RW, 0x7800)], complete: true, write: false));
        Assert.Equal(Errno.ENOENT, AccessRules.PinErrno([new(0, 0x1000, RW, 0x7000)], complete: false, write: true));
        Assert.Equal(Errno.ENOENT, AccessRules.PinErrno([], complete: false, write: false));
    }

    [Fact]
    public void A_read_or_write_moves_the_pieces_before_the_first_refused_one()
    {
        AccessPiece[] pieces = [new(0x0, 0x1000, RW, 0x7000), new(0x1000, 0x1000, Protection.Read, 0x9000), new(0x2000, 0x1000, RW, 0xb000)];
        var (moved, errno) = AccessRules.RwPieces(pieces, complete: true, write: true);
        Assert.Equal((1, Errno.EPERM), (moved.Count, errno));
        (moved, errno) = AccessRules.RwPieces(pieces, complete: false, write: false);
        Assert.Equal((3, Errno.ENOENT), (moved.Count, errno));
        (moved, errno) = AccessRules.RwPieces(pieces, complete: true, write: false);
        Assert.Equal((3, 0), (moved.Count, errno));
    }

    [Fact]
    public void The_pinned_pages_must_be_the_pages_at_uptr()
    {
        AccessPiece[] pieces = [new(0x10800, 0x800, RW, 0x7800), new(0x11000, 0x1000, RW, 0x20000)];
        Assert.Null(AccessRules.FirstMismatch(pieces, 0x10800, 0x1800, 0));
        Assert.Null(AccessRules.FirstMismatch([new(0x10800, 0x1800, RW, 0x7800)], 0x10800, 0x1800, 0x7800));
        // The second page is backed elsewhere than uptr's next page.
        Assert.Equal(0x8000ul, AccessRules.FirstMismatch(pieces, 0x10800, 0x1800, 0x7800));
        Assert.Equal(0x3000ul, AccessRules.FirstMismatch(pieces, 0x10800, 0x800, 0x3800));
        Assert.Equal(0x20010ul, AccessRules.UserVaAt(pieces, 0x11010));
        Assert.Null(AccessRules.UserVaAt(pieces, 0x12000));
    }
}
