using System.Buffers.Binary;

namespace IommuActors.Uapi.Wire;

/// <summary>
/// EXT_MEM_CHECK (0x800A, server to client; docs/wire-extensions.md): u64 addr, u64 len, u32 flags
/// (bit 0: the pages must be writable). Can every page of [addr, addr+len) be pinned now? The reply
/// is one i32 errno: 0, or EFAULT where a page is not mapped or lacks the access asked for. A client
/// that does not know the kind answers EINVAL, as for any unknown request, and the host then takes
/// the pages as they are.
/// </summary>
public sealed record MemCheckRequest(ulong Addr, ulong Len, uint Flags) : IWireBody
{
    public const ushort KindNumber = 0x800A;
    public const uint Write = 1;

    public FrameKind Kind => (FrameKind)KindNumber;
    public bool IsReply => false;
    public int BodyLength => 20;

    public void WriteBody(Span<byte> s)
    {
        BinaryPrimitives.WriteUInt64LittleEndian(s, Addr);
        BinaryPrimitives.WriteUInt64LittleEndian(s[8..], Len);
        BinaryPrimitives.WriteUInt32LittleEndian(s[16..], Flags);
    }

    public static bool TryParse(ReadOnlySpan<byte> s, out MemCheckRequest? v)
    {
        v = s.Length == 20
            ? new(BinaryPrimitives.ReadUInt64LittleEndian(s), BinaryPrimitives.ReadUInt64LittleEndian(s[8..]), BinaryPrimitives.ReadUInt32LittleEndian(s[16..]))
            : null;
        return v is not null;
    }
}

/// <summary>EXT_MEM_CHECK reply: i32 errno.</summary>
public sealed record MemCheckReply(int Errno) : IWireBody
{
    public FrameKind Kind => (FrameKind)MemCheckRequest.KindNumber;
    public bool IsReply => true;
    public int BodyLength => 4;

    public void WriteBody(Span<byte> s) => BinaryPrimitives.WriteInt32LittleEndian(s, Errno);

    /// <summary>The errno of a reply body; EFAULT for one too short to carry it.</summary>
    public static int ErrnoOf(ReadOnlySpan<byte> s) => s.Length >= 4 ? BinaryPrimitives.ReadInt32LittleEndian(s) : Uapi.Errno.EFAULT;
}
