using System.Globalization;

namespace IommuActors.Host.FrontDoor;

/// <summary>
/// Whether a client process still runs, from /proc: a pid names the same process only while its
/// start time (field 22 of /proc/PID/stat, clock ticks since boot) is the one seen when its session
/// began, so a pid the kernel gave to another process since does not keep a dead client's session.
/// </summary>
public static class ProcessLiveness
{
    /// <summary>The start time of process <paramref name="pid"/>, or null when there is none.</summary>
    public static ulong? StartTime(uint pid)
    {
        string stat;
        try { stat = File.ReadAllText($"/proc/{pid}/stat"); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return null; }
        return StartTimeOf(stat);
    }

    /// <summary>
    /// Field 22 of a /proc/PID/stat line. The command name (field 2) is in parentheses and may hold
    /// spaces or parentheses itself, so the fields are counted from the last ')'.
    /// </summary>
    public static ulong? StartTimeOf(string stat)
    {
        var close = stat.LastIndexOf(')');
        if (close < 0) return null;
        var fields = stat[(close + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        // fields[0] is field 3 (state), so field 22 is fields[19].
        return fields.Length > 19 && ulong.TryParse(fields[19], NumberStyles.None, CultureInfo.InvariantCulture, out var start)
            ? start : null;
    }

    /// <summary>
    /// Whether the process that began a session is still there: the pid exists and, when its start
    /// time was recorded (0 when not), started at that time.
    /// </summary>
    public static bool IsAlive(uint pid, ulong startTime) =>
        pid != 0 && StartTime(pid) is { } now && (startTime == 0 || now == startTime);
}
