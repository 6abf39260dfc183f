using System.Net;
using System.Net.Sockets;
using IommuActors.Host.Membership;
using IommuActors.Host.Tests.Hosting;
using IommuActors.TestSupport;
using Xunit;

namespace IommuActors.Host.Tests.Membership;

/// <summary>
/// Issue 18 point 1: one cluster per store. Host processes on one SQLite file: a node that would
/// found a second cluster refuses in one line (exit code 2); a restarted node takes its own dead
/// lease at once and rejoins through its seeds with its original command line; a node whose lease
/// another cluster took stops with exit code 1.
/// </summary>
public sealed class OneClusterPerStoreSpecs
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(90);

    private static string[] Node(string workDir, string store, params string[] more) =>
        ["--Iommu:WorkDir", workDir, "--Iommu:ConnectionString", store, "--Logging:LogLevel:Default", "Information", .. more];

    [Fact]
    public async Task A_second_node_without_seeds_on_the_store_of_a_live_cluster_refuses_to_found_one()
    {
        var store = Path.Combine(TempFolder.Create("one-store"), "iommu.db");
        var firstDir = TempFolder.Create("founder");
        await using var first = HostProcess.Start(firstDir, Node(firstDir, store));
        await first.WaitReadyAsync(Timeout);

        var strayDir = TempFolder.Create("stray");
        await using var stray = HostProcess.Start(strayDir, Node(strayDir, store));

        Assert.Equal(HostRunner.BadConfiguration, await stray.ExitCodeAsync(Timeout));
        var line = Assert.Single(stray.Stderr);
        Assert.Matches($"^Actors.Host: another live cluster uses this store: its node akka.tcp://iommu@127.0.0.1:\\d+#-?\\d+ \\(pid {first.Pid} on {Environment.MachineName}\\) holds the store's cluster lease for [0-9.]+ s more; start this node with Iommu:Seeds naming that cluster's nodes, or stop that cluster first.$", line);
        Assert.DoesNotContain(stray.Stdout, l => l.Contains("Ready: "));
    }

    [Fact]
    public async Task A_node_killed_and_started_again_with_the_same_command_line_takes_its_lease_back_at_once()
    {
        var store = Path.Combine(TempFolder.Create("one-store"), "iommu.db");
        var dir = TempFolder.Create("alone");
        await using (var first = HostProcess.Start(dir, Node(dir, store)))
        {
            await first.WaitReadyAsync(Timeout);
            first.Kill();
        }
        await using var again = HostProcess.Start(dir, Node(dir, store));
        await again.WaitReadyAsync(Timeout);
    }

    [Fact]
    public async Task The_first_seed_restarted_with_its_original_command_line_rejoins_the_living_cluster()
    {
        var store = Path.Combine(TempFolder.Create("one-store"), "iommu.db");
        var (portA, portB) = (FreeLoopbackPort(), FreeLoopbackPort());
        var seeds = $"127.0.0.1:{portA},127.0.0.1:{portB}";
        var (dirA, dirB) = (TempFolder.Create("seed-a"), TempFolder.Create("seed-b"));
        await using var a = HostProcess.Start(dirA, Node(dirA, store, "--Iommu:Port", $"{portA}", "--Iommu:Seeds", seeds));
        await a.WaitReadyAsync(Timeout);
        await using var b = HostProcess.Start(dirB, Node(dirB, store, "--Iommu:Port", $"{portB}", "--Iommu:Seeds", seeds));
        await b.WaitReadyAsync(Timeout);

        a.Kill();
        await using var again = HostProcess.Start(dirA, Node(dirA, store, "--Iommu:Port", $"{portA}", "--Iommu:Seeds", seeds));
        await again.WaitReadyAsync(Timeout);

        var log = string.Join("\n", again.Stdout.Concat(["---- b"]).Concat(b.Stdout).Concat(b.Stderr));
        Assert.True(again.Stdout.Any(l => l.Contains($"Ready: akka.tcp://iommu@127.0.0.1:{portA} is Up in a cluster of ")), log);
        Assert.True(again.Stdout.Any(l => l.Contains("The store's cluster lease is held by")), log);
    }

    [Fact]
    public async Task A_node_whose_lease_a_node_of_another_cluster_took_stops_with_exit_code_1()
    {
        var store = Path.Combine(TempFolder.Create("one-store"), "iommu.db");
        var dir = TempFolder.Create("robbed");
        await using var host = HostProcess.Start(dir, Node(dir, store));
        await host.WaitReadyAsync(Timeout);

        // What a second cluster's founder writes once this cluster's renewals stalled past the lease's time.
        var table = new LeaseTable(Core.Persistence.StoreOptions.SqliteFile(store));
        var held = table.Read(ClusterLease.Name)!;
        Assert.True(table.Replace(held, new LeaseRow(ClusterLease.Name, "akka.tcp://iommu@127.0.0.1:1#1", Environment.MachineName,
            Environment.ProcessId, DateTimeOffset.UtcNow.AddMinutes(5).ToUnixTimeMilliseconds())));

        Assert.Equal(HostRunner.RuntimeFailure, await host.ExitCodeAsync(Timeout));
        Assert.Contains(host.Stdout, l => l.Contains("lost the store's cluster lease to akka.tcp://iommu@127.0.0.1:1#1"));
    }

    private static int FreeLoopbackPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
