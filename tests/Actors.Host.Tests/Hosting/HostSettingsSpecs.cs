using Microsoft.Extensions.Configuration;
using Xunit;

namespace IommuActors.Host.Tests.Hosting;

public sealed class HostSettingsSpecs
{
    private static HostSettings From(params (string Key, string Value)[] values) =>
        HostSettings.From(new ConfigurationBuilder()
            .AddInMemoryCollection(values.Select(v => new KeyValuePair<string, string?>($"Iommu:{v.Key}", v.Value)))
            .Build());

    [Theory]
    [InlineData("65536", 16ul)]
    [InlineData("64K", 16ul)]
    [InlineData("8m", 2048ul)]
    [InlineData("1G", 262144ul)]
    [InlineData("4095", 0ul)]
    [InlineData("unlimited", (1ul << 52) - 1)]
    public void LockedMemoryLimit_is_bytes_as_setrlimit_takes_them_in_whole_pages(string setting, ulong pages)
    {
        Assert.Equal(pages, From(("LockedMemoryLimit", setting)).LockedPageLimit);
    }

    [Fact]
    public void Without_LockedMemoryLimit_locked_memory_is_unlimited_as_RLIM_INFINITY_in_pages()
    {
        Assert.Equal((1ul << 52) - 1, From().LockedPageLimit);
    }

    [Fact]
    public void A_LockedMemoryLimit_that_is_no_size_names_the_setting()
    {
        var e = Assert.Throws<SettingsException>(() => From(("LockedMemoryLimit", "lots")));
        Assert.Equal("Iommu:LockedMemoryLimit is \"lots\": give bytes (optionally with K, M or G) or unlimited.", e.Message);
    }
}
