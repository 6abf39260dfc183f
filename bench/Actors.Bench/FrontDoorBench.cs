using IommuActors.Client.Measurements;
using IommuActors.Host.FrontDoor;
using IommuActors.Uapi.Wire;

namespace IommuActors.Bench;

/// <summary>
/// Round trip of a no-op ioctl through the front door (socket, connection actor, a file that
/// answers at once) beside a bare Unix-socket echo of the same frame sizes, in one run. The
/// measuring code is shared with iommuctl bench (src/Actors.Client/Measurements).
/// </summary>
public sealed class FrontDoorBench : IBench
{
    public string Name => "frontdoor";
    public string Description => "no-op ioctl round trip over the socket vs a raw Unix-socket echo of the same frame size";

    private const uint NoOp = 0xE0;

    public async Task RunAsync(string[] args)
    {
        var count = args.Length > 0 ? int.Parse(args[0], System.Globalization.CultureInfo.InvariantCulture) : 20_000;
        var workDir = MeasuredHost.NewWorkDir("frontdoor");
        var request = RoundTrips.Frame(FrameKind.Ioctl, 0, new IoctlRequest(3, NoOp, 0, new byte[16]));
        var reply = RoundTrips.Frame(FrameKind.Ioctl, 1, new IoctlReply(0, 0, []));

        var echoPath = Path.Combine(workDir, "echo.sock");
        TimeSpan raw;
        using (EchoServer.Start(echoPath, reply))
            raw = await RoundTrips.RawAsync(echoPath, request, count, hello: false);

        TimeSpan frontDoor, typed;
        await using (var host = await MeasuredHost.StartAsync(workDir, "memory", noOpFiles: true))
        {
            frontDoor = await RoundTrips.RawAsync(host.SocketPath, request, count, hello: true);
            typed = await RoundTrips.ClientAsync(host.SocketPath, NoOp, new byte[16], 0, count);
        }

        Console.WriteLine($"no-op ioctl round trip, {count:N0} sequential calls each (request {request.Length} B, reply {reply.Length} B)");
        Console.WriteLine($"  {"path",-44} {"µs/call",10} {"calls/s",12}");
        Print("raw Unix-socket echo (pipelines server)", raw, count);
        Print("front door, raw frames", frontDoor, count);
        Print("front door, IommuClient.IoctlRawAsync", typed, count);
        Console.WriteLine($"  front door / raw echo: {frontDoor.TotalMicroseconds / raw.TotalMicroseconds:F1}x");
    }

    private static void Print(string label, TimeSpan elapsed, int count) =>
        Console.WriteLine($"  {label,-44} {elapsed.TotalMicroseconds / count,10:F1} {count / elapsed.TotalSeconds,12:N0}");
}
