using Microsoft.Extensions.Configuration;

namespace IommuActors.Host.Telemetry;

/// <summary>
/// Where the host's metrics and health go (Iommu:PrometheusUrl, Iommu:OtlpEndpoint, Iommu:HealthUrl):
/// each is off while its setting is empty, which is the default. The Prometheus URL is where the
/// scrape is served (http://localhost:9464/ serves /metrics there); the health URL gets /alive and /ready.
/// </summary>
public sealed record TelemetrySettings(Uri? PrometheusUrl, Uri? OtlpEndpoint, Uri? HealthUrl)
{
    public static readonly IReadOnlyList<string> Keys = ["PrometheusUrl", "OtlpEndpoint", "HealthUrl"];

    public static TelemetrySettings Off { get; } = new(null, null, null);

    public bool MetricsOn => PrometheusUrl is not null || OtlpEndpoint is not null;

    public static TelemetrySettings From(IConfigurationSection section) => new(
        Url(section, "PrometheusUrl", "http://localhost:9464/"),
        Url(section, "OtlpEndpoint", "http://localhost:4317"),
        Url(section, "HealthUrl", "http://localhost:8558/"));

    private static Uri? Url(IConfigurationSection section, string key, string example)
    {
        var text = section[key];
        if (string.IsNullOrWhiteSpace(text)) return null;
        return Uri.TryCreate(text, UriKind.Absolute, out var url) && url.Scheme is "http" or "https"
            ? url
            : throw new SettingsException($"Iommu:{key} is \"{text}\": give an http URL such as {example}, or leave it empty for off.");
    }
}
