using IommuActors.Domains.Ioas;
using IommuActors.Domains.Pages;

namespace IommuActors.Domains.Tests.Ioas;

public sealed class IoPageTableTests
{
    private const ulong Page = 4096;
    private static IoPageTable NewTable(ulong limitPages = 1 << 20) => new(new LockedMemoryAccount(limitPages));
    private static int Fixed(IoPageTable t, string id, ulong iova, ulong length, Protection p = Protection.Read | Protection.Write) =>
        t.Map(id, 0x10000000, length, p, iova, out _);

    [Fact]
    public void Fixed_map_of_zero_length_fails_with_EINVAL()
    {
        var t = NewTable();
        Assert.Equal(Errno.EINVAL, Fixed(t, "a", 0, 0));
        Assert.Equal(0, t.AreaCount);
    }

    [Fact]
    public void Map_without_read_or_write_fails_with_EINVAL()
    {
        var t = NewTable();
        Assert.Equal(Errno.EINVAL, Fixed(t, "a", 0, Page, Protection.None));
        Assert.Equal(0UL, t.Account.Charged);
    }

    [Fact]
    public void Fixed_map_overlapping_an_area_fails_with_EEXIST()
    {
        var t = NewTable();
        Assert.Equal(0, Fixed(t, "a", 4 * Page, 2 * Page));
        Assert.Equal(Errno.EEXIST, Fixed(t, "b", 5 * Page, 2 * Page));
        Assert.Equal(Errno.EEXIST, Fixed(t, "c", 3 * Page, 2 * Page));
        Assert.Equal(0, Fixed(t, "d", 6 * Page, Page));
        Assert.Equal(2, t.AreaCount);
    }

    [Fact]
    public void Fixed_map_wrapping_past_the_end_of_the_space_fails_with_EOVERFLOW()
    {
        var t = NewTable();
        Assert.Equal(Errno.EOVERFLOW, t.Map("a", 0, 2 * Page, Protection.Read, ulong.MaxValue - Page + 1, out _));
    }

    [Fact]
    public void Fixed_map_touching_a_reserved_range_fails_with_EINVAL_before_EEXIST()
    {
        var t = NewTable();
        Assert.Equal(0, Fixed(t, "a", 0, Page));
        Assert.Equal(0, t.AddReserved("dev", [new IovaRange(Page, 2 * Page - 1)]));
        Assert.Equal(Errno.EINVAL, Fixed(t, "b", 0, 2 * Page));
    }

    [Fact]
    public void Fixed_map_not_aligned_to_the_raised_alignment_fails_with_EINVAL()
    {
        var t = NewTable();
        Assert.Equal(0, t.SetAlignment("domain", Page));
        Assert.Equal(Errno.EINVAL, Fixed(t, "a", 0x800, Page));
        Assert.Equal(Errno.EINVAL, Fixed(t, "b", 0, 0x800));
        Assert.Equal(0, Fixed(t, "c", Page, Page));
    }

    [Fact]
    public void Picked_iova_avoids_areas_reserved_ranges_and_stays_in_allowed_ranges()
    {
        var t = NewTable();
        Assert.Equal(0, t.SetAllowed([new IovaRange(0x100000, 0x1fffff)]));
        Assert.Equal(0, t.Map("a", 0x10000000, Page, Protection.Read, null, out var first));
        Assert.Equal(0x100000UL, first);
        Assert.Equal(0, t.Map("b", 0x10000000, Page, Protection.Read, null, out var second));
        Assert.Equal(0x101000UL, second);
        Assert.Equal(Errno.ENOSPC, t.Map("c", 0x10000000, 0x200000, Protection.Read, null, out _));
    }

    [Fact]
    public void Picked_iova_never_starts_in_the_first_page_of_the_space()
    {
        var t = NewTable();
        Assert.Equal(0, t.Map("a", 0x10000000, Page, Protection.Read, null, out var iova));
        Assert.Equal(0x1000UL, iova);
    }

    [Fact]
    public void Picked_iova_never_reaches_into_the_last_page_of_the_space()
    {
        var t = NewTable();
        Assert.Equal(0, t.SetAllowed([new IovaRange(ulong.MaxValue - 0xfff, ulong.MaxValue)]));
        Assert.Equal(Errno.ENOSPC, t.Map("a", 0x10000000, Page, Protection.Read, null, out _));
        Assert.Equal(0, t.SetAllowed([new IovaRange(ulong.MaxValue - 0x1fff, ulong.MaxValue)]));
        Assert.Equal(0, t.Map("b", 0x10000000, Page, Protection.Read, null, out var iova));
        Assert.Equal(ulong.MaxValue - 0x1fff, iova);
    }

    [Fact]
    public void Picked_iova_keeps_the_user_address_offset_within_its_page()
    {
        var t = NewTable();
        Assert.Equal(0, t.Map("a", 0x10000800, Page, Protection.Read, null, out var half));
        Assert.Equal(0x1800UL, half);
        var other = NewTable();
        Assert.Equal(0, other.Map("b", 0x10000123, Page, Protection.Read, null, out var odd));
        Assert.Equal(0x1123UL, odd);
    }

    [Fact]
    public void Picked_iova_is_the_lowest_fit_even_below_the_last_area()
    {
        var t = NewTable();
        Assert.Equal(0, Fixed(t, "far", 0x1000000, Page));
        Assert.Equal(0, Fixed(t, "low", 0x2000, Page));
        Assert.Equal(0, t.Map("a", 0x10000000, Page, Protection.Read, null, out var first));
        Assert.Equal(0x1000UL, first);
        Assert.Equal(0, t.Map("b", 0x10000000, Page, Protection.Read, null, out var second));
        Assert.Equal(0x3000UL, second);
    }

    [Fact]
    public void Picked_iova_is_aligned_to_the_length_capped_by_the_user_address_alignment()
    {
        var t = NewTable();
        Assert.Equal(0, t.Map("a", 0x40000000, 0x10000, Protection.Read, null, out var byLength));
        Assert.Equal(0x10000UL, byLength);
        Assert.Equal(0, t.Map("b", 0x40003000, 0x10000, Protection.Read, null, out var byAddress));
        Assert.Equal(0x20000UL, byAddress);
    }

    [Fact]
    public void Picked_iova_alignment_is_capped_at_the_huge_page_size()
    {
        var t = NewTable();
        Assert.Equal(0, t.Map("a", 0x40000000, 0x40000000, Protection.Read, null, out var iova));
        Assert.Equal(IoPageTable.HugePageSize, iova);
    }

    [Fact]
    public void Picked_iova_for_a_length_off_the_table_alignment_fails_with_EINVAL()
    {
        var t = NewTable();
        Assert.Equal(0, t.SetAlignment("domain", 0x10000));
        Assert.Equal(Errno.EINVAL, t.Map("a", 0x40000000, Page, Protection.Read, null, out _));
        Assert.Equal(0, t.AreaCount);
    }

    [Fact]
    public void Picked_iova_alignment_below_the_table_alignment_fails_with_EINVAL()
    {
        var t = NewTable();
        Assert.Equal(0, t.SetAlignment("domain", 0x10000));
        Assert.Equal(Errno.EINVAL, t.Map("a", 0x40001000, 0x10000, Protection.Read, null, out _));
        Assert.Equal(0, t.AreaCount);
        Assert.Equal(0, t.Map("b", 0x40010000, 0x10000, Protection.Read, null, out var iova));
        Assert.Equal(0x10000UL, iova);
    }

    [Fact]
    public void Picked_iova_for_half_the_space_or_more_fails_with_EOVERFLOW()
    {
        var t = NewTable();
        Assert.Equal(Errno.EOVERFLOW, t.Map("a", 0x1000, 1UL << 63, Protection.Read, null, out _));
        Assert.Equal(Errno.EOVERFLOW, t.Map("b", 0x1000, ulong.MaxValue / 2, Protection.Read, null, out _));
        Assert.Equal(0, t.AreaCount);
    }

    [Fact]
    public void Picked_iova_keeps_the_address_alignment_when_huge_pages_are_disabled()
    {
        var t = NewTable();
        Assert.Equal(0, t.SetLargePages(false));
        Assert.Equal(0, t.Map("a", 0x40000000, 0x200000, Protection.Read, null, out var big));
        Assert.Equal(0x200000UL, big);
        Assert.Equal(0, t.Map("b", 0x40003000, 0x10000, Protection.Read, null, out var small));
        Assert.Equal(0x1000UL, small);
        Assert.Equal(Errno.EINVAL, t.Map("c", 0x40000800, Page, Protection.Read, null, out _));
        Assert.Equal(2, t.AreaCount);
    }

    [Fact]
    public void Disabling_huge_pages_fails_with_EINVAL_only_when_domains_already_hold_areas()
    {
        var areasOnly = NewTable();
        Assert.Equal(0, Fixed(areasOnly, "a", 0, Page));
        Assert.Equal(0, areasOnly.SetLargePages(false));
        Assert.True(areasOnly.LargePagesDisabled);

        var domainOnly = NewTable();
        Assert.Equal(0, domainOnly.AddDomain("hwpt-1"));
        Assert.Equal(0, domainOnly.SetLargePages(false));
        Assert.True(domainOnly.LargePagesDisabled);

        var both = NewTable();
        Assert.Equal(0, both.AddDomain("hwpt-1"));
        Assert.Equal(0, Fixed(both, "a", 0, Page));
        Assert.Equal(Errno.EINVAL, both.SetLargePages(false));
        Assert.False(both.LargePagesDisabled);
    }

    [Fact]
    public void Enabling_huge_pages_is_never_refused_even_with_domains_holding_areas()
    {
        var t = NewTable();
        Assert.Equal(0, t.SetLargePages(false));
        Assert.Equal(0, t.AddDomain("hwpt-1"));
        Assert.Equal(0, Fixed(t, "a", 0, Page));
        Assert.Equal(0, t.SetLargePages(true));
        Assert.False(t.LargePagesDisabled);
    }

    [Fact]
    public void Disabling_huge_pages_raises_the_alignment_to_a_page_and_over_an_unaligned_area_fails_with_EADDRINUSE()
    {
        var t = NewTable();
        Assert.Equal(0, t.Map("a", 0x10000000, 0x800, Protection.Read, 0x800, out _));
        Assert.Equal(Errno.EADDRINUSE, t.SetLargePages(false));
        Assert.False(t.LargePagesDisabled);
        Assert.Equal(1UL, t.IovaAlignment);
        var empty = NewTable();
        Assert.Equal(0, empty.SetLargePages(false));
        Assert.Equal(Page, empty.IovaAlignment);
        Assert.Equal(Errno.EINVAL, Fixed(empty, "a", 0x800, Page));
    }

    [Fact]
    public void Unmap_of_part_of_an_area_fails_with_ENOENT_and_changes_nothing()
    {
        var t = NewTable();
        Assert.Equal(0, t.AddDomain("hwpt-1"));
        Assert.Equal(0, Fixed(t, "a", 0, 4 * Page));
        Assert.Equal(Errno.ENOENT, t.Unmap(Page, Page, out var n));
        Assert.Equal(0UL, n);
        Assert.Equal(1, t.AreaCount);
        Assert.Equal(4UL, t.Account.Charged);
    }

    [Fact]
    public void Unmap_of_a_range_covering_several_whole_areas_returns_their_total_length()
    {
        var t = NewTable();
        Assert.Equal(0, Fixed(t, "a", 0, Page));
        Assert.Equal(0, Fixed(t, "b", 4 * Page, 2 * Page));
        Assert.Equal(0, t.Unmap(0, 8 * Page, out var n));
        Assert.Equal(3 * Page, n);
        Assert.Equal(0, t.AreaCount);
        Assert.Equal(0UL, t.Account.Charged);
    }

    [Fact]
    public void A_range_unmap_takes_the_whole_areas_lowest_first_and_stops_with_ENOENT_at_the_first_sticking_out()
    {
        var t = NewTable();
        Assert.Equal(0, t.AddDomain("hwpt-1"));
        Assert.Equal(0, Fixed(t, "a", 0, Page));
        Assert.Equal(0, Fixed(t, "b", 2 * Page, Page));
        Assert.Equal(0, Fixed(t, "c", 4 * Page, 2 * Page));
        Assert.Equal(0, Fixed(t, "d", 8 * Page, Page));
        // [0, 5 pages): a and b lie inside, c sticks out past the end, d is beyond the range.
        Assert.Equal(Errno.ENOENT, t.Unmap(0, 5 * Page, out var n));
        Assert.Equal(2 * Page, n);
        Assert.Equal([4 * Page, 8 * Page], t.Areas.Select(a => a.Iova));
        Assert.Equal(3UL, t.Account.Charged);
    }

    [Fact]
    public void Unmap_where_nothing_is_mapped_fails_with_ENOENT_and_unmap_all_of_nothing_succeeds()
    {
        var t = NewTable();
        Assert.Equal(Errno.ENOENT, t.Unmap(0, Page, out _));
        Assert.Equal(0, t.UnmapAll(out var n));
        Assert.Equal(0UL, n);
    }

    [Fact]
    public void Unmap_of_zero_length_fails_with_EINVAL()
    {
        Assert.Equal(Errno.EINVAL, NewTable().Unmap(0, 0, out _));
    }

    [Fact]
    public void Unmap_of_an_area_held_by_an_access_fails_with_EBUSY()
    {
        var t = NewTable();
        Assert.Equal(0, Fixed(t, "a", 0, 2 * Page));
        Assert.Equal(0, t.PinForAccess(Page, Page, write: true));
        Assert.Equal(Errno.EBUSY, t.Unmap(0, 2 * Page, out _));
        Assert.Equal(0, t.UnpinForAccess(Page, Page));
        Assert.Equal(0, t.Unmap(0, 2 * Page, out var n));
        Assert.Equal(2 * Page, n);
    }

    [Fact]
    public void Copy_source_must_be_covered_by_contiguous_areas_or_fails_with_ENOENT()
    {
        var t = NewTable();
        Assert.Equal(0, Fixed(t, "a", 0, Page));
        Assert.Equal(0, Fixed(t, "b", 2 * Page, Page));
        Assert.Equal(Errno.ENOENT, t.GetSlices(0, 3 * Page, out _));
        Assert.Equal(0, t.GetSlices(0, Page, out var slices));
        Assert.Equal("a", Assert.Single(slices).Pages.Id);
    }

    [Fact]
    public void Copied_pages_are_shared_and_charged_once_until_their_last_area_goes()
    {
        var t = NewTable();
        Assert.Equal(0, t.AddDomain("hwpt-1"));
        Assert.Equal(0, Fixed(t, "a", 0, 2 * Page));
        Assert.Equal(0, t.GetSlices(0, 2 * Page, out var slices));
        Assert.Equal(0, t.MapSlices(slices, Protection.Read, 16 * Page, out _));
        Assert.Equal(2UL, t.Account.Charged);
        Assert.Equal(0, t.Unmap(0, 2 * Page, out _));
        Assert.Equal(2UL, t.Account.Charged);
        Assert.Equal(0, t.Unmap(16 * Page, 2 * Page, out _));
        Assert.Equal(0UL, t.Account.Charged);
    }

    [Fact]
    public void Writeable_copy_of_read_only_pages_fails_with_EPERM_before_a_misaligned_offset_fails_with_EINVAL()
    {
        var from = NewTable();
        Assert.Equal(0, from.Map("ro", 0x10000800, 2 * Page, Protection.Read, 0x800, out _));
        Assert.Equal(0, from.GetSlices(0x800, 2 * Page, out var slices));
        var into = NewTable();
        Assert.Equal(0, into.SetAlignment("domain", Page));
        Assert.Equal(Errno.EPERM, into.MapSlices(slices, Protection.Read | Protection.Write, 16 * Page, out _));
        Assert.Equal(Errno.EINVAL, into.MapSlices(slices, Protection.Read, 16 * Page, out _));
        Assert.Equal(0, into.AreaCount);
    }

    [Fact]
    public void Reservation_over_an_area_or_an_allowed_range_fails_with_EADDRINUSE()
    {
        var t = NewTable();
        Assert.Equal(0, Fixed(t, "a", 0, Page));
        Assert.Equal(Errno.EADDRINUSE, t.AddReserved("dev", [new IovaRange(0, 0)]));
        Assert.Equal(0, t.SetAllowed([new IovaRange(0x100000, 0x1fffff)]));
        Assert.Equal(Errno.EADDRINUSE, t.AddReserved("dev", [new IovaRange(0x1ff000, 0x2fffff)]));
        Assert.Empty(t.Reserved);
    }

    [Fact]
    public void Allowed_ranges_over_a_reservation_fail_with_EADDRINUSE_and_overlapping_ones_with_EINVAL()
    {
        var t = NewTable();
        Assert.Equal(0, t.AddReserved("dev", [new IovaRange(0xfee00000, 0xfeefffff)]));
        Assert.Equal(Errno.EADDRINUSE, t.SetAllowed([new IovaRange(0, 0xffffffff)]));
        Assert.Equal(Errno.EINVAL, t.SetAllowed([new IovaRange(0, 10), new IovaRange(5, 20)]));
        Assert.Equal(Errno.EINVAL, t.SetAllowed([new IovaRange(10, 5)]));
        Assert.Empty(t.Allowed);
    }

    [Fact]
    public void Usable_ranges_are_the_space_minus_every_reservation_and_removal_gives_them_back()
    {
        var t = NewTable();
        Assert.Equal([new IovaRange(0, ulong.MaxValue)], t.UsableRanges());
        Assert.Equal(0, t.AddReserved("msi", [new IovaRange(0xfee00000, 0xfeefffff)]));
        Assert.Equal([new IovaRange(0, 0xfedfffff), new IovaRange(0xfef00000, ulong.MaxValue)], t.UsableRanges());
        t.RemoveReserved("msi");
        Assert.Equal([new IovaRange(0, ulong.MaxValue)], t.UsableRanges());
    }

    [Fact]
    public void Raising_the_alignment_over_unaligned_areas_fails_with_EADDRINUSE()
    {
        var t = NewTable();
        Assert.Equal(1UL, t.IovaAlignment);
        Assert.Equal(0, t.Map("a", 0, 0x800, Protection.Read, 0x800, out _));
        Assert.Equal(Errno.EADDRINUSE, t.SetAlignment("domain", Page));
        Assert.Equal(Errno.EINVAL, t.SetAlignment("domain", 3 * Page));
        Assert.Equal(1UL, t.IovaAlignment);
    }

    [Fact]
    public void Raising_the_alignment_over_an_area_whose_user_address_is_not_aligned_fails_with_EADDRINUSE()
    {
        var t = NewTable();
        // IOVA and length are page aligned; the user memory starts 0x100 into its page.
        Assert.Equal(0, t.Map("a", 0x10000100, Page, Protection.Read, 0x2000, out _));
        Assert.Equal(Errno.EADDRINUSE, t.SetAlignment("domain", Page));
        Assert.Equal(0, t.SetAlignment("domain", 0x100));
    }

    [Fact]
    public void Map_of_user_memory_off_the_alignment_within_its_page_fails_with_EINVAL_even_at_an_aligned_iova()
    {
        var t = NewTable();
        Assert.Equal(0, t.SetAlignment("domain", Page));
        Assert.Equal(Errno.EINVAL, t.Map("a", 0x10000800, Page, Protection.Read, 0x2000, out _));
        Assert.Equal(0, t.AreaCount);
        Assert.Equal(0, t.Map("b", 0x10000000, Page, Protection.Read, 0x2000, out _));
    }

    [Fact]
    public void Alignment_is_the_largest_any_owner_raised_and_drops_with_its_owner()
    {
        var t = NewTable();
        Assert.Equal(0, t.SetAlignment("a", Page));
        Assert.Equal(0, t.SetAlignment("b", 0x10000));
        Assert.Equal(0x10000UL, t.IovaAlignment);
        t.RemoveAlignment("b");
        Assert.Equal(Page, t.IovaAlignment);
    }
}
