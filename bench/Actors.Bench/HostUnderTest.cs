using System.Collections.Concurrent;
using System.Diagnostics;

namespace IommuActors.Bench;

/// <summary>
/// The host as its own process on a working folder (SQLite store there), so a bench can kill it
/// with SIGKILL and time the next start: from the process start to its Ready line.
/// </summary>
public sealed class HostUnderTest : IAsyncDisposable
{
    private readonly Process _process;
    private readonly ConcurrentQueue<string> _lines = new();

    public string SocketPath { get; }

    /// <summary>From the process start to the Ready line (every unit recovered and answering).</summary>
    public TimeSpan ToReady { get; private set; }

    /// <summary>When the process was started, for figures measured from there.</summary>
    public Stopwatch SinceStart { get; } = new();

    private HostUnderTest(Process process, string workDir)
    {
        _process = process;
        SocketPath = Path.Combine(workDir, "run", "iommufd.sock");
    }

    public static async Task<HostUnderTest> StartAsync(string workDir, TimeSpan timeout)
    {
        var socket = Path.Combine(workDir, "run", "iommufd.sock");
        // A socket file left by a killed host is not a sign of the new one listening.
        if (File.Exists(socket))
            File.Delete(socket);
        var info = new ProcessStartInfo("dotnet", [Path.Combine(AppContext.BaseDirectory, "Actors.Host.dll"), "--Iommu:WorkDir", workDir])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = workDir,
        };
        var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var watch = Stopwatch.StartNew();
        var process = Process.Start(info)!;
        var host = new HostUnderTest(process, workDir);
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null)
                return;
            host._lines.Enqueue(e.Data);
            if (e.Data.Contains("Ready: ", StringComparison.Ordinal))
            {
                host.ToReady = watch.Elapsed;
                ready.TrySetResult();
            }
        };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) host._lines.Enqueue(e.Data); };
        process.EnableRaisingEvents = true;
        process.Exited += (_, _) => ready.TrySetException(new InvalidOperationException("the host exited before its Ready line"));
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        host.SinceStart.Start();
        try
        {
            await ready.Task.WaitAsync(timeout);
            // The socket listens from the same start-up as the Ready line; wait for its file.
            while (!File.Exists(socket))
                await Task.Delay(10).WaitAsync(timeout);
        }
        catch (Exception error)
        {
            await host.DisposeAsync();
            throw new InvalidOperationException($"the host did not come up: {error.Message}\n{string.Join('\n', host._lines)}", error);
        }
        return host;
    }

    /// <summary>SIGKILL: no shutdown, nothing flushed beyond what the store already has.</summary>
    public async Task KillAsync()
    {
        _process.Kill(entireProcessTree: true);
        await _process.WaitForExitAsync();
    }

    /// <summary>The host's resident memory, in bytes (from /proc).</summary>
    public long ResidentBytes()
    {
        _process.Refresh();
        return _process.WorkingSet64;
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
            await KillAsync();
        _process.Dispose();
    }
}
