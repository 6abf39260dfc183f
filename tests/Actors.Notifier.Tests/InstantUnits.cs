using System.Collections.Immutable;
using Akka.Actor;
using Akka.TestKit;
using static IommuActors.Hardware.Units.UnitProtocol;
using static IommuActors.Notifier.Bus.NotifierProtocol;
using Xunit;

namespace IommuActors.Notifier.Tests;

/// <summary>A probe standing in for the IOMMU units: every DetachPasid and Invalidate is answered at once, nothing attached or cached.</summary>
public static class InstantUnits
{
    /// <summary>dev0..dev9 behind unit u0.</summary>
    public static readonly IReadOnlyDictionary<string, string> Devices =
        Enumerable.Range(0, 10).ToDictionary(i => $"dev{i}", _ => "u0");

    public static TestProbe Answering(TestProbe units)
    {
        units.SetAutoPilot(new DelegateAutoPilot((sender, msg) =>
        {
            if (msg is DetachPasid d)
                sender.Tell(new PasidDetached(d.Unit, d.Pasid, d.Devices.IsDefault ? [] : d.Devices, 0));
            else if (msg is Invalidate i)
                sender.Tell(new Invalidated(i.Unit, 0));
            return AutoPilot.KeepRunning;
        }));
        return units;
    }

    /// <summary>Waits until the bus has exactly these subscribers (they subscribe themselves once re-synchronised).</summary>
    public static void AwaitSubscribed(this Akka.TestKit.Xunit2.TestKit kit, IActorRef bus, params string[] names) =>
        kit.AwaitAssert(() =>
        {
            var probe = kit.CreateTestProbe();
            bus.Tell(new GetSubscriptions(), probe.Ref);
            Assert.Equal(names, probe.ExpectMsg<Subscriptions>().Names.ToArray());
        });
}
