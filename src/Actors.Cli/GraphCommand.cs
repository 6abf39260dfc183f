using System.Diagnostics;
using System.Text;
using System.Text.Json;

namespace IommuActors.Cli;

/// <summary>iommuctl graph: the host's EXT_GRAPH document as Graphviz DOT on stdout, and as SVG through dot when asked.</summary>
public static class GraphCommand
{
    public static Task<int> RunAsync(IommuctlIo io, string socketPath, bool asJson, string? svg, CancellationToken ct) =>
        Iommuctl.Connected(io, socketPath, async client =>
        {
            var text = await client.GraphJsonAsync(ct);
            if (asJson)
            {
                await io.Output.WriteLineAsync(text);
                return 0;
            }
            var dot = ObjectGraph.Dot(JsonDocument.Parse(text).RootElement);
            if (svg is null)
            {
                await io.Output.WriteAsync(dot);
                return 0;
            }
            return await RenderSvg(io, dot, Path.GetFullPath(svg), ct);
        }, ct);

    /// <summary>
    /// Runs <c>dot -Tsvg</c> and says where the file is; without Graphviz, prints the DOT instead,
    /// says so and fails.
    /// </summary>
    private static async Task<int> RenderSvg(IommuctlIo io, string dot, string file, CancellationToken ct)
    {
        Process process;
        try
        {
            process = Process.Start(new ProcessStartInfo("dot", ["-Tsvg", "-o", file])
            {
                RedirectStandardInput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            })!;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            await io.Output.WriteAsync(dot);
            await io.Error.WriteLineAsync("iommuctl: --svg needs Graphviz's dot on the PATH (e.g. apt-get install graphviz); the DOT above renders anywhere else");
            return 1;
        }
        using (process)
        {
            await process.StandardInput.WriteAsync(dot);
            process.StandardInput.Close();
            var complaint = await process.StandardError.ReadToEndAsync(ct);
            await process.WaitForExitAsync(ct);
            if (process.ExitCode == 0)
            {
                await io.Output.WriteLineAsync($"wrote {file}");
                return 0;
            }
            await io.Error.WriteLineAsync($"iommuctl: dot failed ({process.ExitCode}): {complaint.Trim()}");
            return 1;
        }
    }
}

/// <summary>
/// The object graph as DOT. Node names are what the code and the logs call things
/// (<c>iommufd-&lt;file&gt;</c>, <c>ioas-&lt;key&gt;</c>, <c>unit-&lt;name&gt;</c>, <c>pci-&lt;address&gt;</c>, the
/// PASID set's key; other objects <c>&lt;file&gt;/&lt;id&gt;</c>); labels are short: an object's kind and
/// ID as the ioctls name it, since its context's cluster names the file once. Each context is a
/// cluster holding its objects; edges say who uses whom, where a device is attached (RID or
/// PASID), which unit a HWPT's domain lives in, which subscribers hear a PASID set. Every device of
/// the platform is drawn behind its unit, a device no context has bound dashed. A legend says what
/// the shapes and edges mean.
/// </summary>
public static class ObjectGraph
{
    public static string Dot(JsonElement graph)
    {
        var dot = new StringBuilder();
        dot.Append("digraph iommu {\n  rankdir=LR;\n  node [shape=box, fontname=\"monospace\"];\n");
        var edges = new List<string>();
        foreach (var context in graph.GetProperty("contexts").EnumerateArray())
        {
            var file = Str(context, "file");
            var names = context.GetProperty("objects").EnumerateArray().ToDictionary(o => o.GetProperty("id").GetUInt32(), o => NodeOf(file, o));
            dot.Append($"  subgraph {Q("cluster_" + file)} {{\n    label={Q($"iommufd {file}\\npid {context.GetProperty("pid")} {Str(context, "client").Replace("\\", "\\\\")}")};\n");
            dot.Append($"    {Q("iommufd-" + file)} [shape=note, label=\"iommufd\"];\n");
            foreach (var o in context.GetProperty("objects").EnumerateArray())
            {
                var id = o.GetProperty("id").GetUInt32();
                dot.Append($"    {Q(names[id])} [label={Q(LabelOf(o))}];\n");
                var attachments = o.GetProperty("attachments").EnumerateArray()
                    .ToLookup(a => a.GetProperty("pt").GetUInt32(), a => Views.Pasid(a.GetProperty("pasid").GetInt32()));
                foreach (var used in o.GetProperty("uses").EnumerateArray().Select(u => u.GetUInt32()))
                    edges.Add(attachments.Contains(used)
                        ? $"  {Q(names[id])} -> {Q(names.GetValueOrDefault(used, $"{file}/{used}"))} [label={Q("attached " + string.Join(", ", attachments[used]))}];"
                        : $"  {Q(names[id])} -> {Q(names.GetValueOrDefault(used, $"{file}/{used}"))} [label=\"uses\"];");
                if (Str(o, "pci") is { Length: > 0 } pci)
                    edges.Add($"  {Q(names[id])} -> {Q("pci-" + pci)} [label=\"is\"];");
                if (Str(o, "unit") is { Length: > 0 } unit)
                    edges.Add($"  {Q(names[id])} -> {Q("unit-" + unit)} [label=\"domain in\"];");
            }
            dot.Append("  }\n");
            if (Str(context, "pasidSet") is { Length: > 0 } set)
                edges.Add($"  {Q("iommufd-" + file)} -> {Q(set)} [label=\"VM set\"];");
        }
        foreach (var unit in graph.GetProperty("units").EnumerateArray())
            dot.Append($"  {Q("unit-" + Str(unit, "name"))} [shape=component, label={Q($"{Str(unit, "name")}\\n{Str(unit, "kind")}")}];\n");
        foreach (var device in graph.GetProperty("devices").EnumerateArray())
        {
            var bound = !device.TryGetProperty("bound", out var b) || b.GetBoolean();
            dot.Append($"  {Q("pci-" + Str(device, "pci"))} [shape=box3d, label={Q(Str(device, "pci"))}{(bound ? "" : ", style=dashed")}];\n");
            edges.Add($"  {Q("pci-" + Str(device, "pci"))} -> {Q("unit-" + Str(device, "unit"))} [label=\"behind\"{(bound ? "" : ", style=dashed")}];");
        }
        var sets = graph.GetProperty("pasidSets").EnumerateArray().Select(s => Str(s, "key")).ToList();
        foreach (var set in graph.GetProperty("pasidSets").EnumerateArray())
        {
            var pasids = set.GetProperty("pasids").EnumerateArray()
                .Select(p => $"{p.GetProperty("pasid")} {Str(p, "state")}" + (p.GetProperty("spid").GetInt32() != 0 ? $" spid {p.GetProperty("spid")}" : ""))
                .ToList();
            var label = $"PASID set\\nquota {set.GetProperty("quota")}" + (pasids.Count > 0 ? "\\nPASIDs " + string.Join(", ", pasids) : "");
            dot.Append($"  {Q(Str(set, "key"))} [shape=folder, label={Q(label)}];\n");
        }
        foreach (var subscriber in graph.GetProperty("subscribers").EnumerateArray())
        {
            var name = Str(subscriber, "name");
            // A subscriber of one set is "<role>/<set>": the edge from its set says which.
            var role = name.IndexOf('/') is var slash and > 0 ? name[..slash] : name;
            dot.Append($"  {Q(name)} [shape=ellipse, label={Q(role)}];\n");
            var heard = Str(subscriber, "set") is { Length: > 0 } one ? [one] : sets;
            edges.AddRange(heard.Select(set => $"  {Q(set)} -> {Q(name)} [style=dashed, label=\"notifies\"];"));
        }
        foreach (var edge in edges) dot.Append(edge).Append('\n');
        dot.Append(Legend);
        dot.Append("}\n");
        return dot.ToString();
    }

    /// <summary>What the shapes and edges mean, in a cluster of its own.</summary>
    private const string Legend = """
          subgraph "cluster_legend" {
            label="legend";
            fontname="monospace";
            node [fontname="monospace", fontsize=10];
            "legend-iommufd" [shape=note, label="iommufd context\n(cluster: file, pid, client)"];
            "legend-object" [label="object: kind ID\n(IOAS, DEVICE, HWPT, ...)"];
            "legend-unit" [shape=component, label="IOMMU unit"];
            "legend-device" [shape=box3d, label="PCI device\n(dashed: not bound)"];
            "legend-set" [shape=folder, label="PASID set of a VM"];
            "legend-subscriber" [shape=ellipse, label="notifier subscriber"];
            "legend-edges" [shape=plaintext, label="edges: uses, attached RID/PASID n,\lis (the device), domain in (unit),\lbehind (unit), VM set, notifies (dashed)\l"];
          }

        """;

    private static string NodeOf(string file, JsonElement o) =>
        Str(o, "kind") == "Ioas" && Str(o, "key") is { Length: > 0 } key ? "ioas-" + key : $"{file}/{o.GetProperty("id").GetUInt32()}";

    /// <summary>The object as the ioctls name it: IOAS 1, DEVICE 2 and its PCI address, HWPT 3 paging.</summary>
    private static string LabelOf(JsonElement o)
    {
        var id = o.GetProperty("id");
        var label = Str(o, "kind") switch
        {
            "Ioas" => $"IOAS {id}",
            "Device" => $"DEVICE {id}",
            "HwptPaging" => $"HWPT {id}\\npaging",
            "HwptNested" => $"HWPT {id}\\nnested",
            var kind => $"{kind.ToUpperInvariant()} {id}",
        };
        if (Str(o, "pci") is { Length: > 0 } pci) label += $"\\n{pci}";
        return label;
    }

    private static string Str(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() ?? "" : "";

    /// <summary>A DOT quoted id; <c>\n</c> in labels stays a DOT line break, quotes are escaped.</summary>
    private static string Q(string s) => "\"" + s.Replace("\"", "\\\"") + "\"";
}
