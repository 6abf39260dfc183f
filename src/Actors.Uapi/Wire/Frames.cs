using System.Buffers;
using System.Buffers.Binary;

namespace IommuActors.Uapi.Wire;

/// <summary>Frame kinds of wire protocol version 1 (docs: shared/design/wire-protocol.md).</summary>
public enum FrameKind : ushort
{
    Hello = 0x01, Open = 0x02, Close = 0x03, Ioctl = 0x04, Read = 0x05, Write = 0x06, Dup = 0x07,
    MemRead = 0x21, MemWrite = 0x22, NewFd = 0x23, FdReady = 0x24,
}

[Flags]
public enum FrameFlags : ushort { None = 0, Reply = 1 }

/// <summary>One whole frame as read off the stream; Oversize frames carry no body (it was skipped).</summary>
public sealed record RawFrame(ushort Kind, FrameFlags Flags, ulong Seq, byte[] Body, bool Oversize = false)
{
    public bool IsReply => (Flags & FrameFlags.Reply) != 0;
    public bool IsKnownKind => Enum.IsDefined(typeof(FrameKind), Kind);
}

/// <summary>A frame that cannot be parsed at all; the connection must answer EPROTO and close.</summary>
public sealed class FrameProtocolException(string message) : Exception(message)
{
    public int Errno => Uapi.Errno.EPROTO;
}

public static class WireFormat
{
    public const uint Version = 1;
    /// <summary>u32 length + u16 kind + u16 flags + u64 seq.</summary>
    public const int HeaderSize = 16;
    /// <summary>Bytes counted by the length field before the body: kind, flags, seq.</summary>
    public const int LengthOverhead = 12;
    /// <summary>Default max_frame announced in HELLO.</summary>
    public const int DefaultMaxFrame = 1 << 20;

    /// <summary>Writes one whole frame: header then body.</summary>
    public static void WriteFrame(IBufferWriter<byte> writer, ushort kind, FrameFlags flags, ulong seq, ReadOnlySpan<byte> body)
    {
        var span = writer.GetSpan(HeaderSize);
        BinaryPrimitives.WriteUInt32LittleEndian(span, (uint)(LengthOverhead + body.Length));
        BinaryPrimitives.WriteUInt16LittleEndian(span[4..], kind);
        BinaryPrimitives.WriteUInt16LittleEndian(span[6..], (ushort)flags);
        BinaryPrimitives.WriteUInt64LittleEndian(span[8..], seq);
        writer.Advance(HeaderSize);
        if (body.Length > 0) writer.Write(body);
    }

    /// <summary>Writes a typed body as a request (or reply, by the body's own kind).</summary>
    public static void WriteFrame(IBufferWriter<byte> writer, ulong seq, IWireBody body)
    {
        var bytes = new byte[body.BodyLength];
        body.WriteBody(bytes);
        WriteFrame(writer, (ushort)body.Kind, body.IsReply ? FrameFlags.Reply : FrameFlags.None, seq, bytes);
    }
}

/// <summary>
/// Cuts frames off a pipe's buffer. Holds one piece of state: the unread rest of an oversize
/// frame, which it discards as it arrives so that only that request fails.
/// </summary>
public sealed class FrameReader(int maxFrame = WireFormat.DefaultMaxFrame)
{
    private long _skip;

    public int MaxFrame { get; } = maxFrame >= WireFormat.HeaderSize
        ? maxFrame : throw new ArgumentOutOfRangeException(nameof(maxFrame));

    /// <summary>
    /// Consumes exactly one whole frame from the front of <paramref name="buffer"/> and returns
    /// true; false (consuming only skipped oversize bytes) when a whole frame is not there yet.
    /// A frame whose total size exceeds MaxFrame comes back with Oversize set and an empty body.
    /// Throws <see cref="FrameProtocolException"/> when the length field cannot be a frame.
    /// </summary>
    public bool TryReadFrame(ref ReadOnlySequence<byte> buffer, out RawFrame frame)
    {
        frame = null!;
        if (_skip > 0)
        {
            var n = Math.Min(_skip, buffer.Length);
            buffer = buffer.Slice(n);
            _skip -= n;
            if (_skip > 0) return false;
        }
        if (buffer.Length < WireFormat.HeaderSize) return false;

        Span<byte> header = stackalloc byte[WireFormat.HeaderSize];
        buffer.Slice(0, WireFormat.HeaderSize).CopyTo(header);
        var length = BinaryPrimitives.ReadUInt32LittleEndian(header);
        var kind = BinaryPrimitives.ReadUInt16LittleEndian(header[4..]);
        var flags = (FrameFlags)BinaryPrimitives.ReadUInt16LittleEndian(header[6..]);
        var seq = BinaryPrimitives.ReadUInt64LittleEndian(header[8..]);
        if (length < WireFormat.LengthOverhead)
            throw new FrameProtocolException($"frame length {length} is shorter than its own header");
        if ((flags & ~FrameFlags.Reply) != 0)
            throw new FrameProtocolException($"frame flags 0x{(ushort)flags:x} have unknown bits");

        var total = 4L + length;
        if (total > MaxFrame)
        {
            buffer = buffer.Slice(WireFormat.HeaderSize);
            _skip = total - WireFormat.HeaderSize;
            var n = Math.Min(_skip, buffer.Length);
            buffer = buffer.Slice(n);
            _skip -= n;
            frame = new RawFrame(kind, flags, seq, [], Oversize: true);
            return true;
        }
        if (buffer.Length < total) return false;
        var body = buffer.Slice(WireFormat.HeaderSize, length - WireFormat.LengthOverhead).ToArray();
        buffer = buffer.Slice(total);
        frame = new RawFrame(kind, flags, seq, body);
        return true;
    }
}
