using IommuActors.Client;
using IommuActors.Client.Measurements;
using IommuActors.Host.FrontDoor;

namespace IommuActors.Bench;

/// <summary>
/// Pipelined IOMMU_IOAS_MAP + IOMMU_IOAS_UNMAP of 4 KiB through the socket and the real iommufd
/// context, with 100,000 live mappings in the IOAS, on the in-memory store and on SQLite, in one
/// run. The measuring code is shared with iommuctl bench (src/Actors.Client/Measurements).
/// </summary>
public sealed class SocketMapBench : IBench
{
    /// <summary>An ioctl number of iommufd's type that iommufd does not have: the context answers ENOTTY itself.</summary>
    private const uint NoOp = 0x3bff;
    private const int ENOTTY = 25;

    public string Name => "socket-map";
    public string Description => "pipelined IOAS_MAP+UNMAP of 4 KiB over the socket at 100,000 live mappings, in-memory and SQLite [live] [pairs] [window] [stores, e.g. memory,sqlite]";

    public async Task RunAsync(string[] args)
    {
        var live = args.Length > 0 ? int.Parse(args[0]) : 100_000;
        var pairs = args.Length > 1 ? int.Parse(args[1]) : 10_000;
        var window = args.Length > 2 ? int.Parse(args[2]) : 256;
        var stores = args.Length > 3 ? args[3].Split(',') : ["memory", "sqlite"];
        Console.WriteLine($"live mappings {live:N0}, map+unmap pairs {pairs:N0}, {window} requests in flight");
        await using (var host = await MeasuredHost.StartAsync(MeasuredHost.NewWorkDir("socket-noop"), "memory"))
        await using (var client = await IommuClient.ConnectAsync(host.SocketPath))
        {
            await PipelinedMaps.RunNoOpsAsync(client, pairs, window, NoOp, ENOTTY);
            var noOps = await PipelinedMaps.RunNoOpsAsync(client, pairs * 2, window, NoOp, ENOTTY);
            Console.WriteLine($"  no-op ioctls answered by the context, {window} in flight: {pairs * 2 / noOps.TotalSeconds,10:N0} ioctls/s");
        }
        foreach (var store in stores)
        {
            MapFigures figures;
            await using (var host = await MeasuredHost.StartAsync(MeasuredHost.NewWorkDir($"socket-map-{store}"), store))
            await using (var client = await IommuClient.ConnectAsync(host.SocketPath))
                figures = await PipelinedMaps.RunAsync(client, live, pairs, window);
            Console.WriteLine($"  {store}: {live:N0} live mappings in {figures.Fill.TotalSeconds:F1} s");
            Console.WriteLine($"  {store,-8} fill {figures.MapsPerSecond,10:N0} maps/s   map+unmap {figures.PairsPerSecond,10:N0} pairs/s ({figures.MicrosecondsPerPair:F1} us/pair)");
        }
    }
}
