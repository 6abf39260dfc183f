using System.Net;
using System.Net.Sockets;
using IommuActors.Client;
using IommuActors.TestSupport;
using IommuActors.Uapi;
using IommuActors.Uapi.Structs;
using Xunit;

namespace IommuActors.FrontDoor.Tests;

/// <summary>
/// Issue 17 point 6: with Iommu:PrometheusUrl and Iommu:HealthUrl set, a running host serves a
/// Prometheus scrape of its ioctls (by name and errno, with a latency histogram) and sessions, and
/// /alive and /ready for a supervisor; without them, nothing listens.
/// The meter is the process's (System.Diagnostics.Metrics), so these specs run alone: another spec's
/// host answering ioctls meanwhile would be counted in this host's scrape too.
/// </summary>
[Collection(Alone)]
public sealed class MetricsSpecs
{
    public const string Alone = "metrics: no other spec's ioctls while it counts";

    [Fact]
    public async Task A_scrape_of_a_running_host_counts_its_ioctls_by_name_and_errno_and_ready_says_what_was_checked()
    {
        var (metricsPort, healthPort) = (FreePort(), FreePort());
        await using var host = await TestHost.RealAsync(
            "--Iommu:PrometheusUrl", $"http://localhost:{metricsPort}/", "--Iommu:HealthUrl", $"http://localhost:{healthPort}/");
        await using var client = await IommuClient.ConnectAsync(host.SocketPath);
        var iommufd = await client.OpenAsync("/dev/iommu");
        await client.IoctlAsync(iommufd, Ioctls.IOMMU_IOAS_ALLOC, new IommuIoasAlloc(12, 0, 0));
        await client.IoctlAsync(iommufd, Ioctls.IOMMU_IOAS_ALLOC, new IommuIoasAlloc(12, 0, 0));
        var refused = await client.IoctlRawAsync(iommufd, Ioctls.IOMMU_IOAS_ALLOC, 0, new byte[8]); // size below the struct: EINVAL
        Assert.Equal(Errno.EINVAL, refused.Errno);

        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        var scrape = await http.GetStringAsync($"http://localhost:{metricsPort}/metrics");
        var lines = scrape.Split('\n');

        Assert.Contains(lines, l => l.StartsWith("iommu_ioctls_total{", StringComparison.Ordinal)
                                    && l.Contains("name=\"IOMMU_IOAS_ALLOC\"") && l.Contains("errno=\"0\"") && l.EndsWith(" 2", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("iommu_ioctls_total{", StringComparison.Ordinal)
                                    && l.Contains("name=\"IOMMU_IOAS_ALLOC\"") && l.Contains("errno=\"EINVAL\""));
        Assert.Contains(lines, l => l.StartsWith("iommu_ioctl_duration_seconds_count{", StringComparison.Ordinal) && l.Contains("name=\"IOMMU_IOAS_ALLOC\""));
        Assert.Contains(lines, l => l.StartsWith("iommu_ioctl_duration_seconds_bucket{", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("iommu_sessions{", StringComparison.Ordinal) && l.Contains("state=\"connected\""));
        Assert.Contains(lines, l => l.StartsWith("iommu_requests_in_flight", StringComparison.Ordinal));

        using var alive = await http.GetAsync($"http://localhost:{healthPort}/alive");
        Assert.Equal(HttpStatusCode.OK, alive.StatusCode);
        using var ready = await http.GetAsync($"http://localhost:{healthPort}/ready");
        var body = await ready.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
        Assert.Contains("\"cluster\":{\"status\":\"Healthy\"", body);
        Assert.Contains("\"socket\":{\"status\":\"Healthy\"", body);
        Assert.Contains("\"store\":{\"status\":\"Healthy\"", body);
    }

    [Fact]
    public async Task A_scrape_after_known_ioctls_shows_journal_writes_live_objects_and_mappings_pasids_per_set_and_notifier_rounds()
    {
        var metricsPort = FreePort();
        await using var host = await TestHost.RealAsync("--Iommu:PrometheusUrl", $"http://localhost:{metricsPort}/");
        var vmm = await VmmSetup.StartAsync(host.SocketPath); // an IOAS, vfio0 bound and attached to it: IDs 1, 2, 3
        var rw = IoasMapFlags.Readable | IoasMapFlags.Writeable;
        // With a device attached the pages are pinned at the map, so they must be there (else EFAULT).
        vmm.Client.Memory.Map(0x7f00_0000_0000, 0x2000);
        vmm.Client.Memory.Map(0x7f00_1000_0000, 0x1000);
        await vmm.Client.IoctlAsync(vmm.Iommufd, Ioctls.IOMMU_IOAS_MAP, new IommuIoasMap(40, rw, 1, 0, 0x7f00_0000_0000, 0x2000, 0));
        await vmm.Client.IoctlAsync(vmm.Iommufd, Ioctls.IOMMU_IOAS_MAP, new IommuIoasMap(40, rw, 1, 0, 0x7f00_1000_0000, 0x1000, 0));
        await vmm.Client.IoctlAsync(vmm.Iommufd, EmulatorIoctls.PASID_ALLOC, new EmuPasidAlloc(12, 0, 0));
        await vmm.Client.IoctlAsync(vmm.Iommufd, EmulatorIoctls.PASID_ALLOC, new EmuPasidAlloc(12, 0, 0));
        var set = $"pasid-set-{vmm.ContextFile}";

        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        var lines = (await http.GetStringAsync($"http://localhost:{metricsPort}/metrics")).Split('\n');

        // The context's table: the IOAS, the device and the HWPT its attach made (IOMMU_HWPT_ALLOC made none).
        Assert.Equal(1, Value(lines, "iommu_objects{", "kind=\"Ioas\""));
        Assert.Equal(1, Value(lines, "iommu_objects{", "kind=\"Device\""));
        Assert.Equal(1, Value(lines, "iommu_objects{", "kind=\"HwptPaging\""));
        Assert.Equal(2, Value(lines, "iommu_ioas_mappings"));
        Assert.Equal(2, Value(lines, "iommu_pasid_set_pasids{", $"set=\"{set}\""));
        // Every map and alloc was journaled: the IOAS's two maps at least, each write timed once.
        Assert.True(Value(lines, "iommu_journal_write_duration_seconds_count{", "entity=\"Ioas\"") >= 2);
        Assert.True(Value(lines, "iommu_journal_write_duration_seconds_count{", "entity=\"PasidSet\"") >= 2);
        var ioasSeconds = Value(lines, "iommu_journal_write_duration_seconds_sum{", "entity=\"Ioas\"");
        Assert.InRange(ioasSeconds, double.Epsilon, 30);
        // Each ALLOC is a notifier round that every subscriber of the set acknowledged.
        Assert.Equal(2, Value(lines, "iommu_notifier_rounds_total{", "event=\"Alloc\"", "outcome=\"acknowledged\""));
        // The VM's vCPU and IOMMU subscribers acknowledged each ALLOC: their latencies are timed.
        Assert.True(Value(lines, "iommu_notifier_ack_duration_seconds_count{", "event=\"Alloc\"") >= 2);
        Assert.DoesNotContain(lines, l => l.StartsWith("iommu_notifier_rounds_total{", StringComparison.Ordinal) && l.Contains("outcome=\"unanswered\""));

        await vmm.Client.DisposeAsync();
    }

    /// <summary>The value of the one sample line of <paramref name="metric"/> that carries every label given.</summary>
    private static double Value(string[] lines, string metric, params string[] labels)
    {
        var matching = lines.Where(l => l.StartsWith(metric, StringComparison.Ordinal)
                                        && (metric.EndsWith('{') || l.Length > metric.Length && l[metric.Length] is ' ' or '{')
                                        && labels.All(l.Contains)).ToList();
        Assert.True(matching.Count == 1, $"{metric} {string.Join(",", labels)}: {matching.Count} lines in\n{string.Join("\n", lines.Where(l => l.StartsWith("iommu_", StringComparison.Ordinal)))}");
        return double.Parse(matching[0][(matching[0].LastIndexOf(' ') + 1)..], System.Globalization.CultureInfo.InvariantCulture);
    }

    [Fact]
    public async Task Ready_is_503_naming_the_socket_when_the_front_door_does_not_listen()
    {
        var healthPort = FreePort();
        await using var host = await TestHost.RealAsync("--Iommu:HealthUrl", $"http://localhost:{healthPort}/");
        File.Delete(host.SocketPath); // the listener is still there, but nobody can reach it through that path

        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        using var ready = await http.GetAsync($"http://localhost:{healthPort}/ready");
        var body = await ready.Content.ReadAsStringAsync();

        Assert.Equal(HttpStatusCode.ServiceUnavailable, ready.StatusCode);
        Assert.Contains("\"socket\":{\"status\":\"Unhealthy\"", body);
        Assert.Contains("\"cluster\":{\"status\":\"Healthy\"", body);
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}

[CollectionDefinition(MetricsSpecs.Alone, DisableParallelization = true)]
public sealed class MetricsAlone;
