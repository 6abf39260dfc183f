using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace IommuActors.Host.Telemetry;

/// <summary>
/// The host's instruments (System.Diagnostics.Metrics, meter <see cref="MeterName"/>): what the
/// front door answers and holds. They cost next to nothing while no exporter listens; Iommu:PrometheusUrl
/// and Iommu:OtlpEndpoint turn exporters on (<see cref="TelemetrySetup"/>).
/// </summary>
public static class HostMetrics
{
    public const string MeterName = Core.Telemetry.IommuMetrics.MeterName;

    /// <summary>The one meter of the process (the entities' instruments are on it too).</summary>
    private static readonly Meter Meter = Core.Telemetry.IommuMetrics.Meter;

    /// <summary>Ioctls answered, by name and errno name ("0" for success).</summary>
    private static readonly Counter<long> Ioctls = Meter.CreateCounter<long>("iommu.ioctls", "{ioctl}", "Ioctls answered, by name and errno");

    private static readonly Histogram<double> IoctlDuration = Meter.CreateHistogram<double>("iommu.ioctl.duration", "s",
        "From the ioctl frame read to its reply, by name",
        advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1] });

    private static readonly UpDownCounter<long> InFlight = Meter.CreateUpDownCounter<long>("iommu.requests.in_flight", "{request}",
        "Ioctls sent on to a file and not answered yet");

    private static long _sessions, _waiting;

    static HostMetrics()
    {
        Meter.CreateObservableGauge("iommu.sessions", () => new[]
        {
            new Measurement<long>(Interlocked.Read(ref _sessions) - Interlocked.Read(ref _waiting), new KeyValuePair<string, object?>("state", "connected")),
            new Measurement<long>(Interlocked.Read(ref _waiting), new KeyValuePair<string, object?>("state", "awaiting_resume")),
        }, "{session}", "Client sessions of this node, connected or awaiting a resume");
    }

    public static long Started() => Stopwatch.GetTimestamp();

    public static void IoctlSent() => InFlight.Add(1);

    public static void IoctlsAbandoned(int count) => InFlight.Add(-count);

    public static void IoctlAnswered(string name, int errno, long started)
    {
        InFlight.Add(-1);
        var byName = new KeyValuePair<string, object?>("name", name);
        Ioctls.Add(1, byName, new KeyValuePair<string, object?>("errno", errno == 0 ? "0" : Uapi.Errno.Name(errno)));
        IoctlDuration.Record(Stopwatch.GetElapsedTime(started).TotalSeconds, byName);
    }

    /// <summary>The session directory's counts (it owns them; the gauge only reads them).</summary>
    public static void Sessions(int all, int waiting)
    {
        Interlocked.Exchange(ref _sessions, all);
        Interlocked.Exchange(ref _waiting, waiting);
    }
}
