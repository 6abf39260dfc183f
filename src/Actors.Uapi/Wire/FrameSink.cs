using System.IO.Pipelines;
using System.Threading.Channels;

namespace IommuActors.Uapi.Wire;

/// <summary>One frame waiting to go out: header fields and an encoded body.</summary>
public readonly record struct OutgoingFrame(ushort Kind, FrameFlags Flags, ulong Seq, byte[] Body);

/// <summary>
/// The one writer of a connection's PipeWriter (the host's connection actor, the client's callers):
/// senders queue frames without waiting, a single loop writes whatever is queued and flushes once
/// per batch, so frames sent close together leave in one send.
/// </summary>
public sealed class FrameSink
{
    private readonly Channel<OutgoingFrame> _queue =
        Channel.CreateUnbounded<OutgoingFrame>(new UnboundedChannelOptions { SingleReader = true });

    /// <summary>Completes when everything queued before <see cref="Complete"/> is written (or the peer is gone).</summary>
    public Task Drained { get; }

    public FrameSink(PipeWriter writer) => Drained = Task.Run(() => WriteLoop(writer));

    public void Send(ulong seq, IWireBody body)
    {
        var bytes = new byte[body.BodyLength];
        body.WriteBody(bytes);
        Send(new OutgoingFrame((ushort)body.Kind, body.IsReply ? FrameFlags.Reply : FrameFlags.None, seq, bytes));
    }

    public void Send(OutgoingFrame frame) => _queue.Writer.TryWrite(frame);

    /// <summary>No more frames: the loop writes what is queued, then completes the pipe (closing our side).</summary>
    public void Complete() => _queue.Writer.TryComplete();

    private async Task WriteLoop(PipeWriter writer)
    {
        try
        {
            var reader = _queue.Reader;
            while (await reader.WaitToReadAsync().ConfigureAwait(false))
            {
                while (reader.TryRead(out var frame))
                    WireFormat.WriteFrame(writer, frame.Kind, frame.Flags, frame.Seq, frame.Body);
                var flushed = await writer.FlushAsync().ConfigureAwait(false);
                if (flushed.IsCompleted) break;
            }
        }
        catch (Exception error) when (error is IOException or ObjectDisposedException or System.Net.Sockets.SocketException or InvalidOperationException)
        {
            // The peer went away; the reading side reports it to the actor.
            _queue.Writer.TryComplete();
        }
        finally
        {
            // Completing the writer disposes the stream and with it the socket.
            try { await writer.CompleteAsync().ConfigureAwait(false); }
            catch (Exception error) when (error is IOException or ObjectDisposedException or System.Net.Sockets.SocketException) { }
        }
    }
}
