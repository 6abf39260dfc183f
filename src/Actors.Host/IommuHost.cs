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
        // Everything a user can get wrong is checked before the actor system starts: one line each (HostRunner).
        var config = AkkaConfigOf(settings);
        var platform = PlatformOf(config, settings);
        SocketServer.RefuseIfAnswered(settings.SocketPath);
        builder.Services.AddSingleton(settings);
        builder.Services.AddSingleton<HostStatus>();
        Telemetry.TelemetrySetup.Add(builder.Services, settings);
        // One line per entry, with the time: what a person reads in a terminal or a journal.
        builder.Logging.AddSimpleConsole(o =>
        {
            o.SingleLine = true;
            o.TimestampFormat = "HH:mm:ss ";
        });
        var akkaLogLevel = AkkaLogLevel(builder.Configuration["Logging:LogLevel:Akka"] ?? builder.Configuration["Logging:LogLevel:Default"]);
        builder.Services.AddAkka(SystemName, (akka, services) =>
        {
            Configure(akka, settings, config, platform, services);
            // Akka logs no finer than the host's default level (so a quiet host, as the benches start, says nothing even at shutdown).
            if (akkaLogLevel is { } level)
                akka.AddHocon($"akka.loglevel = {level}\nakka.stdout-loglevel = {level}", HoconAddMode.Prepend);
        });
        return builder.Build();
    }

    /// <summary>
    /// Akka's own level from Logging:LogLevel:Akka (else Default), so Akka does not even format what
    /// the logger would drop; null to keep hocon/base.conf's.
    /// </summary>
    private static string? AkkaLogLevel(string? level) => level?.ToLowerInvariant() switch
    {
        "trace" or "debug" => "DEBUG",
        "information" => "INFO",
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
        Membership.ClusterSetup.ConfigFor(settings),
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

    /// <summary>The HOCON of the host; a platform file that does not parse is a settings error.</summary>
    private static Akka.Configuration.Config AkkaConfigOf(HostSettings settings)
    {
        try { return AkkaConfig(settings); }
        catch (Exception e) when (e is not SettingsException and not FileNotFoundException)
        {
            throw new SettingsException($"Iommu:Platform file {settings.PlatformFile} is not valid HOCON: {e.Message.ReplaceLineEndings(" ")}", e);
        }
    }

    /// <summary>The emulated box: a platform file must set iommu.platform, and a bad one names the offending unit or device.</summary>
    private static PlatformSpec PlatformOf(Akka.Configuration.Config config, HostSettings settings)
    {
        var where = settings.PlatformFile is null ? "the default platform (hocon/platform.conf)" : $"Iommu:Platform file {settings.PlatformFile}";
        if (settings.PlatformFile is { } file
            && !Akka.Configuration.ConfigurationFactory.ParseString(File.ReadAllText(file)).HasPath("iommu.platform"))
            throw new SettingsException($"{where} does not set iommu.platform: see hocon/platform.conf for the layout.");
        try { return HardwareModule.LoadPlatform(config); }
        catch (PlatformConfigException e) { throw new SettingsException($"{where}: {e.Message}", e); }
    }

    private static void Configure(AkkaConfigurationBuilder akka, HostSettings settings, Akka.Configuration.Config config,
        PlatformSpec platform, IServiceProvider services)
    {
        var status = services.GetRequiredService<HostStatus>();
        var log = services.GetRequiredService<ILoggerFactory>().CreateLogger("IommuActors.Host");
        Directory.CreateDirectory(settings.WorkDir);
        akka.AddHocon(config, HoconAddMode.Prepend)
            .WithStore(settings.Store)
            .ConfigureLoggers(loggers => loggers.AddLoggerFactory())
            .WithSubsystem(config, platform, SnapshotFloor(config),
                Fd.FdSettings.Default with { LockedPageLimit = settings.LockedPageLimit })
            .WithFrontDoor(settings, services)
            .AddStartup((system, registry) => JoinSelf(system, registry, platform, settings, config, status, log));
    }

    /// <summary>The SQL journal and snapshot store through Akka.Persistence.Sql.Hosting; the in-memory store is plain HOCON.</summary>
    private static AkkaConfigurationBuilder WithStore(this AkkaConfigurationBuilder akka, StoreOptions store) =>
        store.Kind == StoreKind.InMemory ? akka
            : akka.WithSqlPersistence(store.ConnectionString, PersistenceSetup.ProviderNameOf(store.Kind), autoInitialize: true);

    private static void JoinSelf(ActorSystem system, IActorRegistry registry, PlatformSpec platform,
        HostSettings settings, Akka.Configuration.Config config, HostStatus status, ILogger log)
    {
        log.LogInformation("Working folder {WorkDir}", settings.WorkDir);
        log.LogInformation("Data kept in {Store}", settings.Store.Describe());
        if (settings.Telemetry.PrometheusUrl is { } scrape)
            log.LogInformation("Metrics for Prometheus at {Url}", scrape.AbsolutePath is "/" ? new Uri(scrape, "metrics") : scrape);
        if (settings.Telemetry.OtlpEndpoint is { } otlp)
            log.LogInformation("Metrics sent by OTLP to {Url}", otlp);
        log.LogInformation("Platform {File}: {Units} IOMMU units, {Devices} devices",
            settings.PlatformFile ?? "hocon/platform.conf (the default box)", platform.Units.Length, platform.Devices.Length);
        var cluster = Cluster.Get(system);
        cluster.RegisterOnMemberUp(() => _ = BringUpUnits(system, registry, platform, status, log));
        cluster.RegisterOnMemberRemoved(() => log.LogInformation("Left the cluster; stopping"));
        system.WhenTerminated.ContinueWith(_ => log.LogInformation("Actor system stopped cleanly"),
            TaskScheduler.Default);
        Membership.ClusterSetup.Join(system, settings, config, log, reason =>
        {
            log.LogError("{Reason}", reason);
            status.MarkLost(reason);
            _ = CoordinatedShutdown.Get(system).Run(CoordinatedShutdown.ClusterDowningReason.Instance);
        });
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
            log.LogError("The IOMMU units did not come up: {Error}", error.Message);
            status.MarkFailed(error);
            await CoordinatedShutdown.Get(system).Run(CoordinatedShutdown.ClusterDowningReason.Instance);
        }
    }
}
