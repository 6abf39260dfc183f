using System.Collections.Concurrent;
using System.Diagnostics;

namespace IommuActors.Scenarios.Tests;

/// <summary>The host as users run it: a separate process on a working folder, killed as a crash would kill it.</summary>
public sealed class HostProcess : IAsyncDisposable
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(90);
    private readonly Process _process;
    private readonly ConcurrentQueue<string> _output = new();

    public string WorkDir { get; }
    public string SocketPath => Path.Combine(WorkDir, "run", "iommufd.sock");
    public string Log => string.Join('\n', _output);

    private HostProcess(Process process, string workDir)
    {
        _process = process;
        WorkDir = workDir;
    }

    /// <summary>Starts the built host on <paramref name="workDir"/> (default SQLite store there) and waits for its Ready line.</summary>
    public static async Task<HostProcess> StartAsync(string workDir, params string[] args)
    {
        var start = new ProcessStartInfo("dotnet", [Path.Combine(AppContext.BaseDirectory, "Actors.Host.dll"), "--Iommu:WorkDir", workDir, .. args])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = workDir,
        };
        var process = Process.Start(start)!;
        var host = new HostProcess(process, workDir);
        var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null) return;
            host._output.Enqueue(e.Data);
            if (e.Data.Contains("Ready: ", StringComparison.Ordinal)) ready.TrySetResult();
        };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) host._output.Enqueue(e.Data); };
        process.Exited += (_, _) => ready.TrySetException(new InvalidOperationException("the host exited before it was ready"));
        process.EnableRaisingEvents = true;
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            await ready.Task.WaitAsync(StartTimeout);
            // Ready is logged when the units answer; the socket listens from the same start-up.
            for (var i = 0; i < 200 && !File.Exists(host.SocketPath); i++) await Task.Delay(50);
        }
        catch (Exception error)
        {
            await host.DisposeAsync();
            throw new InvalidOperationException($"host did not start: {error.Message}\n{host.Log}", error);
        }
        return host;
    }

    /// <summary>SIGKILL: no shutdown, no flush, the socket file left behind.</summary>
    public async Task KillAsync()
    {
        _process.Kill(entireProcessTree: true);
        await _process.WaitForExitAsync();
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }
        _process.Dispose();
    }
}
