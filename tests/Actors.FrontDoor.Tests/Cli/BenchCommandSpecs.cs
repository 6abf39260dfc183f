using System.Globalization;
using System.Text.Json;
using Xunit;
using Xunit.Abstractions;

namespace IommuActors.FrontDoor.Tests.Cli;

/// <summary>iommuctl bench, small: it measures on hosts of its own and prints every figure; the figures themselves are not judged here.</summary>
public sealed class BenchCommandSpecs(ITestOutputHelper log)
{
    [Fact]
    public async Task Bench_prints_the_no_op_round_trips_beside_the_raw_echo_and_the_map_unmap_figures_of_each_store()
    {
        var run = await IommuctlRun.RunAsync(CancellationToken.None, "bench", "--count", "300", "--live", "200", "--pairs", "100", "--window", "16");
        log.WriteLine(run.Output);
        Assert.Equal((0, ""), (run.Exit, run.Error));
        var rows = run.Lines.Where(l => l.StartsWith('│')).Select(l => l.Trim('│').Split('│').Select(c => c.Trim()).ToArray()).ToList();
        Assert.Equal(
            ["path", "raw Unix-socket echo", "front door, raw frames (iommufd ENOTTY)", "front door, IommuClient.IoctlRawAsync", "store", "memory", "sqlite"],
            rows.Select(r => r[0]));
        Assert.All(rows.Where(r => r[0] is not ("path" or "store")).SelectMany(r => r[1..]),
            figure => Assert.True(double.Parse(figure, NumberStyles.Number, CultureInfo.InvariantCulture) > 0, figure));
        var text = run.Lines.Where(l => !l.StartsWith('│') && !l.StartsWith('┌') && !l.StartsWith('├') && !l.StartsWith('└')).Select(l => l.Trim()).ToArray();
        Assert.Equal(5, text.Length);
        Assert.Equal("no-op ioctl round trip, 300 sequential calls each (request 48 B, reply 32 B)", text[0]);
        Assert.Matches(@"^front door / raw echo: \d+\.\dx$", text[1]);
        Assert.Equal("pipelined IOAS_MAP+UNMAP of 4 KiB, 200 live mappings, 16 in flight", text[2]);
        Assert.Matches(@"^echo ceiling: [\d,]+ frames/s, 16 in flight \(raw Unix socket\)$", text[3]);
        Assert.Equal("store ceiling: the same events by PersistAllAsync, no emulator", text[4]);
        Assert.Equal(["store", "fill maps/s", "map+unmap pairs/s", "ioctls/s", "µs/pair", "store ceiling events/s"], rows[4]);
    }

    [Fact]
    public async Task Bench_json_has_the_same_figures_for_scripts()
    {
        var run = await IommuctlRun.RunAsync(CancellationToken.None, "bench", "--json", "--count", "200", "--live", "100", "--pairs", "50",
            "--window", "8", "--store", "memory");
        Assert.Equal((0, ""), (run.Exit, run.Error));
        using var doc = JsonDocument.Parse(run.Output);
        var noop = doc.RootElement.GetProperty("noop");
        Assert.Equal((200, 48, 32), (noop.GetProperty("count").GetInt32(), noop.GetProperty("requestBytes").GetInt32(), noop.GetProperty("replyBytes").GetInt32()));
        Assert.All(new[] { "rawEchoMicroseconds", "frontDoorMicroseconds", "clientMicroseconds" }, p => Assert.True(noop.GetProperty(p).GetDouble() > 0, p));
        var map = Assert.Single(doc.RootElement.GetProperty("maps").EnumerateArray());
        Assert.Equal(("memory", 100, 50, 8), (map.GetProperty("store").GetString(), map.GetProperty("live").GetInt32(),
            map.GetProperty("pairs").GetInt32(), map.GetProperty("window").GetInt32()));
        Assert.True(map.GetProperty("pairsPerSecond").GetDouble() > 0);
        Assert.Equal(2 * map.GetProperty("pairsPerSecond").GetDouble(), map.GetProperty("opsPerSecond").GetDouble(), 6);
        Assert.True(map.GetProperty("storeCeilingEventsPerSecond").GetDouble() > 0);
        Assert.True(doc.RootElement.GetProperty("pipelinedEchoFramesPerSecond").GetDouble() > 0);
    }
}
