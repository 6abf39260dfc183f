using Akka.Actor;
using Akka.Configuration;
using Akka.TestKit.Xunit2;
using IommuActors.Hardware;
using IommuActors.Hardware.Platform;
using IommuActors.TestSupport;
using Xunit;

namespace IommuActors.Hardware.Tests;

public sealed class PlatformActorSpecs() : TestKit(SpecConfig.InMemory)
{
    [Fact]
    public void GetPlatform_lists_every_unit_and_device_of_the_box()
    {
        var box = HardwareModule.LoadPlatform(Config.Empty);
        Sys.ActorOf(PlatformActor.Props(box)).Tell(new PlatformProtocol.GetPlatform());
        ExpectMsg<PlatformProtocol.PlatformReply>(r =>
            r.Platform.Units.Select(u => u.Name).SequenceEqual(new[] { "dmar0", "dmar1", "mock0" })
            && r.Platform.Devices.Select(d => d.Cdev).SequenceEqual(Enumerable.Range(0, 8).Select(i => $"vfio{i}")));
    }
}
