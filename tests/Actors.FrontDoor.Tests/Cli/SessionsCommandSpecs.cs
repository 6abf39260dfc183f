using System.Diagnostics;
using System.Text;
using System.Text.Json;
using IommuActors.Client;
using IommuActors.Host.FrontDoor;
using IommuActors.TestSupport;
using Xunit;

namespace IommuActors.FrontDoor.Tests.Cli;

/// <summary>
/// Issue 17 point 1: after a host restart, a session whose process has died is released at once
/// rather than holding its files for the grace period; iommuctl sessions shows who waits and for
/// how long, and iommuctl release ends one.
/// </summary>
public sealed class SessionsCommandSpecs
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task A_dead_clients_session_goes_at_once_a_live_ones_waits_and_an_operator_releases_it()
    {
        var workDir = TempFolder.Create("frontdoor-dead-client");
        var files = new FileLog();
        ulong liveToken;
        string liveFile;
        int deadPid;
        var first = await TestHost.StartAsync(workDir, files);
        {
            // Another process holds a session (iommuctl trace) and dies while the host is down.
            using var other = Process.Start(new ProcessStartInfo("dotnet", [Path.Combine(AppContext.BaseDirectory, "iommuctl.dll"), "trace", "--socket", first.SocketPath])
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            })!;
            deadPid = other.Id;
            Assert.StartsWith("tracing opens, closes, ioctls", await other.StandardError.ReadLineAsync().WaitAsync(Timeout));

            // This process holds another, with a file, and lives on.
            var client = await IommuClient.ConnectAsync(first.SocketPath);
            liveToken = client.SessionToken;
            var fd = await client.OpenAsync("/dev/iommu");
            liveFile = Encoding.UTF8.GetString((await client.IoctlAsync(fd, FakeIoctl.WhoAmI, 0, [])).Writeback);

            var before = await Sessions(first);
            Assert.Contains(before, s => s.Pid == deadPid && s.Connected);
            await first.DisposeAsync();
            await other.WaitForExitAsync().WaitAsync(Timeout); // it saw the host go and exited
        }

        await using var second = await TestHost.StartAsync(workDir, files);
        // The process check runs every second while sessions wait: the dead one's session goes long before 5 minutes.
        var sessions = await Eventually(async () =>
        {
            var now = await Sessions(second);
            return now.Any(s => s.Pid == (uint)deadPid) ? null : now;
        });
        var live = Assert.Single(sessions, s => s.Token == liveToken.ToString("x16"));
        Assert.False(live.Connected);
        Assert.InRange(live.GraceLeft!.Value, 200, 300); // the default 5 minutes, counting down
        Assert.DoesNotContain(files.Lines, l => l == $"release {liveFile}");

        var table = await IommuctlRun.RunAsync(second, "sessions");
        Assert.Equal(0, table.Exit);
        Assert.Contains(table.Lines, l => l.Contains(liveToken.ToString("x16")) && l.Contains("awaiting resume") && l.Contains("m "));

        var release = await IommuctlRun.RunAsync(second, "release", liveToken.ToString("x16"));
        Assert.Equal((0, $"released session {liveToken:x16} of pid {Environment.ProcessId}: 1 file(s) closed\n", ""),
            (release.Exit, release.Output, release.Error));
        await files.WaitFor($"release {liveFile}");
        Assert.DoesNotContain(await Sessions(second), s => s.Token == liveToken.ToString("x16"));

        var again = await IommuctlRun.RunAsync(second, "release", liveToken.ToString("x16"));
        Assert.Equal((1, $"iommuctl: no session {liveToken:x16} on this host: `iommuctl sessions` lists them.\n"), (again.Exit, again.Error));
    }

    [Fact]
    public async Task A_connected_session_is_not_released_by_an_operator()
    {
        await using var host = await TestHost.InMemoryAsync();
        await using var client = await IommuClient.ConnectAsync(host.SocketPath);

        var refused = await IommuctlRun.RunAsync(host, "release", client.SessionToken.ToString("x16"));

        Assert.Equal((1, $"iommuctl: session {client.SessionToken:x16} is connected: its process is running, so stop that process instead.\n"),
            (refused.Exit, refused.Error));
    }

    [Fact]
    public void A_pid_names_the_same_process_only_while_its_start_time_matches()
    {
        var self = (uint)Environment.ProcessId;
        var start = ProcessLiveness.StartTime(self);
        Assert.NotNull(start);
        Assert.True(ProcessLiveness.IsAlive(self, start!.Value));
        Assert.True(ProcessLiveness.IsAlive(self, 0)); // no start time recorded: the pid alone
        Assert.False(ProcessLiveness.IsAlive(self, start.Value + 1)); // a reused pid
        Assert.False(ProcessLiveness.IsAlive(0, 0));
        // A command name with spaces and parentheses does not shift the fields.
        Assert.Equal(4242ul, ProcessLiveness.StartTimeOf("77 (a (b) c) S 1 77 77 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 4242 1000 10"));
    }

    private sealed record Session(string Token, uint Pid, bool Connected, double? GraceLeft);

    private static async Task<List<Session>> Sessions(TestHost host)
    {
        var run = await IommuctlRun.RunAsync(host, "status", "--json");
        Assert.Equal(0, run.Exit);
        return JsonDocument.Parse(run.Output).RootElement.GetProperty("sessions").EnumerateArray()
            .Select(s => new Session(s.GetProperty("token").GetString()!, s.GetProperty("pid").GetUInt32(), s.GetProperty("connected").GetBoolean(),
                s.GetProperty("graceLeftSeconds").ValueKind == JsonValueKind.Number ? s.GetProperty("graceLeftSeconds").GetDouble() : null))
            .ToList();
    }

    /// <summary>Asks until <paramref name="probe"/> answers, for up to 20 s (an AwaitAssert over the socket).</summary>
    private static async Task<T> Eventually<T>(Func<Task<T?>> probe) where T : class
    {
        var until = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (true)
        {
            if (await probe() is { } found) return found;
            if (DateTime.UtcNow > until) throw new TimeoutException("the dead client's session was still listed after 20 s");
            await Task.Delay(100);
        }
    }
}
