using System.Buffers;
using System.Diagnostics;
using IommuActors.Uapi;
using IommuActors.Uapi.Structs;
using IommuActors.Uapi.Wire;

namespace IommuActors.Bench;

/// <summary>The wire codec's own cost: an IOAS_MAP ioctl frame encoded, cut from a segmented buffer, parsed and its struct decoded.</summary>
public sealed class UapiCodecBench : IBench
{
    public string Name => "uapi-codec";
    public string Description => "IOCTL(IOAS_MAP) frames per second through encode, TryReadFrame, body parse and struct decode";

    public Task RunAsync(string[] args)
    {
        var count = args.Length > 0 && int.TryParse(args[0], out var n) ? n : 1_000_000;
        const int batch = 256;
        var map = UserStruct.Encode(new IommuIoasMap(40, IoasMapFlags.Readable | IoasMapFlags.Writeable, 1, 0, 0x7f0000000000, 4096, 0));
        var writer = new ArrayBufferWriter<byte>(batch * 80);
        var reader = new FrameReader();
        var frames = 0L;
        ulong checksum = 0;

        var sw = Stopwatch.StartNew();
        for (var done = 0; done < count; done += batch)
        {
            writer.ResetWrittenCount();
            for (var i = 0; i < batch; i++)
                WireFormat.WriteFrame(writer, (ulong)(done + i), new IoctlRequest(3, Ioctls.IOMMU_IOAS_MAP, 0x1000, map));
            var buffer = new ReadOnlySequence<byte>(writer.WrittenMemory);
            while (reader.TryReadFrame(ref buffer, out var frame))
            {
                if (WireBodies.TryParse(frame, out var body) != 0 || body is not IoctlRequest req) throw new InvalidOperationException("parse");
                if (UserStruct.TryDecode<IommuIoasMap>(req.Inline, out var cmd, out _) != 0) throw new InvalidOperationException("decode");
                checksum += cmd!.UserVa;
                frames++;
            }
        }
        sw.Stop();
        Console.WriteLine($"frames: {frames:N0} in {sw.Elapsed.TotalMilliseconds:N0} ms = {frames / sw.Elapsed.TotalSeconds:N0} frames/s " +
                          $"({sw.Elapsed.TotalNanoseconds / frames:N0} ns per frame, 76-byte frames) [checksum {checksum % 1000}]");
        return Task.CompletedTask;
    }
}
