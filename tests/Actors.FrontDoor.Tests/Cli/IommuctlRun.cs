using IommuActors.Cli;
using IommuActors.Client;
using IommuActors.Uapi;
using IommuActors.Uapi.Structs;

namespace IommuActors.FrontDoor.Tests.Cli;

/// <summary>iommuctl as a user runs it, in this process: its exit code and what it printed.</summary>
public sealed record IommuctlRun(int Exit, string Output, string Error)
{
    public static async Task<IommuctlRun> RunAsync(TestHost host, params string[] args) =>
        await RunAsync(host, CancellationToken.None, args);

    public static Task<IommuctlRun> RunAsync(TestHost host, CancellationToken cancellationToken, params string[] args) =>
        RunAsync(cancellationToken, [.. args, "--socket", host.SocketPath]);

    /// <summary>A command that talks to no running host (bench starts its own).</summary>
    public static async Task<IommuctlRun> RunAsync(CancellationToken cancellationToken, params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var exit = await Iommuctl.RunAsync(args, output, error, cancellationToken);
        return new IommuctlRun(exit, output.ToString().Replace("\r\n", "\n"), error.ToString());
    }

    /// <summary>Starts iommuctl and returns once it has said something on stderr (a command that streams says it listens there).</summary>
    public static async Task<Task<IommuctlRun>> StartAsync(TestHost host, CancellationToken cancellationToken, params string[] args)
    {
        var output = new SignallingWriter();
        var error = new SignallingWriter();
        var run = Task.Run(async () =>
        {
            var exit = await Iommuctl.RunAsync([.. args, "--socket", host.SocketPath], output, error, cancellationToken);
            return new IommuctlRun(exit, output.ToString().Replace("\r\n", "\n"), error.ToString());
        });
        await Task.WhenAny(error.FirstWrite, run);
        return run;
    }

    public string[] Lines => Output.TrimEnd('\n').Split('\n');
}

/// <summary>A writer that completes <see cref="FirstWrite"/> when something is first written (iommuctl trace's banner).</summary>
public sealed class SignallingWriter : StringWriter
{
    private readonly TaskCompletionSource _first = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public Task FirstWrite => _first.Task.WaitAsync(TimeSpan.FromSeconds(30));

    public override void Write(char value) { lock (this) base.Write(value); _first.TrySetResult(); }

    public override void Write(string? value) { lock (this) base.Write(value); _first.TrySetResult(); }

    public override Task WriteLineAsync(string? value) { lock (this) base.WriteLine(value); _first.TrySetResult(); return Task.CompletedTask; }

    public override Task WriteAsync(string? value) { Write(value); return Task.CompletedTask; }

    public override string ToString() { lock (this) return base.ToString(); }
}
