using IommuActors.Host.Membership;
using Xunit;

namespace IommuActors.Host.Tests.Membership;

public sealed class LeaseRulesTests
{
    private static readonly LeaseClaimant Me = new("akka.tcp://iommu@127.0.0.1:4053#1", "box", 100);

    private static LeaseStanding Standing(LeaseRow? row, long now = 1_000, bool alive = true) =>
        LeaseRules.Standing(row, Me, now, _ => alive);

    [Fact]
    public void No_row_is_a_free_lease() => Assert.Equal(LeaseStanding.Free, Standing(null));

    [Fact]
    public void The_claimants_own_row_is_ours_even_when_run_out() =>
        Assert.Equal(LeaseStanding.Ours, Standing(Me.Row("cluster", 10)));

    [Fact]
    public void Another_holder_before_its_time_holds_it() =>
        Assert.Equal(LeaseStanding.HeldElsewhere, Standing(new LeaseRow("cluster", "other", "elsewhere", 7, 2_000)));

    [Fact]
    public void A_lease_past_its_time_is_abandoned() =>
        Assert.Equal(LeaseStanding.Abandoned, Standing(new LeaseRow("cluster", "other", "elsewhere", 7, 1_000)));

    [Fact]
    public void A_holder_on_this_machine_whose_process_ended_is_abandoned_before_its_time() =>
        Assert.Equal(LeaseStanding.Abandoned, Standing(new LeaseRow("cluster", "other", "box", 7, 2_000), alive: false));

    [Fact]
    public void A_dead_holder_whose_cluster_still_has_a_node_listening_holds_it()
    {
        var row = new LeaseRow("cluster", "other", "box", 7, 2_000, "127.0.0.1:4054,127.0.0.1:4055");
        Assert.Equal(LeaseStanding.HeldElsewhere, LeaseRules.Standing(row, Me, 1_000, _ => false, e => e == "127.0.0.1:4055"));
        Assert.Equal(LeaseStanding.Abandoned, LeaseRules.Standing(row, Me, 1_000, _ => false, _ => false));
    }

    [Fact]
    public void A_gone_holder_whose_row_does_not_list_a_listening_seed_of_the_claimant_yet_still_holds_it()
    {
        // The founder died before it renewed with the second node in its row; that node lives on.
        var ended = new LeaseRow("cluster", "other", "box", 7, 2_000);
        Assert.Equal(LeaseStanding.HeldElsewhere,
            LeaseRules.Standing(ended, Me, 1_000, _ => false, e => e == "127.0.0.1:4054", "127.0.0.1:4053", ["127.0.0.1:4054"]));
        Assert.Equal(LeaseStanding.HeldElsewhere,
            LeaseRules.Standing(ended, Me, 3_000, _ => true, e => e == "127.0.0.1:4054", "127.0.0.1:4053", ["127.0.0.1:4054"]));
        Assert.Equal(LeaseStanding.Abandoned,
            LeaseRules.Standing(ended, Me, 1_000, _ => false, _ => false, "127.0.0.1:4053", ["127.0.0.1:4054"]));
    }

    [Fact]
    public void The_claimant_itself_listed_among_a_dead_holders_members_keeps_nothing_alive()
    {
        var row = new LeaseRow("cluster", "other", "box", 7, 2_000, "127.0.0.1:4053");
        Assert.Equal(LeaseStanding.Abandoned, LeaseRules.Standing(row, Me, 1_000, _ => false, _ => true, self: "127.0.0.1:4053"));
    }

    [Fact]
    public void A_dead_process_id_on_another_machine_says_nothing_of_the_holder() =>
        Assert.Equal(LeaseStanding.HeldElsewhere, Standing(new LeaseRow("cluster", "other", "elsewhere", 7, 2_000), alive: false));

    [Fact]
    public void An_earlier_incarnation_of_this_node_in_a_live_process_still_holds_it() =>
        Assert.Equal(LeaseStanding.HeldElsewhere, Standing(new LeaseRow("cluster", "akka.tcp://iommu@127.0.0.1:4053#0", "box", 7, 2_000)));
}
