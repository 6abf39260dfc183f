using Akka.Actor;
using Akka.Hosting;
using IommuActors.Client;
using IommuActors.Core.Configuration;
using IommuActors.Host;
using IommuActors.TestSupport;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Xunit;

namespace IommuActors.Fd.Tests.Pasid;

/// <summary>
/// A real host of the default platform, on the in-memory store, whose system PASID space is small
/// (<see cref="FirstPasid"/>..<see cref="LastPasid"/>), so a freed PASID is handed out again within a
/// few allocations and the space runs out (ENOSPC) before the sets' quotas do: the platform file given
/// with Iommu:Platform is hocon/platform.conf plus an iommu-actors.ioasid block. The spec reaches the
/// host's space, units and IOMMU driver through its actor registry to look at what they hold.
/// </summary>
public sealed class SmallSpaceHost : IAsyncLifetime
{
    public const int FirstPasid = 1;
    public const int LastPasid = 14;

    private IHost? _host;

    public string SocketPath { get; private set; } = "";
    public ActorSystem System { get; private set; } = null!;
    public IActorRef Space { get; private set; } = ActorRefs.Nobody;
    public IActorRef Units { get; private set; } = ActorRefs.Nobody;
    public IActorRef Driver { get; private set; } = ActorRefs.Nobody;

    public async Task InitializeAsync()
    {
        var workDir = TempFolder.Create("fd-small-space");
        var box = Path.Combine(workDir, "box.conf");
        await File.WriteAllTextAsync(box, await File.ReadAllTextAsync(HoconFiles.PathOf(HoconFiles.Platform)) +
            $"\niommu-actors.ioasid {{ first-pasid = {FirstPasid}, last-pasid = {LastPasid}, capacity = {LastPasid - FirstPasid + 1} }}\n");
        _host = IommuHost.Build(["--Iommu:WorkDir", workDir, "--Iommu:Store", "memory", "--Iommu:Platform", box]);
        await _host.StartAsync();
        System = await _host.Services.GetRequiredService<HostStatus>().Ready.WaitAsync(TimeSpan.FromSeconds(60));
        var registry = ActorRegistry.For(System);
        Space = registry.Get<PasidSpaceKey>();
        Units = registry.Get<UnitRegion>();
        Driver = registry.Get<IommuDriverKey>();
        SocketPath = Path.Combine(workDir, "run", "iommufd.sock");
    }

    public async Task DisposeAsync()
    {
        if (_host is null)
            return;
        await _host.StopAsync();
        _host.Dispose();
    }

    /// <summary>A client whose memory at <paramref name="address"/> is <paramref name="memory"/>.</summary>
    public IommuClient Connect(ulong address, byte[] memory)
    {
        var client = IommuClient.ConnectAsync(SocketPath).GetAwaiter().GetResult();
        client.Memory.Map(address, memory);
        return client;
    }

    /// <summary>One of the VM subscribers (kind "kvm" or "vdcm") the notifier runs for a set, as its node actor names them.</summary>
    public ActorSelection VmSubscriber(string kind, string setKey) =>
        System.ActorSelection($"/user/{Notifier.NotifierModule.VmSubscribers}/{kind}-{Uri.EscapeDataString(setKey)}");
}
