using System.Diagnostics;

namespace IommuActors.FrontDoor.Tests.Cli;

/// <summary>iommuctl as its own process (<c>dotnet iommuctl.dll</c>): its exit code and every line it printed.</summary>
public sealed record IommuctlProcess(int Exit, string[] Stdout, string[] Stderr)
{
    public static Task<IommuctlProcess> RunAsync(string workDir, params string[] args) =>
        RunFileAsync("dotnet", workDir, TimeSpan.FromSeconds(120), [Path.Combine(AppContext.BaseDirectory, "iommuctl.dll"), .. args]);

    /// <summary>Any program run the same way (no IOMMUFD_SOCKET inherited, killed past the timeout).</summary>
    public static async Task<IommuctlProcess> RunFileAsync(string file, string workDir, TimeSpan timeout, params string[] args)
    {
        var start = new ProcessStartInfo(file, args)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = workDir,
        };
        start.Environment.Remove("IOMMUFD_SOCKET");
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        try
        {
            await process.WaitForExitAsync().WaitAsync(timeout);
        }
        finally
        {
            if (!process.HasExited) process.Kill(entireProcessTree: true);
        }
        return new IommuctlProcess(process.ExitCode, Lines(await stdout), Lines(await stderr));
    }

    private static string[] Lines(string text) =>
        text.Length == 0 ? [] : text.Replace("\r\n", "\n").TrimEnd('\n').Split('\n');
}
