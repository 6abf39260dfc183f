using Akka.Actor;
using Akka.Hosting;
using IommuActors.Fd.Files;
using IommuActors.Uapi;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace IommuActors.Host.FrontDoor;

/// <summary>
/// Where the front door finds the file region. The host's default reads the registry's
/// <see cref="Host.FileRegion"/> (Regions.cs); specs and benches register their own (a fake region) in DI.
/// </summary>
public interface IFileRegionProvider
{
    IActorRef Resolve(ActorSystem system, IActorRegistry registry);
}

/// <summary>ActorRegistry key of the session directory.</summary>
public sealed class SessionDirectory;

public static class FrontDoorSetup
{
    /// <summary>Starts the session directory and the socket listener, and stops the listener first on shutdown.</summary>
    public static AkkaConfigurationBuilder WithFrontDoor(this AkkaConfigurationBuilder akka, HostSettings settings,
        IServiceProvider services) =>
        akka.AddStartup((system, registry) => Start(system, registry, settings, services));

    private static void Start(ActorSystem system, IActorRegistry registry, HostSettings settings, IServiceProvider services)
    {
        var log = services.GetRequiredService<ILoggerFactory>().CreateLogger("IommuActors.Host.FrontDoor");
        var files = services.GetService<IFileRegionProvider>()?.Resolve(system, registry) ?? DefaultFiles(system, registry, log);
        // Kept alive: a failed journal write stops it, and every connection of this node would wait on it.
        var sessions = system.ActorOf(Core.Supervision.RestartWithBackoff.Props(SessionDirectoryActor.Props(files, settings.FrontDoor.SessionGracePeriod,
            settings.Membership.Alone ? SessionDirectoryActor.Name : SessionDirectoryActor.JoiningNodeId(settings.SocketPath), log), "directory"), SessionDirectoryActor.Name);
        var trace = system.ActorOf(TraceRelay.Props(), TraceRelay.Name);
        registry.TryRegister<SessionDirectory>(sessions);
        registry.TryGet<PlatformRegistryKey>(out var platform);
        registry.TryGet<UnitRegion>(out var units);
        registry.TryGet<PasidSetRegion>(out var sets);
        registry.TryGet<NotifierBusKey>(out var bus);
        var status = new StatusSource(system, platform,
            new HostFacts(settings.SocketPath, settings.WorkDir, settings.Store.Describe()), units,
            new IntrospectSources(files, () => FrontDoorNodes.Everywhere(system, sessions), platform, sets, bus));
        var connections = system.ActorOf(ConnectionsActor.Props(), "front-door");

        long number = 0;
        SocketServer server = null!;
        server = new SocketServer(settings.SocketPath, log, (_, reader, sink, peer) =>
            new ConnectionsActor.Accepted(Interlocked.Increment(ref number),
                new ConnectionContext(sink, peer.Pid, peer.Uid, files, sessions, status, settings.FrontDoor, bus, trace),
                reader, () => server.Stopping), connections);
        server.Start();
        CoordinatedShutdown.Get(system).AddTask(CoordinatedShutdown.PhaseServiceUnbind, "front-door-close", async () =>
        {
            await server.StopAsync();
            return Akka.Done.Instance;
        });
    }

    private static IActorRef DefaultFiles(ActorSystem system, IActorRegistry registry, ILogger log)
    {
        if (registry.TryGet<Host.FileRegion>(out var region)) return region;
        log.LogWarning("No file region is registered: every OPEN over the socket answers ENODEV");
        return system.ActorOf(Props.Create(() => new NoFiles()), "no-files");
    }

    /// <summary>Stands in for the file region in a host built without one.</summary>
    private sealed class NoFiles : ReceiveActor
    {
        public NoFiles()
        {
            Receive<FileProtocol.Open>(o => Sender.Tell(new FileProtocol.Opened(o.FileId, Errno.ENODEV)));
            Receive<FileProtocol.Release>(r => Sender.Tell(new FileProtocol.Released(r.FileId)));
        }
    }
}
