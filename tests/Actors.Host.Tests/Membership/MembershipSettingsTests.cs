using Akka.Actor;
using IommuActors.Host.Membership;
using Microsoft.Extensions.Configuration;
using Xunit;

namespace IommuActors.Host.Tests.Membership;

public sealed class MembershipSettingsTests
{
    private static MembershipSettings From(params (string Key, string Value)[] values) =>
        HostSettings.From(new ConfigurationBuilder()
            .AddInMemoryCollection(values.Select(v => new KeyValuePair<string, string?>($"Iommu:{v.Key}", v.Value)))
            .Build()).Membership;

    private static Address At(int port) => new("akka.tcp", "iommu", "127.0.0.1", port);

    [Fact]
    public void Without_seeds_a_node_listens_on_a_free_loopback_port_and_founds_its_own_cluster()
    {
        var m = From();
        Assert.Equal(("127.0.0.1", 0, true, true), (m.Hostname, m.Port, m.Alone, m.MayFound));
    }

    [Fact]
    public void Seeds_come_as_one_value_with_commas_or_as_a_list_and_the_first_seed_may_found()
    {
        var commas = From(("Port", "4053"), ("Seeds", "127.0.0.1:4053, akka.tcp://iommu@127.0.0.1:4054"));
        var list = From(("Port", "4053"), ("Seeds:0", "127.0.0.1:4053"), ("Seeds:1", "127.0.0.1:4054"));

        Assert.Equal([At(4053), At(4054)], commas.Seeds.ToArray());
        Assert.Equal(commas.Seeds.ToArray(), list.Seeds.ToArray());
        Assert.True(commas.MayFound);
        Assert.Equal([At(4054)], commas.Others.ToArray());
    }

    [Fact]
    public void A_node_that_is_not_the_first_seed_never_founds()
    {
        var m = From(("Port", "4054"), ("Seeds", "127.0.0.1:4053,127.0.0.1:4054"));
        Assert.False(m.MayFound);
        Assert.Equal([At(4053)], m.Others.ToArray());
    }

    [Fact]
    public void Join_is_one_seed_that_is_not_this_node()
    {
        var m = From(("Join", "akka.tcp://iommu@127.0.0.1:4053"));
        Assert.Equal([At(4053)], m.Seeds.ToArray());
        Assert.Equal((false, false), (m.Alone, m.MayFound));
    }

    [Theory]
    [InlineData("Seeds", "127.0.0.1:4053", "Iommu:Seeds is set but Iommu:Port is not: a node among seeds needs a fixed port (the one the other nodes' seeds name).")]
    [InlineData("Seeds", "nowhere", "Iommu:Seeds names \"nowhere\": give host:port or akka.tcp://iommu@host:port.")]
    [InlineData("Port", "http", "Iommu:Port is \"http\": give a TCP port from 1 to 65535, or 0 for a free one.")]
    public void A_bad_membership_setting_names_itself(string key, string value, string message) =>
        Assert.Equal(message, Assert.Throws<SettingsException>(() => From((key, value))).Message);

    [Fact]
    public void Join_and_Seeds_together_are_refused() =>
        Assert.Equal("Iommu:Join and Iommu:Seeds are both set: give the cluster's nodes as Iommu:Seeds alone.",
            Assert.Throws<SettingsException>(() => From(("Port", "4053"), ("Seeds", "127.0.0.1:4053"), ("Join", "127.0.0.1:4054"))).Message);
}
