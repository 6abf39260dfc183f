using System.Collections.Frozen;
using Akka.Actor;
using Akka.Serialization;

namespace IommuActors.Core.Serialization;

/// <summary>How one event type is laid out: its manifest (written beside every row, so short) and its fields.</summary>
public sealed class CompactFormat
{
    public Type Type { get; }
    public string Manifest { get; }
    internal Action<CompactWriter, object> Write { get; }
    internal Func<CompactReader, object> Read { get; }

    private CompactFormat(Type type, string manifest, Action<CompactWriter, object> write, Func<CompactReader, object> read)
    {
        Type = type;
        Manifest = manifest;
        Write = write;
        Read = read;
    }

    public static CompactFormat Of<T>(string manifest, Action<CompactWriter, T> write, Func<CompactReader, T> read) where T : notnull =>
        new(typeof(T), manifest, (w, o) => write(w, (T)o), r => read(r));
}

/// <summary>
/// A hand-laid binary serializer for hot journal events: a manifest per type and the fields as
/// variable-length integers and length-prefixed UTF-8, no type names. A manifest never changes
/// meaning once shipped: a new layout of a type gets a new manifest and its old reader stays.
/// Each subsystem derives one with its own id and formats, bound in hocon/ to those types only.
/// </summary>
public abstract class CompactEventSerializer : SerializerWithStringManifest
{
    private readonly FrozenDictionary<Type, CompactFormat> _byType;
    private readonly FrozenDictionary<string, CompactFormat> _byManifest;

    private readonly ExtendedActorSystem _system;

    protected CompactEventSerializer(ExtendedActorSystem system, IReadOnlyList<CompactFormat> formats) : base(system)
    {
        _system = system;
        _byType = formats.ToFrozenDictionary(f => f.Type);
        _byManifest = formats.ToFrozenDictionary(f => f.Manifest, StringComparer.Ordinal);
    }

    public IEnumerable<Type> Types => _byType.Keys;

    public override string Manifest(object o) => FormatOf(o.GetType()).Manifest;

    public override byte[] ToBinary(object obj)
    {
        var writer = new CompactWriter(_system.Serialization);
        FormatOf(obj.GetType()).Write(writer, obj);
        return writer.ToArray();
    }

    public override object FromBinary(byte[] bytes, string manifest)
    {
        if (!_byManifest.TryGetValue(manifest, out var format))
            throw new System.Runtime.Serialization.SerializationException($"{GetType().Name} has no format for manifest '{manifest}'.");
        var reader = new CompactReader(bytes, _system.Serialization);
        var value = format.Read(reader);
        reader.EnsureEnd(manifest);
        return value;
    }

    private CompactFormat FormatOf(Type type) => _byType.TryGetValue(type, out var format) ? format
        : throw new ArgumentException($"{GetType().Name} is bound to {type.FullName} but has no format for it.");
}

/// <summary>
/// Appends fields: unsigned LEB128 integers, zig-zag signed ones, length-prefixed UTF-8 strings
/// and byte runs, and (given the system's serialization) a nested object by its own serializer:
/// a packed snapshot lays out its bulk by hand and leaves its few cold fields to Hyperion.
/// </summary>
public sealed class CompactWriter(Akka.Serialization.Serialization? serialization = null)
{
    private byte[] _buffer = new byte[32];
    private int _length;

    public CompactWriter UInt(ulong value)
    {
        Reserve(10);
        while (value >= 0x80)
        {
            _buffer[_length++] = (byte)(value | 0x80);
            value >>= 7;
        }
        _buffer[_length++] = (byte)value;
        return this;
    }

    public CompactWriter Int(long value) => UInt((ulong)((value << 1) ^ (value >> 63)));

    public CompactWriter Bool(bool value) => UInt(value ? 1UL : 0UL);

    public CompactWriter String(string value)
    {
        var count = System.Text.Encoding.UTF8.GetByteCount(value);
        UInt((ulong)count);
        Reserve(count);
        _length += System.Text.Encoding.UTF8.GetBytes(value, 0, value.Length, _buffer, _length);
        return this;
    }

    public CompactWriter Bytes(ReadOnlySpan<byte> value)
    {
        UInt((ulong)value.Length);
        Reserve(value.Length);
        value.CopyTo(_buffer.AsSpan(_length));
        _length += value.Length;
        return this;
    }

    /// <summary>An object by the serializer the system binds to its type: that serializer's id, its manifest, its bytes.</summary>
    public CompactWriter Object(object value)
    {
        var system = serialization ?? throw new InvalidOperationException("a nested object needs the system's serialization");
        var serializer = system.FindSerializerFor(value);
        Int(serializer.Identifier);
        String(Akka.Serialization.Serialization.ManifestFor(serializer, value));
        return Bytes(serializer.ToBinary(value));
    }

    public byte[] ToArray() => _buffer.AsSpan(0, _length).ToArray();

    private void Reserve(int more)
    {
        if (_length + more > _buffer.Length)
            Array.Resize(ref _buffer, Math.Max(_buffer.Length * 2, _length + more));
    }
}

/// <summary>Reads what CompactWriter wrote, in the same order; a short or over-long payload is an error, not a guess.</summary>
public sealed class CompactReader(byte[] bytes, Akka.Serialization.Serialization? serialization = null)
{
    private int _position;

    public ulong UInt()
    {
        ulong value = 0;
        for (var shift = 0; shift < 64; shift += 7)
        {
            if (_position >= bytes.Length)
                throw new System.Runtime.Serialization.SerializationException("Compact payload ends inside an integer.");
            var b = bytes[_position++];
            value |= (ulong)(b & 0x7f) << shift;
            if (b < 0x80)
                return value;
        }
        throw new System.Runtime.Serialization.SerializationException("Compact integer longer than 64 bits.");
    }

    public long Int()
    {
        var raw = UInt();
        return (long)(raw >> 1) ^ -(long)(raw & 1);
    }

    public int Int32() => checked((int)Int());

    public bool Bool() => UInt() != 0;

    public string String()
    {
        var count = checked((int)UInt());
        if (count > bytes.Length - _position)
            throw new System.Runtime.Serialization.SerializationException("Compact payload ends inside a string.");
        var value = System.Text.Encoding.UTF8.GetString(bytes, _position, count);
        _position += count;
        return value;
    }

    /// <summary>A byte run written by <see cref="CompactWriter.Bytes"/>, without a copy.</summary>
    public ReadOnlySpan<byte> Bytes()
    {
        var count = checked((int)UInt());
        if (count > bytes.Length - _position)
            throw new System.Runtime.Serialization.SerializationException("Compact payload ends inside a byte run.");
        var value = bytes.AsSpan(_position, count);
        _position += count;
        return value;
    }

    /// <summary>An object written by <see cref="CompactWriter.Object"/>, read by the serializer it names.</summary>
    public object Object()
    {
        var system = serialization ?? throw new InvalidOperationException("a nested object needs the system's serialization");
        var id = Int32();
        var manifest = String();
        return system.Deserialize(Bytes().ToArray(), id, manifest);
    }

    internal void EnsureEnd(string manifest)
    {
        if (_position != bytes.Length)
            throw new System.Runtime.Serialization.SerializationException(
                $"Compact payload of '{manifest}' has {bytes.Length - _position} bytes left over.");
    }
}
