using System.Text.Json;
using System.Text.RegularExpressions;
using IommuActors.Client;
using IommuActors.TestSupport;
using IommuActors.Uapi;
using IommuActors.Uapi.Structs;
using Xunit;

namespace IommuActors.Scenarios.Tests;

/// <summary>
/// The README's second terminal: iommuctl run as its own process against the host process, after a
/// VMM made its objects through the .NET client; what it prints is checked against what was made.
/// </summary>
public sealed class IommuctlProcessSpecs
{
    private const string Pci = VmmSetup.Pci;

    private static string NodeOf(HostProcess host) =>
        Regex.Match(host.Log, @"Ready: (akka\.tcp://iommu@127\.0\.0\.1:\d+) is Up").Groups[1].Value;

    [Fact]
    public async Task Platform_contexts_json_and_graph_show_the_default_box_and_the_VMMs_context_exactly()
    {
        await using var host = await HostProcess.StartAsync(TempFolder.Create("iommuctl-process"), "--Iommu:Store", "memory");
        var platform = await IommuctlProcess.RunAsync(host, "platform");
        // Wide tables without colour, as stdout is a pipe: no row wraps (a PCI address stays whole for grep).
        Assert.Equal((0, ""), (platform.Exit, platform.Error));
        Assert.Equal(
        [
            "                                           IOMMU units                                           ",
            "┌───────┬──────────┬────────────┬──────────────┬────────────┬─────────┬───────┬───────┬─────────┐",
            "│ unit  │ kind     │ page sizes │ address bits │ PASID bits │ nesting │ dirty │ IOPF  │ devices │",
            "├───────┼──────────┼────────────┼──────────────┼────────────┼─────────┼───────┼───────┼─────────┤",
            "│ dmar0 │ IntelVtd │ 4K 2M 1G   │ 48           │ 20         │ True    │ True  │ True  │ 4       │",
            "│ dmar1 │ IntelVtd │ 4K 2M      │ 39           │ 0          │ False   │ False │ False │ 2       │",
            "│ mock0 │ Mock     │ 2K         │ 64           │ 20         │ True    │ True  │ True  │ 2       │",
            "└───────┴──────────┴────────────┴──────────────┴────────────┴─────────┴───────┴───────┴─────────┘",
            "                                       Devices                                       ",
            "┌──────────────┬───────────────┬───────┬───────┬────────────┬───────┬───────┬───────┐",
            "│ PCI          │ vendor:device │ unit  │ group │ PASID bits │ PRI   │ ATS   │ cdev  │",
            "├──────────────┼───────────────┼───────┼───────┼────────────┼───────┼───────┼───────┤",
            "│ 0000:00:02.0 │ 8086:9a49     │ dmar0 │ 0     │ 20         │ True  │ True  │ vfio0 │",
            "│ 0000:00:14.0 │ 8086:a0ed     │ dmar0 │ 1     │ 0          │ False │ False │ vfio1 │",
            "│ 0000:00:14.2 │ 8086:a0ef     │ dmar0 │ 1     │ 0          │ False │ False │ vfio2 │",
            "│ 0000:01:00.0 │ 8086:0b25     │ dmar0 │ 2     │ 20         │ True  │ True  │ vfio3 │",
            "│ 0000:02:00.0 │ 144d:a80a     │ dmar1 │ 3     │ 0          │ False │ False │ vfio4 │",
            "│ 0000:03:00.0 │ 8086:15f3     │ dmar1 │ 4     │ 0          │ False │ True  │ vfio5 │",
            "│ 0000:f0:00.0 │ 0000:0001     │ mock0 │ 10    │ 20         │ True  │ False │ vfio6 │",
            "│ 0000:f0:01.0 │ 0000:0001     │ mock0 │ 11    │ 20         │ True  │ False │ vfio7 │",
            "└──────────────┴───────────────┴───────┴───────┴────────────┴───────┴───────┴───────┘",
        ], platform.Lines);

        var vmm = await VmmSetup.StartAsync(host.SocketPath);
        await using var client = vmm.Client;
        var f = vmm.ContextFile;
        var contexts = await IommuctlProcess.RunAsync(host, "contexts", "--json");
        Assert.Equal((0, ""), (contexts.Exit, contexts.Error));
        using (var doc = JsonDocument.Parse(contexts.Output))
        {
            var c = Assert.Single(doc.RootElement.GetProperty("contexts").EnumerateArray());
            Assert.Equal((f, "/dev/iommu", vmm.Client.SessionToken.ToString("x16"), 4242u, "vmm-spec", "3", true, 3, "Device 1, HwptPaging 1, Ioas 1", "", NodeOf(host)),
                (c.GetProperty("file").GetString(), c.GetProperty("path").GetString(), c.GetProperty("session").GetString(),
                 c.GetProperty("pid").GetUInt32(), c.GetProperty("client").GetString(),
                 string.Join(",", c.GetProperty("fds").EnumerateArray()), c.GetProperty("connected").GetBoolean(),
                 c.GetProperty("objects").GetInt32(),
                 string.Join(", ", c.GetProperty("kinds").EnumerateObject().Select(k => $"{k.Name} {k.Value}")),
                 c.GetProperty("pasidSet").GetString(), c.GetProperty("node").GetString()));
        }

        var graph = await IommuctlProcess.RunAsync(host, "graph");
        Assert.Equal((0, ""), (graph.Exit, graph.Error));
        Assert.Equal(Dot(f), graph.Output);
    }

    /// <summary>The DOT of the spec's VMM on the default platform: every device behind its unit, those not bound dashed.</summary>
    private static string Dot(string f) =>
        $$"""
        digraph iommu {
          rankdir=LR;
          node [shape=box, fontname="monospace"];
          subgraph "cluster_{{f}}" {
            label="iommufd {{f}}\npid 4242 vmm-spec";
            "iommufd-{{f}}" [shape=note, label="iommufd"];
            "ioas-{{f}}.ioas1" [label="IOAS 1"];
            "{{f}}/2" [label="DEVICE 2\n{{Pci}}"];
            "{{f}}/3" [label="HWPT 3\npaging"];
          }
          "unit-dmar0" [shape=component, label="dmar0\nIntelVtd"];
          "unit-dmar1" [shape=component, label="dmar1\nIntelVtd"];
          "unit-mock0" [shape=component, label="mock0\nMock"];
          "pci-{{Pci}}" [shape=box3d, label="{{Pci}}"];
          "pci-0000:00:14.0" [shape=box3d, label="0000:00:14.0", style=dashed];
          "pci-0000:00:14.2" [shape=box3d, label="0000:00:14.2", style=dashed];
          "pci-0000:01:00.0" [shape=box3d, label="0000:01:00.0", style=dashed];
          "pci-0000:02:00.0" [shape=box3d, label="0000:02:00.0", style=dashed];
          "pci-0000:03:00.0" [shape=box3d, label="0000:03:00.0", style=dashed];
          "pci-0000:f0:00.0" [shape=box3d, label="0000:f0:00.0", style=dashed];
          "pci-0000:f0:01.0" [shape=box3d, label="0000:f0:01.0", style=dashed];
          "iommu-driver" [shape=ellipse, label="iommu-driver"];
          "{{f}}/2" -> "{{f}}/3" [label="attached RID"];
          "{{f}}/2" -> "pci-{{Pci}}" [label="is"];
          "{{f}}/3" -> "ioas-{{f}}.ioas1" [label="uses"];
          "{{f}}/3" -> "unit-dmar0" [label="domain in"];
          "pci-{{Pci}}" -> "unit-dmar0" [label="behind"];
          "pci-0000:00:14.0" -> "unit-dmar0" [label="behind", style=dashed];
          "pci-0000:00:14.2" -> "unit-dmar0" [label="behind", style=dashed];
          "pci-0000:01:00.0" -> "unit-dmar0" [label="behind", style=dashed];
          "pci-0000:02:00.0" -> "unit-dmar1" [label="behind", style=dashed];
          "pci-0000:03:00.0" -> "unit-dmar1" [label="behind", style=dashed];
          "pci-0000:f0:00.0" -> "unit-mock0" [label="behind", style=dashed];
          "pci-0000:f0:01.0" -> "unit-mock0" [label="behind", style=dashed];
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
        }

        """;

    [Fact]
    public async Task Graph_svg_renders_through_dot_saying_where_and_without_dot_on_the_PATH_prints_the_DOT_and_says_so()
    {
        await DebianPackages.EnsureAsync("graphviz", "/usr/bin/dot", recommends: false);
        await using var host = await HostProcess.StartAsync(TempFolder.Create("iommuctl-svg"), "--Iommu:Store", "memory");
        var vmm = await VmmSetup.StartAsync(host.SocketPath);
        await using var client = vmm.Client;

        var svg = Path.Combine(host.WorkDir, "graph.svg");
        var rendered = await IommuctlProcess.RunAsync(host, "graph", "--svg", svg);
        Assert.Equal((0, $"wrote {svg}\n", ""), (rendered.Exit, rendered.Output, rendered.Error));
        var text = await File.ReadAllTextAsync(svg);
        Assert.StartsWith("<?xml", text);
        // dot gives each node a <title> with its name (XML-escaped): every node of the DOT is drawn, and nothing else.
        Assert.Equal(
            new[] { $"iommufd-{vmm.ContextFile}", $"ioas-{vmm.ContextFile}.ioas1", $"{vmm.ContextFile}/2", $"{vmm.ContextFile}/3", "unit-dmar0", "unit-dmar1", "unit-mock0", "iommu-driver" }
                .Concat(new[] { Pci, "0000:00:14.0", "0000:00:14.2", "0000:01:00.0", "0000:02:00.0", "0000:03:00.0", "0000:f0:00.0", "0000:f0:01.0" }.Select(p => "pci-" + p))
                .Concat(new[] { "iommufd", "object", "unit", "device", "set", "subscriber", "edges" }.Select(l => "legend-" + l))
                .Order(StringComparer.Ordinal),
            Regex.Matches(text, @"<g id=""node\d+"" class=""node"">\s*<title>([^<]*)</title>")
                .Select(m => System.Net.WebUtility.HtmlDecode(m.Groups[1].Value)).Order(StringComparer.Ordinal));

        var nowhere = Path.Combine(host.WorkDir, "no-dot.svg");
        var refused = await IommuctlProcess.RunWithPathAsync(host, TempFolder.Create("empty-path"), "graph", "--svg", nowhere);
        Assert.Equal((1, Dot(vmm.ContextFile)), (refused.Exit, refused.Output));
        Assert.Equal("iommuctl: --svg needs Graphviz's dot on the PATH (e.g. apt-get install graphviz); the DOT above renders anywhere else\n", refused.Error);
        Assert.False(File.Exists(nowhere));
    }

    [Fact]
    public async Task Bench_json_prints_one_JSON_document_and_nothing_of_its_throw_away_hosts_logs()
    {
        var run = await IommuctlProcess.RunInAsync(TempFolder.Create("iommuctl-bench"), null,
            "bench", "--json", "--store", "memory", "--count", "50", "--live", "50", "--pairs", "50", "--window", "8");
        Assert.Equal(0, run.Exit);
        var line = Assert.Single(run.Lines);
        using var doc = JsonDocument.Parse(line);
        Assert.Equal((50, 48, 32), (doc.RootElement.GetProperty("noop").GetProperty("count").GetInt32(),
            doc.RootElement.GetProperty("noop").GetProperty("requestBytes").GetInt32(), doc.RootElement.GetProperty("noop").GetProperty("replyBytes").GetInt32()));
        var maps = Assert.Single(doc.RootElement.GetProperty("maps").EnumerateArray());
        Assert.Equal(("memory", 50, 50, 8), (maps.GetProperty("store").GetString(), maps.GetProperty("live").GetInt32(),
            maps.GetProperty("pairs").GetInt32(), maps.GetProperty("window").GetInt32()));
    }
}
