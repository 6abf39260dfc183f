using IommuActors.Host;
using IommuActors.Host.FrontDoor;
using Microsoft.Extensions.Configuration;
using Xunit;

namespace IommuActors.FrontDoor.Tests;

public sealed class FrontDoorSettingsSpecs
{
    private static FrontDoorSettings From(params (string Key, string Value)[] values) =>
        FrontDoorSettings.From(new ConfigurationBuilder()
            .AddInMemoryCollection(values.Select(v => new KeyValuePair<string, string?>($"Iommu:{v.Key}", v.Value)))
            .Build().GetSection("Iommu"));

    [Fact]
    public void Only_root_holds_CAP_SYS_RESOURCE_unless_more_uids_are_listed()
    {
        var byDefault = From();
        Assert.Equal((true, false), (byDefault.HasCapSysResource(0), byDefault.HasCapSysResource(1000)));
        var listed = From(("CapSysResourceUids", "1000, 1001"));
        Assert.Equal((true, true, true, false),
            (listed.HasCapSysResource(0), listed.HasCapSysResource(1000), listed.HasCapSysResource(1001), listed.HasCapSysResource(1002)));
    }

    [Fact]
    public void A_uid_list_with_something_that_is_no_uid_names_the_setting()
    {
        var e = Assert.Throws<SettingsException>(() => From(("CapSysResourceUids", "root")));
        Assert.Equal("Iommu:CapSysResourceUids has \"root\", which is not a uid.", e.Message);
    }
}
