using IommuActors.Domains.Ioas;
using IommuActors.Domains.Pages;

namespace IommuActors.Domains.Tests.Pages;

public sealed class UserPagePinsTests
{
    [Fact]
    public void Without_a_domain_a_map_pins_nothing_so_nothing_is_checked()
    {
        Assert.Null(UserPagePins.ForMap(0, 0x7000_0000, 0x2000, Protection.Read | Protection.Write));
    }

    [Fact]
    public void With_a_domain_the_whole_pages_holding_the_range_are_checked()
    {
        // 0x1234 .. 0x3233 touches the pages at 0x1000, 0x2000 and 0x3000.
        Assert.Equal(new CheckUserPages(0x1000, 0x3000, false), UserPagePins.ForMap(1, 0x1234, 0x2000, Protection.Read));
        Assert.Equal(new CheckUserPages(0x1000, 0x1000, false), UserPagePins.ForMap(2, 0x1000, 0x1000, Protection.Read));
        Assert.Equal(new CheckUserPages(0x1000, 0x1000, false), UserPagePins.ForMap(1, 0x1fff, 1, Protection.Read));
    }

    [Fact]
    public void A_writeable_map_pins_for_writing()
    {
        Assert.True(UserPagePins.ForMap(1, 0x1000, 0x1000, Protection.Read | Protection.Write)!.Write);
        Assert.True(UserPagePins.ForMap(1, 0x1000, 0x1000, Protection.Write)!.Write);
        Assert.False(UserPagePins.ForMap(1, 0x1000, 0x1000, Protection.Read)!.Write);
    }

    [Fact]
    public void An_empty_or_wrapping_range_is_left_to_the_table_which_refuses_it()
    {
        Assert.Null(UserPagePins.ForMap(1, 0x1000, 0, Protection.Read));
        Assert.Null(UserPagePins.ForMap(1, ulong.MaxValue - 0xfff, 0x2000, Protection.Read));
    }
}
