using System.Buffers;
using FsCheck.Xunit;
using IommuActors.Uapi.Wire;
using Xunit;

namespace IommuActors.Uapi.Tests.Wire;

public sealed class FrameSpecs
{
    private static byte[] Encode(ulong seq, IWireBody body)
    {
        var w = new ArrayBufferWriter<byte>();
        WireFormat.WriteFrame(w, seq, body);
        return w.WrittenSpan.ToArray();
    }

    private static byte[] Hex(string s) => Convert.FromHexString(s.Replace(" ", ""));

    // Hand-written frames: length (LE u32, counts kind+flags+seq+body), kind, flags, seq, body.
    public static TheoryData<string, IWireBody, ulong, string> Examples() => new()
    {
        { "HELLO", new HelloRequest(1, 0x1234, 0, "c"), 1,
            "1d000000 0100 0000 0100000000000000 01000000 34120000 0000000000000000 63" },
        { "HELLO reply", new HelloReply(0, 1, 0x100000, 0xAB, "s"), 1,
            "21000000 0100 0100 0100000000000000 00000000 01000000 00001000 ab00000000000000 73" },
        { "OPEN", new OpenRequest(5, 2, "/dev/iommu"), 2,
            "1e000000 0200 0000 0200000000000000 05000000 02000000 2f6465762f696f6d6d75" },
        { "OPEN reply", new StatusReply(FrameKind.Open, 2), 2,
            "10000000 0200 0100 0200000000000000 02000000" },
        { "CLOSE", new CloseRequest(5), 3, "10000000 0300 0000 0300000000000000 05000000" },
        { "CLOSE reply", new StatusReply(FrameKind.Close, 9), 3, "10000000 0300 0100 0300000000000000 09000000" },
        { "IOCTL", new IoctlRequest(5, 0x3b81, 0x7ffd0000, [12, 0, 0, 0]), 4,
            "24000000 0400 0000 0400000000000000 05000000 813b0000 0000fd7f00000000 04000000 0c000000" },
        { "IOCTL reply", new IoctlReply(0, 0, [12, 0, 0, 0]), 4,
            "20000000 0400 0100 0400000000000000 00000000 0000000000000000 04000000 0c000000" },
        { "READ", new ReadRequest(6, 40), 5, "14000000 0500 0000 0500000000000000 06000000 28000000" },
        { "READ reply", new ReadReply(11, []), 5, "10000000 0500 0100 0500000000000000 0b000000" },
        { "WRITE", new WriteRequest(6, [1, 2]), 6, "12000000 0600 0000 0600000000000000 06000000 0102" },
        { "WRITE reply", new WriteReply(0, 2), 6, "14000000 0600 0100 0600000000000000 00000000 02000000" },
        { "DUP", new DupRequest(5, 9), 7, "14000000 0700 0000 0700000000000000 05000000 09000000" },
        { "DUP reply", new StatusReply(FrameKind.Dup, 0), 7, "10000000 0700 0100 0700000000000000 00000000" },
        { "MEM_READ", new MemReadRequest(0x1000, 16), 8, "18000000 2100 0000 0800000000000000 0010000000000000 10000000" },
        { "MEM_READ reply", new MemReadReply(14, []), 8, "10000000 2100 0100 0800000000000000 0e000000" },
        { "MEM_WRITE", new MemWriteRequest(0x2000, [0xff]), 9, "15000000 2200 0000 0900000000000000 0020000000000000 ff" },
        { "MEM_WRITE reply", new StatusReply(FrameKind.MemWrite, 0), 9, "10000000 2200 0100 0900000000000000 00000000" },
        { "NEW_FD", new NewFdRequest(NewFdKind.FaultQueue), 10, "10000000 2300 0000 0a00000000000000 01000000" },
        { "NEW_FD reply", new NewFdReply(0, 42), 10, "14000000 2300 0100 0a00000000000000 00000000 2a000000" },
        { "FD_READY", new FdReady(42, 1), 11, "14000000 2400 0000 0b00000000000000 2a000000 01000000" },
    };

    [Fact]
    public void EXT_MEM_CHECK_is_kind_0x800A_with_address_length_and_flags_and_an_errno_reply()
    {
        var request = Encode(12, new MemCheckRequest(0x7f00_0000_1000, 0x20_0000, MemCheckRequest.Write));
        Assert.Equal(Hex("20000000 0a80 0000 0c00000000000000 00100000007f0000 0000200000000000 01000000"), request);
        var buffer = new ReadOnlySequence<byte>(request);
        Assert.True(new FrameReader().TryReadFrame(ref buffer, out var frame));
        Assert.True(MemCheckRequest.TryParse(frame.Body, out var parsed));
        Assert.Equal(new MemCheckRequest(0x7f00_0000_1000, 0x20_0000, 1), parsed);
        Assert.False(MemCheckRequest.TryParse(frame.Body.AsSpan(1), out _));

        var reply = Encode(12, new MemCheckReply(14));
        Assert.Equal(Hex("10000000 0a80 0100 0c00000000000000 0e000000"), reply);
        Assert.Equal(14, MemCheckReply.ErrnoOf(reply.AsSpan(16)));
        Assert.Equal(Errno.EFAULT, MemCheckReply.ErrnoOf([0, 0]));
    }

    [Theory]
    [MemberData(nameof(Examples))]
    public void Each_kind_encodes_byte_for_byte_and_decodes_back(string name, IWireBody body, ulong seq, string hex)
    {
        var expected = Hex(hex);
        Assert.True(expected.AsSpan().SequenceEqual(Encode(seq, body)), name);

        var buffer = new ReadOnlySequence<byte>(expected);
        Assert.True(new FrameReader().TryReadFrame(ref buffer, out var frame));
        Assert.Equal(0, buffer.Length);
        Assert.Equal(seq, frame.Seq);
        Assert.Equal(body.IsReply, frame.IsReply);
        Assert.Equal(0, WireBodies.TryParse(frame, out var parsed));
        Assert.Equal(body, parsed);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(7)]
    [InlineData(16)]
    public void Frames_split_across_segments_are_read_whole_and_in_order(int chunk)
    {
        var a = Encode(1, new IoctlRequest(3, 0x3b85, 0x1000, new byte[40]));
        var b = Encode(2, new CloseRequest(3));
        var buffer = Segment.Split([.. a, .. b], chunk);
        var reader = new FrameReader();

        Assert.True(reader.TryReadFrame(ref buffer, out var first));
        Assert.True(reader.TryReadFrame(ref buffer, out var second));
        Assert.False(reader.TryReadFrame(ref buffer, out _));
        Assert.Equal((1ul, (ushort)FrameKind.Ioctl, 60), (first.Seq, first.Kind, first.Body.Length));
        Assert.Equal((2ul, (ushort)FrameKind.Close, 4), (second.Seq, second.Kind, second.Body.Length));
    }

    [Fact]
    public void A_partial_frame_is_not_consumed()
    {
        var bytes = Encode(7, new DupRequest(1, 2));
        for (var cut = 0; cut < bytes.Length; cut++)
        {
            var buffer = Segment.Split(bytes[..cut], 5);
            Assert.False(new FrameReader().TryReadFrame(ref buffer, out _));
            Assert.Equal(cut, buffer.Length);
        }
    }

    [Fact]
    public void An_oversize_frame_is_reported_with_its_seq_skipped_and_the_next_frame_read()
    {
        var big = Encode(5, new WriteRequest(1, new byte[100]));
        var next = Encode(6, new CloseRequest(1));
        var reader = new FrameReader(maxFrame: 64);

        var buffer = new ReadOnlySequence<byte>(big[..50]);
        Assert.True(reader.TryReadFrame(ref buffer, out var over));
        Assert.Equal((true, 5ul, (ushort)FrameKind.Write), (over.Oversize, over.Seq, over.Kind));
        Assert.Equal(0, buffer.Length);
        Assert.Equal(Errno.EINVAL, WireBodies.TryParse(over, out _));

        buffer = Segment.Of(big[50..], next);
        Assert.True(reader.TryReadFrame(ref buffer, out var close));
        Assert.Equal((false, 6ul, (ushort)FrameKind.Close), (close.Oversize, close.Seq, close.Kind));
        Assert.Equal(0, buffer.Length);
    }

    [Fact]
    public void A_length_shorter_than_the_header_is_an_unparseable_frame_with_EPROTO()
    {
        var buffer = new ReadOnlySequence<byte>(Hex("0b000000 0100 0000 0100000000000000"));
        var ex = Assert.Throws<FrameProtocolException>(() => new FrameReader().TryReadFrame(ref buffer, out _));
        Assert.Equal(Errno.EPROTO, ex.Errno);
    }

    [Fact]
    public void Unknown_flag_bits_are_an_unparseable_frame_with_EPROTO()
    {
        var buffer = new ReadOnlySequence<byte>(Hex("10000000 0300 0200 0100000000000000 05000000"));
        Assert.Equal(Errno.EPROTO, Assert.Throws<FrameProtocolException>(
            () => new FrameReader().TryReadFrame(ref buffer, out _)).Errno);
    }

    [Theory]
    [InlineData("IOCTL inline_len beyond the body", 0x04, 0, "05000000 813b0000 0000000000000000 08000000 0c000000")]
    [InlineData("IOCTL body shorter than its fixed part", 0x04, 0, "05000000 813b0000")]
    [InlineData("CLOSE with trailing bytes", 0x03, 0, "05000000 00")]
    [InlineData("HELLO name not utf-8", 0x01, 0, "01000000 00000000 0000000000000000 ff")]
    [InlineData("unknown kind", 0x55, 0, "")]
    [InlineData("FD_READY has no reply", 0x24, 1, "")]
    public void A_malformed_body_is_reported_as_EINVAL(string why, ushort kind, ushort flags, string body)
    {
        var frame = new RawFrame(kind, (FrameFlags)flags, 1, Hex(body));
        Assert.True(Errno.EINVAL == WireBodies.TryParse(frame, out var parsed), why);
        Assert.Null(parsed);
    }

    [Property]
    public bool Ioctl_requests_round_trip_through_the_reader(int fd, uint request, ulong arg, byte[] inline, ulong seq, byte chunk)
    {
        var body = new IoctlRequest(fd, request, arg, inline);
        var buffer = Segment.Split(Encode(seq, body), chunk % 17 + 1);
        return new FrameReader().TryReadFrame(ref buffer, out var frame) && buffer.Length == 0 && frame.Seq == seq
               && WireBodies.TryParse(frame, out var parsed) == 0 && body.Equals(parsed);
    }

    [Property]
    public bool Hello_and_ioctl_replies_round_trip(int errno, long retval, byte[] writeback, uint pid, ulong token, string? name)
    {
        var text = new string((name ?? "").Where(c => !char.IsSurrogate(c)).ToArray());
        IWireBody[] bodies = [new IoctlReply(errno, retval, writeback), new HelloRequest(1, pid, token, text),
            new MemReadReply(errno, writeback), new HelloReply(errno, 1, pid, token, text)];
        return bodies.All(b =>
        {
            var buffer = new ReadOnlySequence<byte>(Encode(3, b));
            return new FrameReader().TryReadFrame(ref buffer, out var f) && WireBodies.TryParse(f, out var p) == 0 && b.Equals(p);
        });
    }
}
