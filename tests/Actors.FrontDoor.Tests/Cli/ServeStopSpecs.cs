using System.Diagnostics;
using System.Text;
using IommuActors.TestSupport;
using Xunit;

namespace IommuActors.FrontDoor.Tests.Cli;

/// <summary>Issue 17 point 2: `iommuctl serve` stops as the host does, on SIGTERM, without a stack trace.</summary>
public sealed class ServeStopSpecs
{
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(2);

    [Fact]
    public async Task Serve_stopped_by_SIGTERM_exits_0_and_says_nothing_on_stderr()
    {
        var work = TempFolder.Create("iommuctl-serve-stop");
        using var serve = Process.Start(new ProcessStartInfo("dotnet", [Path.Combine(AppContext.BaseDirectory, "iommuctl.dll"), "serve", "--Iommu:Store", "memory"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = work,
        })!;
        var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var stderr = new StringBuilder();
        serve.OutputDataReceived += (_, e) => { if (e.Data?.Contains("Ready: ") == true) ready.TrySetResult(); };
        serve.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (stderr) stderr.AppendLine(e.Data); };
        serve.BeginOutputReadLine();
        serve.BeginErrorReadLine();
        try
        {
            await ready.Task.WaitAsync(Timeout);
            using (var kill = Process.Start("kill", ["-TERM", serve.Id.ToString()])!)
                await kill.WaitForExitAsync();
            await serve.WaitForExitAsync().WaitAsync(Timeout);
            serve.WaitForExit(); // the redirected streams drained
            lock (stderr) Assert.Equal((0, ""), (serve.ExitCode, stderr.ToString()));
        }
        finally
        {
            if (!serve.HasExited) serve.Kill(entireProcessTree: true);
        }
    }
}
