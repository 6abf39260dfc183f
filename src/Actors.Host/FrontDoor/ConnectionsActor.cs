using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;
using Akka.Actor;
using IommuActors.Uapi.Wire;
using static IommuActors.Host.FrontDoor.ConnectionProtocol;

namespace IommuActors.Host.FrontDoor;

/// <summary>Parent of the connection actors: a connection that fails is stopped (its socket closes), never restarted with a blank fd table.</summary>
public sealed class ConnectionsActor : ReceiveActor
{
    /// <summary>An accepted socket: start its actor and the pump that feeds it frames.</summary>
    public sealed record Accepted(long Number, ConnectionContext Context, PipeReader Reader, Func<bool> HostStopping);

    public static Props Props() => Akka.Actor.Props.Create(() => new ConnectionsActor());

    public ConnectionsActor()
    {
        Receive<Accepted>(a =>
        {
            var connection = Context.ActorOf(ConnectionActor.Props(a.Context), $"client-{a.Number}");
            _ = Task.Run(() => Pump(a.Reader, connection, a.Context.Settings.MaxFrame, a.HostStopping));
        });
    }

    protected override SupervisorStrategy SupervisorStrategy() => new OneForOneStrategy(_ => Directive.Stop);

    /// <summary>
    /// The reading side: cuts frames off the pipe and tells them to the connection in order. When
    /// the host itself is stopping, the end of the socket is not the client's exit: it says nothing.
    /// </summary>
    private static async Task Pump(PipeReader reader, IActorRef connection, int maxFrame, Func<bool> hostStopping)
    {
        var frames = new FrameReader(maxFrame);
        var reason = "closed by the client";
        try
        {
            while (true)
            {
                var result = await reader.ReadAsync().ConfigureAwait(false);
                var buffer = result.Buffer;
                try
                {
                    while (frames.TryReadFrame(ref buffer, out var frame))
                        connection.Tell(new FrameReceived(frame));
                }
                catch (FrameProtocolException error)
                {
                    var (kind, seq) = PeekHeader(buffer);
                    reader.AdvanceTo(buffer.End);
                    connection.Tell(new FrameUnreadable(kind, seq, error.Message));
                    await reader.CompleteAsync().ConfigureAwait(false);
                    return;
                }
                reader.AdvanceTo(buffer.Start, buffer.End);
                if (result.IsCompleted) break;
            }
        }
        catch (Exception error) when (error is IOException or ObjectDisposedException or System.Net.Sockets.SocketException or InvalidOperationException)
        {
            reason = error.Message;
        }
        await reader.CompleteAsync().ConfigureAwait(false);
        if (!hostStopping()) connection.Tell(new ClientGone(reason));
    }

    /// <summary>Kind and seq of the frame at the front, for the EPROTO reply to a frame that cannot be read.</summary>
    private static (ushort Kind, ulong Seq) PeekHeader(ReadOnlySequence<byte> buffer)
    {
        if (buffer.Length < WireFormat.HeaderSize) return (0, 0);
        Span<byte> header = stackalloc byte[WireFormat.HeaderSize];
        buffer.Slice(0, WireFormat.HeaderSize).CopyTo(header);
        return (BinaryPrimitives.ReadUInt16LittleEndian(header[4..]), BinaryPrimitives.ReadUInt64LittleEndian(header[8..]));
    }
}
