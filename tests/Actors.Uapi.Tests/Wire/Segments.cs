using System.Buffers;

namespace IommuActors.Uapi.Tests.Wire;

/// <summary>Builds a ReadOnlySequence from separate chunks, as a pipe hands over data in pieces.</summary>
internal sealed class Segment : ReadOnlySequenceSegment<byte>
{
    private Segment(ReadOnlyMemory<byte> memory, long runningIndex) { Memory = memory; RunningIndex = runningIndex; }

    public static ReadOnlySequence<byte> Of(params byte[][] chunks)
    {
        var first = new Segment(chunks[0], 0);
        var last = first;
        foreach (var c in chunks.Skip(1))
        {
            var next = new Segment(c, last.RunningIndex + last.Memory.Length);
            last.Next = next;
            last = next;
        }
        return new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length);
    }

    /// <summary>Cuts bytes into chunks of the given size.</summary>
    public static ReadOnlySequence<byte> Split(byte[] bytes, int chunk) =>
        Of(bytes.Chunk(Math.Max(1, chunk)).ToArray() is { Length: > 0 } c ? c : [[]]);
}
