using System.Diagnostics;
using Akka.Actor;
using Akka.Configuration;
using IommuActors.Hardware;
using IommuActors.Hardware.Units;
using IommuActors.Ioasid.Pasid;
using IommuActors.Notifier.Bus;
using IommuActors.Notifier.Driver;
using IommuActors.Notifier.Kvm;
using IommuActors.Notifier.Vdcm;
using static IommuActors.Ioasid.Pasid.PasidSetProtocol;
using static IommuActors.Ioasid.Pasid.PasidSpaceProtocol;

namespace IommuActors.Bench;

/// <summary>
/// VM exit of a set of N bound PASIDs with KVM, driver and VDCM subscribed, until every PASID is back in the space.
/// By default the units answer at once with nothing attached; with "real-units" the default platform's dmar0 unit
/// actor holds a context entry of one device for every PASID, which the driver's FREE teardown removes.
/// </summary>
public sealed class PasidBench : IBench
{
    public string Name => "pasid";
    public string Description => "free a set of 10,000 bound PASIDs with three subscribers until all acknowledged (args: count, then real-units for a real VT-d unit holding a context entry per PASID)";

    private const string Unit = "dmar0";
    private const string Device = "0000:00:02.0";

    private sealed class InstantUnits : ReceiveActor
    {
        public InstantUnits()
        {
            Receive<UnitProtocol.DetachPasid>(d => Sender.Tell(new UnitProtocol.PasidDetached(d.Unit, d.Pasid, d.Devices, 0)));
            Receive<UnitProtocol.Invalidate>(i => Sender.Tell(new UnitProtocol.Invalidated(i.Unit, 0)));
        }
    }

    public async Task RunAsync(string[] args)
    {
        var count = args.Length > 0 ? int.Parse(args[0]) : 10_000;
        var realUnits = args.Length > 1 && args[1] == "real-units";
        // The same VM exit of 1,000 PASIDs first, in a system of its own, so the figure is of compiled code (a host
        // that has seen one VM exit), not of the JIT's first pass over the SET_FREED handlers.
        await Measure(Math.Min(count, 1_000), realUnits, "warm-up: ");
        await Measure(count, realUnits, "");
    }

    private static async Task Measure(int count, bool realUnits, string label)
    {
        using var system = BenchSystem.InMemory("pasid-bench");
        const string key = "pasid-set-bench";
        var ask = TimeSpan.FromSeconds(60);
        var bus = system.ActorOf(NotifierBus.Props(TimeSpan.FromSeconds(30), ActorRefs.Nobody));
        var space = system.ActorOf(PasidSpaceActor.Props("bench", 1, PasidSpace.MaxPasid, count * 2));
        var set = system.ActorOf(PasidSetActor.Props(key, count, space, bus));
        var platform = HardwareModule.LoadPlatform(Config.Empty);
        var devices = realUnits
            ? platform.DevicesOf(Unit).ToDictionary(d => d.Pci, d => d.Unit)
            : Enumerable.Range(0, count).ToDictionary(i => $"dev{i}", _ => "u0");
        var units = realUnits
            ? system.ActorOf(HardwareModule.UnitProps(platform)(Unit))
            : system.ActorOf(Props.Create(() => new InstantUnits()));
        var driver = system.ActorOf(IommuDriverSubscriber.Props(set, space, bus, units, devices));
        var kvm = system.ActorOf(KvmSubscriber.Props(key, set, bus));
        var vdcm = system.ActorOf(VdcmSubscriber.Props(key, set, bus));
        while ((await bus.Ask<NotifierProtocol.Subscriptions>(new NotifierProtocol.GetSubscriptions(), ask)).Names.Length < 3)
            await Task.Delay(5);

        var allocs = Enumerable.Range(0, count).Select(_ => set.Ask<PasidAllocated>(new AllocPasid(key), ask)).ToList();
        var pasids = (await Task.WhenAll(allocs)).Select(a => a.Pasid).ToList();
        if (realUnits)
        {
            var domain = (await units.Ask<UnitProtocol.DomainAllocatedReply>(
                new UnitProtocol.AllocateDomain(Unit, DomainKind.Paging, 0, false, false, []), ask)).DomainId;
            await Task.WhenAll(pasids.Select(p => units.Ask<UnitProtocol.Done>(new UnitProtocol.AttachDevice(Unit, Device, p, domain), ask)));
        }
        var binds = pasids.Select((p, i) => driver.Ask<IommuDriverProtocol.DeviceBindResult>(
            new IommuDriverProtocol.BindDevice(key, p, i + 1, realUnits ? Device : $"dev{i}"), ask));
        await Task.WhenAll(binds);
        while ((await kvm.Ask<KvmProtocol.TranslationTable>(new KvmProtocol.GetTranslationTable(), ask)).GuestToHost.Count < count)
            await Task.Delay(5);

        var cpuBefore = Process.GetCurrentProcess().TotalProcessorTime;
        var clock = Stopwatch.StartNew();
        await set.Ask<SetFreed>(new FreeSet(key), ask);
        var inUse = -1;
        while (inUse != 0)
        {
            inUse = (await space.Ask<SpaceUse>(new GetSpaceUse(), ask)).InUse;
            if (inUse != 0)
                await Task.Delay(1);
        }
        clock.Stop();
        var cpu = Process.GetCurrentProcess().TotalProcessorTime - cpuBefore;
        if (realUnits)
        {
            var info = await units.Ask<UnitProtocol.UnitInfo>(new UnitProtocol.GetUnitInfo(Unit), ask);
            if (info.ContextEntries != 0)
                throw new InvalidOperationException($"{info.ContextEntries} context entries left in {Unit}");
        }
        Console.WriteLine($"{label}pasid: freed a set of {count} bound PASIDs (kvm, driver, vdcm subscribed{(realUnits ? "; a real unit with a context entry each" : "")}) in {clock.Elapsed.TotalMilliseconds:F0} ms " +
                          $"({count / clock.Elapsed.TotalSeconds:F0} PASIDs/s, {cpu.TotalMilliseconds:F0} ms of CPU), every PASID back in the space");
        await system.Terminate();
    }
}
