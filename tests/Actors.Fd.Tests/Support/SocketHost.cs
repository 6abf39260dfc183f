using IommuActors.Client;
using IommuActors.Host;
using IommuActors.TestSupport;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Xunit;

namespace IommuActors.Fd.Tests.Support;

/// <summary>
/// A real host as users run it (the README's, on the in-memory store) with its front door on a
/// socket, shared by the specs of one class: each spec connects its own client, so it gets its
/// own contexts, and its fds close when it ends.
/// </summary>
public sealed class SocketHost : IAsyncLifetime
{
    private IHost? _host;

    public string SocketPath { get; private set; } = "";

    public async Task InitializeAsync()
    {
        var workDir = TempFolder.Create("fd-socket");
        _host = IommuHost.Build(["--Iommu:WorkDir", workDir, "--Iommu:Store", "memory"]);
        await _host.StartAsync();
        await _host.Services.GetRequiredService<HostStatus>().Ready.WaitAsync(TimeSpan.FromSeconds(60));
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
}
