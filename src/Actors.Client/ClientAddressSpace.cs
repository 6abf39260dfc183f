using IommuActors.Uapi;

namespace IommuActors.Client;

/// <summary>
/// The user memory a .NET program shows the emulator: buffers mapped at addresses it chooses.
/// MEM_READ and MEM_WRITE are served from here; an address nobody mapped answers EFAULT, as the
/// kernel's copy_from_user would. Thread-safe: the reader task serves requests while the program maps.
/// </summary>
public sealed class ClientAddressSpace
{
    private readonly object _gate = new();
    private readonly SortedList<ulong, Memory<byte>> _maps = new();

    /// <summary>Maps <paramref name="buffer"/> at <paramref name="address"/>; overlapping an existing mapping is refused.</summary>
    public void Map(ulong address, Memory<byte> buffer)
    {
        if (buffer.Length == 0) throw new ArgumentException("an empty buffer cannot be mapped", nameof(buffer));
        if (address + (ulong)buffer.Length - 1 < address) throw new ArgumentOutOfRangeException(nameof(address));
        lock (_gate)
        {
            foreach (var (start, mem) in _maps)
                if (address < start + (ulong)mem.Length && start < address + (ulong)buffer.Length)
                    throw new InvalidOperationException($"0x{address:x} overlaps the mapping at 0x{start:x}");
            _maps.Add(address, buffer);
        }
    }

    /// <summary>Allocates a zeroed buffer of <paramref name="length"/> bytes and maps it at <paramref name="address"/>.</summary>
    public byte[] Map(ulong address, int length)
    {
        var buffer = new byte[length];
        Map(address, buffer);
        return buffer;
    }

    public bool Unmap(ulong address)
    {
        lock (_gate) return _maps.Remove(address);
    }

    /// <summary>errno 0 and the bytes, or EFAULT when any byte of the range is not mapped.</summary>
    public int Read(ulong address, uint length, out byte[] data)
    {
        data = new byte[length];
        var target = data;
        return Walk(address, length, (mem, offset, done, n) => mem.Span.Slice(offset, n).CopyTo(target.AsSpan(done, n)));
    }

    /// <summary>
    /// EXT_MEM_CHECK: errno 0 when every byte of [address, address+length) is mapped, else EFAULT.
    /// Buffers here are always readable and writable, so the access asked for does not matter.
    /// </summary>
    public int Check(ulong address, ulong length)
    {
        if (length == 0) return 0;
        if (address > ulong.MaxValue - (length - 1)) return Errno.EFAULT;
        var last = address + (length - 1);
        lock (_gate)
        {
            // Mappings never overlap: follow them upwards from the first address until one ends past the last.
            var at = address;
            while (true)
            {
                var hit = -1;
                for (var i = 0; i < _maps.Count; i++)
                {
                    var start = _maps.Keys[i];
                    if (start <= at && at - start < (ulong)_maps.Values[i].Length) { hit = i; break; }
                }
                if (hit < 0) return Errno.EFAULT;
                var end = _maps.Keys[hit] + (ulong)_maps.Values[hit].Length - 1;
                if (end >= last) return 0;
                at = end + 1;
            }
        }
    }

    /// <summary>errno 0, or EFAULT (and nothing written) when any byte of the range is not mapped.</summary>
    public int Write(ulong address, ReadOnlySpan<byte> data)
    {
        var copy = data.ToArray();
        return Walk(address, (uint)copy.Length, (mem, offset, done, n) => copy.AsSpan(done, n).CopyTo(mem.Span.Slice(offset, n)));
    }

    private delegate void Piece(Memory<byte> mapping, int offset, int done, int length);

    /// <summary>Visits the mappings covering [address, address+length) in order, only when all of it is mapped.</summary>
    private int Walk(ulong address, uint length, Piece piece)
    {
        if (length == 0) return 0;
        lock (_gate)
        {
            var pieces = new List<(Memory<byte>, int, int, int)>();
            var at = address;
            var done = 0;
            while (done < length)
            {
                var hit = -1;
                for (var i = 0; i < _maps.Count; i++)
                {
                    var start = _maps.Keys[i];
                    if (start <= at && at < start + (ulong)_maps.Values[i].Length) { hit = i; break; }
                }
                if (hit < 0) return Errno.EFAULT;
                var mem = _maps.Values[hit];
                var offset = (int)(at - _maps.Keys[hit]);
                var n = (int)Math.Min(length - (uint)done, (uint)(mem.Length - offset));
                pieces.Add((mem, offset, done, n));
                done += n;
                at += (ulong)n;
            }
            foreach (var (mem, offset, d, n) in pieces) piece(mem, offset, d, n);
            return 0;
        }
    }
}
