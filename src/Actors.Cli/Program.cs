using System.CommandLine;
using System.Text.Json;
using IommuActors.Client;
using IommuActors.Host;
using Microsoft.Extensions.Hosting;
using Spectre.Console;

namespace IommuActors.Cli;

/// <summary>iommuctl: serve (the host), platform and status (asked over the socket with the project's extension frames).</summary>
public static class Program
{
    public static async Task<int> Main(string[] args)
    {
        var json = new Option<bool>("--json") { Description = "Print the host's JSON instead of tables (for scripts)" };
        var socket = new Option<string>("--socket")
        {
            Description = "Socket of the host (default: $IOMMUFD_SOCKET, as the shim reads it, else run/iommufd.sock under the current folder)",
            DefaultValueFactory = _ => Environment.GetEnvironmentVariable("IOMMUFD_SOCKET") is { Length: > 0 } s ? s
                : Path.Combine(Environment.CurrentDirectory, HostSettings.DefaultSocket),
        };

        var serve = new Command("serve", "Run the emulator host in the foreground (same as dotnet run --project src/Actors.Host); host settings such as --Iommu:Store memory pass through")
        {
            TreatUnmatchedTokensAsErrors = false,
        };
        serve.SetAction(async (result, _) =>
        {
            using var host = IommuHost.Build([.. result.UnmatchedTokens]);
            await host.RunAsync();
            return 0;
        });

        var platform = new Command("platform", "The emulated IOMMU units and the devices behind them") { json, socket };
        platform.SetAction((result, ct) => Ask(result.GetValue(socket)!, result.GetValue(json), c => c.PlatformJsonAsync(ct), ShowPlatform, ct));

        var status = new Command("status", "The host: cluster, store, socket and client sessions") { json, socket };
        status.SetAction((result, ct) => Ask(result.GetValue(socket)!, result.GetValue(json), c => c.StatusJsonAsync(ct), ShowStatus, ct));

        var pci = new Option<string>("--pci") { Description = "PCI address of the device doing the DMA", Required = true };
        var iova = new Option<string>("--iova") { Description = "IOVA (decimal or 0x hex)", Required = true };
        var length = new Option<string>("--length") { Description = "bytes (decimal or 0x hex)", DefaultValueFactory = _ => "4096" };
        var pasid = new Option<int>("--pasid") { Description = "PASID of the request; -1 for none", DefaultValueFactory = _ => -1 };
        var write = new Option<bool>("--write") { Description = "a DMA write (default: read)" };
        var dma = new Command("dma", "Issue an emulated DMA through the device's IOMMU unit and show the translation or the fault")
            { pci, iova, length, pasid, write, json, socket };
        dma.SetAction((result, ct) => Ask(result.GetValue(socket)!, result.GetValue(json),
            c => c.DmaJsonAsync(result.GetValue(pci)!, result.GetValue(pasid), Number(result.GetValue(iova)!),
                Number(result.GetValue(length)!), result.GetValue(write), ct), ShowDma, ct));

        var root = new RootCommand("iommuctl: drive and inspect the IommuActors emulator of /dev/iommu") { serve, platform, status, dma };
        return await root.Parse(args).InvokeAsync();
    }

    private static async Task<int> Ask(string socketPath, bool asJson, Func<IommuClient, Task<string>> ask,
        Action<JsonElement> show, CancellationToken ct)
    {
        try
        {
            await using var client = await IommuClient.ConnectAsync(socketPath, new IommuClientOptions { ClientName = "iommuctl" }, ct);
            var text = await ask(client);
            if (asJson) Console.Out.WriteLine(text);
            else show(JsonDocument.Parse(text).RootElement);
            return 0;
        }
        catch (Exception error) when (error is System.Net.Sockets.SocketException or IommuException or IOException)
        {
            Console.Error.WriteLine($"iommuctl: cannot reach the host at {socketPath}: {error.Message}");
            return 1;
        }
    }

    private static void ShowPlatform(JsonElement platform)
    {
        var units = new Table().Title("IOMMU units").AddColumns("unit", "kind", "page sizes", "address bits", "PASID bits", "nesting", "dirty", "IOPF", "devices");
        foreach (var u in platform.GetProperty("units").EnumerateArray())
            units.AddRow(Text(u, "name"), Text(u, "kind"), Text(u, "pageSizes"), Text(u, "addressWidth"), Text(u, "pasidWidth"),
                Text(u, "nesting"), Text(u, "dirtyTracking"), Text(u, "iopf"), Text(u, "devices"));
        var devices = new Table().Title("Devices").AddColumns("PCI", "vendor:device", "unit", "group", "PASID bits", "PRI", "ATS", "cdev");
        foreach (var d in platform.GetProperty("devices").EnumerateArray())
            devices.AddRow(Text(d, "pci"), $"{Text(d, "vendor")}:{Text(d, "device")}", Text(d, "unit"), Text(d, "group"),
                Text(d, "pasidWidth"), Text(d, "pri"), Text(d, "ats"), Text(d, "cdev"));
        AnsiConsole.Write(units);
        AnsiConsole.Write(devices);
    }

    private static void ShowStatus(JsonElement status)
    {
        var cluster = status.GetProperty("cluster");
        var facts = new Grid().AddColumns(2);
        facts.AddRow("server", Text(status, "server"));
        facts.AddRow("node", $"{Text(cluster, "self")} ({Text(cluster, "status")}, {cluster.GetProperty("members").GetArrayLength()} member(s))");
        facts.AddRow("store", Text(status, "store"));
        facts.AddRow("socket", Text(status, "socket"));
        facts.AddRow("working folder", Text(status, "workDir"));
        AnsiConsole.Write(facts);
        var sessions = new Table().Title("Client sessions").AddColumns("token", "pid", "client", "fds", "connected");
        foreach (var s in status.GetProperty("sessions").EnumerateArray())
            sessions.AddRow(Text(s, "token"), Text(s, "pid"), Text(s, "client"), Text(s, "fds"), Text(s, "connected"));
        AnsiConsole.Write(sessions);
    }

    private static ulong Number(string text) =>
        text.StartsWith("0x", StringComparison.OrdinalIgnoreCase)
            ? ulong.Parse(text.AsSpan(2), System.Globalization.NumberStyles.HexNumber)
            : ulong.Parse(text);

    private static void ShowDma(JsonElement dma)
    {
        if (dma.GetProperty("completed").GetBoolean())
        {
            var segments = new Table().Title($"DMA by {Text(dma, "pci")} through {Text(dma, "unit")}").AddColumns("IOVA", "user address", "bytes");
            foreach (var s in dma.GetProperty("segments").EnumerateArray())
                segments.AddRow($"0x{s.GetProperty("iova").GetUInt64():x}", $"0x{s.GetProperty("address").GetUInt64():x}", Text(s, "length"));
            AnsiConsole.Write(segments);
            return;
        }
        var f = dma.GetProperty("fault");
        AnsiConsole.MarkupLine($"[red]fault[/] {Text(f, "kind")} at 0x{f.GetProperty("address").GetUInt64():x} " +
                               $"(device {Text(dma, "pci")}, PASID {Text(f, "pasid")}, domain {Text(f, "domain")}, {Text(f, "requested")})");
    }

    private static string Text(JsonElement e, string name) =>
        Markup.Escape(e.TryGetProperty(name, out var v) ? v.ValueKind == JsonValueKind.String ? v.GetString() ?? "" : v.ToString() : "");
}
