using Akka.Actor;
using Akka.Hosting;
using IommuActors.Fd.Files;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace IommuActors.Host.FrontDoor;

/// <summary>
/// A throw-away host for the benches (bench/Actors.Bench, iommuctl bench): its own working folder
/// under the temporary folder, the given store, and either the real files or files that answer at
/// once (so that what is measured is the front door alone).
/// </summary>
public sealed class MeasuredHost : IAsyncDisposable
{
    private readonly IHost _host;

    public string WorkDir { get; }
    public string SocketPath => Path.Combine(WorkDir, "run", "iommufd.sock");

    private MeasuredHost(IHost host, string workDir)
    {
        _host = host;
        WorkDir = workDir;
    }

    /// <summary>A fresh folder for one bench run (also where an echo server's socket can go).</summary>
    public static string NewWorkDir(string name)
    {
        var workDir = Path.Combine(Path.GetTempPath(), "iommu-bench", $"{name}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(workDir);
        return workDir;
    }

    public static async Task<MeasuredHost> StartAsync(string workDir, string store, bool noOpFiles = false)
    {
        // Quiet: the bench's own table is what its user reads, not the throw-away host's log.
        var host = IommuHost.Build(["--Iommu:WorkDir", workDir, "--Iommu:Store", store,
                "--Logging:LogLevel:Default", "Error", "--Logging:LogLevel:Microsoft.Hosting.Lifetime", "Error"],
            b => { if (noOpFiles) b.Services.AddSingleton<IFileRegionProvider>(new NoOpFiles()); });
        await host.StartAsync();
        await host.Services.GetRequiredService<HostStatus>().Ready;
        return new MeasuredHost(host, workDir);
    }

    public async ValueTask DisposeAsync()
    {
        await _host.StopAsync();
        _host.Dispose();
    }

    private sealed class NoOpFiles : IFileRegionProvider
    {
        public IActorRef Resolve(ActorSystem system, IActorRegistry registry) =>
            system.ActorOf(Props.Create(() => new NoOpFile()), "no-op-files");
    }

    /// <summary>Answers every request at once: what is measured is the front door, not a file.</summary>
    private sealed class NoOpFile : ReceiveActor
    {
        public NoOpFile()
        {
            Receive<FileProtocol.Open>(o => Sender.Tell(new FileProtocol.Opened(o.FileId, 0)));
            Receive<FileProtocol.Ioctl>(i => Sender.Tell(new FileProtocol.IoctlDone(i.FileId, i.Tag, 0, 0, [])));
            Receive<FileProtocol.Release>(r => Sender.Tell(new FileProtocol.Released(r.FileId)));
        }
    }
}
