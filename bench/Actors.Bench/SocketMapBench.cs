using System.Diagnostics;
using IommuActors.Client;
using IommuActors.Host;
using IommuActors.Uapi;
using IommuActors.Uapi.Structs;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace IommuActors.Bench;

/// <summary>
/// Pipelined IOMMU_IOAS_MAP + IOMMU_IOAS_UNMAP of 4 KiB through the socket and the real iommufd
/// context, with 100,000 live mappings in the IOAS, on the in-memory store and on SQLite, in one run.
/// </summary>
public sealed class SocketMapBench : IBench
{
    public string Name => "socket-map";
    public string Description => "pipelined IOAS_MAP+UNMAP of 4 KiB over the socket at 100,000 live mappings, in-memory and SQLite [live] [pairs] [window]";

    private const ulong Page = 4096;
    private const ulong UserBase = 0x7f00_0000_0000;

    public async Task RunAsync(string[] args)
    {
        var live = args.Length > 0 ? int.Parse(args[0]) : 100_000;
        var pairs = args.Length > 1 ? int.Parse(args[1]) : 10_000;
        var window = args.Length > 2 ? int.Parse(args[2]) : 256;
        Console.WriteLine($"live mappings {live:N0}, map+unmap pairs {pairs:N0}, {window} requests in flight");
        foreach (var store in new[] { "memory", "sqlite" })
        {
            var (fill, measured) = await Run(store, live, pairs, window);
            Console.WriteLine($"  {store,-8} fill {live / fill.TotalSeconds,10:N0} maps/s   map+unmap {pairs / measured.TotalSeconds,10:N0} pairs/s ({measured.TotalMicroseconds / pairs:F1} us/pair)");
        }
    }

    private static async Task<(TimeSpan Fill, TimeSpan Measured)> Run(string store, int live, int pairs, int window)
    {
        var workDir = Path.Combine(Path.GetTempPath(), "iommu-bench", $"socket-map-{store}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(workDir);
        using var host = IommuHost.Build(["--Iommu:WorkDir", workDir, "--Iommu:Store", store]);
        await host.StartAsync();
        await host.Services.GetRequiredService<HostStatus>().Ready;
        await using var client = await IommuClient.ConnectAsync(Path.Combine(workDir, "run", "iommufd.sock"));
        var fd = await client.OpenAsync("/dev/iommu");
        var ioas = (await client.IoctlAsync(fd, Ioctls.IOMMU_IOAS_ALLOC, new IommuIoasAlloc(12, 0, 0))).OutIoasId;

        byte[] Map(ulong iova) => UserStruct.Encode(new IommuIoasMap(40,
            IoasMapFlags.FixedIova | IoasMapFlags.Readable | IoasMapFlags.Writeable, ioas, 0, UserBase + iova, Page, iova));
        byte[] Unmap(ulong iova) => UserStruct.Encode(new IommuIoasUnmap(24, ioas, iova, Page));

        var watch = Stopwatch.StartNew();
        await Pipelined(client, fd, Enumerable.Range(0, live).Select(i => (Ioctls.IOMMU_IOAS_MAP, Map((ulong)i * 2 * Page))), window);
        var fill = watch.Elapsed;
        Console.WriteLine($"  {store}: {live:N0} live mappings in {fill.TotalSeconds:F1} s");

        // Each pair maps a page in a hole between live mappings and unmaps it again.
        var ops = Enumerable.Range(0, pairs).SelectMany(i =>
        {
            var iova = (ulong)(i % live) * 2 * Page + Page;
            return new[] { (Ioctls.IOMMU_IOAS_MAP, Map(iova)), (Ioctls.IOMMU_IOAS_UNMAP, Unmap(iova)) };
        });
        watch.Restart();
        await Pipelined(client, fd, ops, window);
        var measured = watch.Elapsed;
        await client.CloseAsync(fd);
        await host.StopAsync();
        return (fill, measured);
    }

    /// <summary>Keeps up to <paramref name="window"/> ioctls in flight on one fd; replies come back in request order.</summary>
    private static async Task Pipelined(IommuClient client, int fd, IEnumerable<(uint Request, byte[] Arg)> ops, int window)
    {
        var inFlight = new Queue<Task<IoctlResult>>();
        foreach (var (request, arg) in ops)
        {
            if (inFlight.Count == window)
                Check(await inFlight.Dequeue());
            inFlight.Enqueue(client.IoctlRawAsync(fd, request, 0, arg));
        }
        while (inFlight.Count > 0)
            Check(await inFlight.Dequeue());
    }

    private static void Check(IoctlResult r)
    {
        if (r.Errno != 0) throw new InvalidOperationException($"an ioctl failed with errno {r.Errno}");
    }
}
