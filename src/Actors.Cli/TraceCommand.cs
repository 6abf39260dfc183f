using System.Text.Json;
using IommuActors.Uapi;

namespace IommuActors.Cli;

/// <summary>iommuctl trace: ioctls and IOASID events as the host sees them (EXT_TRACE), one line each, until Ctrl-C or --count.</summary>
public static class TraceCommand
{
    public static Task<int> RunAsync(IommuctlIo io, string socketPath, bool asJson, int count, CancellationToken ct) =>
        Iommuctl.Connected(io, socketPath, async client =>
        {
            await client.StartTraceAsync(ct);
            await io.Error.WriteLineAsync($"tracing opens, closes, ioctls and IOASID events at {socketPath}; Ctrl-C to stop");
            var seen = 0;
            try
            {
                await foreach (var json in client.TraceEventsAsync(ct))
                {
                    await io.Output.WriteLineAsync(asJson ? json : Line(JsonDocument.Parse(json).RootElement));
                    await io.Output.FlushAsync(CancellationToken.None);
                    if (++seen == count) return 0;
                }
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return 0;
            }
            await io.Error.WriteLineAsync("iommuctl: the host closed the connection");
            return 1;
        }, ct);

    /// <summary>
    /// The time the host saw it (local, to the millisecond, as strace -t), then strace's way: an
    /// ioctl's name, fd, the argument as given and (=&gt;) as written back, the result or -1 and the
    /// errno; an open's fd and path; a close's fd; the event, set and PASID for an IOASID event.
    /// </summary>
    public static string Line(JsonElement e)
    {
        var time = e.TryGetProperty("time", out var t) && t.TryGetDateTime(out var at) ? at.ToLocalTime().ToString("HH:mm:ss.fff") + " " : "";
        var type = e.GetProperty("type").GetString();
        if (type == "ioctl")
        {
            var given = Optional(e, "given") is { Length: > 0 } g ? " " + g : "";
            var returned = Optional(e, "returned") is { Length: > 0 } r ? " => " + r : "";
            var note = Optional(e, "note") is { Length: > 0 } n ? $" ({n})" : "";
            return $"{time}ioctl   pid {e.GetProperty("pid")} fd {e.GetProperty("fd")} {e.GetProperty("name").GetString()}{given}{returned} = {Result(e)}{note}";
        }
        if (type is "open" or "close")
        {
            var path = Optional(e, "path") is { Length: > 0 } p ? " " + p : "";
            var kept = e.TryGetProperty("released", out var released) && released.ValueKind == JsonValueKind.False ? " (another fd still holds the file)" : "";
            return $"{time}{type,-7} pid {e.GetProperty("pid")} fd {e.GetProperty("fd")}{path} = {Result(e)}{kept}";
        }
        var spid = e.GetProperty("spid").GetInt32();
        return $"{time}ioasid  {e.GetProperty("event").GetString()} {e.GetProperty("set").GetString()} pasid {e.GetProperty("pasid")}"
               + (spid != 0 ? $" spid {spid}" : "");
    }

    /// <summary>What a call returned, as strace says it: its value, or -1 and the errno's name.</summary>
    private static string Result(JsonElement e)
    {
        var errno = e.GetProperty("errno").GetInt32();
        if (errno != 0) return $"-1 {Errno.Name(errno)}";
        return e.TryGetProperty("retval", out var retval) ? retval.ToString() : "0";
    }

    private static string? Optional(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
}
