using System.Diagnostics;
using Akka.Actor;
using IommuActors.Client;
using IommuActors.Client.Measurements;
using IommuActors.Core.Configuration;
using IommuActors.Core.Persistence;
using IommuActors.Domains.Ioas;
using IommuActors.Hardware.Units;
using IommuActors.Host.FrontDoor;
using IommuActors.Uapi;
using IommuActors.Uapi.Structs;
using static IommuActors.Domains.Ioas.IoasProtocol;

namespace IommuActors.Bench;

/// <summary>
/// Issue 14 item 4: managed bytes per live IOAS mapping, per mapped page of a unit's page table,
/// per mapping of a whole host with a device attached (IOAS, pins, account and unit), and per idle
/// iommufd context; each the managed heap's difference over N objects after full collections,
/// with the process's resident memory beside it.
/// </summary>
public sealed class MemoryBench : IBench
{
    private const ulong Page = 4096;
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(2);

    public string Name => "memory";
    public string Description => "managed bytes per IOAS mapping, per unit page, per mapping of a host with a device, per idle context; args: [mappings=200000] [contexts=2000]";

    public async Task RunAsync(string[] args)
    {
        var n = args.Length > 0 ? int.Parse(args[0]) : 200_000;
        var contexts = args.Length > 1 ? int.Parse(args[1]) : 2_000;
        Console.WriteLine($"load: {File.ReadAllText("/proc/loadavg").Trim()}");
        await IoasMappings(n);
        PageTablePages(n);
        await HostMappings(n);
        await IdleContexts(contexts);
    }

    private static string Resident() => $"resident {Process.GetCurrentProcess().WorkingSet64 / 1048576.0:F0} MiB";

    /// <summary>An IOAS actor on SQLite with no domain: its table, its actor and what the journal keeps for it.</summary>
    private static async Task IoasMappings(int n)
    {
        var folder = MeasuredHost.NewWorkDir("memory-ioas");
        var system = ActorSystem.Create("memory-bench", HoconFiles.Combine(
            Akka.Configuration.ConfigurationFactory.ParseString("akka.loglevel = WARNING"),
            PersistenceSetup.ConfigFor(StoreOptions.SqliteFile(Path.Combine(folder, "iommu.db"))),
            HoconFiles.Load(HoconFiles.Base)));
        try
        {
            var floor = system.Settings.Config.GetInt("iommu.snapshot-floor");
            var ioas = system.ActorOf(IoasActor.Props("m", ulong.MaxValue, floor), "ioas-m");
            await ioas.Ask<Mappings>(new GetMappings("m"), Timeout);
            var before = StorageBench.ManagedBytes();
            for (var start = 0; start < n; start += 256)
                await Task.WhenAll(Enumerable.Range(start, Math.Min(256, n - start)).Select(i =>
                    ioas.Ask<MapResult>(new MapRange("m", 0x7f00_0000_0000UL + (ulong)i * Page, Page, Protection.Read | Protection.Write,
                        true, 0x1_0000_0000UL + (ulong)i * 2 * Page), Timeout)));
            // GetMappings would build a list of n views: ask for something small to settle.
            await ioas.Ask<IovaRanges>(new GetIovaRanges("m"), Timeout);
            var per = (StorageBench.ManagedBytes() - before) / (double)n;
            Console.WriteLine($"IOAS actor, {n:N0} mappings of 4 KiB, no domain: {per:F0} bytes per mapping; {Resident()}");
            GC.KeepAlive(ioas);
        }
        finally
        {
            await system.Terminate();
            Directory.Delete(folder, recursive: true);
        }
    }

    /// <summary>The unit's page table alone: every page mapped, then every other page.</summary>
    private static void PageTablePages(int n)
    {
        foreach (var (label, stride) in new[] { ("contiguous pages", 1UL), ("every other page", 2UL) })
        {
            var before = StorageBench.ManagedBytes();
            var table = new PageTable(0x1000 | 0x200000 | 0x40000000);
            for (var i = 0; i < n; i++)
                table.Map(0x1_0000_0000UL + (ulong)i * stride * Page, Page, 0x7f00_0000_0000UL + (ulong)i * stride * Page, Access.ReadWrite);
            var per = (StorageBench.ManagedBytes() - before) / (double)n;
            Console.WriteLine($"unit page table, {table.LeafCount:N0} leaves of 4 KiB, {label}: {per:F1} bytes per page");
            GC.KeepAlive(table);
        }
    }

    /// <summary>A whole host in this process with a device attached to the IOAS: every mapping is pinned, charged and in the unit.</summary>
    private static async Task HostMappings(int n)
    {
        var workDir = MeasuredHost.NewWorkDir("memory-host");
        await using (var host = await MeasuredHost.StartAsync(workDir, "sqlite"))
        {
            await using var client = await IommuClient.ConnectAsync(host.SocketPath, new IommuClientOptions { ClientName = "memory-bench" });
            var iommufd = await client.OpenAsync("/dev/iommu");
            var ioas = (await client.IoctlAsync(iommufd, Ioctls.IOMMU_IOAS_ALLOC, new IommuIoasAlloc(12, 0, 0))).OutIoasId;
            var device = await client.OpenAsync("/dev/vfio/devices/vfio0");
            await client.IoctlAsync(device, Ioctls.VFIO_DEVICE_BIND_IOMMUFD, new VfioDeviceBindIommufd(16, 0, iommufd, 0, 0));
            await client.IoctlAsync(device, Ioctls.VFIO_DEVICE_ATTACH_IOMMUFD_PT, new VfioDeviceAttachIommufdPt(16, 0, ioas, 0));
            // One map first, so what the first map of an IOAS creates is not counted per mapping.
            await PipelinedMaps.MapEveryOtherPageAsync(client, iommufd, ioas, 1, 0x8000_0000, 1);
            var before = StorageBench.ManagedBytes();
            await PipelinedMaps.MapEveryOtherPageAsync(client, iommufd, ioas, n, 0x1_0000_0000, 256);
            var per = (StorageBench.ManagedBytes() - before) / (double)n;
            Console.WriteLine($"host with a device attached, {n:N0} mappings of 4 KiB: {per:F0} bytes per mapping " +
                $"(IOAS, pins, account, unit page table); {Resident()}");
        }
        Directory.Delete(workDir, recursive: true);
    }

    /// <summary>Idle /dev/iommu contexts opened by one client of a host in this process (the client's fd entries included).</summary>
    private static async Task IdleContexts(int count)
    {
        var workDir = MeasuredHost.NewWorkDir("memory-contexts");
        await using (var host = await MeasuredHost.StartAsync(workDir, "sqlite"))
        {
            await using var client = await IommuClient.ConnectAsync(host.SocketPath, new IommuClientOptions { ClientName = "memory-bench" });
            await client.CloseAsync(await client.OpenAsync("/dev/iommu"));
            var before = StorageBench.ManagedBytes();
            var fds = new List<int>();
            for (var i = 0; i < count; i++)
                fds.Add(await client.OpenAsync("/dev/iommu"));
            var per = (StorageBench.ManagedBytes() - before) / (double)count;
            Console.WriteLine($"{count:N0} idle iommufd contexts: {per:F0} bytes per context; {Resident()}");
            GC.KeepAlive(fds);
        }
        Directory.Delete(workDir, recursive: true);
    }
}
