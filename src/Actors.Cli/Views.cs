using System.Text.Json;
using Spectre.Console;

namespace IommuActors.Cli;

/// <summary>The human tables of the host's JSON documents (docs/wire-extensions.md names their fields).</summary>
public static class Views
{
    public static void ShowPlatform(IAnsiConsole console, JsonElement platform)
    {
        var units = new Table().Title("IOMMU units").AddColumns("unit", "kind", "page sizes", "address bits", "PASID bits", "nesting", "dirty", "IOPF", "devices");
        foreach (var u in platform.GetProperty("units").EnumerateArray())
            units.AddRow(Text(u, "name"), Text(u, "kind"), PageSizes(Text(u, "pageSizes")), Text(u, "addressWidth"), Text(u, "pasidWidth"),
                Text(u, "nesting"), Text(u, "dirtyTracking"), Text(u, "iopf"), Text(u, "devices"));
        var devices = new Table().Title("Devices").AddColumns("PCI", "vendor:device", "unit", "group", "PASID bits", "PRI", "ATS", "cdev");
        foreach (var d in platform.GetProperty("devices").EnumerateArray())
            devices.AddRow(Text(d, "pci"), $"{Text(d, "vendor")}:{Text(d, "device")}", Text(d, "unit"), Text(d, "group"),
                Text(d, "pasidWidth"), Text(d, "pri"), Text(d, "ats"), Text(d, "cdev"));
        console.Write(units);
        console.Write(devices);
    }

    /// <summary>A page-size bitmap (0x40201000) as the sizes it holds, smallest first: 4K 2M 1G.</summary>
    public static string PageSizes(string bitmap)
    {
        if (!Problems.TryNumber(bitmap, out var bits) || bits == 0) return bitmap;
        return string.Join(' ', Enumerable.Range(0, 64).Where(b => (bits >> b & 1) != 0).Select(b => b switch
        {
            >= 40 => $"{1ul << (b - 40)}T",
            >= 30 => $"{1ul << (b - 30)}G",
            >= 20 => $"{1ul << (b - 20)}M",
            >= 10 => $"{1ul << (b - 10)}K",
            _ => $"{1ul << b}",
        }));
    }

    public static void ShowStatus(IAnsiConsole console, JsonElement status)
    {
        var cluster = status.GetProperty("cluster");
        var facts = new Grid().AddColumns(2);
        facts.AddRow("server", Text(status, "server"));
        facts.AddRow("node", $"{Text(cluster, "self")} ({Text(cluster, "status")}, {cluster.GetProperty("members").GetArrayLength()} member(s))");
        facts.AddRow("store", Text(status, "store"));
        facts.AddRow("socket", Text(status, "socket"));
        facts.AddRow("working folder", Text(status, "workDir"));
        if (cluster.TryGetProperty("singletons", out var singletons) && singletons.TryGetProperty("node", out var on))
            facts.AddRow("singletons", Markup.Escape($"on {on} ({string.Join(", ", singletons.GetProperty("names").EnumerateArray().Select(n => n.GetString()))})"));
        console.Write(facts);
        var members = new Table().Title("Cluster members").AddColumns("address", "status", "reachable");
        foreach (var m in cluster.GetProperty("members").EnumerateArray())
            members.AddRow(Text(m, "address"), Text(m, "status"),
                !m.TryGetProperty("reachable", out var reachable) || reachable.GetBoolean() ? "yes" : "[red]no[/]");
        console.Write(members);
        if (cluster.TryGetProperty("unanswered", out var unanswered) && unanswered.GetArrayLength() > 0)
            console.MarkupLine($"[yellow]no session list from[/] {Markup.Escape(string.Join(", ", unanswered.EnumerateArray().Select(a => a.GetString())))}");
        var sessions = new Table().Title("Client sessions").AddColumns("token", "pid", "client", "fds", "connected");
        foreach (var s in status.GetProperty("sessions").EnumerateArray())
            sessions.AddRow(Text(s, "token"), Text(s, "pid"), Text(s, "client"), Text(s, "fds"), Text(s, "connected"));
        console.Write(sessions);
    }

    public static void ShowSessions(IAnsiConsole console, JsonElement status)
    {
        var sessions = new Table().Title("Client sessions").AddColumns("session", "pid", "client", "fds", "state", "released in", "node");
        foreach (var s in status.GetProperty("sessions").EnumerateArray())
        {
            var waiting = s.TryGetProperty("graceLeftSeconds", out var left) && left.ValueKind == JsonValueKind.Number;
            sessions.AddRow(Text(s, "token"), Text(s, "pid"), Text(s, "client"), Text(s, "fds"),
                s.GetProperty("connected").GetBoolean() ? "connected" : "awaiting resume",
                waiting ? Duration(TimeSpan.FromSeconds(left.GetDouble())) : "", Text(s, "node"));
        }
        console.Write(sessions);
    }

    public static void ShowReleased(IAnsiConsole console, JsonElement released) =>
        console.WriteLine($"released session {released.GetProperty("session").GetString()} of pid {released.GetProperty("pid")}: " +
                          $"{released.GetProperty("files")} file(s) closed");

    /// <summary>A time left as a person says it: 4m 05s, 12s.</summary>
    public static string Duration(TimeSpan span) =>
        span.TotalHours >= 1 ? $"{(int)span.TotalHours}h {span.Minutes:00}m"
        : span.TotalMinutes >= 1 ? $"{(int)span.TotalMinutes}m {span.Seconds:00}s"
        : $"{Math.Ceiling(span.TotalSeconds):0}s";

    public static void ShowContexts(IAnsiConsole console, JsonElement doc)
    {
        var contexts = new Table().Title("iommufd contexts").AddColumns("context", "session", "pid", "client", "fds", "objects", "kinds", "PASID set", "runs on");
        foreach (var c in doc.GetProperty("contexts").EnumerateArray())
            contexts.AddRow(Text(c, "file"), Text(c, "session"), Text(c, "pid"), Text(c, "client"), List(c, "fds"), Text(c, "objects"),
                Markup.Escape(string.Join(", ", c.GetProperty("kinds").EnumerateObject().Select(k => $"{k.Name} {k.Value}"))),
                Text(c, "pasidSet"), Text(c, "runsOn"));
        console.Write(contexts);
    }

    public static void ShowObjects(IAnsiConsole console, JsonElement doc)
    {
        var objects = new Table().Title("Objects").AddColumns("context", "id", "kind", "uses", "device", "unit", "attachments");
        var mappings = new Table().Title("IOAS mappings").AddColumns("context", "id", "mappings", "bytes", "pinned pages", "locked memory");
        foreach (var o in doc.GetProperty("objects").EnumerateArray())
        {
            objects.AddRow(Text(o, "context"), Text(o, "id"), Text(o, "kind"), List(o, "uses"), Text(o, "pci"), Text(o, "unit"),
                Markup.Escape(string.Join(", ", o.GetProperty("attachments").EnumerateArray().Select(a =>
                    $"{Pasid(a.GetProperty("pasid").GetInt32())} -> {a.GetProperty("pt").GetUInt32()}"))));
            if (o.TryGetProperty("mappings", out var m))
                mappings.AddRow(Text(o, "context"), Text(o, "id"), Text(m, "count"), Bytes(m.GetProperty("bytes").GetUInt64()),
                    Text(m, "pinnedPages"), Bytes(m.GetProperty("chargedPages").GetUInt64() * PageSize));
        }
        console.Write(objects);
        if (mappings.Rows.Count > 0) console.Write(mappings);
    }

    /// <summary>The page the host pins and charges user memory in.</summary>
    private const ulong PageSize = 4096;

    /// <summary>A byte count as a size: 0, 512 B, 16 KiB, 1.5 MiB, 2 GiB.</summary>
    public static string Bytes(ulong bytes)
    {
        if (bytes == 0) return "0";
        string[] units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
        var unit = 0;
        while (unit < units.Length - 1 && bytes >> (10 * (unit + 1)) != 0) unit++;
        var whole = bytes >> (10 * unit);
        return (bytes & ((1ul << (10 * unit)) - 1)) == 0
            ? $"{whole} {units[unit]}"
            : $"{(bytes / Math.Pow(1024, unit)).ToString("0.0", System.Globalization.CultureInfo.InvariantCulture)} {units[unit]}";
    }

    /// <summary>An attachment's PASID as the kernel says it: the RID for IOMMU_NO_PASID.</summary>
    public static string Pasid(int pasid) => pasid < 0 ? "RID" : $"PASID {pasid}";

    /// <summary>A HWPT as iommuctl objects shows it: its kind and ID in its context.</summary>
    public static string Hwpt(JsonElement hwpt) =>
        $"{hwpt.GetProperty("kind").GetString()} {hwpt.GetProperty("id")} of context {hwpt.GetProperty("context").GetString()}";

    /// <summary>The segments a DMA reached (exit code 0), or its fault (exit code 3), and the HWPT it went through.</summary>
    public static int ShowDma(IAnsiConsole console, JsonElement dma)
    {
        var hwpt = dma.TryGetProperty("hwpt", out var h) ? Hwpt(h) : null;
        if (dma.GetProperty("completed").GetBoolean())
        {
            // The heading as a line of its own: a table title would wrap at the table's width.
            console.WriteLine($"DMA by {dma.GetProperty("pci").GetString()} through {dma.GetProperty("unit").GetString()}" + (hwpt is null ? "" : $", {hwpt}"));
            var segments = new Table().AddColumns("IOVA", "user address", "bytes");
            foreach (var s in dma.GetProperty("segments").EnumerateArray())
                segments.AddRow($"0x{s.GetProperty("iova").GetUInt64():x}", $"0x{s.GetProperty("address").GetUInt64():x}", Text(s, "length"));
            console.Write(segments);
            return 0;
        }
        var f = dma.GetProperty("fault");
        var domain = f.GetProperty("domain").GetInt32();
        var through = hwpt is not null ? $"{hwpt} (domain {domain})" : domain != 0 ? $"domain {domain}" : "no domain";
        console.MarkupLine($"[red]fault[/] {Text(f, "kind")} at 0x{f.GetProperty("address").GetUInt64():x} " +
                           Markup.Escape($"(device {Text(dma, "pci")}, {Pasid(f.GetProperty("pasid").GetInt32())}, {through}, {Text(f, "requested")})"));
        return Problems.DmaFaulted;
    }

    private static string List(JsonElement e, string name) =>
        Markup.Escape(string.Join(", ", e.GetProperty(name).EnumerateArray().Select(v => v.ToString())));

    internal static string Text(JsonElement e, string name) =>
        Markup.Escape(e.TryGetProperty(name, out var v) ? v.ValueKind == JsonValueKind.String ? v.GetString() ?? "" : v.ToString() : "");
}
