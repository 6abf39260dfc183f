using System.Diagnostics;
using IommuActors.TestSupport;
using Xunit;

namespace IommuActors.FrontDoor.Tests.Cli;

/// <summary>
/// Issue 17 point 4: iommuctl installs from the repository with the one command the README gives
/// (./install-iommuctl.sh; here into a folder of its own, packing the build the specs already made),
/// and the installed tool both runs a host and asks it.
/// </summary>
public sealed class ToolInstallSpecs
{
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(4);

    [Fact]
    public async Task The_install_script_gives_an_iommuctl_that_serves_and_asks_a_host()
    {
        var tools = TempFolder.Create("iommuctl-tool");
        var work = TempFolder.Create("iommuctl-tool-work");
        var configuration = new DirectoryInfo(Path.TrimEndingDirectorySeparator(AppContext.BaseDirectory)).Parent!.Name; // bin/<configuration>/net10.0

        var install = await Run(Path.Combine(RepositoryRoot(), "install-iommuctl.sh"), work,
            "--tool-path", tools, "--", "--no-build", "-c", configuration);
        Assert.True(install.Exit == 0, install.Output);

        var iommuctl = Path.Combine(tools, "iommuctl");
        var serve = Process.Start(new ProcessStartInfo(iommuctl, ["serve", "--Iommu:Store", "memory"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = work,
        })!;
        try
        {
            var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            serve.OutputDataReceived += (_, e) => { if (e.Data?.Contains("Ready: ") == true) ready.TrySetResult(); };
            serve.BeginOutputReadLine();
            serve.BeginErrorReadLine();
            await ready.Task.WaitAsync(Timeout);

            // From the same folder, as a user types it: the socket is run/iommufd.sock there.
            var platform = await Run(iommuctl, work, "platform", "--json");
            Assert.True(platform.Exit == 0, platform.Output);
            Assert.Contains("\"dmar0\"", platform.Output);
        }
        finally
        {
            serve.Kill(entireProcessTree: true);
            serve.Dispose();
        }
    }

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "install-iommuctl.sh"))) return dir.FullName;
        throw new InvalidOperationException("install-iommuctl.sh not found above " + AppContext.BaseDirectory);
    }

    private static async Task<(int Exit, string Output)> Run(string file, string workDir, params string[] args)
    {
        var run = await IommuctlProcess.RunFileAsync(file, workDir, Timeout, args);
        return (run.Exit, string.Join("\n", run.Stdout.Concat(run.Stderr)));
    }
}
