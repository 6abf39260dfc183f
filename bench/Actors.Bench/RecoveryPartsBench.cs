using System.Diagnostics;
using Akka.Actor;
using IommuActors.Core.Configuration;
using IommuActors.Core.Persistence;
using IommuActors.Domains.Ioas;
using IommuActors.Domains.Pages;
using IommuActors.Hardware;
using Microsoft.Data.Sqlite;

namespace IommuActors.Bench;

/// <summary>
/// Where the recovery time of issue 14 item 3 goes: on a store a "recovery --keep" run left, each
/// large entity (units, IOAS, locked-memory account) recovered alone in this process, one after
/// the other, timed from its start until it answers a small query, with the CPU time the process used
/// meanwhile (the wall time on a loaded machine is mostly waiting for a core).
/// </summary>
public sealed class RecoveryPartsBench : IBench
{
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(5);

    public string Name => "recovery-parts";
    public string Description => "each large entity of a kept recovery store recovered alone, timed to its first answer; args: FOLDER";

    public async Task RunAsync(string[] args)
    {
        var database = Path.Combine(args[0], "data", "iommu.db");
        Console.WriteLine($"load: {File.ReadAllText("/proc/loadavg").Trim()}");
        var ids = PersistenceIds(database);
        var system = ActorSystem.Create("recovery-parts", HoconFiles.Combine(
            Akka.Configuration.ConfigurationFactory.ParseString("akka.loglevel = WARNING"),
            PersistenceSetup.ConfigFor(StoreOptions.SqliteFile(database)),
            HoconFiles.Load(HoconFiles.Base)));
        try
        {
            var platform = HardwareModule.LoadPlatform(Akka.Configuration.Config.Empty);
            foreach (var id in ids)
            {
                var clock = Stopwatch.StartNew();
                var cpu = Process.GetCurrentProcess().TotalProcessorTime;
                if (id.StartsWith("unit-", StringComparison.Ordinal))
                {
                    var name = id["unit-".Length..];
                    var unit = system.ActorOf(HardwareModule.UnitProps(platform)(name));
                    await unit.Ask<object>(new Hardware.Units.UnitProtocol.GetUnitInfo(name), Timeout);
                }
                else if (id.StartsWith("ioas-", StringComparison.Ordinal))
                {
                    var name = id["ioas-".Length..];
                    var ioas = system.ActorOf(IoasActor.Props(name, ulong.MaxValue));
                    await ioas.Ask<IoasProtocol.IovaRanges>(new IoasProtocol.GetIovaRanges(name), Timeout);
                }
                else if (id.StartsWith("locked-memory-", StringComparison.Ordinal))
                {
                    var accounts = system.ActorOf(AccountActor.Props(id["locked-memory-".Length..], ulong.MaxValue));
                    await accounts.Ask<AccountProtocol.AccountView>(new AccountProtocol.GetAccount("any"), Timeout);
                }
                else
                    continue;
                var used = Process.GetCurrentProcess().TotalProcessorTime - cpu;
                Console.WriteLine($"  {id,-40} recovered and answering in {clock.Elapsed.TotalSeconds:F2} s, {used.TotalSeconds:F2} s of CPU; " +
                    $"managed heap {GC.GetTotalMemory(false) / 1048576.0:F0} MiB, {GC.CollectionCount(2)} full collections so far");
            }
        }
        finally
        {
            await system.Terminate();
        }
    }

    private static List<string> PersistenceIds(string database)
    {
        using var connection = new SqliteConnection($"Data Source={database}");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT persistence_id FROM journal UNION SELECT persistence_id FROM snapshot ORDER BY 1";
        using var reader = command.ExecuteReader();
        var ids = new List<string>();
        while (reader.Read())
            ids.Add(reader.GetString(0));
        return ids;
    }
}
