using System.Diagnostics;
using Akka.Actor;
using Akka.Configuration;
using IommuActors.Hardware;
using IommuActors.Hardware.Units;
using static IommuActors.Hardware.Units.UnitProtocol;

namespace IommuActors.Bench;

/// <summary>Translations per second through one unit actor over 100,000 mapped 4 KiB pages; IOTLB hit vs miss.</summary>
public sealed class HardwareBench : IBench
{
    private const string U = "dmar0";
    private const string Dev = "0000:00:14.0";
    private const int Pages = 100_000;
    private const int Window = 2_000;

    public string Name => "hardware";
    public string Description => "DMA translations/s through one unit actor (100,000 4 KiB pages), IOTLB hit vs miss";

    public async Task RunAsync(string[] args)
    {
        var platform = HardwareModule.LoadPlatform(Config.Empty);
        using var system = BenchSystem.InMemory("bench");
        var unit = system.ActorOf(HardwareModule.UnitProps(platform)(U));
        var timeout = TimeSpan.FromSeconds(60);
        var domain = (await unit.Ask<DomainAllocatedReply>(new AllocateDomain(U, DomainKind.Paging, 0, false, false, []), timeout)).DomainId;
        // The user address is 4 KiB but not 2 MiB aligned, so every leaf is a 4 KiB page.
        await unit.Ask<Done>(new MapRange(U, domain, 0, (ulong)Pages * 4096, 0x7f00_0000_1000, Access.ReadWrite), timeout);
        await unit.Ask<Done>(new AttachDevice(U, Dev, NoPasid, domain), timeout);

        for (var round = 1; round <= 3; round++)
        {
            await unit.Ask<Invalidated>(new Invalidate(U, InvalidateScope.All, 0, 0, 0, NoPasid), timeout);
            var miss = await Sweep(unit, timeout);
            var hit = await Sweep(unit, timeout);
            Console.WriteLine($"actor round {round}: miss sweep {Pages / miss.TotalSeconds,12:N0} translations/s   hit sweep {Pages / hit.TotalSeconds,12:N0} translations/s");
        }
        var info = await unit.Ask<UnitInfo>(new GetUnitInfo(U), timeout);
        Console.WriteLine($"IOTLB entries {info.IotlbEntries:N0}, hits {info.IotlbHits:N0}, misses {info.IotlbMisses:N0}");

        // The walk alone, without messaging: cost per translation on a miss and on a hit.
        var state = new UnitState(platform.Unit(U), platform.DevicesOf(U).ToList());
        state.Apply(new DomainAllocated(1, DomainKind.Paging, 0, false, false, []));
        state.Apply(new RangeMapped(1, 0, (ulong)Pages * 4096, 0x7f00_0000_1000, Access.ReadWrite));
        state.Apply(new DeviceAttached(Dev, NoPasid, 1));
        for (var round = 1; round <= 3; round++)
        {
            state.Iotlb.InvalidateAll();
            var missNs = Walk(state);
            var hitNs = Walk(state);
            Console.WriteLine($"walk round {round}: miss {missNs,8:N1} ns/translation   hit {hitNs,8:N1} ns/translation");
        }
        await system.Terminate();
    }

    private static async Task<TimeSpan> Sweep(IActorRef unit, TimeSpan timeout)
    {
        var watch = Stopwatch.StartNew();
        for (var start = 0; start < Pages; start += Window)
        {
            var batch = Enumerable.Range(start, Math.Min(Window, Pages - start))
                .Select(p => unit.Ask<DmaCompleted>(new Dma(U, Dev, NoPasid, (ulong)p * 4096 + 64, 64, DmaDirection.Read), timeout));
            await Task.WhenAll(batch);
        }
        return watch.Elapsed;
    }

    private static double Walk(UnitState state)
    {
        var watch = Stopwatch.StartNew();
        for (var p = 0; p < Pages; p++)
            if (state.Translate(Dev, NoPasid, (ulong)p * 4096 + 64, 64, DmaDirection.Read).Fault is not null)
                throw new InvalidOperationException($"page {p} did not translate");
        return watch.Elapsed.TotalNanoseconds / Pages;
    }
}
