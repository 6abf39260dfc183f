using System.Collections.Concurrent;
using System.Diagnostics;

namespace IommuActors.Host.Tests.Hosting;

/// <summary>The host as a user runs it: <c>dotnet Actors.Host.dll</c> in a folder of its own, its lines as they come.</summary>
public sealed class HostProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly ConcurrentQueue<string> _stdout = new(), _stderr = new();
    private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private HostProcess(Process process) => _process = process;

    public IReadOnlyList<string> Stdout => [.. _stdout];

    public IReadOnlyList<string> Stderr => [.. _stderr];

    public int Pid => _process.Id;

    public static HostProcess Start(string workDir, params string[] args)
    {
        var start = new ProcessStartInfo("dotnet", [Path.Combine(AppContext.BaseDirectory, "Actors.Host.dll"), .. args])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = workDir,
        };
        start.Environment.Remove(HostRunner.StackTraceVariable);
        var host = new HostProcess(Process.Start(start)!);
        host._process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null) return;
            host._stdout.Enqueue(e.Data);
            if (e.Data.Contains("Ready: ", StringComparison.Ordinal)) host._ready.TrySetResult();
        };
        host._process.ErrorDataReceived += (_, e) => { if (e.Data is not null) host._stderr.Enqueue(e.Data); };
        host._process.BeginOutputReadLine();
        host._process.BeginErrorReadLine();
        return host;
    }

    /// <summary>Ready, or the process ended first (then the task fails with what it said).</summary>
    public async Task WaitReadyAsync(TimeSpan timeout)
    {
        var exited = _process.WaitForExitAsync();
        var first = await Task.WhenAny(_ready.Task, exited).WaitAsync(timeout);
        if (first == exited)
            throw new InvalidOperationException($"the host exited with {_process.ExitCode} before Ready:\n{string.Join('\n', Stdout.Concat(Stderr))}");
    }

    /// <summary>The exit code of a host that stops by itself.</summary>
    public async Task<int> ExitCodeAsync(TimeSpan timeout)
    {
        await _process.WaitForExitAsync().WaitAsync(timeout);
        _process.WaitForExit(); // drains the redirected streams
        return _process.ExitCode;
    }

    /// <summary>SIGTERM, as a supervisor stops it; the exit code.</summary>
    public async Task<int> StopAsync(TimeSpan timeout)
    {
        using (var kill = Process.Start("kill", ["-TERM", _process.Id.ToString()]))
            await kill.WaitForExitAsync();
        return await ExitCodeAsync(timeout);
    }

    /// <summary>kill -9: the process ends with no chance to leave the cluster or give anything back.</summary>
    public void Kill()
    {
        _process.Kill(entireProcessTree: true);
        _process.WaitForExit();
    }

    public ValueTask DisposeAsync()
    {
        if (!_process.HasExited) _process.Kill(entireProcessTree: true);
        _process.Dispose();
        return ValueTask.CompletedTask;
    }
}
