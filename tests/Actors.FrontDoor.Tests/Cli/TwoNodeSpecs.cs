using System.Text.RegularExpressions;
using IommuActors.TestSupport;
using System.Text.Json;
using IommuActors.Client;
using IommuActors.Uapi;
using IommuActors.Uapi.Structs;
using Xunit;

namespace IommuActors.FrontDoor.Tests.Cli;

/// <summary>
/// Two hosts, the second joined to the first's cluster (--Iommu:Join): each serves its own socket
/// and knows its own clients' sessions, and iommuctl asked at either socket answers for the cluster.
/// </summary>
public sealed class TwoNodeSpecs
{
    [Fact]
    public async Task Contexts_objects_status_graph_and_trace_asked_of_either_node_cover_the_clients_of_both()
    {
        await using var first = await TestHost.RealAsync();
        await using var second = await TestHost.RealAsync("--Iommu:Join", first.Node);
        var vmm = await VmmSetup.StartAsync(first.SocketPath);
        await using var other = await IommuClient.ConnectAsync(second.SocketPath, new IommuClientOptions { ClientName = "second-vmm", Pid = 5151 });
        var iommufd = await other.OpenAsync("/dev/iommu");
        Assert.Equal(1u, (await other.IoctlAsync(iommufd, Ioctls.IOMMU_IOAS_ALLOC, new IommuIoasAlloc(12, 0, 0))).OutIoasId);
        var (f, g) = (vmm.ContextFile, $"{other.SessionToken:x16}-1");

        var contexts = new[]
        {
            (vmm.Client.SessionToken, $$"""{"file":"{{f}}","path":"/dev/iommu","session":"{{vmm.Client.SessionToken:x16}}","pid":4242,"client":"vmm-spec","fds":[3],"connected":true,""" +
                $$""" "objects":3,"kinds":{"Device":1,"HwptPaging":1,"Ioas":1},"pasidSet":"","node":"{{first.Node}}"}"""[1..]),
            (other.SessionToken, $$"""{"file":"{{g}}","path":"/dev/iommu","session":"{{other.SessionToken:x16}}","pid":5151,"client":"second-vmm","fds":[3],"connected":true,""" +
                $$""" "objects":1,"kinds":{"Ioas":1},"pasidSet":"","node":"{{second.Node}}"}"""[1..]),
        }.OrderBy(c => c.Item1).Select(c => c.Item2);
        var expected = $"{{\"contexts\":[{string.Join(',', contexts)}]}}\n";
        // Each context runs where its shard was allocated, on one node or the other.
        foreach (var node in new[] { first, second })
        {
            var (code, output, error) = Result(await IommuctlRun.RunAsync(node, "contexts", "--json"));
            var runsOn = System.Text.RegularExpressions.Regex.Matches(output, ",\"runsOn\":\"([^\"]*)\"").Select(m => m.Groups[1].Value).ToList();
            Assert.Equal(2, runsOn.Count);
            Assert.All(runsOn, r => Assert.Contains(r, new[] { first.Node, second.Node }));
            Assert.Equal((0, expected, ""), (code, System.Text.RegularExpressions.Regex.Replace(output, ",\"runsOn\":\"[^\"]*\"", ""), error));
        }

        var objects = await IommuctlRun.RunAsync(first, "objects", "--context", g, "--json");
        Assert.Equal($$"""{"objects":[{"context":"{{g}}","id":1,"kind":"Ioas","uses":[],"key":"{{g}}.ioas1","pci":"","unit":"","attachments":[],""" +
                     "\"mappings\":{\"count\":0,\"bytes\":0,\"pinnedPages\":0,\"chargedPages\":0}}]}\n",
            objects.Output);

        // Every session of the cluster, iommuctl's own (on the node it asked) among them.
        var status = await IommuctlRun.RunAsync(second, "status", "--json");
        using (var doc = JsonDocument.Parse(status.Output))
        {
            var sessions = doc.RootElement.GetProperty("sessions").EnumerateArray()
                .Select(s => (s.GetProperty("client").GetString(), s.GetProperty("node").GetString(), s.GetProperty("connected").GetBoolean()))
                .OrderBy(s => s.Item1, StringComparer.Ordinal).ToArray();
            Assert.Equal([("iommuctl", second.Node, true), ("second-vmm", second.Node, true), ("vmm-spec", first.Node, true)], sessions);
            Assert.Equal(2, doc.RootElement.GetProperty("cluster").GetProperty("members").GetArrayLength());
        }

        var graph = await IommuctlRun.RunAsync(second, "graph");
        Assert.Equal(0, graph.Exit);
        Assert.Contains($"  subgraph \"cluster_{f}\" {{\n    label=\"iommufd {f}\\npid 4242 vmm-spec\";\n", graph.Output);
        Assert.Contains($"  subgraph \"cluster_{g}\" {{\n    label=\"iommufd {g}\\npid 5151 second-vmm\";\n" +
                        $"    \"iommufd-{g}\" [shape=note, label=\"iommufd\"];\n    \"ioas-{g}.ioas1\" [label=\"IOAS 1\"];\n  }}\n", graph.Output);

        // A trace asked of the second node hears an ioctl made through the first.
        var tracing = await IommuctlRun.StartAsync(second, CancellationToken.None, "trace", "--json", "--count", "1");
        var made = await vmm.Client.IoctlAsync(vmm.Iommufd, Ioctls.IOMMU_IOAS_ALLOC, new IommuIoasAlloc(12, 0, 0));
        var run = await tracing.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(
            $$"""{"type":"ioctl","time":"{{TraceTime.Of(run.Output)}}","session":"{{vmm.Client.SessionToken:x16}}","pid":4242,"fd":3,"file":"{{f}}","request":"0x{{Ioctls.IOMMU_IOAS_ALLOC:x}}","name":"IOMMU_IOAS_ALLOC","given":"{flags=0}","returned":"{out_ioas_id={{made.OutIoasId}}}","errno":0,"retval":0}""" + "\n",
            run.Output);
        await vmm.Client.DisposeAsync();
    }

    [Fact]
    public async Task A_trace_hears_the_ioctls_of_a_node_that_joined_after_it_started()
    {
        await using var first = await TestHost.RealAsync();
        // Two events: the newcomer's open of /dev/iommu may come first, if the trace hears the newcomer by then.
        var tracing = await IommuctlRun.StartAsync(first, CancellationToken.None, "trace", "--json", "--count", "2");
        await using var second = await TestHost.RealAsync("--Iommu:Join", first.Node);
        await using var client = await IommuClient.ConnectAsync(second.SocketPath, new IommuClientOptions { Pid = 6161 });
        var iommufd = await client.OpenAsync("/dev/iommu");
        var ioas = new IommuIoasAlloc(12, 0, 0);

        // The first node's tracer asks the newcomer's relay once it sees the node Up, which the
        // newcomer's own Ready does not wait for: the same ioctl again until the trace has one.
        for (var tries = 0; tries < 300 && !tracing.IsCompleted; tries++)
        {
            await client.IoctlAsync(iommufd, Ioctls.IOMMU_IOAS_ALLOC, ioas);
            await Task.WhenAny(tracing, Task.Delay(100));
        }
        var run = await tracing.WaitAsync(TimeSpan.FromSeconds(30));
        var session = client.SessionToken.ToString("x16");
        var heard = run.Lines.First(l => l.StartsWith("""{"type":"ioctl",""", StringComparison.Ordinal));
        Assert.Matches(
            $$"""^\{"type":"ioctl","time":"{{TraceTime.Of(heard)}}","session":"{{session}}","pid":6161,"fd":3,"file":"{{session}}-1","request":"0x{{Ioctls.IOMMU_IOAS_ALLOC:x}}","name":"IOMMU_IOAS_ALLOC","given":"\{flags=0}","returned":"\{out_ioas_id=\d+}","errno":0,"retval":0}$""",
            heard);
    }

    private static (int, string, string) Result(IommuctlRun run) => (run.Exit, run.Output, run.Error);
}
