using System.Diagnostics;

namespace IommuActors.TestSupport;

/// <summary>
/// Installs a Debian package that specs need when it is missing, the way the specs' machines are
/// kept: as root, with apt-get (waiting for the dpkg lock, since spec projects run in parallel);
/// otherwise the spec fails naming the package to install.
/// </summary>
public static class DebianPackages
{
    private static readonly SemaphoreSlim Apt = new(1, 1);

    public static bool IsRoot => Environment.UserName == "root";

    /// <param name="probe">A file the package installs; present means installed.</param>
    public static async Task EnsureAsync(string package, string probe, bool recommends = true)
    {
        if (File.Exists(probe)) return;
        await Apt.WaitAsync();
        try
        {
            if (File.Exists(probe)) return;
            if (!IsRoot)
                throw new InvalidOperationException($"{probe} is missing; install the Debian package {package}.");
            const string lockWait = "-o DPkg::Lock::Timeout=600";
            await Processes.RunAsync("apt-get", $"{lockWait} update -qq");
            await Processes.RunAsync("env", $"DEBIAN_FRONTEND=noninteractive apt-get {lockWait} install -y -qq {(recommends ? "" : "--no-install-recommends ")}{package}");
        }
        finally
        {
            Apt.Release();
        }
    }
}

/// <summary>Runs a program to its end and fails with what it said when its exit code is not 0.</summary>
public static class Processes
{
    public static async Task RunAsync(string program, string arguments)
    {
        var start = new ProcessStartInfo(program, arguments)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = Path.GetTempPath(),
        };
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"Cannot start {program}.");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        if (process.ExitCode != 0)
            throw new InvalidOperationException(
                $"{program} {arguments} exited with {process.ExitCode}: {await stderr}{await stdout}");
    }
}
