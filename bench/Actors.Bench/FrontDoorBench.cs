using System.Buffers;
using System.Buffers.Binary;
using System.Diagnostics;
using System.IO.Pipelines;
using System.Net.Sockets;
using Akka.Actor;
using Akka.Hosting;
using IommuActors.Client;
using IommuActors.Fd.Files;
using IommuActors.Host;
using IommuActors.Host.FrontDoor;
using IommuActors.Uapi.Wire;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace IommuActors.Bench;

/// <summary>
/// Round trip of a no-op ioctl through the front door (socket, connection actor, a file that
/// answers at once) beside a bare Unix-socket echo of the same frame sizes, in one run.
/// </summary>
public sealed class FrontDoorBench : IBench
{
    public string Name => "frontdoor";
    public string Description => "no-op ioctl round trip over the socket vs a raw Unix-socket echo of the same frame size";

    private const uint NoOp = 0xE0;

    public async Task RunAsync(string[] args)
    {
        var count = args.Length > 0 ? int.Parse(args[0], System.Globalization.CultureInfo.InvariantCulture) : 20_000;
        var workDir = Path.Combine(Path.GetTempPath(), "iommu-bench", $"frontdoor-{Guid.NewGuid():N}");
        Directory.CreateDirectory(workDir);
        var request = Frame(FrameKind.Ioctl, 0, new IoctlRequest(3, NoOp, 0, new byte[16]));
        var reply = Frame(FrameKind.Ioctl, 1, new IoctlReply(0, 0, []));

        var echoPath = Path.Combine(workDir, "echo.sock");
        using var echo = StartEcho(echoPath, reply);
        var raw = await RawRoundTrips(echoPath, request, count, hello: false);

        using var host = IommuHost.Build(["--Iommu:WorkDir", workDir, "--Iommu:Store", "memory"],
            b => b.Services.AddSingleton<IFileRegionProvider>(new NoOpFiles()));
        await host.StartAsync();
        await host.Services.GetRequiredService<HostStatus>().Ready;
        var socket = Path.Combine(workDir, "run", "iommufd.sock");
        var frontDoor = await RawRoundTrips(socket, request, count, hello: true);
        var typed = await ClientRoundTrips(socket, count);
        await host.StopAsync();

        Console.WriteLine($"no-op ioctl round trip, {count:N0} sequential calls each (request {request.Length} B, reply {reply.Length} B)");
        Console.WriteLine($"  {"path",-44} {"µs/call",10} {"calls/s",12}");
        Print("raw Unix-socket echo (pipelines server)", raw, count);
        Print("front door, raw frames", frontDoor, count);
        Print("front door, IommuClient.IoctlRawAsync", typed, count);
        Console.WriteLine($"  front door / raw echo: {frontDoor.TotalMicroseconds / raw.TotalMicroseconds:F1}x");
    }

    private static void Print(string label, TimeSpan elapsed, int count) =>
        Console.WriteLine($"  {label,-44} {elapsed.TotalMicroseconds / count,10:F1} {count / elapsed.TotalSeconds,12:N0}");

    private static byte[] Frame(FrameKind kind, ushort flags, IWireBody body)
    {
        var bytes = new byte[WireFormat.HeaderSize + body.BodyLength];
        BinaryPrimitives.WriteUInt32LittleEndian(bytes, (uint)(WireFormat.LengthOverhead + body.BodyLength));
        BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(4), (ushort)kind);
        BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(6), flags);
        body.WriteBody(bytes.AsSpan(WireFormat.HeaderSize));
        return bytes;
    }

    /// <summary>Sequential request/reply over a socket: write one frame, read one whole frame back.</summary>
    private static async Task<TimeSpan> RawRoundTrips(string path, byte[] request, int count, bool hello)
    {
        using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        await socket.ConnectAsync(new UnixDomainSocketEndPoint(path));
        await using var stream = new NetworkStream(socket);
        var buffer = new byte[1 << 16];
        if (hello)
        {
            await stream.WriteAsync(Frame(FrameKind.Hello, 0, new HelloRequest(1, (uint)Environment.ProcessId, 0, "bench")));
            await ReadFrame(stream, buffer);
            await stream.WriteAsync(Frame(FrameKind.Open, 0, new OpenRequest(3, 2, "/dev/iommu")));
            await ReadFrame(stream, buffer);
        }
        for (var i = 0; i < 1000; i++) { await stream.WriteAsync(request); await ReadFrame(stream, buffer); }
        var clock = Stopwatch.StartNew();
        for (var i = 0; i < count; i++) { await stream.WriteAsync(request); await ReadFrame(stream, buffer); }
        return clock.Elapsed;
    }

    private static async Task ReadFrame(NetworkStream stream, byte[] buffer)
    {
        await stream.ReadExactlyAsync(buffer.AsMemory(0, 4));
        var length = (int)BinaryPrimitives.ReadUInt32LittleEndian(buffer);
        await stream.ReadExactlyAsync(buffer.AsMemory(4, length));
    }

    private static async Task<TimeSpan> ClientRoundTrips(string path, int count)
    {
        await using var client = await IommuClient.ConnectAsync(path);
        var fd = await client.OpenAsync("/dev/iommu");
        var inline = new byte[16];
        for (var i = 0; i < 1000; i++) await client.IoctlRawAsync(fd, NoOp, 0, inline);
        var clock = Stopwatch.StartNew();
        for (var i = 0; i < count; i++) await client.IoctlRawAsync(fd, NoOp, 0, inline);
        return clock.Elapsed;
    }

    /// <summary>The raw side: a pipelines server that answers each whole frame with a reply of the front door's size.</summary>
    private static IDisposable StartEcho(string path, byte[] reply)
    {
        var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        listener.Bind(new UnixDomainSocketEndPoint(path));
        listener.Listen(8);
        _ = Task.Run(async () =>
        {
            while (true)
            {
                Socket client;
                try { client = await listener.AcceptAsync(); } catch (Exception) { return; }
                _ = Task.Run(async () =>
                {
                    var stream = new NetworkStream(client, ownsSocket: true);
                    var reader = PipeReader.Create(stream);
                    var writer = PipeWriter.Create(stream);
                    var frames = new FrameReader();
                    while (true)
                    {
                        var result = await reader.ReadAsync();
                        var buffer = result.Buffer;
                        var any = false;
                        while (frames.TryReadFrame(ref buffer, out _)) { writer.Write(reply); any = true; }
                        reader.AdvanceTo(buffer.Start, buffer.End);
                        if (any) await writer.FlushAsync();
                        if (result.IsCompleted) break;
                    }
                    await writer.CompleteAsync();
                });
            }
        });
        return listener;
    }

    private sealed class NoOpFiles : IFileRegionProvider
    {
        public IActorRef Resolve(ActorSystem system, IActorRegistry registry) =>
            system.ActorOf(Props.Create(() => new NoOpFile()), "no-op-files");
    }

    /// <summary>Answers every request at once: what is measured is the front door, not a file.</summary>
    private sealed class NoOpFile : ReceiveActor
    {
        public NoOpFile()
        {
            Receive<FileProtocol.Open>(o => Sender.Tell(new FileProtocol.Opened(o.FileId, 0)));
            Receive<FileProtocol.Ioctl>(i => Sender.Tell(new FileProtocol.IoctlDone(i.FileId, i.Tag, 0, 0, [])));
            Receive<FileProtocol.Release>(r => Sender.Tell(new FileProtocol.Released(r.FileId)));
        }
    }
}
