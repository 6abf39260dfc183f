using System.Buffers.Binary;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using IommuActors.Client;
using IommuActors.Uapi.Structs;

namespace IommuActors.Bench;

/// <summary>
/// Failover of a cluster on one store: N host processes on loopback sharing a SQLite file (or a
/// PostgreSQL database), kill -9 of the oldest node (the one running the singletons and the shard
/// coordinators), then from a survivor's socket: how long until the killed node is removed from the
/// membership (status), and until a PASID_ALLOC on a fresh iommufd (file entity, PASID set, PASID
/// space singleton) answers again.
/// </summary>
public sealed class FailoverBench : IBench
{
    public string Name => "failover";
    public string Description => "kill -9 of the oldest of N nodes on one store: time until it is removed and until PASID_ALLOC answers through a survivor [nodes=3] [rounds=3] [postgres connection string]";

    public async Task RunAsync(string[] args)
    {
        var nodes = args.Length > 0 ? int.Parse(args[0]) : 3;
        var rounds = args.Length > 1 ? int.Parse(args[1]) : 3;
        var postgres = args.Length > 2 ? args[2] : null;
        Console.WriteLine($"{nodes} nodes on {(postgres is null ? "one SQLite file" : "one PostgreSQL database")}, kill -9 of the oldest, {rounds} rounds");
        var removed = new List<double>();
        var answered = new List<double>();
        for (var round = 1; round <= rounds; round++)
        {
            var (r, a) = await RoundAsync(nodes, postgres);
            removed.Add(r);
            answered.Add(a);
            Console.WriteLine($"  round {round}: removed after {r,5:F1} s, PASID_ALLOC answered after {a,5:F1} s");
        }
        Console.WriteLine($"  time to removed: median {Median(removed):F1} s (min {removed.Min():F1}, max {removed.Max():F1})");
        Console.WriteLine($"  time to answer:  median {Median(answered):F1} s (min {answered.Min():F1}, max {answered.Max():F1})");
    }

    private static double Median(List<double> values) => values.Order().ElementAt(values.Count / 2);

    private static async Task<(double Removed, double Answered)> RoundAsync(int count, string? postgres)
    {
        var root = Path.Combine(Path.GetTempPath(), "iommu-bench", $"failover-{Guid.NewGuid():N}");
        var ports = Enumerable.Range(0, count).Select(_ => FreePort()).ToArray();
        var seeds = string.Join(',', ports.Select(p => $"127.0.0.1:{p}"));
        var store = postgres is null
            ? ["--Iommu:ConnectionString", Path.Combine(root, "iommu.db")]
            : new[] { "--Iommu:Store", "postgresql", "--Iommu:ConnectionString", postgres };
        var hosts = new List<Process>();
        try
        {
            for (var i = 0; i < count; i++)
            {
                var dir = Path.Combine(root, $"node{i}");
                Directory.CreateDirectory(dir);
                hosts.Add(await StartAsync(dir, ["--Logging:LogLevel:Akka=Information", "--Iommu:WorkDir", dir, "--Iommu:Port", $"{ports[i]}", "--Iommu:Seeds", seeds, .. store]));
            }
            var survivor = Path.Combine(root, $"node{count - 1}", "run", "iommufd.sock");
            await using (var warm = await IommuClient.ConnectAsync(survivor))
                if (!await AllocAsync(warm, TimeSpan.FromSeconds(30))) throw new InvalidOperationException("no PASID_ALLOC before the kill");

            var clock = Stopwatch.StartNew();
            Console.WriteLine($"  killing node0 at {DateTime.UtcNow:HH:mm:ss.fff} (logs in {root})");
            hosts[0].Kill();
            var removedTask = RemovedAsync(survivor, count, clock);
            var answeredTask = AnsweredAsync(survivor, clock);
            return (await removedTask, await answeredTask);
        }
        finally
        {
            foreach (var host in hosts.Where(h => !h.HasExited)) host.Kill();
            foreach (var host in hosts) host.Dispose();
        }
    }

    /// <summary>Seconds until the survivor's status lists one member fewer.</summary>
    private static async Task<double> RemovedAsync(string socket, int count, Stopwatch clock)
    {
        await using var client = await IommuClient.ConnectAsync(socket);
        while (true)
        {
            try
            {
                using var json = JsonDocument.Parse(await client.StatusJsonAsync());
                if (json.RootElement.GetProperty("cluster").GetProperty("members").GetArrayLength() < count) return clock.Elapsed.TotalSeconds;
            }
            catch (IommuException) { } // a status that timed out waiting for the dead node's sessions
            await Task.Delay(50);
        }
    }

    /// <summary>
    /// Seconds until a PASID_ALLOC on a fresh iommufd answers: a new try on a new connection every half
    /// second, each given 10 s (so a slow answer under load still counts, at the time it came).
    /// </summary>
    private static async Task<double> AnsweredAsync(string socket, Stopwatch clock)
    {
        var answered = new TaskCompletionSource<double>(TaskCreationOptions.RunContinuationsAsynchronously);
        while (!answered.Task.IsCompleted)
        {
            _ = TryAsync();
            await Task.WhenAny(answered.Task, Task.Delay(500));
        }
        return await answered.Task;

        async Task TryAsync()
        {
            try
            {
                await using var client = await IommuClient.ConnectAsync(socket);
                if (await AllocAsync(client, TimeSpan.FromSeconds(10))) answered.TrySetResult(clock.Elapsed.TotalSeconds);
            }
            catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException or IommuException) { }
        }
    }

    private static async Task<bool> AllocAsync(IommuClient client, TimeSpan within)
    {
        using var cancel = new CancellationTokenSource(within);
        try
        {
            var fd = await client.OpenAsync("/dev/iommu", cancellationToken: cancel.Token);
            var alloc = new byte[12];
            BinaryPrimitives.WriteUInt32LittleEndian(alloc, 12);
            return (await client.IoctlRawAsync(fd, EmulatorIoctls.PASID_ALLOC, 0, alloc, cancel.Token)).Errno == 0;
        }
        catch (OperationCanceledException) { return false; }
        catch (IommuException) { return false; }
    }

    private static async Task<Process> StartAsync(string dir, string[] args)
    {
        var start = new ProcessStartInfo("dotnet", [Path.Combine(AppContext.BaseDirectory, "Actors.Host.dll"), .. args])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = dir,
        };
        var process = Process.Start(start)!;
        var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        // The node's log stays in its folder, for a look at where a slow failover spent its time.
        var log = new StreamWriter(Path.Combine(dir, "host.log")) { AutoFlush = true };
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null) return;
            lock (log) log.WriteLine($"{DateTime.UtcNow:HH:mm:ss.fff} {e.Data}");
            if (e.Data.Contains("Ready: ", StringComparison.Ordinal)) ready.TrySetResult();
        };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (log) log.WriteLine(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        await ready.Task.WaitAsync(TimeSpan.FromSeconds(90));
        return process;
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
