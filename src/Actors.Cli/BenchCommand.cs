using System.Text.Json;
using IommuActors.Client;
using IommuActors.Client.Measurements;
using IommuActors.Host.FrontDoor;
using IommuActors.Host.Measurements;
using IommuActors.Core.Persistence;
using IommuActors.Uapi.Wire;
using Spectre.Console;

namespace IommuActors.Cli;

/// <summary>What iommuctl bench is asked to measure.</summary>
public sealed record BenchOptions(int Count, int Live, int Pairs, int Window, IReadOnlyList<string> Stores);

/// <summary>
/// iommuctl bench: the figures of the README's performance section side by side, measured on
/// throw-away hosts of its own (bench/Actors.Bench runs the same code, src/Actors.Client/Measurements):
/// a no-op ioctl's round trip (ENOTTY from a real iommufd) beside a raw Unix-socket echo of the
/// same frame sizes, and pipelined IOAS_MAP+UNMAP of 4 KiB among many live mappings per store.
/// </summary>
public static class BenchCommand
{
    /// <summary>An ioctl number of iommufd's type that iommufd does not have: answered ENOTTY by the context itself.</summary>
    private const uint NoOp = 0x3bff;
    private const int ENOTTY = 25;
    private static readonly JsonSerializerOptions Json = new() { PropertyNamingPolicy = JsonNamingPolicy.CamelCase };

    public static async Task<int> RunAsync(IommuctlIo io, BenchOptions options, bool asJson, CancellationToken ct)
    {
        var inline = new byte[12];
        inline[0] = 12;
        var request = RoundTrips.Frame(FrameKind.Ioctl, 0, new IoctlRequest(3, NoOp, 0, inline));
        var reply = RoundTrips.Frame(FrameKind.Ioctl, 1, new IoctlReply(ENOTTY, 0, []));
        TimeSpan raw = default, frontDoor = default, client = default;
        var maps = new List<(string Store, MapFigures Figures, TimeSpan Ceiling)>();
        TimeSpan pipelinedEcho = default;
        var echoFrames = options.Pairs * 2;

        async Task Measure(ProgressContext? progress)
        {
            // Every step, planned up front so the overall share and the time left cover the whole run.
            var overall = new OverallProgress();
            var clock = System.Diagnostics.Stopwatch.StartNew();
            var overallTask = progress?.AddTask(overall.Describe(TimeSpan.Zero), maxValue: 1);
            void Advanced(string label, int done)
            {
                overall.Report(label, done);
                if (overallTask is null) return;
                overallTask.Value = overall.Fraction;
                overallTask.Description = overall.Describe(clock.Elapsed);
            }
            void Finished(string label) => Advanced(label, int.MaxValue);
            const string RawEcho = "raw Unix-socket echo", PipelinedEcho = "pipelined echo", FrontDoorRaw = "front door, raw frames",
                FrontDoorClient = "front door, IommuClient";
            overall.Plan(RawEcho, options.Count);
            overall.Plan(PipelinedEcho, echoFrames);
            overall.Plan(FrontDoorRaw, options.Count);
            overall.Plan(FrontDoorClient, options.Count);
            foreach (var store in options.Stores)
            {
                overall.Plan(Fill(store), options.Live);
                overall.Plan(Pairs(store), options.Pairs * 2);
                overall.Plan(Ceiling(store), options.Pairs * 2);
            }
            IProgress<int> Task(string label, int total)
            {
                var task = progress?.AddTask(Markup.Escape(label), maxValue: total);
                return new Inline(n =>
                {
                    if (task is not null) task.Value = n;
                    Advanced(label, n);
                });
            }

            var workDir = MeasuredHost.NewWorkDir("iommuctl");
            var echoPath = Path.Combine(workDir, "echo.sock");
            using (EchoServer.Start(echoPath, reply))
            {
                raw = await RoundTrips.RawAsync(echoPath, request, options.Count, hello: false, Task(RawEcho, options.Count), ct);
                Finished(RawEcho);
                pipelinedEcho = await RoundTrips.PipelinedRawAsync(echoPath, request, echoFrames, options.Window, ct);
                Finished(PipelinedEcho);
            }
            await using (var host = await MeasuredHost.StartAsync(workDir, "memory"))
            {
                frontDoor = await RoundTrips.RawAsync(host.SocketPath, request, options.Count, hello: true, Task(FrontDoorRaw, options.Count), ct);
                Finished(FrontDoorRaw);
                client = await RoundTrips.ClientAsync(host.SocketPath, NoOp, inline, ENOTTY, options.Count, Task(FrontDoorClient, options.Count), ct);
                Finished(FrontDoorClient);
            }
            foreach (var store in options.Stores)
            {
                var fill = Task(Fill(store), options.Live);
                var pairs = Task(Pairs(store), options.Pairs * 2);
                await using var host = await MeasuredHost.StartAsync(MeasuredHost.NewWorkDir($"iommuctl-{store}"), store);
                await using var connection = await IommuClient.ConnectAsync(host.SocketPath, new IommuClientOptions { ClientName = "iommuctl-bench" }, ct);
                var figures = await PipelinedMaps.RunAsync(connection, options.Live, options.Pairs, options.Window, fill, pairs);
                Finished(Fill(store));
                Finished(Pairs(store));
                // The store's ceiling: as many events as the pairs wrote, on a store of its own.
                var ceiling = await StoreCeiling.RunAsync(CeilingStore(store),
                    options.Pairs * 2, options.Window);
                Finished(Ceiling(store));
                maps.Add((store, figures, ceiling));
            }
        }

        string Fill(string store) => $"{store}: {options.Live:N0} live mappings";
        string Pairs(string store) => $"{store}: {options.Pairs:N0} map+unmap pairs";
        string Ceiling(string store) => $"{store}: store ceiling";

        if (asJson)
        {
            await Measure(null);
            await io.Output.WriteLineAsync(JsonSerializer.Serialize(new
            {
                noop = new
                {
                    count = options.Count,
                    requestBytes = request.Length,
                    replyBytes = reply.Length,
                    rawEchoMicroseconds = PerCall(raw, options.Count),
                    frontDoorMicroseconds = PerCall(frontDoor, options.Count),
                    clientMicroseconds = PerCall(client, options.Count),
                },
                maps = maps.Select(m => new
                {
                    store = m.Store,
                    live = m.Figures.Live,
                    pairs = m.Figures.Pairs,
                    window = m.Figures.Window,
                    fillPerSecond = m.Figures.MapsPerSecond,
                    pairsPerSecond = m.Figures.PairsPerSecond,
                    microsecondsPerPair = m.Figures.MicrosecondsPerPair,
                    opsPerSecond = m.Figures.PairsPerSecond * 2,
                    storeCeilingEventsPerSecond = options.Pairs * 2 / m.Ceiling.TotalSeconds,
                }),
                pipelinedEchoFramesPerSecond = echoFrames / pipelinedEcho.TotalSeconds,
            }, Json));
            return 0;
        }

        // Progress bars only where someone watches: piped or captured output gets the tables alone.
        if (io.Console.Profile.Capabilities.Interactive)
            await io.Console.Progress().AutoClear(true).StartAsync(Measure);
        else
            await Measure(null);
        // Headings as lines of their own: a table title would wrap at the table's width.
        io.Console.WriteLine($"no-op ioctl round trip, {options.Count:N0} sequential calls each (request {request.Length} B, reply {reply.Length} B)");
        var noop = new Table().AddColumns("path", "µs/call", "calls/s");
        noop.AddRow("raw Unix-socket echo", $"{PerCall(raw, options.Count):F1}", $"{options.Count / raw.TotalSeconds:N0}");
        noop.AddRow("front door, raw frames (iommufd ENOTTY)", $"{PerCall(frontDoor, options.Count):F1}", $"{options.Count / frontDoor.TotalSeconds:N0}");
        noop.AddRow("front door, IommuClient.IoctlRawAsync", $"{PerCall(client, options.Count):F1}", $"{options.Count / client.TotalSeconds:N0}");
        noop.Caption($"front door / raw echo: {frontDoor.TotalMicroseconds / raw.TotalMicroseconds:F1}x");
        io.Console.Write(noop);
        io.Console.WriteLine($"pipelined IOAS_MAP+UNMAP of 4 KiB, {options.Live:N0} live mappings, {options.Window} in flight");
        var pipelined = new Table().AddColumns("store", "fill maps/s", "map+unmap pairs/s", "ioctls/s", "µs/pair", "store ceiling events/s");
        foreach (var (store, figures, ceiling) in maps)
            pipelined.AddRow(store, $"{figures.MapsPerSecond:N0}", $"{figures.PairsPerSecond:N0}", $"{figures.PairsPerSecond * 2:N0}",
                $"{figures.MicrosecondsPerPair:F1}", $"{options.Pairs * 2 / ceiling.TotalSeconds:N0}");
        io.Console.Write(pipelined);
        // Short lines: the console wraps at its width when output is captured.
        io.Console.WriteLine($"echo ceiling: {echoFrames / pipelinedEcho.TotalSeconds:N0} frames/s, {options.Window} in flight (raw Unix socket)");
        io.Console.WriteLine("store ceiling: the same events by PersistAllAsync, no emulator");
        return 0;
    }

    /// <summary>A store of the same kind and settings as the bench host's, in a folder of its own.</summary>
    private static StoreOptions CeilingStore(string store) => StoreOptions.ParseKind(store) switch
    {
        StoreKind.Sqlite => StoreOptions.SqliteFile(Path.Combine(MeasuredHost.NewWorkDir("iommuctl-ceiling"), "data", "iommu.db")),
        StoreKind.InMemory => StoreOptions.InMemory,
        _ => throw new ArgumentException($"bench runs on the memory and sqlite stores, not {store}"),
    };

    private static double PerCall(TimeSpan elapsed, int count) => elapsed.TotalMicroseconds / count;

    /// <summary>Reports on the caller's thread, so the bar has its last value before the work's task completes.</summary>
    private sealed class Inline(Action<int> report) : IProgress<int>
    {
        public void Report(int value) => report(value);
    }
}
