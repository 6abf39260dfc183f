using System.Diagnostics;
using Akka.Actor;
using Akka.Configuration;
using IommuActors.Hardware;
using IommuActors.Hardware.Units;
using static IommuActors.Hardware.Units.UnitProtocol;

namespace IommuActors.Bench;

/// <summary>
/// The unit's side of a VM exit alone: one unit actor holding a context entry of one device for
/// each of N PASIDs, then N DetachPasid (what the IOMMU-driver subscriber sends per FREE) sent at
/// once, until the last answer; the unit left empty.
/// </summary>
public sealed class PasidTeardownBench : IBench
{
    private const string U = "dmar0";
    private const string Gpu = "0000:00:02.0";

    public string Name => "pasid-teardown";
    public string Description => "DetachPasid of N PASIDs (default 10,000) through one unit actor holding a context entry for each (args: N)";

    public async Task RunAsync(string[] args)
    {
        var count = args.Length > 0 ? int.Parse(args[0]) : 10_000;
        var platform = HardwareModule.LoadPlatform(Config.Empty);
        using var system = BenchSystem.InMemory("bench");
        // Snapshots would copy every entry each 1,000 events: what is measured is the teardown.
        var unit = system.ActorOf(HardwareModule.UnitProps(platform, snapshotFloor: int.MaxValue)(U));
        var timeout = TimeSpan.FromSeconds(120);
        var domain = (await unit.Ask<DomainAllocatedReply>(new AllocateDomain(U, DomainKind.Paging, 0, false, false, []), timeout)).DomainId;
        await Task.WhenAll(Enumerable.Range(1, count).Select(p => unit.Ask<Done>(new AttachDevice(U, Gpu, p, domain), timeout)));

        var cpuBefore = Process.GetCurrentProcess().TotalProcessorTime;
        var clock = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(1, count).Select(p => unit.Ask<PasidDetached>(new DetachPasid(U, p, []), timeout)));
        clock.Stop();
        var cpu = Process.GetCurrentProcess().TotalProcessorTime - cpuBefore;
        var info = await unit.Ask<UnitInfo>(new GetUnitInfo(U), timeout);
        if (info.ContextEntries != 0)
            throw new InvalidOperationException($"{info.ContextEntries} context entries left in {U}");
        Console.WriteLine($"pasid-teardown: {count} DetachPasid through {U} holding a context entry per PASID in {clock.Elapsed.TotalMilliseconds:F0} ms " +
                          $"({count / clock.Elapsed.TotalSeconds:F0}/s, {cpu.TotalMilliseconds:F0} ms of CPU), the unit empty afterwards");
        await system.Terminate();
    }
}
