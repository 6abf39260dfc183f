using IommuActors.Uapi.Wire;
using System.IO.Pipelines;
using System.Net.Sockets;
using Akka.Actor;
using Microsoft.Extensions.Logging;

namespace IommuActors.Host.FrontDoor;

/// <summary>
/// The Unix domain socket listener: binds the socket file (replacing a stale one), accepts,
/// reads each peer's credentials (SO_PEERCRED) and hands the socket to a connection actor.
/// </summary>
public sealed class SocketServer(string socketPath, ILogger log, Func<Socket, PipeReader, FrameSink, (uint Pid, uint Uid), ConnectionsActor.Accepted> accepted, IActorRef connections)
{
    private const int SolSocket = 1, SoPeerCred = 17;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Socket> _clients = [];
    private Socket? _listener;
    private Task _acceptLoop = Task.CompletedTask;
    private volatile bool _stopping;

    public bool Stopping => _stopping;

    public string SocketPath => socketPath;

    public void Start()
    {
        Directory.CreateDirectory(Path.GetDirectoryName(socketPath)!);
        RemoveStale();
        var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        listener.Bind(new UnixDomainSocketEndPoint(socketPath));
        listener.Listen(128);
        _listener = listener;
        _acceptLoop = Task.Run(AcceptLoop);
        log.LogInformation("Front door listening on {Socket}", socketPath);
    }

    /// <summary>A socket file nobody answers on is left from a host that died: remove it. One that answers belongs to a live host.</summary>
    private void RemoveStale()
    {
        if (!File.Exists(socketPath)) return;
        RefuseIfAnswered(socketPath);
        log.LogInformation("Removed a stale socket file {Socket}", socketPath);
        File.Delete(socketPath);
    }

    /// <summary>Another host already answers at this socket: starting a second one in the same place is refused.</summary>
    public static void RefuseIfAnswered(string socketPath)
    {
        if (!File.Exists(socketPath)) return;
        using var probe = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try { probe.Connect(new UnixDomainSocketEndPoint(socketPath)); }
        catch (SocketException) { return; }
        throw new AnotherHostException(
            $"another host is already running here: it answers at {socketPath}. Stop it, or give this one its own Iommu:WorkDir (or Iommu:Socket).");
    }

    private async Task AcceptLoop()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket client;
            try { client = await _listener!.AcceptAsync(_stop.Token).ConfigureAwait(false); }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException) { return; }
            try
            {
                var creds = PeerCredentials(client);
                var stream = new NetworkStream(client, ownsSocket: true);
                var sink = new FrameSink(PipeWriter.Create(stream));
                lock (_clients) _clients.Add(client);
                // Only the writing side closes the socket, so a last reply (EPROTO) still leaves after reading stopped.
                connections.Tell(accepted(client, PipeReader.Create(stream, new StreamPipeReaderOptions(leaveOpen: true)), sink, creds));
            }
            catch (SocketException e)
            {
                log.LogWarning("Dropped a client before it was served: {Error}", e.Message);
                client.Dispose();
            }
        }
    }

    /// <summary>struct ucred { pid_t pid; uid_t uid; gid_t gid; } of the connecting process.</summary>
    private static (uint Pid, uint Uid) PeerCredentials(Socket socket)
    {
        Span<byte> cred = stackalloc byte[12];
        var n = socket.GetRawSocketOption(SolSocket, SoPeerCred, cred);
        if (n < 12) throw new SocketException((int)SocketError.ProtocolNotSupported);
        return (BitConverter.ToUInt32(cred), BitConverter.ToUInt32(cred[4..]));
    }

    /// <summary>Stops accepting, removes the socket file and closes client sockets (their sessions stay, for a resume).</summary>
    public async Task StopAsync()
    {
        _stopping = true;
        await _stop.CancelAsync().ConfigureAwait(false);
        _listener?.Dispose();
        await _acceptLoop.ConfigureAwait(false);
        try { File.Delete(socketPath); } catch (IOException) { }
        lock (_clients)
        {
            foreach (var client in _clients)
            {
                try { client.Shutdown(SocketShutdown.Both); } catch (Exception e) when (e is SocketException or ObjectDisposedException) { }
                client.Dispose();
            }
            _clients.Clear();
        }
        log.LogInformation("Front door closed; removed {Socket}", socketPath);
    }
}

/// <summary>A host already answers at the socket this one would listen on (a runtime failure, exit code 1).</summary>
public sealed class AnotherHostException(string message) : InvalidOperationException(message);
