using System.Diagnostics;
using IommuActors.Client;
using IommuActors.Client.Measurements;
using IommuActors.Host.FrontDoor;
using IommuActors.Uapi;
using IommuActors.Uapi.Structs;
using Microsoft.Data.Sqlite;

namespace IommuActors.Bench;

/// <summary>
/// Issue 14 item 3 on SQLite: an IOAS with N live 4 KiB mappings and a device attached (so the
/// device's unit holds the pages too), the host killed with SIGKILL and started again. Prints the
/// time to the Ready line (every unit recovered), the time until the IOAS answers its first ioctl
/// after the client resumes its session, the events each entity replays behind its snapshot, and
/// the snapshot sizes.
/// </summary>
public sealed class RecoveryBench : IBench
{
    private const ulong Page = 4096;
    private const ulong IovaBase = 0x1_0000_0000;
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(5);

    public string Name => "recovery";
    public string Description => "kill -9 and restart with an IOAS of N live 4 KiB maps and a device attached: time to Ready, to the IOAS's first answer; args: [maps=1000000] [window=256] [--keep], or --again FOLDER";

    public async Task RunAsync(string[] args)
    {
        // "--again FOLDER": restart on the store a "--keep" run left (filling a million maps takes minutes).
        var again = Array.IndexOf(args, "--again");
        var keep = args.Contains("--keep");
        var numbers = args.Where(a => a.All(char.IsDigit)).Select(int.Parse).ToArray();
        var maps = numbers.Length > 0 ? numbers[0] : 1_000_000;
        var window = numbers.Length > 1 ? numbers[1] : 256;
        string workDir;
        State state;
        if (again >= 0)
        {
            workDir = args[again + 1];
            state = State.Read(workDir);
            Console.WriteLine($"working folder {workDir} (again); load: {Load()}");
        }
        else
        {
            workDir = MeasuredHost.NewWorkDir("recovery");
            Console.WriteLine($"working folder {workDir}; load: {Load()}");
            state = await Fill(workDir, maps, window);
            state.Write(workDir);
        }
        PrintStore(Database(workDir));
        await Restart(workDir, state, unmapAll: !keep && again < 0);
        if (keep || again >= 0)
            Console.WriteLine($"kept: run again with 'recovery --again {workDir}'");
        else
            Directory.Delete(workDir, recursive: true);
    }

    /// <summary>What the client needs to resume after the restart.</summary>
    private sealed record State(ulong Token, int Iommufd, int Device, uint Ioas)
    {
        public void Write(string workDir) => File.WriteAllText(Path.Combine(workDir, "bench-session"), $"{Token} {Iommufd} {Device} {Ioas}");

        public static State Read(string workDir)
        {
            var parts = File.ReadAllText(Path.Combine(workDir, "bench-session")).Split(' ');
            return new State(ulong.Parse(parts[0]), int.Parse(parts[1]), int.Parse(parts[2]), uint.Parse(parts[3]));
        }
    }

    private static string Database(string workDir) => Path.Combine(workDir, "data", "iommu.db");

    private static async Task<State> Fill(string workDir, int maps, int window)
    {
        await using var first = await HostUnderTest.StartAsync(workDir, Timeout);
        Console.WriteLine($"fresh host: Ready after {first.ToReady.TotalSeconds:F2} s");
        var client = await IommuClient.ConnectAsync(first.SocketPath, new IommuClientOptions { ClientName = "recovery-bench" });
        var iommufd = await client.OpenAsync("/dev/iommu");
        var ioas = (await client.IoctlAsync(iommufd, Ioctls.IOMMU_IOAS_ALLOC, new IommuIoasAlloc(12, 0, 0))).OutIoasId;
        var device = await client.OpenAsync("/dev/vfio/devices/vfio0");
        await client.IoctlAsync(device, Ioctls.VFIO_DEVICE_BIND_IOMMUFD, new VfioDeviceBindIommufd(16, 0, iommufd, 0, 0));
        await client.IoctlAsync(device, Ioctls.VFIO_DEVICE_ATTACH_IOMMUFD_PT, new VfioDeviceAttachIommufdPt(16, 0, ioas, 0));
        var clock = Stopwatch.StartNew();
        await PipelinedMaps.MapEveryOtherPageAsync(client, iommufd, ioas, maps, IovaBase, window);
        Console.WriteLine($"{maps:N0} maps of 4 KiB in {clock.Elapsed.TotalSeconds:F1} s ({maps / clock.Elapsed.TotalSeconds:N0}/s); " +
            $"host resident {first.ResidentBytes() / 1048576.0:F0} MiB; load {Load()}");
        // Settled: the snapshots the policy started are written before the kill, so the figures
        // do not depend on where the kill fell in a snapshot write.
        await Settled(Database(workDir));
        var state = new State(client.SessionToken, iommufd, device, ioas);
        await first.KillAsync();
        await client.DisposeAsync();
        return state;
    }

    private static async Task Restart(string workDir, State state, bool unmapAll)
    {
        await using var second = await HostUnderTest.StartAsync(workDir, Timeout);
        var ready = second.ToReady;
        await using var resumed = await IommuClient.ConnectAsync(second.SocketPath,
            new IommuClientOptions { ClientName = "recovery-bench", ResumeToken = state.Token, ResumedFds = [state.Iommufd, state.Device] });
        // The first ioctl the IOAS itself answers: a map in a hole between the live mappings, which
        // also goes to the device's domain in its unit; unmapped again so a later run finds the same.
        var hole = IovaBase + Page;
        await resumed.IoctlAsync(state.Iommufd, Ioctls.IOMMU_IOAS_MAP, new IommuIoasMap(40,
            IoasMapFlags.FixedIova | IoasMapFlags.Readable | IoasMapFlags.Writeable, state.Ioas, 0, 0x7f00_0000_0000 + hole, Page, hole));
        var answered = second.SinceStart.Elapsed;
        await resumed.IoctlAsync(state.Iommufd, Ioctls.IOMMU_IOAS_UNMAP, new IommuIoasUnmap(24, state.Ioas, hole, Page));
        Console.WriteLine($"after kill -9, from the process start: Ready {ready.TotalSeconds:F2} s; the IOAS answers its first ioctl " +
            $"{answered.TotalSeconds:F2} s; resident {second.ResidentBytes() / 1048576.0:F0} MiB; load {Load()}");
        if (unmapAll)
        {
            var clock = Stopwatch.StartNew();
            var unmapped = await resumed.IoctlAsync(state.Iommufd, Ioctls.IOMMU_IOAS_UNMAP, new IommuIoasUnmap(24, state.Ioas, 0, ulong.MaxValue));
            Console.WriteLine($"then an unmap of all {unmapped.Length / Page:N0} pages: {clock.Elapsed.TotalSeconds:F2} s");
        }
        await second.KillAsync();
    }

    private static string Load() => File.ReadAllText("/proc/loadavg").Split(' ')[0];

    /// <summary>Waits until the store's rows stop changing for a second (snapshot written, rows behind it deleted).</summary>
    private static async Task Settled(string database)
    {
        var last = "";
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < Timeout)
        {
            var now = Scalar(database, """
                SELECT (SELECT COUNT(*) FROM journal WHERE deleted = 0) || '/' || (SELECT COUNT(*) FROM snapshot)
                       || '/' || (SELECT COALESCE(MAX(sequence_number), 0) FROM snapshot)
                """);
            if (now == last)
                return;
            last = now;
            await Task.Delay(1000);
        }
    }

    /// <summary>Per entity: the newest snapshot's sequence number and bytes, and the events recovery replays behind it.</summary>
    private static void PrintStore(string database)
    {
        using var connection = new SqliteConnection($"Data Source={database}");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = """
            SELECT p.persistence_id,
                   COALESCE((SELECT MAX(s.sequence_number) FROM snapshot s WHERE s.persistence_id = p.persistence_id), 0) AS at,
                   COALESCE((SELECT length(s.snapshot) FROM snapshot s WHERE s.persistence_id = p.persistence_id
                             ORDER BY s.sequence_number DESC LIMIT 1), 0),
                   (SELECT COUNT(*) FROM journal j WHERE j.persistence_id = p.persistence_id AND j.deleted = 0
                      AND j.sequence_number > COALESCE((SELECT MAX(s.sequence_number) FROM snapshot s WHERE s.persistence_id = p.persistence_id), 0))
            FROM (SELECT persistence_id FROM journal UNION SELECT persistence_id FROM snapshot) p
            ORDER BY 3 DESC, 4 DESC LIMIT 8
            """;
        using var reader = command.ExecuteReader();
        Console.WriteLine("the store at the kill (largest entities): snapshot at sequence, snapshot bytes, events to replay behind it");
        while (reader.Read())
            Console.WriteLine($"  {reader.GetString(0),-40} at {reader.GetInt64(1),9}  {reader.GetInt64(2) / 1048576.0,7:F2} MiB  replays {reader.GetInt64(3),8:N0}");
        var file = new FileInfo(database).Length + (File.Exists(database + "-wal") ? new FileInfo(database + "-wal").Length : 0);
        Console.WriteLine($"  database {file / 1048576.0:F1} MiB with its WAL");
    }

    private static string Scalar(string database, string sql)
    {
        using var connection = new SqliteConnection($"Data Source={database}");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        return Convert.ToString(command.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture) ?? "";
    }
}
