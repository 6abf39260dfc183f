using Akka.Actor;
using Akka.Cluster;
using Akka.Hosting;
using Akka.Persistence.Sql.Hosting;
using IommuActors.Core.Configuration;
using IommuActors.Core.Persistence;
using IommuActors.Hardware;
using IommuActors.Hardware.Platform;
using IommuActors.Hardware.Units;
using IommuActors.Host.FrontDoor;
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
        var akkaLogLevel = AkkaLogLevel(builder.Configuration["Logging:LogLevel:Default"]);
        builder.Services.AddAkka(SystemName, (akka, services) =>
        {
            Configure(akka, settings, services);
            // Akka logs no finer than the host's default level (so a quiet host, as the benches start, says nothing even at shutdown).
            if (akkaLogLevel is { } level)
                akka.AddHocon($"akka.loglevel = {level}\nakka.stdout-loglevel = {level}", HoconAddMode.Prepend);
        });
        return builder.Build();
    }

    /// <summary>Akka's level for a host whose Logging:LogLevel:Default is coarser than Information; null to keep hocon/base.conf's.</summary>
    private static string? AkkaLogLevel(string? level) => level?.ToLowerInvariant() switch
    {
        "warning" => "WARNING",
        "error" or "critical" => "ERROR",
        "none" => "OFF",
        _ => null,
    };

    /// <summary>
    /// The Akka configuration of the host: HOCON files first, the chosen store's tuning over them; the
    /// journal and snapshot plugins themselves come from Akka.Persistence.Sql.Hosting (WithStore).
    /// </summary>
    public static Akka.Configuration.Config AkkaConfig(HostSettings settings) => HoconFiles.Combine(
        PersistenceSetup.TuningFor(settings.Store),
        settings.PlatformFile is null ? Akka.Configuration.Config.Empty
            : Akka.Configuration.ConfigurationFactory.ParseString(File.ReadAllText(settings.PlatformFile)),
        HoconFiles.Load(HoconFiles.Platform),
        HoconFiles.Load(HoconFiles.Ioasid),
        HoconFiles.Load(HoconFiles.Cluster),
        HoconFiles.Load(HoconFiles.Base));

    /// <summary>The least number of events between two snapshots of an entity (iommu.snapshot-floor in hocon/base.conf, SnapshotPolicy).</summary>
    private static int SnapshotFloor(Akka.Configuration.Config config) =>
        config.HasPath("iommu.snapshot-floor") ? config.GetInt("iommu.snapshot-floor") : 1000;

    private static void Configure(AkkaConfigurationBuilder akka, HostSettings settings, IServiceProvider services)
    {
        var status = services.GetRequiredService<HostStatus>();
        var log = services.GetRequiredService<ILoggerFactory>().CreateLogger("IommuActors.Host");
        Directory.CreateDirectory(settings.WorkDir);
        var config = AkkaConfig(settings);
        // A bad platform fails start-up here, with the loader's message naming the entry.
        var platform = HardwareModule.LoadPlatform(config);
        akka.AddHocon(config, HoconAddMode.Prepend)
            .WithStore(settings.Store)
            .ConfigureLoggers(loggers => loggers.AddLoggerFactory())
            .WithSubsystem(config, platform, SnapshotFloor(config),
                Fd.FdSettings.Default with { LockedPageLimit = settings.LockedPageLimit })
            .WithFrontDoor(settings, services)
            .AddStartup((system, registry) => JoinSelf(system, registry, platform, settings, status, log));
    }

    /// <summary>The SQL journal and snapshot store through Akka.Persistence.Sql.Hosting; the in-memory store is plain HOCON.</summary>
    private static AkkaConfigurationBuilder WithStore(this AkkaConfigurationBuilder akka, StoreOptions store) =>
        store.Kind == StoreKind.InMemory ? akka
            : akka.WithSqlPersistence(store.ConnectionString, PersistenceSetup.ProviderNameOf(store.Kind), autoInitialize: true);

    private static void JoinSelf(ActorSystem system, IActorRegistry registry, PlatformSpec platform,
        HostSettings settings, HostStatus status, ILogger log)
    {
        log.LogInformation("Working folder {WorkDir}", settings.WorkDir);
        log.LogInformation("Data kept in {Store}", settings.Store.Describe());
        var cluster = Cluster.Get(system);
        cluster.RegisterOnMemberUp(() => _ = BringUpUnits(system, registry, platform, status, log));
        cluster.RegisterOnMemberRemoved(() => log.LogInformation("Left the cluster; stopping"));
        system.WhenTerminated.ContinueWith(_ => log.LogInformation("Actor system stopped cleanly"),
            TaskScheduler.Default);
        if (settings.Join is { } seed)
        {
            log.LogInformation("Joining the cluster of {Seed}", seed);
            cluster.Join(Address.Parse(seed));
        }
        else
            cluster.Join(cluster.SelfAddress);
    }

    /// <summary>
    /// Ready means every IOMMU unit of the platform answers through its shard region (recovered
    /// from the store), not merely that the node is Up. Runs outside any actor, so Ask is fine here.
    /// </summary>
    private static async Task BringUpUnits(ActorSystem system, IActorRegistry registry, PlatformSpec platform,
        HostStatus status, ILogger log)
    {
        try
        {
            var units = registry.Get<UnitRegion>();
            var infos = await Task.WhenAll(platform.Units.Select(u =>
                units.Ask<UnitProtocol.UnitInfo>(new UnitProtocol.GetUnitInfo(u.Name), TimeSpan.FromSeconds(30))));
            var cluster = Cluster.Get(system);
            log.LogInformation("Ready: {Address} is Up in a cluster of {Members}; IOMMU units {Units} and {Devices} devices online",
                cluster.SelfAddress, cluster.State.Members.Count,
                string.Join(", ", infos.Select(i => $"{i.Spec.Name} ({i.Spec.Kind}, {i.Domains} domains)")),
                platform.Devices.Length);
            status.MarkReady(system);
        }
        catch (Exception error)
        {
            log.LogError(error, "The IOMMU units did not come up");
            status.MarkFailed(error);
            await CoordinatedShutdown.Get(system).Run(CoordinatedShutdown.ClusterDowningReason.Instance);
        }
    }
}
