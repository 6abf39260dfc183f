using System.Diagnostics;
using IommuActors.Uapi;
using IommuActors.Uapi.Structs;

namespace IommuActors.Client.Measurements;

/// <summary>What one pipelined MAP+UNMAP run measured: the time to fill the live mappings, and to run the pairs among them.</summary>
public sealed record MapFigures(int Live, int Pairs, int Window, TimeSpan Fill, TimeSpan Measured)
{
    public double MapsPerSecond => Live / Fill.TotalSeconds;
    public double PairsPerSecond => Pairs / Measured.TotalSeconds;
    public double MicrosecondsPerPair => Measured.TotalMicroseconds / Pairs;
}

/// <summary>
/// Pipelined IOMMU_IOAS_MAP + IOMMU_IOAS_UNMAP of 4 KiB through the socket and a real iommufd:
/// fill an IOAS with <c>live</c> mappings (every other page), then map and unmap a page in the
/// holes between them, <c>pairs</c> times, with up to <c>window</c> requests in flight on the fd.
/// </summary>
public static class PipelinedMaps
{
    private const ulong Page = 4096;
    private const ulong UserBase = 0x7f00_0000_0000;

    /// <summary>Progress reports how many ioctls of the fill, then of the pairs, have been answered.</summary>
    public static async Task<MapFigures> RunAsync(IommuClient client, int live, int pairs, int window,
        IProgress<int>? fillProgress = null, IProgress<int>? pairProgress = null)
    {
        var fd = await client.OpenAsync("/dev/iommu");
        var ioas = (await client.IoctlAsync(fd, Ioctls.IOMMU_IOAS_ALLOC, new IommuIoasAlloc(12, 0, 0))).OutIoasId;

        byte[] Map(ulong iova) => UserStruct.Encode(new IommuIoasMap(40,
            IoasMapFlags.FixedIova | IoasMapFlags.Readable | IoasMapFlags.Writeable, ioas, 0, UserBase + iova, Page, iova));
        byte[] Unmap(ulong iova) => UserStruct.Encode(new IommuIoasUnmap(24, ioas, iova, Page));

        var watch = Stopwatch.StartNew();
        await Pipelined(client, fd, Enumerable.Range(0, live).Select(i => (Ioctls.IOMMU_IOAS_MAP, Map((ulong)i * 2 * Page))), window, fillProgress);
        var fill = watch.Elapsed;

        // Each pair maps a page in a hole between live mappings and unmaps it again.
        var ops = Enumerable.Range(0, pairs).SelectMany(i =>
        {
            var iova = (ulong)(i % live) * 2 * Page + Page;
            return new[] { (Ioctls.IOMMU_IOAS_MAP, Map(iova)), (Ioctls.IOMMU_IOAS_UNMAP, Unmap(iova)) };
        });
        watch.Restart();
        await Pipelined(client, fd, ops, window, pairProgress);
        var measured = watch.Elapsed;
        await client.CloseAsync(fd);
        return new MapFigures(live, pairs, window, fill, measured);
    }

    /// <summary>
    /// The same window of ioctls that the iommufd answers itself (ENOTTY for a number of its type it
    /// does not have): what the socket, the front door and the context cost without the IOAS and the store.
    /// </summary>
    public static async Task<TimeSpan> RunNoOpsAsync(IommuClient client, int count, int window, uint noOp, int errno)
    {
        var fd = await client.OpenAsync("/dev/iommu");
        var inline = new byte[12];
        inline[0] = 12;
        var watch = Stopwatch.StartNew();
        await Pipelined(client, fd, Enumerable.Repeat((noOp, inline), count), window, null, errno);
        var elapsed = watch.Elapsed;
        await client.CloseAsync(fd);
        return elapsed;
    }

    /// <summary>
    /// Maps <paramref name="count"/> pages of 4 KiB into <paramref name="ioas"/>, every other page from
    /// <paramref name="iovaBase"/> so no two are adjacent, with up to <paramref name="window"/> in flight.
    /// </summary>
    public static Task MapEveryOtherPageAsync(IommuClient client, int fd, uint ioas, int count, ulong iovaBase, int window,
        IProgress<int>? progress = null) =>
        Pipelined(client, fd, Enumerable.Range(0, count).Select(i =>
        {
            var iova = iovaBase + (ulong)i * 2 * Page;
            return (Ioctls.IOMMU_IOAS_MAP, UserStruct.Encode(new IommuIoasMap(40,
                IoasMapFlags.FixedIova | IoasMapFlags.Readable | IoasMapFlags.Writeable, ioas, 0, UserBase + iova, Page, iova)));
        }), window, progress);

    /// <summary>Keeps up to <paramref name="window"/> ioctls in flight on one fd; replies come back in request order.</summary>
    private static async Task Pipelined(IommuClient client, int fd, IEnumerable<(uint Request, byte[] Arg)> ops, int window,
        IProgress<int>? progress, int expected = 0)
    {
        var inFlight = new Queue<Task<IoctlResult>>();
        var answered = 0;
        foreach (var (request, arg) in ops)
        {
            if (inFlight.Count == window)
                Answered(await inFlight.Dequeue());
            inFlight.Enqueue(client.IoctlRawAsync(fd, request, 0, arg));
        }
        while (inFlight.Count > 0)
            Answered(await inFlight.Dequeue());
        progress?.Report(answered);

        void Answered(IoctlResult r)
        {
            if (r.Errno != expected) throw new InvalidOperationException($"an ioctl answered {Errno.Name(r.Errno)}, not {Errno.Name(expected)}");
            if ((++answered & 1023) == 0) progress?.Report(answered);
        }
    }
}
