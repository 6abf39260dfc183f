using Akka.Actor;
using Akka.Cluster;
using Akka.Hosting;
using IommuActors.Core.Configuration;
using IommuActors.Core.Persistence;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace IommuActors.Host;

/// <summary>Builds the hosted actor system: the same code path for the command line and the specs.</summary>
public static class IommuHost
{
    public const string SystemName = "iommu";

    public static IHost Build(string[] args, Action<IHostApplicationBuilder>? configure = null)
    {
        var builder = Microsoft.Extensions.Hosting.Host.CreateApplicationBuilder(new HostApplicationBuilderSettings
        {
            Args = args,
            ContentRootPath = AppContext.BaseDirectory,
        });
        configure?.Invoke(builder);
        var settings = HostSettings.From(builder.Configuration);
        builder.Services.AddSingleton(settings);
        builder.Services.AddSingleton<HostStatus>();
        builder.Services.AddAkka(SystemName, (akka, services) => Configure(akka, settings, services));
        return builder.Build();
    }

    /// <summary>The Akka configuration of the host: HOCON files first, the chosen store over them.</summary>
    public static Akka.Configuration.Config AkkaConfig(HostSettings settings) => HoconFiles.Combine(
        PersistenceSetup.ConfigFor(settings.Store),
        HoconFiles.Load(HoconFiles.Cluster),
        HoconFiles.Load(HoconFiles.Base));

    private static void Configure(AkkaConfigurationBuilder akka, HostSettings settings, IServiceProvider services)
    {
        var status = services.GetRequiredService<HostStatus>();
        var log = services.GetRequiredService<ILoggerFactory>().CreateLogger("IommuActors.Host");
        Directory.CreateDirectory(settings.WorkDir);
        akka.AddHocon(AkkaConfig(settings), HoconAddMode.Prepend)
            .ConfigureLoggers(loggers => loggers.AddLoggerFactory())
            .AddStartup((system, _) => JoinSelf(system, settings, status, log));
    }

    private static void JoinSelf(ActorSystem system, HostSettings settings, HostStatus status, ILogger log)
    {
        log.LogInformation("Working folder {WorkDir}", settings.WorkDir);
        log.LogInformation("Data kept in {Store}", settings.Store.Describe());
        log.LogInformation("Socket path {Socket} (the front door is not served yet)", settings.SocketPath);
        var cluster = Cluster.Get(system);
        cluster.RegisterOnMemberUp(() =>
        {
            log.LogInformation("Ready: {Address} is Up in a cluster of {Members}, sharding started",
                cluster.SelfAddress, cluster.State.Members.Count);
            status.MarkReady(system);
        });
        cluster.RegisterOnMemberRemoved(() => log.LogInformation("Left the cluster; stopping"));
        system.WhenTerminated.ContinueWith(_ => log.LogInformation("Actor system stopped cleanly"),
            TaskScheduler.Default);
        cluster.Join(cluster.SelfAddress);
    }
}
