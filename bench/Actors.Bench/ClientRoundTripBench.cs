using System.Diagnostics;
using IommuActors.Client;

namespace IommuActors.Bench;

/// <summary>
/// The .NET client's side of the shim comparison: the same no-op ioctl (a number iommufd does not
/// have, answered ENOTTY by the iommufd file) against a running host, as tests/shim/bench_roundtrip
/// does through the LD_PRELOAD shim. Socket from $IOMMUFD_SOCKET (default run/iommufd.sock).
/// </summary>
public sealed class ClientRoundTripBench : IBench
{
    public string Name => "client-noop";
    public string Description => "no-op ioctl round trips through IommuClient against a running host [count]";

    public async Task RunAsync(string[] args)
    {
        var count = args.Length > 0 ? int.Parse(args[0]) : 20_000;
        var socket = Environment.GetEnvironmentVariable("IOMMUFD_SOCKET") is { Length: > 0 } s ? s : "run/iommufd.sock";
        await using var client = await IommuClient.ConnectAsync(socket);
        var fd = await client.OpenAsync("/dev/iommu");
        var noop = 0x3bffu;
        byte[] arg = [12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        for (var i = 0; i < 1000; i++) await client.IoctlRawAsync(fd, noop, 0, arg);
        for (var round = 1; round <= 3; round++)
        {
            var watch = Stopwatch.StartNew();
            for (var i = 0; i < count; i++)
            {
                var r = await client.IoctlRawAsync(fd, noop, 0, arg);
                if (r.Errno != 25) throw new InvalidOperationException($"expected ENOTTY, got errno {r.Errno}");
            }
            Console.WriteLine($"round {round}: {count} no-op ioctls, {watch.Elapsed.TotalMicroseconds / count:F1} us per round trip");
        }
        await client.CloseAsync(fd);
    }
}
