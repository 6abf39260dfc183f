using System.Buffers.Binary;

namespace IommuActors.Uapi.Structs;

/// <summary>A kernel struct with a fixed layout: its sizes and its little-endian codec.</summary>
public interface IUapiStruct<TSelf> where TSelf : IUapiStruct<TSelf>
{
    /// <summary>offsetofend of the last field the kernel requires from the caller.</summary>
    static abstract int MinSize { get; }
    /// <summary>sizeof the struct as the current kernel knows it.</summary>
    static abstract int Size { get; }
    /// <summary>Reads from a span of at least Size bytes.</summary>
    static abstract TSelf Read(ReadOnlySpan<byte> s);
    /// <summary>Writes Size bytes (reserved fields as zero) into a span of at least Size bytes.</summary>
    void Write(Span<byte> s);
}

/// <summary>The kernel's rules for a user struct whose first u32 is its own size (main.c, copy_struct_from_user).</summary>
public static class UserStruct
{
    /// <summary>
    /// Checks the caller's bytes against the struct's sizes: fewer than 4 bytes to read the size
    /// -> EFAULT; declared size under the minimum -> EINVAL; more declared than given -> EFAULT;
    /// non-zero bytes past the known size -> E2BIG. On success <paramref name="known"/> holds Size
    /// bytes: the caller's, zero-padded when the caller is older than the kernel.
    /// </summary>
    public static int Accept(ReadOnlySpan<byte> user, int minSize, int size, out byte[] known, out uint callerSize)
    {
        known = [];
        callerSize = 0;
        if (user.Length < 4) return Errno.EFAULT;
        callerSize = BinaryPrimitives.ReadUInt32LittleEndian(user);
        if (callerSize < (uint)minSize) return Errno.EINVAL;
        if (callerSize > (uint)user.Length) return Errno.EFAULT;
        var given = user[..(int)callerSize];
        if (given.Length > size && given[size..].ContainsAnyExcept((byte)0)) return Errno.E2BIG;
        known = new byte[size];
        given[..Math.Min(size, given.Length)].CopyTo(known);
        return 0;
    }

    /// <summary>
    /// VFIO's argsz convention (type1 container and device info ioctls): argsz under the minimum
    /// -> EINVAL; bytes past what the kernel knows are ignored, not checked. The caller's bytes
    /// are argsz long (the wire protocol's inline), so fewer than the argsz field itself means an
    /// argsz that small: EINVAL too, as the kernel finds after reading the minimum (no EFAULT, the
    /// client could read the field).
    /// </summary>
    public static int TryDecodeArgsz<T>(ReadOnlySpan<byte> user, out T? value, out uint callerSize)
        where T : IUapiStruct<T>
    {
        value = default;
        callerSize = 0;
        if (user.Length < 4) return Errno.EINVAL;
        callerSize = BinaryPrimitives.ReadUInt32LittleEndian(user);
        if (callerSize < (uint)T.MinSize) return Errno.EINVAL;
        if (callerSize > (uint)user.Length) return Errno.EFAULT;
        var known = new byte[T.Size];
        user[..(int)Math.Min(callerSize, (uint)T.Size)].CopyTo(known);
        value = T.Read(known);
        return 0;
    }

    /// <summary>Accept and decode in one step; errno 0 on success.</summary>
    public static int TryDecode<T>(ReadOnlySpan<byte> user, out T? value, out uint callerSize)
        where T : IUapiStruct<T>
    {
        value = default;
        var rc = Accept(user, T.MinSize, T.Size, out var known, out callerSize);
        if (rc != 0) return rc;
        value = T.Read(known);
        return 0;
    }

    /// <summary>The bytes the kernel copies back: the struct at the caller's size, never past it.</summary>
    public static byte[] CopyBack<T>(T value, uint callerSize) where T : IUapiStruct<T>
    {
        var full = new byte[T.Size];
        value.Write(full);
        var n = (int)Math.Min((uint)T.Size, callerSize);
        var back = new byte[n];
        full.AsSpan(0, n).CopyTo(back);
        return back;
    }

    public static int SizeOf<T>() where T : IUapiStruct<T> => T.Size;
    public static int MinSizeOf<T>() where T : IUapiStruct<T> => T.MinSize;

    /// <summary>Encodes the whole struct (Size bytes).</summary>
    public static byte[] Encode<T>(T value) where T : IUapiStruct<T>
    {
        var full = new byte[T.Size];
        value.Write(full);
        return full;
    }
}

/// <summary>Little-endian field access at fixed offsets.</summary>
internal static class Le
{
    public static uint U32(ReadOnlySpan<byte> s, int o) => BinaryPrimitives.ReadUInt32LittleEndian(s[o..]);
    public static int I32(ReadOnlySpan<byte> s, int o) => BinaryPrimitives.ReadInt32LittleEndian(s[o..]);
    public static ushort U16(ReadOnlySpan<byte> s, int o) => BinaryPrimitives.ReadUInt16LittleEndian(s[o..]);
    public static ulong U64(ReadOnlySpan<byte> s, int o) => BinaryPrimitives.ReadUInt64LittleEndian(s[o..]);
    public static void U32(Span<byte> s, int o, uint v) => BinaryPrimitives.WriteUInt32LittleEndian(s[o..], v);
    public static void I32(Span<byte> s, int o, int v) => BinaryPrimitives.WriteInt32LittleEndian(s[o..], v);
    public static void U16(Span<byte> s, int o, ushort v) => BinaryPrimitives.WriteUInt16LittleEndian(s[o..], v);
    public static void U64(Span<byte> s, int o, ulong v) => BinaryPrimitives.WriteUInt64LittleEndian(s[o..], v);
}
