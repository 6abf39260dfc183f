using System.Buffers;
using System.Buffers.Binary;
using System.Net.Sockets;
using IommuActors.Host;
using IommuActors.Host.FrontDoor;
using IommuActors.TestSupport;
using IommuActors.Uapi.Wire;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Xunit;

namespace IommuActors.FrontDoor.Tests;

/// <summary>What SO_PEERCRED reports for this test process.</summary>
public static class ThisProcess
{
    public static uint Pid => (uint)Environment.ProcessId;

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "geteuid")]
    public static extern uint Euid();
}

/// <summary>A real host (in-memory store unless told) with its front door on a socket in a fresh folder, and the fake file region.</summary>
public sealed class TestHost : IAsyncDisposable
{
    private readonly IHost _host;

    public FileLog Files { get; }
    public string WorkDir { get; }
    public string SocketPath => Path.Combine(WorkDir, "run", "iommufd.sock");

    /// <summary>The node's address, as its Ready line and iommuctl show it (and as --Iommu:Join takes it).</summary>
    public string Node => Akka.Cluster.Cluster.Get(_host.Services.GetRequiredService<Akka.Actor.ActorSystem>()).SelfAddress.ToString();

    private TestHost(IHost host, FileLog files, string workDir)
    {
        _host = host;
        Files = files;
        WorkDir = workDir;
    }

    public static Task<TestHost> StartAsync(string? workDir = null, FileLog? files = null, params string[] args) =>
        StartAsync(workDir, files, fakeFiles: true, args);

    /// <summary>The host as users run it, with the real file region (iommufd contexts, device cdevs) on the in-memory store.</summary>
    public static Task<TestHost> RealAsync(params string[] args) => StartAsync(null, null, fakeFiles: false, ["--Iommu:Store", "memory", .. args]);

    private static async Task<TestHost> StartAsync(string? workDir, FileLog? files, bool fakeFiles, string[] args)
    {
        workDir ??= TempFolder.Create("frontdoor");
        files ??= new FileLog();
        var log = files;
        var host = IommuHost.Build(["--Iommu:WorkDir", workDir, "--Iommu:MemoryTimeout", "0.5", .. args],
            b => { if (fakeFiles) b.Services.AddSingleton<IFileRegionProvider>(new FakeFiles(log)); });
        await host.StartAsync();
        await host.Services.GetRequiredService<HostStatus>().Ready.WaitAsync(TimeSpan.FromSeconds(60));
        return new TestHost(host, files, workDir);
    }

    public static Task<TestHost> InMemoryAsync(params string[] args) => StartAsync(null, null, ["--Iommu:Store", "memory", .. args]);

    public Task<RawWire> ConnectRawAsync() => RawWire.ConnectAsync(SocketPath);

    /// <summary>The host's regions and singletons, for specs that look behind the socket.</summary>
    public Akka.Hosting.IActorRegistry Registry => _host.Services.GetRequiredService<Akka.Hosting.ActorRegistry>();

    public async ValueTask DisposeAsync()
    {
        await _host.StopAsync();
        _host.Dispose();
    }
}

/// <summary>Speaks frames byte for byte, so specs can send what no well-behaved client would and check exact replies.</summary>
public sealed class RawWire : IAsyncDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);
    private readonly Socket _socket;
    private readonly NetworkStream _stream;
    private readonly FrameReader _frames = new(64 << 20);
    private byte[] _pending = [];

    private RawWire(Socket socket)
    {
        _socket = socket;
        _stream = new NetworkStream(socket, ownsSocket: true);
    }

    public static async Task<RawWire> ConnectAsync(string path)
    {
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        await socket.ConnectAsync(new UnixDomainSocketEndPoint(path));
        return new RawWire(socket);
    }

    public async Task SendAsync(ushort kind, ushort flags, ulong seq, byte[] body)
    {
        var frame = new byte[WireFormat.HeaderSize + body.Length];
        BinaryPrimitives.WriteUInt32LittleEndian(frame, (uint)(WireFormat.LengthOverhead + body.Length));
        BinaryPrimitives.WriteUInt16LittleEndian(frame.AsSpan(4), kind);
        BinaryPrimitives.WriteUInt16LittleEndian(frame.AsSpan(6), flags);
        BinaryPrimitives.WriteUInt64LittleEndian(frame.AsSpan(8), seq);
        body.CopyTo(frame, WireFormat.HeaderSize);
        await _stream.WriteAsync(frame);
    }

    public Task SendAsync(ulong seq, IWireBody body)
    {
        var bytes = new byte[body.BodyLength];
        body.WriteBody(bytes);
        return SendAsync((ushort)body.Kind, body.IsReply ? (ushort)1 : (ushort)0, seq, bytes);
    }

    public async Task<HelloReply> HelloAsync(ulong resume = 0)
    {
        await SendAsync(1, new HelloRequest(1, 4242, resume, "raw-spec"));
        var reply = await ReadAsync();
        Assert.Equal((FrameKind.Hello, true, 1UL), ((FrameKind)reply.Kind, reply.IsReply, reply.Seq));
        Assert.True(HelloReply.TryParse(reply.Body, out var hello));
        return hello!;
    }

    /// <summary>The next frame from the server.</summary>
    public async Task<RawFrame> ReadAsync()
    {
        using var cts = new CancellationTokenSource(Timeout);
        while (true)
        {
            var buffer = new ReadOnlySequence<byte>(_pending);
            if (_frames.TryReadFrame(ref buffer, out var frame))
            {
                _pending = buffer.ToArray();
                return frame;
            }
            var chunk = new byte[65536];
            var n = await _stream.ReadAsync(chunk, cts.Token);
            if (n == 0) throw new EndOfStreamException("the server closed the connection");
            _pending = [.. _pending, .. chunk.AsSpan(0, n)];
        }
    }

    /// <summary>Completes when the server has closed the connection (after any frames still unread, which fail the spec).</summary>
    public async Task AssertClosedAsync()
    {
        using var cts = new CancellationTokenSource(Timeout);
        var chunk = new byte[4096];
        int n;
        try { n = await _stream.ReadAsync(chunk, cts.Token); }
        catch (IOException) { n = 0; }
        Assert.True(n == 0 && _pending.Length == 0, $"expected the server to close, got {n + _pending.Length} more bytes");
    }

    public static byte[] Errno(int errno)
    {
        var b = new byte[4];
        BinaryPrimitives.WriteInt32LittleEndian(b, errno);
        return b;
    }

    public ValueTask DisposeAsync()
    {
        _stream.Dispose();
        return ValueTask.CompletedTask;
    }
}
