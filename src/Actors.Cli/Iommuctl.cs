using System.CommandLine;
using System.Text.Json;
using IommuActors.Client;
using IommuActors.Host;
using Microsoft.Extensions.Hosting;
using Spectre.Console;

namespace IommuActors.Cli;

/// <summary>Where a command writes: plain text (JSON, DOT) to Output, tables and progress to Console, complaints to Error.</summary>
public sealed record IommuctlIo(TextWriter Output, TextWriter Error, IAnsiConsole Console)
{
    /// <summary>
    /// The process's own console on a terminal; tables that never wrap, without colour, when its
    /// output goes to a pipe or a file (Spectre would otherwise wrap them at 80 columns, cutting PCI
    /// addresses in two for grep); in specs, writers with a console of a fixed width and no colour.
    /// </summary>
    public static IommuctlIo For(TextWriter output, TextWriter error) =>
        !ReferenceEquals(output, System.Console.Out) ? new IommuctlIo(output, error, Plain(output, 160))
        : System.Console.IsOutputRedirected ? new IommuctlIo(output, error, Plain(output, 1024))
        : new IommuctlIo(output, error, AnsiConsole.Console);

    private static IAnsiConsole Plain(TextWriter output, int width)
    {
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(output),
            Ansi = AnsiSupport.No,
            ColorSystem = ColorSystemSupport.NoColors,
            Interactive = InteractionSupport.No,
        });
        console.Profile.Width = width;
        return console;
    }
}

/// <summary>
/// iommuctl: serve (the host), and questions to a running host over its socket with the
/// project's extension frames (docs/wire-extensions.md): status, platform, contexts, objects,
/// graph, trace, dma; bench measures the figures of the README's performance section.
/// </summary>
public static class Iommuctl
{
    public static async Task<int> RunAsync(string[] args, TextWriter output, TextWriter error, CancellationToken cancellationToken = default)
    {
        var io = IommuctlIo.For(output, error);
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
        serve.SetAction((result, _) => HostRunner.RunAsync([.. result.UnmatchedTokens], "iommuctl serve", error));

        var platform = new Command("platform", "The emulated IOMMU units and the devices behind them") { json, socket };
        platform.SetAction((result, ct) => Ask(io, result.GetValue(socket)!, result.GetValue(json), c => c.PlatformJsonAsync(ct),
            Views.ShowPlatform, ct));

        var status = new Command("status", "The host: cluster, store, socket and client sessions") { json, socket };
        status.SetAction((result, ct) => Ask(io, result.GetValue(socket)!, result.GetValue(json), c => c.StatusJsonAsync(ct),
            Views.ShowStatus, ct));

        var contexts = new Command("contexts", "The live iommufd contexts: file id, the session and process holding it, object counts") { json, socket };
        contexts.SetAction((result, ct) => Ask(io, result.GetValue(socket)!, result.GetValue(json), c => c.ContextsJsonAsync(ct),
            Views.ShowContexts, ct));

        var sessions = new Command("sessions", "The client sessions of every node: who holds them, connected or awaiting a resume and for how long") { json, socket };
        sessions.SetAction((result, ct) => Ask(io, result.GetValue(socket)!, result.GetValue(json), c => c.StatusJsonAsync(ct),
            Views.ShowSessions, ct));

        var session = new Argument<string>("SESSION") { Description = "The session's token, as iommuctl sessions shows it" };
        var release = new Command("release", "End a session that awaits a resume now, releasing its devices and iommufds as its process's exit would")
            { session, json, socket };
        release.SetAction(async (result, ct) =>
        {
            var text = result.GetValue(session)!;
            if (!ulong.TryParse(text, System.Globalization.NumberStyles.AllowHexSpecifier, System.Globalization.CultureInfo.InvariantCulture, out var token))
                return await Complain(io, $"\"{text}\" is no session token: `iommuctl sessions` lists them (16 hex digits).", Problems.BadArgument);
            return await Ask(io, result.GetValue(socket)!, result.GetValue(json), c => c.ReleaseSessionJsonAsync(token, ct),
                Views.ShowReleased, ct, refused => refused.Errno switch
                {
                    Uapi.Errno.ENOENT => $"no session {token:x16} on this host: `iommuctl sessions` lists them.",
                    Uapi.Errno.EBUSY => $"session {token:x16} is connected: its process is running, so stop that process instead.",
                    _ => null,
                });
        });

        var context = new Option<string>("--context") { Description = "Only the objects of this context (its file id, as iommuctl contexts shows it)" };
        var objects = new Command("objects", "The live object tables: id, kind, what each uses, device PCI address, HWPT unit") { context, json, socket };
        objects.SetAction((result, ct) => Ask(io, result.GetValue(socket)!, result.GetValue(json),
            c => c.ObjectsJsonAsync(result.GetValue(context), ct), Views.ShowObjects, ct,
            refused => refused.Errno == Uapi.Errno.ENOENT ? $"no context {result.GetValue(context)} on this host: `iommuctl contexts` lists them." : null));

        var svg = new Option<string>("--svg") { Description = "Also render the graph to this SVG file with Graphviz's dot" };
        var graph = new Command("graph", "The object graph (contexts, IOAS, HWPT, devices, units, PASID sets, subscribers) as Graphviz DOT")
            { svg, json, socket };
        graph.SetAction((result, ct) => GraphCommand.RunAsync(io, result.GetValue(socket)!, result.GetValue(json), result.GetValue(svg), ct));

        var count = new Option<int>("--count") { Description = "Stop after this many events (default: until Ctrl-C)" };
        var trace = new Command("trace", "Live ioctls of this host's clients and IOASID notifier events, as they happen, until Ctrl-C") { count, json, socket };
        trace.SetAction((result, ct) => TraceCommand.RunAsync(io, result.GetValue(socket)!, result.GetValue(json), result.GetValue(count), ct));

        var calls = new Option<int>("--count") { Description = "Sequential no-op round trips per path", DefaultValueFactory = _ => 20_000 };
        var live = new Option<int>("--live") { Description = "Live 4 KiB mappings in the IOAS while map+unmap pairs run", DefaultValueFactory = _ => 100_000 };
        var pairs = new Option<int>("--pairs") { Description = "Pipelined IOAS_MAP+UNMAP pairs", DefaultValueFactory = _ => 10_000 };
        var window = new Option<int>("--window") { Description = "Requests in flight on the fd", DefaultValueFactory = _ => 256 };
        var stores = new Option<string[]>("--store") { Description = "Stores to run the pairs on (memory, sqlite)", DefaultValueFactory = _ => ["memory", "sqlite"] };
        var bench = new Command("bench", "The README's performance figures side by side, on throw-away hosts of its own: no-op ioctl round trip vs a raw socket echo, pipelined IOAS_MAP+UNMAP at many live mappings per store")
            { calls, live, pairs, window, stores, json };
        bench.SetAction((result, ct) => BenchCommand.RunAsync(io, new BenchOptions(result.GetValue(calls), result.GetValue(live),
            result.GetValue(pairs), result.GetValue(window), result.GetValue(stores)!), result.GetValue(json), ct));

        var pci = new Option<string>("--pci") { Description = "PCI address of the device doing the DMA", Required = true };
        var iova = new Option<string>("--iova") { Description = "IOVA (decimal or 0x hex)", Required = true };
        var length = new Option<string>("--length") { Description = "bytes (decimal or 0x hex)", DefaultValueFactory = _ => "4096" };
        var pasid = new Option<int>("--pasid") { Description = "PASID of the request; -1 for none", DefaultValueFactory = _ => -1 };
        var write = new Option<bool>("--write") { Description = "a DMA write (default: read)" };
        var dma = new Command("dma", "Issue an emulated DMA through the device's IOMMU unit and show the translation or the fault (exit code 3)")
            { pci, iova, length, pasid, write, json, socket };
        dma.SetAction(async (result, ct) =>
        {
            var address = Problems.PciAddress(result.GetValue(pci)!);
            if (address is null) return await Complain(io, Problems.NotAPciAddress(result.GetValue(pci)!), Problems.BadArgument);
            if (!Problems.TryNumber(result.GetValue(iova)!, out var at))
                return await Complain(io, Problems.NotANumber("--iova", result.GetValue(iova)!), Problems.BadArgument);
            if (!Problems.TryNumber(result.GetValue(length)!, out var bytes) || bytes == 0)
                return await Complain(io, Problems.NotANumber("--length", result.GetValue(length)!), Problems.BadArgument);
            return await Ask(io, result.GetValue(socket)!, result.GetValue(json),
                c => c.DmaJsonAsync(address, result.GetValue(pasid), at, bytes, result.GetValue(write), ct), Views.ShowDma, ct,
                refused => refused.Errno == Uapi.Errno.ENODEV ? Problems.NoSuchDevice(address) : null);
        });

        var root = new RootCommand("iommuctl: drive and inspect the IommuActors emulator of /dev/iommu")
            { serve, platform, status, sessions, release, contexts, objects, graph, trace, dma, bench };
        var parsed = root.Parse(args.Length == 0 ? ["--help"] : args);
        if (parsed.Errors.Count > 0 && parsed.Action is not System.CommandLine.Help.HelpAction)
        {
            foreach (var problem in parsed.Errors) await error.WriteLineAsync($"iommuctl: {problem.Message}");
            var command = string.Join(' ', parsed.CommandResult.Command.Name == root.Name ? [] : new[] { parsed.CommandResult.Command.Name });
            await error.WriteLineAsync($"iommuctl: `iommuctl {(command.Length > 0 ? command + " " : "")}--help` shows what it takes.");
            return Problems.BadArgument;
        }
        // serve is the host, which stops on SIGINT/SIGTERM by itself: System.CommandLine's own handler
        // would cancel a token source the finished invocation already disposed (an unhandled exception
        // at exit). The other commands keep it: it is how Ctrl-C ends a trace.
        var configuration = new InvocationConfiguration { Output = output, Error = error };
        if (parsed.CommandResult.Command == serve) configuration.ProcessTerminationTimeout = null;
        return await parsed.InvokeAsync(configuration, cancellationToken);
    }

    private static async Task<int> Complain(IommuctlIo io, string problem, int exit)
    {
        await io.Error.WriteLineAsync($"iommuctl: {problem}");
        return exit;
    }

    /// <summary>One extension request: its JSON as it came (--json), or shown as tables.</summary>
    internal static Task<int> Ask(IommuctlIo io, string socketPath, bool asJson, Func<IommuClient, Task<string>> ask,
        Action<IAnsiConsole, JsonElement> show, CancellationToken ct, Func<IommuException, string?>? explain = null) =>
        Ask(io, socketPath, asJson, ask, (console, e) => { show(console, e); return 0; }, ct, explain);

    /// <summary>One extension request whose document also decides the exit code (a DMA that faulted).</summary>
    internal static async Task<int> Ask(IommuctlIo io, string socketPath, bool asJson, Func<IommuClient, Task<string>> ask,
        Func<IAnsiConsole, JsonElement, int> show, CancellationToken ct, Func<IommuException, string?>? explain = null)
    {
        return await Connected(io, socketPath, async client =>
        {
            var text = await ask(client);
            var document = JsonDocument.Parse(text).RootElement;
            if (!asJson) return show(io.Console, document);
            await io.Output.WriteLineAsync(text);
            return show(Quiet, document);
        }, ct, explain);
    }

    /// <summary>A console that shows nothing: for the exit code of a document printed as JSON.</summary>
    private static readonly IAnsiConsole Quiet = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(TextWriter.Null) });

    /// <summary>
    /// Runs <paramref name="work"/> on a connection; an unreachable host or a refused request is one
    /// line saying what to do (<paramref name="explain"/> words a command's own refusals) and exit code 1.
    /// </summary>
    internal static async Task<int> Connected(IommuctlIo io, string socketPath, Func<IommuClient, Task<int>> work, CancellationToken ct,
        Func<IommuException, string?>? explain = null)
    {
        IommuClient client;
        try
        {
            client = await IommuClient.ConnectAsync(socketPath, new IommuClientOptions { ClientName = "iommuctl" }, ct);
        }
        catch (Exception error) when (error is System.Net.Sockets.SocketException or IommuException or IOException)
        {
            return await Complain(io, Problems.Unreachable(socketPath, error), Problems.Failed);
        }
        await using (client)
        {
            try
            {
                return await work(client);
            }
            catch (IommuException error)
            {
                return await Complain(io, explain?.Invoke(error) ?? Problems.Refused(error), Problems.Failed);
            }
            catch (IOException error)
            {
                await io.Error.WriteLineAsync($"iommuctl: the host at {socketPath} went away: {error.Message}");
                return 1;
            }
        }
    }
}
