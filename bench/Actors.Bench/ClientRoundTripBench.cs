using IommuActors.Client.Measurements;

namespace IommuActors.Bench;

/// <summary>
/// The .NET client's side of the shim comparison: the same no-op ioctl (a number iommufd does not
/// have, answered ENOTTY by the iommufd file) against a running host, as tests/shim/bench_roundtrip
/// does through the LD_PRELOAD shim. Socket from $IOMMUFD_SOCKET (default run/iommufd.sock).
/// The measuring code is shared with iommuctl bench (src/Actors.Client/Measurements).
/// </summary>
public sealed class ClientRoundTripBench : IBench
{
    public string Name => "client-noop";
    public string Description => "no-op ioctl round trips through IommuClient against a running host [count]";

    public async Task RunAsync(string[] args)
    {
        var count = args.Length > 0 ? int.Parse(args[0]) : 20_000;
        var socket = Environment.GetEnvironmentVariable("IOMMUFD_SOCKET") is { Length: > 0 } s ? s : "run/iommufd.sock";
        byte[] arg = [12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        for (var round = 1; round <= 3; round++)
        {
            var elapsed = await RoundTrips.ClientAsync(socket, 0x3bffu, arg, 25, count);
            Console.WriteLine($"round {round}: {count} no-op ioctls, {elapsed.TotalMicroseconds / count:F1} us per round trip");
        }
    }
}
