using System.Diagnostics;
using Akka.Actor;
using IommuActors.Core.Configuration;
using IommuActors.Core.Persistence;
using IommuActors.Domains.Ioas;
using IommuActors.Hardware.Platform;
using IommuActors.Hardware.Units;
using IommuActors.Ioasid.Pasid;
using Microsoft.Data.Sqlite;
using static IommuActors.Domains.Ioas.IoasProtocol;

namespace IommuActors.Bench;

/// <summary>
/// Issue 14, items 1, 2 and 4 on SQLite: the journal bytes of each hot event kind (read back from
/// the journal rows), the database size under a steady map+unmap load at a constant number of live
/// mappings (it must level off, not grow with the pairs), and the managed bytes per live mapping
/// of an IOAS and per mapped page of a unit page table (heap difference after full collections).
/// </summary>
public sealed class StorageBench : IBench
{
    private const ulong Page = 4096;
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(2);

    public string Name => "storage";
    public string Description => "journal bytes per hot event, DB size under steady map+unmap, managed bytes per mapping; args: [pairs=1000000] [live=100000]";

    public async Task RunAsync(string[] args)
    {
        var pairs = args.Length > 0 ? int.Parse(args[0]) : 1_000_000;
        var live = args.Length > 1 ? int.Parse(args[1]) : 100_000;
        var folder = Path.Combine(Path.GetTempPath(), "iommu-bench", $"storage-{Guid.NewGuid():N}");
        Directory.CreateDirectory(folder);
        Console.WriteLine($"SQLite files under {folder}; load: {File.ReadAllText("/proc/loadavg").Trim()}");

        var eventsFile = Path.Combine(folder, "events.db");
        await WriteHotEvents(StoreOptions.SqliteFile(eventsFile));
        PrintEventBytes(eventsFile);

        await SteadyLoad(StoreOptions.SqliteFile(Path.Combine(folder, "steady.db")), pairs, live);
        await UnitPageTableMemory(live);
    }

    private static ActorSystem SystemOn(StoreOptions store) => ActorSystem.Create("storage-bench", HoconFiles.Combine(
        Akka.Configuration.ConfigurationFactory.ParseString("akka.loglevel = WARNING"),
        PersistenceSetup.ConfigFor(store),
        HoconFiles.Load(HoconFiles.Base)));

    /// <summary>A thousand of each hot event kind, with snapshots off so every row stays to be measured.</summary>
    private static async Task WriteHotEvents(StoreOptions store)
    {
        const int count = 1_000;
        var system = SystemOn(store);
        try
        {
            var source = system.ActorOf(IoasActor.Props("1", ulong.MaxValue, int.MaxValue), "ioas-1");
            var destination = system.ActorOf(IoasActor.Props("2", ulong.MaxValue, int.MaxValue), "ioas-2");
            await InWindows(count, i => source.Ask<MapResult>(new MapRange("1", 0x7f12_3456_0000UL + (ulong)i * Page, Page,
                Protection.Read | Protection.Write, true, 0x1_0000_0000UL + (ulong)i * Page), Timeout));
            await InWindows(count, i => destination.Ask<CopyResult>(new CopyRange("2", source, 0x1_0000_0000UL + (ulong)i * Page, Page,
                Protection.Read, true, 0x2_0000_0000UL + (ulong)i * Page), Timeout));
            await InWindows(count, i => source.Ask<UnmapResult>(new UnmapRange("1", 0x1_0000_0000UL + (ulong)i * Page, Page), Timeout));

            var spec = new UnitSpec("dmar0", UnitKind.IntelVtd, 0x1000 | 0x200000 | 0x40000000, 48, 20, true, "vtd-s1",
                true, true, true, [], HwInfoTypes.IntelVtd, []);
            var unit = system.ActorOf(UnitActor.Props(spec, [], int.MaxValue), "unit-dmar0");
            var domain = (await unit.Ask<UnitProtocol.DomainAllocatedReply>(
                new UnitProtocol.AllocateDomain("dmar0", DomainKind.Paging, 0, false, false, []), Timeout)).DomainId;
            await InWindows(count, i => unit.Ask<object>(new UnitProtocol.MapRange("dmar0", domain, 0x1_0000_0000UL + (ulong)i * Page, Page,
                0x7f12_3456_0000UL + (ulong)i * Page, Access.ReadWrite), Timeout));
            await InWindows(count, i => unit.Ask<object>(new UnitProtocol.UnmapRange("dmar0", domain, 0x1_0000_0000UL + (ulong)i * Page, Page, true), Timeout));

            var bus = system.ActorOf(Props.Create(() => new Absorber()), "bus");
            var space = system.ActorOf(PasidSpaceActor.Props("bench", 1, (1 << 20) - 1, (1 << 20) - 1, int.MaxValue), "space");
            var key = PasidSetProtocol.KeyOf("vm1");
            var set = system.ActorOf(PasidSetActor.Props(key, 1 << 19, space, bus, int.MaxValue), "set");
            var pasids = new List<int>();
            for (var i = 0; i < count; i++)
                pasids.Add((await set.Ask<PasidSetProtocol.PasidAllocated>(new PasidSetProtocol.AllocPasid(key), Timeout)).Pasid);
            foreach (var pasid in pasids)
            {
                await set.Ask<PasidSetProtocol.PasidResult>(new PasidSetProtocol.BindPasid(key, pasid, pasid + 7, "kvm"), Timeout);
                await set.Ask<PasidSetProtocol.PasidResult>(new PasidSetProtocol.UnbindPasid(key, pasid, "kvm"), Timeout);
                await set.Ask<PasidSetProtocol.PasidResult>(new PasidSetProtocol.FreePasid(key, pasid), Timeout);
            }
        }
        finally
        {
            await system.Terminate();
        }
    }

    private static void PrintEventBytes(string file)
    {
        using var connection = new SqliteConnection($"Data Source={file}");
        connection.Open();
        using var command = connection.CreateCommand();
        // The event as the journal keeps it: payload and manifest; beside it the whole row's columns.
        command.CommandText = """
            SELECT substr(persistence_id, 1, instr(persistence_id || '-', '-') - 1), manifest, identifier, COUNT(*),
                   AVG(length(message) + length(coalesce(manifest, ''))), MAX(length(message) + length(coalesce(manifest, ''))),
                   AVG(length(message) + length(coalesce(manifest, '')) + length(persistence_id) + length(coalesce(writer_uuid, '')) + 4 * 8)
            FROM journal GROUP BY 1, 2, 3 ORDER BY 1, 2
            """;
        using var reader = command.ExecuteReader();
        Console.WriteLine("journal rows by kind (bytes: payload+manifest avg / max; whole row columns avg)");
        while (reader.Read())
            Console.WriteLine($"  {reader.GetString(0),-8} {(reader.IsDBNull(1) ? "" : reader.GetString(1)),-6} serializer {reader.GetInt64(2),4}  rows {reader.GetInt64(3),6}" +
                $"  event {reader.GetDouble(4),6:F1} / {reader.GetInt64(5),4}  row {reader.GetDouble(6),6:F1}");
    }

    private static async Task SteadyLoad(StoreOptions store, int pairs, int live)
    {
        var file = store.SqliteFile();
        var system = SystemOn(store);
        try
        {
            var floor = system.Settings.Config.GetInt("iommu.snapshot-floor");
            var before = ManagedBytes();
            var ioas = system.ActorOf(IoasActor.Props("steady", ulong.MaxValue, floor), "ioas-steady");
            var clock = Stopwatch.StartNew();
            await InWindows(live, i => ioas.Ask<MapResult>(new MapRange("steady", UserAddressOf(i), Page, Protection.Read | Protection.Write,
                true, IovaOf(i)), Timeout));
            // Settle: the last snapshot written and what lies behind it deleted before the figures.
            await ioas.Ask<Mappings>(new GetMappings("steady"), Timeout);
            var perMapping = (ManagedBytes() - before) / (double)live;
            Console.WriteLine($"{live} live mappings in {clock.Elapsed.TotalSeconds:F1} s; managed heap per live mapping " +
                $"(IOAS actor, its table and the journal's buffers) {perMapping:F0} bytes");
            Console.WriteLine($"database at start: {Size(file)}");
            clock.Restart();
            var step = Math.Max(1, pairs / 10);
            for (var done = 0; done < pairs;)
            {
                var chunk = Math.Min(step, pairs - done);
                var from = done;
                // Each pair unmaps the oldest mapping and maps a new one: always `live` mappings.
                await InWindows(chunk, k => Pair(ioas, from + k, live));
                done += chunk;
                Console.WriteLine($"  {done,9} pairs  {done / clock.Elapsed.TotalSeconds,7:F0} pairs/s  database {Size(file)}  load {File.ReadAllText("/proc/loadavg").Split(' ')[0]}");
            }
            var mappings = await ioas.Ask<Mappings>(new GetMappings("steady"), Timeout);
            Console.WriteLine($"database at end: {Size(file)} ({mappings.Areas.Length} live mappings)");
            PrintTables(file);
        }
        finally
        {
            await system.Terminate();
        }
    }

    private static async Task<UnmapResult> Pair(IActorRef ioas, int i, int live)
    {
        var unmapped = await ioas.Ask<UnmapResult>(new UnmapRange("steady", IovaOf(i), Page), Timeout);
        Check(unmapped.Errno);
        Check((await ioas.Ask<MapResult>(new MapRange("steady", UserAddressOf(live + i), Page, Protection.Read | Protection.Write,
            true, IovaOf(live + i)), Timeout)).Errno);
        return unmapped;
    }

    /// <summary>Managed bytes per mapped 4 KiB page of a unit's page table (the plain class, no actor).</summary>
    private static Task UnitPageTableMemory(int pages)
    {
        var before = ManagedBytes();
        var table = new PageTable(0x1000 | 0x200000 | 0x40000000);
        for (var i = 0; i < pages; i++)
            table.Map(0x1_0000_0000UL + (ulong)i * 2 * Page, Page, 0x7f00_0000_0000UL + (ulong)i * 2 * Page, Access.ReadWrite);
        var perPage = (ManagedBytes() - before) / (double)pages;
        Console.WriteLine($"unit page table: {table.LeafCount} mapped pages, managed heap per mapped page {perPage:F0} bytes");
        GC.KeepAlive(table);
        return Task.CompletedTask;
    }

    private static ulong IovaOf(int i) => 0x1_0000_0000UL + (ulong)i * 2 * Page;

    private static ulong UserAddressOf(int i) => 0x7f00_0000_0000UL + (ulong)i * Page;

    internal static long ManagedBytes()
    {
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
        return GC.GetTotalMemory(forceFullCollection: true);
    }

    private static string Size(string file)
    {
        long Of(string f) => File.Exists(f) ? new FileInfo(f).Length : 0;
        return $"{(Of(file) + Of(file + "-wal")) / 1024.0 / 1024.0:F1} MiB (file {Of(file) / 1024.0 / 1024.0:F1}, WAL {Of(file + "-wal") / 1024.0 / 1024.0:F1})";
    }

    private static void PrintTables(string file)
    {
        using var connection = new SqliteConnection($"Data Source={file}");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = """
            SELECT (SELECT COUNT(*) FROM journal), (SELECT COUNT(*) FROM journal WHERE deleted = 0),
                   (SELECT COUNT(*) FROM snapshot), (SELECT COALESCE(SUM(length(snapshot)), 0) FROM snapshot)
            """;
        using var reader = command.ExecuteReader();
        reader.Read();
        Console.WriteLine($"journal rows {reader.GetInt64(0)} (not deleted {reader.GetInt64(1)}), snapshots {reader.GetInt64(2)} ({reader.GetInt64(3) / 1024.0 / 1024.0:F1} MiB)");
    }

    /// <summary>Runs n asks with at most a window in flight, so the journal takes them in batches.</summary>
    private static async Task InWindows<T>(int n, Func<int, Task<T>> ask, int window = 256)
    {
        for (var start = 0; start < n; start += window)
            await Task.WhenAll(Enumerable.Range(start, Math.Min(window, n - start)).Select(ask));
    }

    private static void Check(int errno)
    {
        if (errno != 0)
            throw new InvalidOperationException($"unexpected errno {errno}");
    }

    private sealed class Absorber : ReceiveActor
    {
        public Absorber() => ReceiveAny(_ => { });
    }
}
