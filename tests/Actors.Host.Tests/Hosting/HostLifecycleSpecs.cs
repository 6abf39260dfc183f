using System.Diagnostics;
using Akka.Cluster;
using IommuActors.Core.Persistence;
using IommuActors.TestSupport;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Xunit;

namespace IommuActors.Host.Tests.Hosting;

public sealed class HostLifecycleSpecs
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Host_is_an_Up_member_of_a_one_node_cluster_and_stops_cleanly()
    {
        var workDir = TempFolder.Create("host");
        using var host = IommuHost.Build(["--Iommu:WorkDir", workDir]);
        await host.StartAsync();
        var system = await host.Services.GetRequiredService<HostStatus>().Ready.WaitAsync(StartTimeout);

        var cluster = Cluster.Get(system);
        Assert.Equal(MemberStatus.Up, cluster.SelfMember.Status);
        Assert.Single(cluster.State.Members);
        Assert.Equal(cluster.SelfAddress, cluster.State.Leader);

        await host.StopAsync();
        Assert.True(system.WhenTerminated.IsCompleted, "the actor system should be terminated when the host has stopped");
    }

    [Fact]
    public async Task Default_store_is_a_SQLite_file_in_WAL_mode_under_the_working_folder()
    {
        var workDir = TempFolder.Create("host");
        using var host = IommuHost.Build(["--Iommu:WorkDir", workDir]);
        await host.StartAsync();
        await host.Services.GetRequiredService<HostStatus>().Ready.WaitAsync(StartTimeout);
        await host.StopAsync();

        var file = Path.Combine(workDir, "data", "iommu.db");
        Assert.True(File.Exists(file));
        using var connection = new SqliteConnection($"Data Source={file}");
        connection.Open();
        using var pragma = connection.CreateCommand();
        pragma.CommandText = "PRAGMA journal_mode;";
        Assert.Equal("wal", pragma.ExecuteScalar() as string);
    }

    [Fact]
    public void Settings_come_from_the_command_line_over_the_defaults()
    {
        var workDir = TempFolder.Create("host");
        using var host = IommuHost.Build(["--Iommu:WorkDir", workDir, "--Iommu:Socket", "elsewhere/x.sock", "--Iommu:Store", "memory"]);
        var settings = host.Services.GetRequiredService<HostSettings>();

        Assert.Equal(workDir, settings.WorkDir);
        Assert.Equal(Path.Combine(workDir, "elsewhere", "x.sock"), settings.SocketPath);
        Assert.Equal(StoreKind.InMemory, settings.Store.Kind);
    }

    [Fact]
    public void PostgreSQL_without_a_connection_string_is_refused_with_a_message_that_says_so()
    {
        var error = Assert.Throws<SettingsException>(() => IommuHost.Build(["--Iommu:Store", "postgresql"]));
        Assert.Contains("Iommu:ConnectionString", error.Message);
    }

    [Fact]
    public void An_unknown_store_is_refused_naming_the_choices()
    {
        var error = Assert.Throws<SettingsException>(() => IommuHost.Build(["--Iommu:Store", "oracle"]));
        Assert.Equal("Iommu:Store is \"oracle\": expected sqlite, postgresql or memory.", error.Message);
    }

    [Fact]
    public async Task The_host_process_stops_cleanly_on_SIGTERM()
    {
        var workDir = TempFolder.Create("host-process");
        var start = new ProcessStartInfo("dotnet", [Path.Combine(AppContext.BaseDirectory, "Actors.Host.dll"), "--Iommu:WorkDir", workDir])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = workDir,
        };
        using var process = Process.Start(start)!;
        var output = new System.Collections.Concurrent.ConcurrentQueue<string>();
        var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null) return;
            output.Enqueue(e.Data);
            if (e.Data.Contains("Ready: ", StringComparison.Ordinal)) ready.TrySetResult();
        };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) output.Enqueue(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            await ready.Task.WaitAsync(StartTimeout);
            using (var kill = Process.Start("kill", ["-TERM", process.Id.ToString()]))
                await kill.WaitForExitAsync();
            await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
        }
        finally
        {
            if (!process.HasExited) process.Kill(entireProcessTree: true);
        }

        var log = string.Join('\n', output);
        Assert.True(process.ExitCode == 0, $"exit code {process.ExitCode}\n{log}");
        Assert.Contains("Data kept in SQLite file", log);
        Assert.Contains("Actor system stopped cleanly", log);
    }
}
