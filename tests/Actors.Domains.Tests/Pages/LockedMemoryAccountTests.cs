using IommuActors.Domains.Ioas;
using IommuActors.Domains.Pages;

namespace IommuActors.Domains.Tests.Pages;

public sealed class LockedMemoryAccountTests
{
    [Fact]
    public void A_charge_over_the_limit_fails_with_ENOMEM_and_changes_nothing()
    {
        var account = new LockedMemoryAccount(10);
        Assert.Equal(0, account.Charge(8));
        Assert.Equal(Errno.ENOMEM, account.Charge(3));
        Assert.Equal(8UL, account.Charged);
    }

    [Fact]
    public void Map_over_the_limit_with_a_domain_attached_fails_with_ENOMEM_and_leaves_no_area()
    {
        var t = new IoPageTable(new LockedMemoryAccount(2));
        Assert.Equal(0, t.AddDomain("hwpt-1"));
        Assert.Equal(Errno.ENOMEM, t.Map("a", 0, 3 * 4096, Protection.Read, 0, out _));
        Assert.Equal(0, t.AreaCount);
        Assert.Equal(0UL, t.Account.Charged);
    }

    [Fact]
    public void A_range_straddling_a_page_boundary_is_charged_for_both_pages()
    {
        var t = new IoPageTable(new LockedMemoryAccount(100));
        Assert.Equal(0, t.AddDomain("hwpt-1"));
        Assert.Equal(0, t.Map("a", 4000, 200, Protection.Read, 4000, out _));
        Assert.Equal(2UL, t.Account.Charged);
    }

    [Fact]
    public void Per_process_mode_charges_the_process_not_the_user_and_cannot_switch_while_charged()
    {
        var account = new LockedMemoryAccount(10, "uid-1000", "pid-42");
        Assert.Equal(0, account.SetMode(RlimitMode.PerProcess));
        Assert.Equal(0, account.Charge(4));
        Assert.Equal(4UL, account.ChargedTo("pid-42"));
        Assert.Equal(0UL, account.ChargedTo("uid-1000"));
        Assert.Equal(Errno.EBUSY, account.SetMode(RlimitMode.PerUser));
        account.Uncharge(4);
        Assert.Equal(0, account.SetMode(RlimitMode.PerUser));
    }
}
