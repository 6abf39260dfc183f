using System.Buffers;
using System.Buffers.Binary;
using System.Diagnostics;
using System.IO.Pipelines;
using System.Net.Sockets;
using IommuActors.Uapi.Wire;

namespace IommuActors.Client.Measurements;

/// <summary>
/// Sequential request/reply round trips over a Unix socket, for the benches of the README's
/// performance section (bench/Actors.Bench and iommuctl bench run the same code): raw frames
/// against a bare echo server or the front door, and the typed client's ioctl.
/// </summary>
public static class RoundTrips
{
    public const int Warmup = 1000;

    /// <summary>A whole frame: header and body, as it goes on the wire.</summary>
    public static byte[] Frame(FrameKind kind, ushort flags, IWireBody body)
    {
        var bytes = new byte[WireFormat.HeaderSize + body.BodyLength];
        BinaryPrimitives.WriteUInt32LittleEndian(bytes, (uint)(WireFormat.LengthOverhead + body.BodyLength));
        BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(4), (ushort)kind);
        BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(6), flags);
        body.WriteBody(bytes.AsSpan(WireFormat.HeaderSize));
        return bytes;
    }

    /// <summary>
    /// Writes <paramref name="request"/> and reads one whole frame back, <paramref name="count"/>
    /// times after a warm-up. With <paramref name="hello"/> the socket is the front door: HELLO and
    /// OPEN /dev/iommu as fd 3 first.
    /// </summary>
    public static async Task<TimeSpan> RawAsync(string path, byte[] request, int count, bool hello, IProgress<int>? progress = null,
        CancellationToken cancellationToken = default)
    {
        await using var stream = await ConnectAsync(path, cancellationToken);
        var buffer = new byte[1 << 16];
        if (hello)
        {
            await stream.WriteAsync(Frame(FrameKind.Hello, 0, new HelloRequest(1, (uint)Environment.ProcessId, 0, "bench")), cancellationToken);
            await ReadFrame(stream, buffer, cancellationToken);
            await stream.WriteAsync(Frame(FrameKind.Open, 0, new OpenRequest(3, 2, "/dev/iommu")), cancellationToken);
            await ReadFrame(stream, buffer, cancellationToken);
        }
        for (var i = 0; i < Warmup; i++) { await stream.WriteAsync(request, cancellationToken); await ReadFrame(stream, buffer, cancellationToken); }
        var clock = Stopwatch.StartNew();
        for (var i = 0; i < count; i++)
        {
            await stream.WriteAsync(request, cancellationToken);
            await ReadFrame(stream, buffer, cancellationToken);
            if ((i & 1023) == 1023) progress?.Report(i + 1);
        }
        var elapsed = clock.Elapsed;
        progress?.Report(count);
        return elapsed;
    }

    /// <summary>
    /// The pipelined form of <see cref="RawAsync"/>: up to <paramref name="window"/> copies of
    /// <paramref name="request"/> in flight at once, <paramref name="count"/> in all, timed from the
    /// first write to the last reply. Against the echo server it is the frame rate the socket code
    /// can carry at all, the ceiling of every pipelined figure over the socket.
    /// </summary>
    public static async Task<TimeSpan> PipelinedRawAsync(string path, byte[] request, int count, int window,
        CancellationToken cancellationToken = default)
    {
        await using var stream = await ConnectAsync(path, cancellationToken);
        using var slots = new SemaphoreSlim(window, window);
        var clock = Stopwatch.StartNew();
        var reader = Task.Run(async () =>
        {
            var replies = new byte[1 << 16];
            for (var i = 0; i < count; i++)
            {
                await ReadFrame(stream, replies, cancellationToken);
                slots.Release();
            }
        }, cancellationToken);
        // Requests are written in batches of what the window lets through, as a pipelining client does.
        var batch = new List<byte>(request.Length * window);
        for (var sent = 0; sent < count;)
        {
            await slots.WaitAsync(cancellationToken);
            batch.Clear();
            do
            {
                batch.AddRange(request);
                sent++;
            } while (sent < count && slots.Wait(0));
            await stream.WriteAsync(batch.ToArray(), cancellationToken);
        }
        await reader;
        return clock.Elapsed;
    }

    /// <summary>The same call through <see cref="IommuClient.IoctlRawAsync"/> on a fresh /dev/iommu fd; every answer must carry <paramref name="errno"/>.</summary>
    public static async Task<TimeSpan> ClientAsync(string path, uint request, byte[] inline, int errno, int count, IProgress<int>? progress = null,
        CancellationToken cancellationToken = default)
    {
        await using var client = await IommuClient.ConnectAsync(path, new IommuClientOptions { ClientName = "bench" }, cancellationToken);
        var fd = await client.OpenAsync("/dev/iommu", cancellationToken: cancellationToken);
        for (var i = 0; i < Warmup; i++) await client.IoctlRawAsync(fd, request, 0, inline, cancellationToken);
        var clock = Stopwatch.StartNew();
        for (var i = 0; i < count; i++)
        {
            var r = await client.IoctlRawAsync(fd, request, 0, inline, cancellationToken);
            if (r.Errno != errno) throw new InvalidOperationException($"expected errno {errno}, got {r.Errno}");
            if ((i & 1023) == 1023) progress?.Report(i + 1);
        }
        var elapsed = clock.Elapsed;
        progress?.Report(count);
        await client.CloseAsync(fd, cancellationToken);
        return elapsed;
    }

    private static async Task<NetworkStream> ConnectAsync(string path, CancellationToken cancellationToken)
    {
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            await socket.ConnectAsync(new UnixDomainSocketEndPoint(path), cancellationToken);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
        return new NetworkStream(socket, ownsSocket: true);
    }

    private static async Task ReadFrame(NetworkStream stream, byte[] buffer, CancellationToken cancellationToken)
    {
        await stream.ReadExactlyAsync(buffer.AsMemory(0, 4), cancellationToken);
        var length = (int)BinaryPrimitives.ReadUInt32LittleEndian(buffer);
        await stream.ReadExactlyAsync(buffer.AsMemory(4, length), cancellationToken);
    }
}

/// <summary>The raw side of the comparison: a pipelines server that answers each whole frame with a fixed reply (the front door's reply size).</summary>
public sealed class EchoServer : IDisposable
{
    private readonly Socket _listener;

    private EchoServer(Socket listener) => _listener = listener;

    public static EchoServer Start(string path, byte[] reply)
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
                _ = Task.Run(() => Serve(client, reply));
            }
        });
        return new EchoServer(listener);
    }

    private static async Task Serve(Socket client, byte[] reply)
    {
        await using var stream = new NetworkStream(client, ownsSocket: true);
        var reader = PipeReader.Create(stream);
        var writer = PipeWriter.Create(stream);
        var frames = new FrameReader();
        try
        {
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
        }
        catch (IOException)
        {
            // The measuring side hung up mid-frame: nothing to answer.
        }
        await writer.CompleteAsync();
    }

    public void Dispose() => _listener.Dispose();
}
