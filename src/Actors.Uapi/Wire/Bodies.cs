using System.Buffers.Binary;
using System.Text;

namespace IommuActors.Uapi.Wire;

/// <summary>A typed frame body: its kind, direction and bytes.</summary>
public interface IWireBody
{
    FrameKind Kind { get; }
    bool IsReply { get; }
    int BodyLength { get; }
    void WriteBody(Span<byte> s);
}

/// <summary>Parsers of each body; a malformed body gives EINVAL (the frame itself was fine).</summary>
public static class WireBodies
{
    private static readonly UTF8Encoding StrictUtf8 = new(false, true);

    internal static bool TryUtf8(ReadOnlySpan<byte> s, out string text)
    {
        try { text = StrictUtf8.GetString(s); return true; }
        catch (DecoderFallbackException) { text = ""; return false; }
    }

    internal static int Utf8Length(string s) => Encoding.UTF8.GetByteCount(s);
    internal static void Utf8(Span<byte> s, string text) => Encoding.UTF8.GetBytes(text, s);

    /// <summary>Parses a body by the frame's kind and direction; errno 0 on success, EINVAL if malformed or unknown.</summary>
    public static int TryParse(RawFrame frame, out IWireBody? body)
    {
        body = null;
        if (frame.Oversize || !frame.IsKnownKind) return Errno.EINVAL;
        var s = frame.Body.AsSpan();
        var kind = (FrameKind)frame.Kind;
        var reply = frame.IsReply;
        return (kind, reply) switch
        {
            (FrameKind.Hello, false) => Wrap(HelloRequest.TryParse(s, out var a), a, out body),
            (FrameKind.Hello, true) => Wrap(HelloReply.TryParse(s, out var b), b, out body),
            (FrameKind.Open, false) => Wrap(OpenRequest.TryParse(s, out var c), c, out body),
            (FrameKind.Close, false) => Wrap(CloseRequest.TryParse(s, out var d), d, out body),
            (FrameKind.Ioctl, false) => Wrap(IoctlRequest.TryParse(s, out var e), e, out body),
            (FrameKind.Ioctl, true) => Wrap(IoctlReply.TryParse(s, out var f), f, out body),
            (FrameKind.Read, false) => Wrap(ReadRequest.TryParse(s, out var g), g, out body),
            (FrameKind.Read, true) => Wrap(ReadReply.TryParse(s, out var h), h, out body),
            (FrameKind.Write, false) => Wrap(WriteRequest.TryParse(s, out var i), i, out body),
            (FrameKind.Write, true) => Wrap(WriteReply.TryParse(s, out var j), j, out body),
            (FrameKind.Dup, false) => Wrap(DupRequest.TryParse(s, out var k), k, out body),
            (FrameKind.MemRead, false) => Wrap(MemReadRequest.TryParse(s, out var l), l, out body),
            (FrameKind.MemRead, true) => Wrap(MemReadReply.TryParse(s, out var m), m, out body),
            (FrameKind.MemWrite, false) => Wrap(MemWriteRequest.TryParse(s, out var n), n, out body),
            (FrameKind.NewFd, false) => Wrap(NewFdRequest.TryParse(s, out var o), o, out body),
            (FrameKind.NewFd, true) => Wrap(NewFdReply.TryParse(s, out var p), p, out body),
            (FrameKind.FdReady, false) => Wrap(FdReady.TryParse(s, out var q), q, out body),
            (FrameKind.Open or FrameKind.Close or FrameKind.Dup or FrameKind.MemWrite, true) =>
                Wrap(StatusReply.TryParse(kind, s, out var r), r, out body),
            _ => Errno.EINVAL, // FD_READY has no reply
        };
    }

    private static int Wrap<T>(bool ok, T? value, out IWireBody? body) where T : class, IWireBody
    {
        body = ok ? value : null;
        return ok ? 0 : Errno.EINVAL;
    }

    internal static bool BytesEqual(byte[] a, byte[] b) => a.AsSpan().SequenceEqual(b);
}

/// <summary>HELLO: u32 version, u32 pid, u64 resume_token, utf-8 client name.</summary>
public sealed record HelloRequest(uint Version, uint Pid, ulong ResumeToken, string ClientName) : IWireBody
{
    public FrameKind Kind => FrameKind.Hello;
    public bool IsReply => false;
    public int BodyLength => 16 + WireBodies.Utf8Length(ClientName);
    public void WriteBody(Span<byte> s)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(s, Version);
        BinaryPrimitives.WriteUInt32LittleEndian(s[4..], Pid);
        BinaryPrimitives.WriteUInt64LittleEndian(s[8..], ResumeToken);
        WireBodies.Utf8(s[16..], ClientName);
    }
    public static bool TryParse(ReadOnlySpan<byte> s, out HelloRequest? v)
    {
        v = null;
        if (s.Length < 16 || !WireBodies.TryUtf8(s[16..], out var name)) return false;
        v = new(BinaryPrimitives.ReadUInt32LittleEndian(s), BinaryPrimitives.ReadUInt32LittleEndian(s[4..]),
            BinaryPrimitives.ReadUInt64LittleEndian(s[8..]), name);
        return true;
    }
}

/// <summary>HELLO reply: i32 errno, u32 version, u32 max_frame, u64 session_token, utf-8 server name.</summary>
public sealed record HelloReply(int Errno, uint Version, uint MaxFrame, ulong SessionToken, string ServerName) : IWireBody
{
    public FrameKind Kind => FrameKind.Hello;
    public bool IsReply => true;
    public int BodyLength => 20 + WireBodies.Utf8Length(ServerName);
    public void WriteBody(Span<byte> s)
    {
        BinaryPrimitives.WriteInt32LittleEndian(s, Errno);
        BinaryPrimitives.WriteUInt32LittleEndian(s[4..], Version);
        BinaryPrimitives.WriteUInt32LittleEndian(s[8..], MaxFrame);
        BinaryPrimitives.WriteUInt64LittleEndian(s[12..], SessionToken);
        WireBodies.Utf8(s[20..], ServerName);
    }
    public static bool TryParse(ReadOnlySpan<byte> s, out HelloReply? v)
    {
        v = null;
        if (s.Length < 20 || !WireBodies.TryUtf8(s[20..], out var name)) return false;
        v = new(BinaryPrimitives.ReadInt32LittleEndian(s), BinaryPrimitives.ReadUInt32LittleEndian(s[4..]),
            BinaryPrimitives.ReadUInt32LittleEndian(s[8..]), BinaryPrimitives.ReadUInt64LittleEndian(s[12..]), name);
        return true;
    }
}

/// <summary>OPEN: i32 fd, u32 open flags, utf-8 path.</summary>
public sealed record OpenRequest(int Fd, uint Flags, string Path) : IWireBody
{
    public FrameKind Kind => FrameKind.Open;
    public bool IsReply => false;
    public int BodyLength => 8 + WireBodies.Utf8Length(Path);
    public void WriteBody(Span<byte> s)
    {
        BinaryPrimitives.WriteInt32LittleEndian(s, Fd);
        BinaryPrimitives.WriteUInt32LittleEndian(s[4..], Flags);
        WireBodies.Utf8(s[8..], Path);
    }
    public static bool TryParse(ReadOnlySpan<byte> s, out OpenRequest? v)
    {
        v = null;
        if (s.Length < 8 || !WireBodies.TryUtf8(s[8..], out var path)) return false;
        v = new(BinaryPrimitives.ReadInt32LittleEndian(s), BinaryPrimitives.ReadUInt32LittleEndian(s[4..]), path);
        return true;
    }
}

/// <summary>The errno-only reply of OPEN, CLOSE, DUP and MEM_WRITE.</summary>
public sealed record StatusReply(FrameKind Kind, int Errno) : IWireBody
{
    public bool IsReply => true;
    public int BodyLength => 4;
    public void WriteBody(Span<byte> s) => BinaryPrimitives.WriteInt32LittleEndian(s, Errno);
    public static bool TryParse(FrameKind kind, ReadOnlySpan<byte> s, out StatusReply? v)
    {
        v = s.Length == 4 ? new(kind, BinaryPrimitives.ReadInt32LittleEndian(s)) : null;
        return v is not null;
    }
}

/// <summary>CLOSE: i32 fd.</summary>
public sealed record CloseRequest(int Fd) : IWireBody
{
    public FrameKind Kind => FrameKind.Close;
    public bool IsReply => false;
    public int BodyLength => 4;
    public void WriteBody(Span<byte> s) => BinaryPrimitives.WriteInt32LittleEndian(s, Fd);
    public static bool TryParse(ReadOnlySpan<byte> s, out CloseRequest? v)
    {
        v = s.Length == 4 ? new(BinaryPrimitives.ReadInt32LittleEndian(s)) : null;
        return v is not null;
    }
}

/// <summary>IOCTL: i32 fd, u32 request, u64 arg, u32 inline_len, inline bytes.</summary>
public sealed record IoctlRequest(int Fd, uint Request, ulong Arg, byte[] Inline) : IWireBody
{
    public FrameKind Kind => FrameKind.Ioctl;
    public bool IsReply => false;
    public int BodyLength => 20 + Inline.Length;
    public void WriteBody(Span<byte> s)
    {
        BinaryPrimitives.WriteInt32LittleEndian(s, Fd);
        BinaryPrimitives.WriteUInt32LittleEndian(s[4..], Request);
        BinaryPrimitives.WriteUInt64LittleEndian(s[8..], Arg);
        BinaryPrimitives.WriteUInt32LittleEndian(s[16..], (uint)Inline.Length);
        Inline.CopyTo(s[20..]);
    }
    public static bool TryParse(ReadOnlySpan<byte> s, out IoctlRequest? v)
    {
        v = null;
        if (s.Length < 20) return false;
        var len = BinaryPrimitives.ReadUInt32LittleEndian(s[16..]);
        if (len != (uint)(s.Length - 20)) return false;
        v = new(BinaryPrimitives.ReadInt32LittleEndian(s), BinaryPrimitives.ReadUInt32LittleEndian(s[4..]),
            BinaryPrimitives.ReadUInt64LittleEndian(s[8..]), s[20..].ToArray());
        return true;
    }
    public bool Equals(IoctlRequest? o) => o is not null && Fd == o.Fd && Request == o.Request && Arg == o.Arg
        && WireBodies.BytesEqual(Inline, o.Inline);
    public override int GetHashCode() => HashCode.Combine(Fd, Request, Arg, Inline.Length);
}

/// <summary>IOCTL reply: i32 errno, i64 retval, u32 writeback_len, writeback bytes.</summary>
public sealed record IoctlReply(int Errno, long Retval, byte[] Writeback) : IWireBody
{
    public FrameKind Kind => FrameKind.Ioctl;
    public bool IsReply => true;
    public int BodyLength => 16 + Writeback.Length;
    public void WriteBody(Span<byte> s)
    {
        BinaryPrimitives.WriteInt32LittleEndian(s, Errno);
        BinaryPrimitives.WriteInt64LittleEndian(s[4..], Retval);
        BinaryPrimitives.WriteUInt32LittleEndian(s[12..], (uint)Writeback.Length);
        Writeback.CopyTo(s[16..]);
    }
    public static bool TryParse(ReadOnlySpan<byte> s, out IoctlReply? v)
    {
        v = null;
        if (s.Length < 16) return false;
        var len = BinaryPrimitives.ReadUInt32LittleEndian(s[12..]);
        if (len != (uint)(s.Length - 16)) return false;
        v = new(BinaryPrimitives.ReadInt32LittleEndian(s), BinaryPrimitives.ReadInt64LittleEndian(s[4..]), s[16..].ToArray());
        return true;
    }
    public bool Equals(IoctlReply? o) => o is not null && Errno == o.Errno && Retval == o.Retval
        && WireBodies.BytesEqual(Writeback, o.Writeback);
    public override int GetHashCode() => HashCode.Combine(Errno, Retval, Writeback.Length);
}

/// <summary>READ: i32 fd, u32 count.</summary>
public sealed record ReadRequest(int Fd, uint Count) : IWireBody
{
    public FrameKind Kind => FrameKind.Read;
    public bool IsReply => false;
    public int BodyLength => 8;
    public void WriteBody(Span<byte> s)
    {
        BinaryPrimitives.WriteInt32LittleEndian(s, Fd);
        BinaryPrimitives.WriteUInt32LittleEndian(s[4..], Count);
    }
    public static bool TryParse(ReadOnlySpan<byte> s, out ReadRequest? v)
    {
        v = s.Length == 8 ? new(BinaryPrimitives.ReadInt32LittleEndian(s), BinaryPrimitives.ReadUInt32LittleEndian(s[4..])) : null;
        return v is not null;
    }
}

/// <summary>The "i32 errno, data" replies of READ and MEM_READ.</summary>
public abstract record DataReply(int Errno, byte[] Data) : IWireBody
{
    public abstract FrameKind Kind { get; }
    public bool IsReply => true;
    public int BodyLength => 4 + Data.Length;
    public void WriteBody(Span<byte> s)
    {
        BinaryPrimitives.WriteInt32LittleEndian(s, Errno);
        Data.CopyTo(s[4..]);
    }
    public virtual bool Equals(DataReply? o) => o is not null && o.GetType() == GetType() && Errno == o.Errno
        && WireBodies.BytesEqual(Data, o.Data);
    public override int GetHashCode() => HashCode.Combine(Kind, Errno, Data.Length);
}

/// <summary>READ reply: i32 errno, data.</summary>
public sealed record ReadReply(int Errno, byte[] Data) : DataReply(Errno, Data)
{
    public override FrameKind Kind => FrameKind.Read;
    public static bool TryParse(ReadOnlySpan<byte> s, out ReadReply? v)
    {
        v = s.Length >= 4 ? new(BinaryPrimitives.ReadInt32LittleEndian(s), s[4..].ToArray()) : null;
        return v is not null;
    }
}

/// <summary>WRITE: i32 fd, data.</summary>
public sealed record WriteRequest(int Fd, byte[] Data) : IWireBody
{
    public FrameKind Kind => FrameKind.Write;
    public bool IsReply => false;
    public int BodyLength => 4 + Data.Length;
    public void WriteBody(Span<byte> s)
    {
        BinaryPrimitives.WriteInt32LittleEndian(s, Fd);
        Data.CopyTo(s[4..]);
    }
    public static bool TryParse(ReadOnlySpan<byte> s, out WriteRequest? v)
    {
        v = s.Length >= 4 ? new(BinaryPrimitives.ReadInt32LittleEndian(s), s[4..].ToArray()) : null;
        return v is not null;
    }
    public bool Equals(WriteRequest? o) => o is not null && Fd == o.Fd && WireBodies.BytesEqual(Data, o.Data);
    public override int GetHashCode() => HashCode.Combine(Fd, Data.Length);
}

/// <summary>WRITE reply: i32 errno, u32 written.</summary>
public sealed record WriteReply(int Errno, uint Written) : IWireBody
{
    public FrameKind Kind => FrameKind.Write;
    public bool IsReply => true;
    public int BodyLength => 8;
    public void WriteBody(Span<byte> s)
    {
        BinaryPrimitives.WriteInt32LittleEndian(s, Errno);
        BinaryPrimitives.WriteUInt32LittleEndian(s[4..], Written);
    }
    public static bool TryParse(ReadOnlySpan<byte> s, out WriteReply? v)
    {
        v = s.Length == 8 ? new(BinaryPrimitives.ReadInt32LittleEndian(s), BinaryPrimitives.ReadUInt32LittleEndian(s[4..])) : null;
        return v is not null;
    }
}

/// <summary>DUP: i32 oldfd, i32 newfd.</summary>
public sealed record DupRequest(int OldFd, int NewFd) : IWireBody
{
    public FrameKind Kind => FrameKind.Dup;
    public bool IsReply => false;
    public int BodyLength => 8;
    public void WriteBody(Span<byte> s)
    {
        BinaryPrimitives.WriteInt32LittleEndian(s, OldFd);
        BinaryPrimitives.WriteInt32LittleEndian(s[4..], NewFd);
    }
    public static bool TryParse(ReadOnlySpan<byte> s, out DupRequest? v)
    {
        v = s.Length == 8 ? new(BinaryPrimitives.ReadInt32LittleEndian(s), BinaryPrimitives.ReadInt32LittleEndian(s[4..])) : null;
        return v is not null;
    }
}

/// <summary>MEM_READ (server to client): u64 addr, u32 len.</summary>
public sealed record MemReadRequest(ulong Addr, uint Len) : IWireBody
{
    public FrameKind Kind => FrameKind.MemRead;
    public bool IsReply => false;
    public int BodyLength => 12;
    public void WriteBody(Span<byte> s)
    {
        BinaryPrimitives.WriteUInt64LittleEndian(s, Addr);
        BinaryPrimitives.WriteUInt32LittleEndian(s[8..], Len);
    }
    public static bool TryParse(ReadOnlySpan<byte> s, out MemReadRequest? v)
    {
        v = s.Length == 12 ? new(BinaryPrimitives.ReadUInt64LittleEndian(s), BinaryPrimitives.ReadUInt32LittleEndian(s[8..])) : null;
        return v is not null;
    }
}

/// <summary>MEM_READ reply: i32 errno (EFAULT where unreadable), data.</summary>
public sealed record MemReadReply(int Errno, byte[] Data) : DataReply(Errno, Data)
{
    public override FrameKind Kind => FrameKind.MemRead;
    public static bool TryParse(ReadOnlySpan<byte> s, out MemReadReply? v)
    {
        v = s.Length >= 4 ? new(BinaryPrimitives.ReadInt32LittleEndian(s), s[4..].ToArray()) : null;
        return v is not null;
    }
}

/// <summary>MEM_WRITE (server to client): u64 addr, data.</summary>
public sealed record MemWriteRequest(ulong Addr, byte[] Data) : IWireBody
{
    public FrameKind Kind => FrameKind.MemWrite;
    public bool IsReply => false;
    public int BodyLength => 8 + Data.Length;
    public void WriteBody(Span<byte> s)
    {
        BinaryPrimitives.WriteUInt64LittleEndian(s, Addr);
        Data.CopyTo(s[8..]);
    }
    public static bool TryParse(ReadOnlySpan<byte> s, out MemWriteRequest? v)
    {
        v = s.Length >= 8 ? new(BinaryPrimitives.ReadUInt64LittleEndian(s), s[8..].ToArray()) : null;
        return v is not null;
    }
    public bool Equals(MemWriteRequest? o) => o is not null && Addr == o.Addr && WireBodies.BytesEqual(Data, o.Data);
    public override int GetHashCode() => HashCode.Combine(Addr, Data.Length);
}

/// <summary>The kinds of file NEW_FD asks a number for.</summary>
public static class NewFdKind
{
    public const uint FaultQueue = 1;
    public const uint EventQueue = 2;
    /// <summary>The selftest's access file (IOMMU_TEST_OP_CREATE_ACCESS); a project value, past the document's two.</summary>
    public const uint SelftestAccess = 3;
}

/// <summary>NEW_FD (server to client): u32 kind of file.</summary>
public sealed record NewFdRequest(uint FileKind) : IWireBody
{
    public FrameKind Kind => FrameKind.NewFd;
    public bool IsReply => false;
    public int BodyLength => 4;
    public void WriteBody(Span<byte> s) => BinaryPrimitives.WriteUInt32LittleEndian(s, FileKind);
    public static bool TryParse(ReadOnlySpan<byte> s, out NewFdRequest? v)
    {
        v = s.Length == 4 ? new(BinaryPrimitives.ReadUInt32LittleEndian(s)) : null;
        return v is not null;
    }
}

/// <summary>NEW_FD reply: i32 errno, i32 fd.</summary>
public sealed record NewFdReply(int Errno, int Fd) : IWireBody
{
    public FrameKind Kind => FrameKind.NewFd;
    public bool IsReply => true;
    public int BodyLength => 8;
    public void WriteBody(Span<byte> s)
    {
        BinaryPrimitives.WriteInt32LittleEndian(s, Errno);
        BinaryPrimitives.WriteInt32LittleEndian(s[4..], Fd);
    }
    public static bool TryParse(ReadOnlySpan<byte> s, out NewFdReply? v)
    {
        v = s.Length == 8 ? new(BinaryPrimitives.ReadInt32LittleEndian(s), BinaryPrimitives.ReadInt32LittleEndian(s[4..])) : null;
        return v is not null;
    }
}

/// <summary>FD_READY (server to client, no reply): i32 fd, u32 poll events.</summary>
public sealed record FdReady(int Fd, uint Events) : IWireBody
{
    public FrameKind Kind => FrameKind.FdReady;
    public bool IsReply => false;
    public int BodyLength => 8;
    public void WriteBody(Span<byte> s)
    {
        BinaryPrimitives.WriteInt32LittleEndian(s, Fd);
        BinaryPrimitives.WriteUInt32LittleEndian(s[4..], Events);
    }
    public static bool TryParse(ReadOnlySpan<byte> s, out FdReady? v)
    {
        v = s.Length == 8 ? new(BinaryPrimitives.ReadInt32LittleEndian(s), BinaryPrimitives.ReadUInt32LittleEndian(s[4..])) : null;
        return v is not null;
    }
}
