using IommuActors.Domains.Ioas;
using IommuActors.Domains.Pages;

namespace IommuActors.Domains.Tests.Ioas;

/// <summary>IoPageTable.Cut: the VFIO type1 (v1) cut of areas that lets an unmap take a piece out of a mapping.</summary>
public sealed class IoPageTableCutTests
{
    private const ulong Page = 4096;
    private const ulong User = 0x10000000;

    private static IoPageTable SmallPagesTable(bool domain = false)
    {
        var t = new IoPageTable(new LockedMemoryAccount(1 << 20));
        Assert.Equal(0, t.SetLargePages(false));
        if (domain)
            Assert.Equal(0, t.AddDomain("hwpt-1"));
        Assert.Equal(0, t.Map("p", User, 16 * Page, Protection.Read | Protection.Write, 0x100000, out _));
        return t;
    }

    private static (ulong Iova, ulong Length, ulong Offset)[] Areas(IoPageTable t) => [.. t.Areas.Select(a => (a.Iova, a.Length, a.PagesOffset))];

    [Fact]
    public void A_cut_makes_the_iova_the_last_of_one_area_and_both_halves_keep_their_share_of_the_pages()
    {
        var t = SmallPagesTable();
        Assert.Equal(0, t.Cut([0x100000 + 4 * Page - 1], out _, out var cut));
        Assert.Single(cut);
        Assert.Equal([(0x100000UL, 4 * Page, 0UL), (0x100000 + 4 * Page, 12 * Page, 4 * Page)], Areas(t));
        Assert.Equal(2, t.Areas.Count(a => a.Pages.Id == "p"));
    }

    [Fact]
    public void An_iova_at_either_end_of_its_area_or_outside_every_area_needs_no_cut()
    {
        var t = SmallPagesTable();
        Assert.Equal(0, t.Cut([0x100000, 0x100000 + 16 * Page - 1, 0x0fffff, 0x500000], out _, out var cut));
        Assert.Empty(cut);
        Assert.Single(t.Areas);
    }

    [Fact]
    public void Then_an_unmap_of_the_piece_between_two_cuts_takes_only_that_piece()
    {
        var t = SmallPagesTable();
        Assert.Equal(0, t.Cut([0x100000 + 6 * Page - 1, 0x100000 + 4 * Page - 1], out _, out _));
        Assert.Equal(0, t.Unmap(0x100000 + 4 * Page, 2 * Page, out var unmapped));
        Assert.Equal(2 * Page, unmapped);
        Assert.Equal([(0x100000UL, 4 * Page, 0UL), (0x100000 + 6 * Page, 10 * Page, 6 * Page)], Areas(t));
    }

    [Fact]
    public void A_cut_that_would_not_start_an_area_on_the_alignment_is_EINVAL_and_cuts_nothing()
    {
        var t = SmallPagesTable();
        // The first point would cut fine; the second is mid-page: nothing is cut at all.
        Assert.Equal(Errno.EINVAL, t.Cut([0x100000 + 8 * Page - 1, 0x100000 + 2 * Page + 0x7ff], out _, out var cut));
        Assert.Empty(cut);
        Assert.Single(t.Areas);
    }

    [Fact]
    public void A_cut_of_an_area_an_access_holds_is_EINVAL()
    {
        var t = SmallPagesTable();
        Assert.Equal(0, t.PinForAccess(0x100000, Page, write: false));
        Assert.Equal(Errno.EINVAL, t.Cut([0x100000 + 4 * Page - 1], out _, out _));
    }

    [Fact]
    public void With_a_domain_a_cut_needs_large_pages_disabled()
    {
        var t = new IoPageTable(new LockedMemoryAccount(1 << 20));
        Assert.Equal(0, t.AddDomain("hwpt-1"));
        Assert.Equal(0, t.Map("p", User, 16 * Page, Protection.Read, 0x100000, out _));
        Assert.Equal(Errno.EINVAL, t.Cut([0x100000 + 4 * Page - 1], out _, out _));
    }

    [Fact]
    public void With_a_domain_the_halves_are_held_and_the_whole_let_go_so_the_charge_does_not_move()
    {
        var t = SmallPagesTable(domain: true);
        Assert.Equal(16UL, t.Account.Charged);
        Assert.Equal(0, t.Cut([0x100000 + 4 * Page - 1], out _, out _));
        Assert.Equal(16UL, t.Account.Charged);
        Assert.Equal([new AccountProtocol.PageSpan("p", 0, 3), new AccountProtocol.PageSpan("p", 4, 15)], t.LastCharged);
        Assert.Equal([new AccountProtocol.PageSpan("p", 0, 15)], t.LastReleased);
        // Unmapping one half gives back exactly its pages.
        Assert.Equal(0, t.Unmap(0x100000, 4 * Page, out _));
        Assert.Equal(12UL, t.Account.Charged);
    }

    [Fact]
    public void Undo_puts_the_whole_area_back_as_it_was()
    {
        var t = SmallPagesTable(domain: true);
        Assert.Equal(0, t.Cut([0x100000 + 4 * Page - 1, 0x100000 + 8 * Page - 1], out var undo, out _));
        Assert.Equal(3, t.AreaCount);
        undo();
        Assert.Equal([(0x100000UL, 16 * Page, 0UL)], Areas(t));
        Assert.Equal(0, t.Unmap(0x100000, 16 * Page, out _));
        Assert.Equal(0UL, t.Account.Charged);
        Assert.Empty(t.PinnedPages);
    }
}
