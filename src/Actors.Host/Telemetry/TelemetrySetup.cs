using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using IommuActors.Core.Persistence;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;

namespace IommuActors.Host.Telemetry;

/// <summary>
/// Metrics exporters (a Prometheus scrape endpoint, OTLP) and the health endpoints (/alive, /ready),
/// each registered only when its Iommu: setting is given.
/// </summary>
public static class TelemetrySetup
{
    public const string ReadyTag = "ready";

    public static void Add(IServiceCollection services, HostSettings settings)
    {
        var telemetry = settings.Telemetry;
        if (telemetry.MetricsOn)
            services.AddOpenTelemetry().ConfigureResource(r => r.AddService("iommu-actors")).WithMetrics(metrics =>
            {
                metrics.AddMeter(HostMetrics.MeterName);
                if (telemetry.PrometheusUrl is { } prometheus)
                    metrics.AddPrometheusHttpListener(o =>
                    {
                        o.Host = prometheus.Host;
                        o.Port = prometheus.Port;
                        o.ScrapeEndpointPath = prometheus.AbsolutePath is "/" or "" ? "/metrics" : prometheus.AbsolutePath;
                    });
                if (telemetry.OtlpEndpoint is { } otlp)
                    metrics.AddOtlpExporter(o => o.Endpoint = otlp);
            });
        if (telemetry.HealthUrl is null) return;
        services.AddHealthChecks()
            .Add(new HealthCheckRegistration("cluster", sp => new ClusterUp(sp.GetRequiredService<HostStatus>()), null, [ReadyTag]))
            .AddCheck("socket", new SocketListening(settings.SocketPath), tags: [ReadyTag])
            .AddCheck("store", new StoreReachable(settings.Store), tags: [ReadyTag]);
        services.AddHostedService(sp => new HealthEndpoint(Prefix(telemetry.HealthUrl), sp.GetRequiredService<HealthCheckService>(),
            sp.GetRequiredService<ILoggerFactory>().CreateLogger("IommuActors.Host.Health")));
    }

    /// <summary>HttpListener wants a prefix ending in '/'.</summary>
    private static string Prefix(Uri url) => url.AbsoluteUri.EndsWith('/') ? url.AbsoluteUri : url.AbsoluteUri + "/";

    /// <summary>The node is an Up member and every IOMMU unit answered (the Ready line).</summary>
    private sealed class ClusterUp(HostStatus status) : IHealthCheck
    {
        public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
        {
            var ready = status.Ready;
            return Task.FromResult(ready.IsCompletedSuccessfully && HostStatus.IsUp(ready.Result)
                ? HealthCheckResult.Healthy("Up, units answering")
                : HealthCheckResult.Unhealthy(ready.IsFaulted ? "the IOMMU units did not come up" : "not Ready, or no longer Up"));
        }
    }

    /// <summary>The front door accepts a connection on its socket.</summary>
    private sealed class SocketListening(string path) : IHealthCheck
    {
        public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
        {
            using var probe = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            try
            {
                await probe.ConnectAsync(new UnixDomainSocketEndPoint(path), cancellationToken);
                return HealthCheckResult.Healthy($"listening on {path}");
            }
            catch (SocketException e)
            {
                return HealthCheckResult.Unhealthy($"{path}: {e.Message}");
            }
        }
    }

    /// <summary>The journal's database answers a trivial query (always, for the in-memory journal).</summary>
    private sealed class StoreReachable(StoreOptions store) : IHealthCheck
    {
        public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
        {
            try
            {
                System.Data.Common.DbConnection? connection = store.Kind switch
                {
                    StoreKind.Sqlite => new Microsoft.Data.Sqlite.SqliteConnection(store.ConnectionString + ";Mode=ReadOnly"),
                    StoreKind.PostgreSql => new Npgsql.NpgsqlConnection(store.ConnectionString),
                    _ => null,
                };
                if (connection is null) return HealthCheckResult.Healthy(store.Describe());
                await using (connection)
                {
                    await connection.OpenAsync(cancellationToken);
                    await using var command = connection.CreateCommand();
                    command.CommandText = "SELECT 1";
                    await command.ExecuteScalarAsync(cancellationToken);
                }
                return HealthCheckResult.Healthy(store.Describe());
            }
            catch (Exception e) when (e is System.Data.Common.DbException or InvalidOperationException or IOException)
            {
                return HealthCheckResult.Unhealthy($"{store.Describe()}: {e.Message}");
            }
        }
    }
}

/// <summary>
/// GET /alive: 200 while the process serves at all (a supervisor restarts it otherwise); GET /ready:
/// 200 when the cluster is Up with its units, the socket listens and the store answers, else 503;
/// both with a JSON body naming each check.
/// </summary>
public sealed class HealthEndpoint(string prefix, HealthCheckService checks, ILogger log) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var listener = new HttpListener();
        listener.Prefixes.Add(prefix);
        listener.Start();
        log.LogInformation("Health at {Prefix}alive and {Prefix}ready", prefix, prefix);
        await using var stop = stoppingToken.Register(listener.Stop);
        while (!stoppingToken.IsCancellationRequested)
        {
            HttpListenerContext context;
            try { context = await listener.GetContextAsync(); }
            catch (Exception e) when (e is HttpListenerException or ObjectDisposedException) { return; }
            _ = Answer(context, stoppingToken);
        }
    }

    private async Task Answer(HttpListenerContext context, CancellationToken ct)
    {
        using var response = context.Response;
        var path = context.Request.Url?.AbsolutePath.TrimEnd('/') ?? "";
        HealthReport? report = path.EndsWith("/ready", StringComparison.Ordinal)
            ? await checks.CheckHealthAsync(r => r.Tags.Contains(TelemetrySetup.ReadyTag), ct)
            : path.EndsWith("/alive", StringComparison.Ordinal) ? await checks.CheckHealthAsync(_ => false, ct) : null;
        if (report is null)
        {
            response.StatusCode = 404;
            return;
        }
        response.StatusCode = report.Status == HealthStatus.Healthy ? 200 : 503;
        response.ContentType = "application/json";
        var body = JsonSerializer.SerializeToUtf8Bytes(new
        {
            status = report.Status.ToString(),
            checks = report.Entries.ToDictionary(e => e.Key, e => new { status = e.Value.Status.ToString(), description = e.Value.Description }),
        });
        await response.OutputStream.WriteAsync(body, ct);
    }
}
