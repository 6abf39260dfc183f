using IommuActors.TestSupport;
using Xunit;

namespace IommuActors.Host.Tests.Hosting;

/// <summary>
/// Issue 17 point 2: what a person sees when the host cannot start. Each error is one line on
/// stderr naming the setting and what it accepts, without a stack trace; exit code 2 for bad
/// configuration, 1 for a failure at run time.
/// </summary>
public sealed class HostStartupErrorSpecs
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(90);

    public static TheoryData<string[], string> BadSettings => new()
    {
        { ["--Iommu:Store", "banana"], "Actors.Host: Iommu:Store is \"banana\": expected sqlite, postgresql or memory." },
        { ["--Iommu:Store", "postgresql"], "Actors.Host: Iommu:Store is postgresql but Iommu:ConnectionString is not set: give an Npgsql connection string, e.g. \"Host=localhost;Database=iommu;Username=iommu;Password=...\"." },
        { ["--Iommu:LockedMemoryLimit", "banana"], "Actors.Host: Iommu:LockedMemoryLimit is \"banana\": give bytes (optionally with K, M or G) or unlimited." },
        { ["--Iommu:Platform", "platforms/no-such-box.conf"], "Actors.Host: Iommu:Platform names platforms/no-such-box.conf, which is neither in the working folder nor among the shipped HOCON files (platforms/amd-vi.conf, platforms/arm-smmuv3.conf, ...)." },
        { ["--Iommu:SessionGracePeriod", "soon"], "Actors.Host: Iommu:SessionGracePeriod is \"soon\": give seconds or hh:mm:ss." },
        { ["--Iommu:MaxFrame", "12"], "Actors.Host: Iommu:MaxFrame is \"12\": give a frame size in bytes, at least 4096." },
        { ["--Iommu:PrometheusUrl", "port 9464"], "Actors.Host: Iommu:PrometheusUrl is \"port 9464\": give an http URL such as http://localhost:9464/, or leave it empty for off." },
    };

    [Theory]
    [MemberData(nameof(BadSettings))]
    public async Task A_bad_setting_is_one_line_naming_it_and_exit_code_2(string[] args, string line)
    {
        var workDir = TempFolder.Create("host-bad-setting");
        await using var host = HostProcess.Start(workDir, ["--Iommu:WorkDir", workDir, .. args]);

        Assert.Equal(HostRunner.BadConfiguration, await host.ExitCodeAsync(Timeout));
        Assert.Equal([line], host.Stderr);
        Assert.Empty(host.Stdout);
    }

    [Fact]
    public async Task A_misspelt_key_under_Iommu_is_refused_not_ignored()
    {
        var workDir = TempFolder.Create("host-bad-key");
        await using var host = HostProcess.Start(workDir, "--Iommu:WorkDir", workDir, "--Iommu:Stroe", "memory");

        Assert.Equal(HostRunner.BadConfiguration, await host.ExitCodeAsync(Timeout));
        var line = Assert.Single(host.Stderr);
        Assert.StartsWith("Actors.Host: Iommu:Stroe is not a setting: the Iommu section takes WorkDir, Socket, Store, ", line);
    }

    [Fact]
    public async Task A_platform_file_without_iommu_platform_is_an_error()
    {
        var workDir = TempFolder.Create("host-bad-platform");
        File.WriteAllText(Path.Combine(workDir, "box.conf"), "iommu.snapshot-every = 10\n");
        await using var host = HostProcess.Start(workDir, "--Iommu:WorkDir", workDir, "--Iommu:Platform", "box.conf");

        Assert.Equal(HostRunner.BadConfiguration, await host.ExitCodeAsync(Timeout));
        Assert.Equal([$"Actors.Host: Iommu:Platform file {Path.Combine(workDir, "box.conf")} does not set iommu.platform: see hocon/platform.conf for the layout."],
            host.Stderr);
    }

    [Fact]
    public async Task A_platform_with_a_bad_entry_names_the_file_and_the_entry()
    {
        var workDir = TempFolder.Create("host-bad-platform");
        File.WriteAllText(Path.Combine(workDir, "bad.conf"), """
            iommu.platform {
              units = [ { name = u0, kind = intel-vtd, page-sizes = ["4096"], address-width = 48, pasid-width = 0 } ]
              devices = [ { pci = "0000:00:01.0", unit = nowhere, group = 1, vendor = "0x8086", device = "0x1234", cdev = vfio0 } ]
            }
            """);
        await using var host = HostProcess.Start(workDir, "--Iommu:WorkDir", workDir, "--Iommu:Platform", "bad.conf");

        Assert.Equal(HostRunner.BadConfiguration, await host.ExitCodeAsync(Timeout));
        var line = Assert.Single(host.Stderr);
        Assert.StartsWith($"Actors.Host: Iommu:Platform file {Path.Combine(workDir, "bad.conf")}: ", line);
        Assert.Contains("unknown unit 'nowhere'", line);
    }

    [Fact]
    public async Task A_quiet_start_is_a_handful_of_lines_and_a_second_host_in_the_same_folder_is_one_line_and_exit_code_1()
    {
        var workDir = TempFolder.Create("host-second");
        await using var first = HostProcess.Start(workDir, "--Iommu:WorkDir", workDir, "--Iommu:Store", "memory");
        await first.WaitReadyAsync(Timeout);

        await using (var second = HostProcess.Start(workDir, "--Iommu:WorkDir", workDir, "--Iommu:Store", "memory"))
        {
            Assert.Equal(HostRunner.RuntimeFailure, await second.ExitCodeAsync(Timeout));
            Assert.Equal([$"Actors.Host: another host is already running here: it answers at {Path.Combine(workDir, "run", "iommufd.sock")}. Stop it, or give this one its own Iommu:WorkDir (or Iommu:Socket)."],
                second.Stderr);
            Assert.Empty(second.Stdout);
        }

        // Point 5: where the data, the socket and the platform are, then Ready; nothing that alarms.
        var upToReady = first.Stdout.TakeWhile(l => !l.Contains("Ready: ", StringComparison.Ordinal)).ToList();
        Assert.True(upToReady.Count <= 5, string.Join('\n', first.Stdout));
        Assert.Contains(upToReady, l => l.Contains("Front door listening on " + Path.Combine(workDir, "run", "iommufd.sock")));
        Assert.Contains(upToReady, l => l.Contains("Data kept in in-memory journal"));
        Assert.Contains(upToReady, l => l.Contains("Platform hocon/platform.conf (the default box): 3 IOMMU units, 8 devices"));
        Assert.Equal(0, await first.StopAsync(Timeout));
        Assert.DoesNotContain(first.Stdout.Concat(first.Stderr), l => l.Contains("warn:") || l.Contains("fail:") || l.Contains("crit:"));
        Assert.DoesNotContain(first.Stdout, l => l.Contains("dead letter", StringComparison.OrdinalIgnoreCase));
        Assert.Contains("Actor system stopped cleanly", first.Stdout.Last());
    }
}
