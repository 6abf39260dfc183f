using Akka.Actor;
using Akka.Hosting;
using IommuActors.Hardware.Platform;
using IommuActors.Hardware.Units;
using IommuActors.TestSupport;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Xunit;

namespace IommuActors.Host.Tests.Hosting;

public sealed class HostPlatformSpecs
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);

    private static async Task<(IHost Host, ActorSystem System)> Started(params string[] extra)
    {
        var workDir = TempFolder.Create("host-platform");
        var host = IommuHost.Build(["--Iommu:WorkDir", workDir, "--Iommu:Store", "memory", .. extra]);
        await host.StartAsync();
        var system = await host.Services.GetRequiredService<HostStatus>().Ready.WaitAsync(StartTimeout);
        return (host, system);
    }

    [Fact]
    public async Task The_default_platform_starts_with_the_host_and_is_listed_by_the_platform_actor()
    {
        var (host, _) = await Started();
        using (host)
        {
            var registry = host.Services.GetRequiredService<ActorRegistry>();
            var reply = await registry.Get<PlatformRegistryKey>()
                .Ask<PlatformProtocol.PlatformReply>(new PlatformProtocol.GetPlatform(), StartTimeout);

            Assert.Equal(["dmar0", "dmar1", "mock0"], reply.Platform.Units.Select(u => u.Name));
            Assert.Equal([UnitKind.IntelVtd, UnitKind.IntelVtd, UnitKind.Mock], reply.Platform.Units.Select(u => u.Kind));
            Assert.Contains(reply.Platform.Devices, d => d.Unit == "mock0");
            await host.StopAsync();
        }
    }

    [Fact]
    public async Task Each_unit_of_the_platform_answers_through_the_unit_shard_region()
    {
        var (host, _) = await Started();
        using (host)
        {
            var units = host.Services.GetRequiredService<ActorRegistry>().Get<UnitRegion>();
            var info = await units.Ask<UnitProtocol.UnitInfo>(new UnitProtocol.GetUnitInfo("dmar1"), StartTimeout);

            Assert.Equal("dmar1", info.Spec.Name);
            Assert.Equal(39, info.Spec.AddressWidth);
            Assert.Equal(0, info.Domains);
            await host.StopAsync();
        }
    }

    [Fact]
    public async Task A_shipped_platform_file_is_chosen_with_Iommu_Platform()
    {
        var (host, _) = await Started("--Iommu:Platform", "platforms/amd-vi.conf");
        using (host)
        {
            var reply = await host.Services.GetRequiredService<ActorRegistry>().Get<PlatformRegistryKey>()
                .Ask<PlatformProtocol.PlatformReply>(new PlatformProtocol.GetPlatform(), StartTimeout);

            Assert.All(reply.Platform.Units.Where(u => u.Kind != UnitKind.Mock), u => Assert.Equal(UnitKind.AmdVi, u.Kind));
            Assert.Contains(reply.Platform.Units, u => u.Name == "ivhd0");
            await host.StopAsync();
        }
    }

    [Fact]
    public void A_bad_platform_fails_start_up_naming_the_offending_entry()
    {
        var workDir = TempFolder.Create("host-platform");
        File.WriteAllText(Path.Combine(workDir, "bad.conf"), """
            iommu.platform {
              units = [ { name = u0, kind = intel-vtd, page-sizes = ["4096"], address-width = 48, pasid-width = 0 } ]
              devices = [ { pci = "0000:00:01.0", unit = nowhere, group = 1, vendor = "0x8086", device = "0x1234", cdev = vfio0 } ]
            }
            """);
        var error = Assert.Throws<SettingsException>(() =>
            IommuHost.Build(["--Iommu:WorkDir", workDir, "--Iommu:Store", "memory", "--Iommu:Platform", "bad.conf"]));

        Assert.Contains("unknown unit 'nowhere'", error.Message);
        Assert.Contains("0000:00:01.0", error.Message);
    }

    [Fact]
    public void A_platform_file_that_does_not_exist_is_refused_naming_it()
    {
        var error = Assert.Throws<SettingsException>(() => IommuHost.Build(["--Iommu:Platform", "platforms/no-such-box.conf"]));
        Assert.Contains("platforms/no-such-box.conf", error.Message);
    }
}
