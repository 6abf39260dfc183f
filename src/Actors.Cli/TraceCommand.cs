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
            await io.Error.WriteLineAsync($"tracing ioctls and IOASID events at {socketPath}; Ctrl-C to stop");
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
    /// The time the host saw it (local, to the millisecond, as strace -t), then strace's way for an
    /// ioctl (name, fd, result or -1 and the errno); the event, set and PASID for an IOASID event.
    /// </summary>
    public static string Line(JsonElement e)
    {
        var time = e.TryGetProperty("time", out var t) && t.TryGetDateTime(out var at) ? at.ToLocalTime().ToString("HH:mm:ss.fff") + " " : "";
        if (e.GetProperty("type").GetString() == "ioctl")
        {
            var errno = e.GetProperty("errno").GetInt32();
            var result = errno == 0 ? e.GetProperty("retval").ToString() : $"-1 {Errno.Name(errno)}";
            var note = e.TryGetProperty("note", out var n) ? $" ({n.GetString()})" : "";
            return $"{time}ioctl   pid {e.GetProperty("pid")} fd {e.GetProperty("fd")} {e.GetProperty("name").GetString()} = {result}{note}";
        }
        var spid = e.GetProperty("spid").GetInt32();
        return $"{time}ioasid  {e.GetProperty("event").GetString()} {e.GetProperty("set").GetString()} pasid {e.GetProperty("pasid")}"
               + (spid != 0 ? $" spid {spid}" : "");
    }
}
