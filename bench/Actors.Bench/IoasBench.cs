using System.Diagnostics;
using Akka.Actor;
using IommuActors.Core.Persistence;
using IommuActors.Uapi;
using IommuActors.Domains.Ioas;
using IommuActors.Domains.Pages;
using static IommuActors.Domains.Ioas.IoasProtocol;

namespace IommuActors.Bench;

/// <summary>Map+unmap of 4 KiB with many live mappings: bare io_pagetable, IOAS actor in memory, IOAS actor on SQLite.</summary>
public sealed class IoasBench : IBench
{
    private const ulong Page = 4096;

    public string Name => "ioas";
    public string Description => "map+unmap of 4 KiB at N live mappings (default 100000): bare IoPageTable, actor in-memory, actor on SQLite; args: [live] [rounds]";

    public async Task RunAsync(string[] args)
    {
        var live = args.Length > 0 ? int.Parse(args[0]) : 100_000;
        var rounds = args.Length > 1 ? int.Parse(args[1]) : 5_000;
        Console.WriteLine($"live mappings: {live}, map+unmap rounds: {rounds}");

        var table = new IoPageTable(new LockedMemoryAccount(ulong.MaxValue));
        for (var i = 0; i < live; i++)
            Check(table.Map($"p{i}", (ulong)i * Page, Page, Protection.Read, (ulong)i * 2 * Page, out _));
        var clock = Stopwatch.StartNew();
        for (var i = 0; i < rounds; i++)
        {
            var iova = (ulong)(i % live) * 2 * Page + Page;
            Check(table.Map($"b{i}", iova, Page, Protection.Read, iova, out _));
            Check(table.Unmap(iova, Page, out _));
        }
        Report("bare IoPageTable", clock.Elapsed, rounds);

        await RunActor("actor, in-memory journal", StoreOptions.InMemory, live, rounds);
        var folder = Path.Combine(Path.GetTempPath(), "iommu-bench", $"ioas-{Guid.NewGuid():N}");
        Directory.CreateDirectory(folder);
        await RunActor("actor, SQLite journal", StoreOptions.SqliteFile(Path.Combine(folder, "journal.db")), live, rounds);
    }

    private static async Task RunActor(string label, StoreOptions store, int live, int rounds)
    {
        var config = Akka.Configuration.ConfigurationFactory.ParseString("akka.loglevel = WARNING")
            .WithFallback(PersistenceSetup.ConfigFor(store))
            .WithFallback(IommuActors.Core.Configuration.HoconFiles.Load(IommuActors.Core.Configuration.HoconFiles.Base));
        var system = ActorSystem.Create("ioas-bench", config);
        try
        {
            var ioas = system.ActorOf(IoasActor.Props("bench", ulong.MaxValue, system.Settings.Config.GetInt("iommu.snapshot-floor")));
            // Populate in windows so the journal never holds more than a bounded batch in flight.
            const int window = 500;
            for (var start = 0; start < live; start += window)
            {
                var batch = Enumerable.Range(start, Math.Min(window, live - start)).Select(i =>
                    ioas.Ask<MapResult>(new MapRange("bench", (ulong)i * Page, Page, Protection.Read, true, (ulong)i * 2 * Page), TimeSpan.FromMinutes(1)));
                foreach (var r in await Task.WhenAll(batch))
                    Check(r.Errno);
            }
            var clock = Stopwatch.StartNew();
            for (var i = 0; i < rounds; i++)
            {
                var iova = (ulong)(i % live) * 2 * Page + Page;
                Check((await ioas.Ask<MapResult>(new MapRange("bench", iova, Page, Protection.Read, true, iova))).Errno);
                Check((await ioas.Ask<UnmapResult>(new UnmapRange("bench", iova, Page))).Errno);
            }
            Report(label, clock.Elapsed, rounds);
        }
        finally
        {
            await system.Terminate();
        }
    }

    private static void Check(int errno)
    {
        if (errno != 0)
            throw new InvalidOperationException($"unexpected errno {errno}");
    }

    private static void Report(string label, TimeSpan elapsed, int rounds) =>
        Console.WriteLine($"{label,-28} {elapsed.TotalMilliseconds * 1000 / rounds,10:F1} us per map+unmap  ({rounds / elapsed.TotalSeconds,10:F0} pairs/s)");
}
