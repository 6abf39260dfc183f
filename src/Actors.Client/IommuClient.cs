using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.IO.Pipelines;
using System.Net.Sockets;
using System.Text;
using IommuActors.Uapi;
using IommuActors.Uapi.Structs;
using IommuActors.Uapi.Wire;

namespace IommuActors.Client;

public sealed record IommuClientOptions
{
    public string ClientName { get; init; } = "dotnet-client";
    /// <summary>A session token from an earlier connection: its fds come back under the same numbers.</summary>
    public ulong ResumeToken { get; init; }
    /// <summary>With a resume: the fd numbers the program still holds, so new ones are not given out twice.</summary>
    public IReadOnlyCollection<int> ResumedFds { get; init; } = [];
    public ClientAddressSpace? AddressSpace { get; init; }
    public uint Pid { get; init; } = (uint)Environment.ProcessId;
}

/// <summary>The outcome of an ioctl: errno 0 and the kernel's return value and copied-back bytes, or the errno.</summary>
public sealed record IoctlResult(int Errno, long ReturnValue, byte[] Writeback);

/// <summary>
/// A .NET program's connection to the emulator: the wire protocol of shared/design/wire-protocol.md
/// with the kernel's calls as async methods. fd numbers are chosen here (lowest free from 3, as
/// the kernel does). One task reads the socket and serves the server's requests (MEM_READ/WRITE
/// from <see cref="Memory"/>, NEW_FD, FD_READY) at any time, also while no call is waiting.
/// </summary>
public sealed class IommuClient : IAsyncDisposable
{
    public const uint O_RDWR = 2;
    private const int ReadLimit = 64 << 20;

    private readonly Socket _socket;
    private readonly PipeReader _reader;
    private readonly FrameSink _sink;
    private readonly ConcurrentDictionary<ulong, TaskCompletionSource<RawFrame>> _pending = new();
    private readonly ConcurrentDictionary<int, TaskCompletionSource<uint>> _readyWaiters = new();
    private readonly HashSet<int> _fds = [];
    private readonly CancellationTokenSource _closing = new();
    private readonly System.Threading.Channels.Channel<string> _trace = System.Threading.Channels.Channel.CreateUnbounded<string>(
        new System.Threading.Channels.UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
    private Task _readLoop = Task.CompletedTask;
    private long _seq;

    public ClientAddressSpace Memory { get; }
    public ulong SessionToken { get; private set; }
    public uint MaxFrame { get; private set; }
    public string ServerName { get; private set; } = "";

    /// <summary>FD_READY from the server: fd and poll events.</summary>
    public event Action<int, uint>? FdReady;

    /// <summary>Completes when the connection has ended (with the error, if it failed).</summary>
    public Task Completion => _readLoop;

    public IReadOnlyCollection<int> OpenFds { get { lock (_fds) return _fds.OrderBy(f => f).ToArray(); } }

    private IommuClient(Socket socket, ClientAddressSpace memory)
    {
        _socket = socket;
        var stream = new NetworkStream(socket, ownsSocket: true);
        _reader = PipeReader.Create(stream);
        // Requests of every caller go out through one writer loop, one flush (one send) per batch.
        _sink = new FrameSink(PipeWriter.Create(stream));
        Memory = memory;
    }

    /// <summary>Connects and says HELLO; a refused HELLO (EACCES, EPROTO, ENOENT for a stale resume token) throws <see cref="IommuException"/>.</summary>
    public static async Task<IommuClient> ConnectAsync(string socketPath, IommuClientOptions? options = null,
        CancellationToken cancellationToken = default)
    {
        options ??= new IommuClientOptions();
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            await socket.ConnectAsync(new UnixDomainSocketEndPoint(socketPath), cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
        var client = new IommuClient(socket, options.AddressSpace ?? new ClientAddressSpace());
        lock (client._fds) foreach (var fd in options.ResumedFds) client._fds.Add(fd);
        client._readLoop = Task.Run(client.ReadLoop);
        try
        {
            var reply = await client.CallAsync<HelloReply>(
                new HelloRequest(WireFormat.Version, options.Pid, options.ResumeToken, options.ClientName), cancellationToken).ConfigureAwait(false);
            if (reply.Errno != 0) throw new IommuException("HELLO", reply.Errno);
            client.SessionToken = reply.SessionToken;
            client.MaxFrame = reply.MaxFrame;
            client.ServerName = reply.ServerName;
            return client;
        }
        catch
        {
            await client.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    // ---------------- the calls ----------------

    /// <summary>open(2): returns the new fd.</summary>
    public async Task<int> OpenAsync(string path, uint flags = O_RDWR, CancellationToken cancellationToken = default)
    {
        var fd = TakeFd();
        try
        {
            await OpenAtAsync(fd, path, flags, cancellationToken).ConfigureAwait(false);
            return fd;
        }
        catch
        {
            lock (_fds) _fds.Remove(fd);
            throw;
        }
    }

    /// <summary>OPEN under a number the caller chose.</summary>
    public async Task OpenAtAsync(int fd, string path, uint flags = O_RDWR, CancellationToken cancellationToken = default)
    {
        var reply = await CallAsync<StatusReply>(new OpenRequest(fd, flags, path), cancellationToken).ConfigureAwait(false);
        if (reply.Errno != 0) throw new IommuException($"open {path}", reply.Errno);
        lock (_fds) _fds.Add(fd);
    }

    public async Task CloseAsync(int fd, CancellationToken cancellationToken = default)
    {
        var reply = await CallAsync<StatusReply>(new CloseRequest(fd), cancellationToken).ConfigureAwait(false);
        lock (_fds) _fds.Remove(fd);
        if (reply.Errno != 0) throw new IommuException($"close {fd}", reply.Errno);
    }

    /// <summary>dup(2): the lowest free number now names the same file.</summary>
    public async Task<int> DupAsync(int oldFd, CancellationToken cancellationToken = default)
    {
        var newFd = TakeFd();
        var reply = await CallAsync<StatusReply>(new DupRequest(oldFd, newFd), cancellationToken).ConfigureAwait(false);
        if (reply.Errno == 0) return newFd;
        lock (_fds) _fds.Remove(newFd);
        throw new IommuException($"dup {oldFd}", reply.Errno);
    }

    /// <summary>The ioctl as it went: errno, return value and writeback, never thrown. The writeback is also stored at arg when arg is mapped.</summary>
    public async Task<IoctlResult> IoctlRawAsync(int fd, uint request, ulong arg, byte[] inline, CancellationToken cancellationToken = default)
    {
        var reply = await CallAsync<IoctlReply>(new IoctlRequest(fd, request, arg, inline), cancellationToken).ConfigureAwait(false);
        if (reply.Errno == 0 && reply.Writeback.Length > 0 && arg != 0) Memory.Write(arg, reply.Writeback);
        return new IoctlResult(reply.Errno, reply.Retval, reply.Writeback);
    }

    /// <summary>An ioctl that throws <see cref="IommuException"/> on failure.</summary>
    public async Task<IoctlResult> IoctlAsync(int fd, uint request, ulong arg, byte[] inline, CancellationToken cancellationToken = default)
    {
        var result = await IoctlRawAsync(fd, request, arg, inline, cancellationToken).ConfigureAwait(false);
        return result.Errno == 0 ? result : throw new IommuException($"ioctl 0x{request:x}", result.Errno);
    }

    /// <summary>
    /// An iommufd/VFIO ioctl with a kernel struct: sends it whole and returns the struct as the
    /// kernel copied it back (the sent one when nothing came back).
    /// </summary>
    public async Task<T> IoctlAsync<T>(int fd, uint request, T cmd, ulong arg = 0, CancellationToken cancellationToken = default)
        where T : IUapiStruct<T>
    {
        var bytes = UserStruct.Encode(cmd);
        var result = await IoctlAsync(fd, request, arg, bytes, cancellationToken).ConfigureAwait(false);
        if (result.Writeback.Length == 0) return cmd;
        result.Writeback.AsSpan(0, Math.Min(bytes.Length, result.Writeback.Length)).CopyTo(bytes);
        return T.Read(bytes);
    }

    /// <summary>read(2): errno and data (EAGAIN when a queue is empty: wait with <see cref="WaitReadyAsync"/>).</summary>
    public async Task<(int Errno, byte[] Data)> TryReadAsync(int fd, uint count, CancellationToken cancellationToken = default)
    {
        var reply = await CallAsync<ReadReply>(new ReadRequest(fd, count), cancellationToken).ConfigureAwait(false);
        return (reply.Errno, reply.Data);
    }

    public async Task<byte[]> ReadAsync(int fd, uint count, CancellationToken cancellationToken = default)
    {
        var (errno, data) = await TryReadAsync(fd, count, cancellationToken).ConfigureAwait(false);
        return errno == 0 ? data : throw new IommuException($"read {fd}", errno);
    }

    public async Task<uint> WriteAsync(int fd, byte[] data, CancellationToken cancellationToken = default)
    {
        var reply = await CallAsync<WriteReply>(new WriteRequest(fd, data), cancellationToken).ConfigureAwait(false);
        return reply.Errno == 0 ? reply.Written : throw new IommuException($"write {fd}", reply.Errno);
    }

    /// <summary>Completes with the poll events of the next FD_READY for <paramref name="fd"/> (or one that came since the last wait).</summary>
    public Task<uint> WaitReadyAsync(int fd, CancellationToken cancellationToken = default) =>
        _readyWaiters.GetOrAdd(fd, _ => new TaskCompletionSource<uint>(TaskCreationOptions.RunContinuationsAsynchronously))
            .Task.WaitAsync(cancellationToken).ContinueWith(t => { _readyWaiters.TryRemove(fd, out _); return t.Result; },
                cancellationToken, TaskContinuationOptions.OnlyOnRanToCompletion, TaskScheduler.Default);

    /// <summary>Extension request (docs/wire-extensions.md): the host's status as JSON.</summary>
    public Task<string> StatusJsonAsync(CancellationToken cancellationToken = default) => ExtensionAsync(WireExtensions.Status, cancellationToken);

    /// <summary>Extension request: the emulated platform (units and devices) as JSON.</summary>
    public Task<string> PlatformJsonAsync(CancellationToken cancellationToken = default) => ExtensionAsync(WireExtensions.Platform, cancellationToken);

    /// <summary>
    /// Extension request: an emulated DMA by device <paramref name="pci"/> (PASID -1 for none) at
    /// <paramref name="iova"/>; the JSON has the segments reached (completed) or the fault raised.
    /// </summary>
    public Task<string> DmaJsonAsync(string pci, int pasid, ulong iova, ulong length, bool write,
        CancellationToken cancellationToken = default) =>
        ExtensionAsync(WireExtensions.Dma, cancellationToken, Encoding.UTF8.GetBytes(System.Text.Json.JsonSerializer.Serialize(
            new { pci, pasid, iova, length, write })));

    /// <summary>Extension request: the live iommufd contexts, who holds them and how many objects each has, as JSON.</summary>
    public Task<string> ContextsJsonAsync(CancellationToken cancellationToken = default) => ExtensionAsync(WireExtensions.Contexts, cancellationToken);

    /// <summary>Extension request: the live object tables (of one context when <paramref name="context"/> names its file id), as JSON.</summary>
    public Task<string> ObjectsJsonAsync(string? context = null, CancellationToken cancellationToken = default) =>
        ExtensionAsync(WireExtensions.Objects, cancellationToken, context is null ? null
            : Encoding.UTF8.GetBytes(System.Text.Json.JsonSerializer.Serialize(new { context })));

    /// <summary>
    /// Extension request EXT_RELEASE: ends a session that awaits a resume (its files released as its
    /// process's exit would); ENOENT when no node has it, EBUSY when its client is connected.
    /// </summary>
    public Task<string> ReleaseSessionJsonAsync(ulong session, CancellationToken cancellationToken = default) =>
        ExtensionAsync(WireExtensions.Release, cancellationToken,
            Encoding.UTF8.GetBytes(System.Text.Json.JsonSerializer.Serialize(new { session = session.ToString("x16") })));

    /// <summary>Extension request: the object graph (contexts, objects, units, devices, PASID sets, subscribers), as JSON.</summary>
    public Task<string> GraphJsonAsync(CancellationToken cancellationToken = default) => ExtensionAsync(WireExtensions.Graph, cancellationToken);

    /// <summary>
    /// Extension request EXT_TRACE: from the moment the returned task completes, the host streams
    /// every ioctl its connections answer and every IOASID event of the notifier bus (utf-8 JSON
    /// each, docs/wire-extensions.md) until this connection closes; read them with <see cref="TraceEventsAsync"/>.
    /// </summary>
    public Task StartTraceAsync(CancellationToken cancellationToken = default) => ExtensionAsync(WireExtensions.Trace, cancellationToken);

    /// <summary>The EXT_TRACE_EVENT documents in arrival order, until the connection closes or <paramref name="cancellationToken"/> fires.</summary>
    public IAsyncEnumerable<string> TraceEventsAsync(CancellationToken cancellationToken = default) => _trace.Reader.ReadAllAsync(cancellationToken);

    private async Task<string> ExtensionAsync(ushort kind, CancellationToken cancellationToken, byte[]? request = null)
    {
        var frame = await CallRawAsync(kind, request ?? [], cancellationToken).ConfigureAwait(false);
        if (frame.Body.Length < 4) throw new IommuException($"extension 0x{kind:x}", Errno.EPROTO);
        var errno = BinaryPrimitives.ReadInt32LittleEndian(frame.Body);
        return errno == 0 ? Encoding.UTF8.GetString(frame.Body, 4, frame.Body.Length - 4)
            : throw new IommuException($"extension 0x{kind:x}", errno);
    }

    // ---------------- frames ----------------

    private int TakeFd()
    {
        lock (_fds)
        {
            var fd = 3;
            while (_fds.Contains(fd)) fd++;
            _fds.Add(fd);
            return fd;
        }
    }

    private async Task<T> CallAsync<T>(IWireBody request, CancellationToken cancellationToken) where T : class, IWireBody
    {
        var bytes = new byte[request.BodyLength];
        request.WriteBody(bytes);
        var frame = await CallRawAsync((ushort)request.Kind, bytes, cancellationToken).ConfigureAwait(false);
        if (WireBodies.TryParse(frame, out var body) != 0 || body is not T typed)
            throw new IommuException($"{request.Kind} reply", Errno.EPROTO);
        return typed;
    }

    /// <summary>Sends one request and waits for the reply with its seq; cancelling stops the wait, not the request.</summary>
    private async Task<RawFrame> CallRawAsync(ushort kind, byte[] body, CancellationToken cancellationToken)
    {
        var seq = (ulong)Interlocked.Increment(ref _seq);
        var reply = new TaskCompletionSource<RawFrame>(TaskCreationOptions.RunContinuationsAsynchronously);
        _pending[seq] = reply;
        if (_readLoop.IsCompleted) reply.TrySetException(new IOException("the connection to the emulator is closed"));
        try
        {
            Send(kind, FrameFlags.None, seq, body);
            return await reply.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _pending.TryRemove(seq, out _);
        }
    }

    /// <summary>Queues the frame for the writer loop; a failed write ends the connection, which fails the waiting calls.</summary>
    private void Send(ushort kind, FrameFlags flags, ulong seq, byte[] body) => _sink.Send(new OutgoingFrame(kind, flags, seq, body));

    private async Task ReadLoop()
    {
        var frames = new FrameReader(ReadLimit);
        Exception? failure = null;
        try
        {
            while (true)
            {
                var result = await _reader.ReadAsync(_closing.Token).ConfigureAwait(false);
                var buffer = result.Buffer;
                var got = new List<RawFrame>();
                while (frames.TryReadFrame(ref buffer, out var frame)) got.Add(frame);
                _reader.AdvanceTo(buffer.Start, buffer.End);
                foreach (var frame in got) OnFrame(frame);
                if (result.IsCompleted) break;
            }
        }
        catch (Exception error)
        {
            failure = error;
        }
        var closed = new IOException("the connection to the emulator closed", failure);
        foreach (var pending in _pending.Values) pending.TrySetException(closed);
        foreach (var waiter in _readyWaiters.Values) waiter.TrySetException(closed);
        _trace.Writer.TryComplete();
    }

    private void OnFrame(RawFrame frame)
    {
        if (frame.IsReply)
        {
            if (_pending.TryGetValue(frame.Seq, out var waiter)) waiter.TrySetResult(frame);
            return;
        }
        if (frame.Kind == WireExtensions.TraceEvent)
        {
            _trace.Writer.TryWrite(Encoding.UTF8.GetString(frame.Body));
            return;
        }
        if (frame.Kind == WireExtensions.MemCheck)
        {
            var errno = MemCheckRequest.TryParse(frame.Body, out var check) ? Memory.Check(check!.Addr, check.Len) : Errno.EINVAL;
            _sink.Send(frame.Seq, new MemCheckReply(errno));
            return;
        }
        if (WireBodies.TryParse(frame, out var body) != 0) return;
        switch (body)
        {
            case MemReadRequest read:
                var errno = Memory.Read(read.Addr, read.Len, out var data);
                _sink.Send(frame.Seq, new MemReadReply(errno, errno == 0 ? data : []));
                break;
            case MemWriteRequest write:
                _sink.Send(frame.Seq, new StatusReply(FrameKind.MemWrite, Memory.Write(write.Addr, write.Data)));
                break;
            case NewFdRequest:
                _sink.Send(frame.Seq, new NewFdReply(0, TakeFd()));
                break;
            case Uapi.Wire.FdReady ready:
                _readyWaiters.GetOrAdd(ready.Fd, _ => new TaskCompletionSource<uint>(TaskCreationOptions.RunContinuationsAsynchronously))
                    .TrySetResult(ready.Events);
                FdReady?.Invoke(ready.Fd, ready.Events);
                break;
        }
    }

    /// <summary>Closes the socket: the emulator releases this session's files, as a process exit would.</summary>
    public async ValueTask DisposeAsync()
    {
        await _closing.CancelAsync().ConfigureAwait(false);
        try { _socket.Shutdown(SocketShutdown.Both); } catch (Exception e) when (e is SocketException or ObjectDisposedException) { }
        try { await _readLoop.ConfigureAwait(false); } catch (OperationCanceledException) { }
        _sink.Complete();
        await _sink.Drained.ConfigureAwait(false);
        await _reader.CompleteAsync().ConfigureAwait(false);
        _socket.Dispose();
        _closing.Dispose();
    }
}

/// <summary>The project's extension frame kinds (docs/wire-extensions.md).</summary>
public static class WireExtensions
{
    public const ushort Status = 0x8001;
    public const ushort Platform = 0x8002;
    public const ushort Dma = 0x8003;
    public const ushort Contexts = 0x8004;
    public const ushort Objects = 0x8005;
    public const ushort Graph = 0x8006;
    public const ushort Trace = 0x8007;
    /// <summary>Sent by the host after EXT_TRACE, one per event; never answered.</summary>
    public const ushort TraceEvent = 0x8008;
    public const ushort Release = 0x8009;
    /// <summary>Sent by the host: can these pages be pinned now (<see cref="MemCheckRequest"/>)?</summary>
    public const ushort MemCheck = MemCheckRequest.KindNumber;
}
