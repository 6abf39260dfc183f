using System.Diagnostics;

namespace IommuActors.Scenarios.Tests;

/// <summary>iommuctl as users run it: its own process (stdout a pipe, not a terminal), its exit code and what it printed.</summary>
public sealed record IommuctlProcess(int Exit, string Output, string Error)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    /// <param name="path">The PATH iommuctl runs with (where it looks for Graphviz's dot); null for the specs' own.</param>
    public static Task<IommuctlProcess> RunWithPathAsync(HostProcess host, string? path, params string[] args) =>
        RunInAsync(host.WorkDir, path, [.. args, "--socket", host.SocketPath]);

    /// <summary>A command that asks no running host (bench starts its own), run in <paramref name="workDir"/>.</summary>
    public static async Task<IommuctlProcess> RunInAsync(string workDir, string? path, params string[] args)
    {
        var start = new ProcessStartInfo("dotnet", [Path.Combine(AppContext.BaseDirectory, "iommuctl.dll"), .. args])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = workDir,
        };
        if (path is not null) start.Environment["PATH"] = path;
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(Timeout);
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"iommuctl {string.Join(' ', args)} did not end within {Timeout}");
        }
        return new IommuctlProcess(process.ExitCode, await output, await error);
    }

    public static Task<IommuctlProcess> RunAsync(HostProcess host, params string[] args) => RunWithPathAsync(host, null, args);

    public string[] Lines => Output.TrimEnd('\n').Split('\n');
}
