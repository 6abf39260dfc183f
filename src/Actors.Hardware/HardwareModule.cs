using Akka.Actor;
using Akka.Configuration;
using IommuActors.Core.Configuration;
using IommuActors.Hardware.Platform;
using IommuActors.Hardware.Units;

namespace IommuActors.Hardware;

/// <summary>What the host needs to wire the hardware layer.</summary>
public static class HardwareModule
{
    public const string ShardRegion = "unit";

    /// <summary>The default box from hocon/platform.conf unless the given config sets iommu.platform.</summary>
    public static PlatformSpec LoadPlatform(Config config) =>
        PlatformLoader.FromConfig(config.HasPath("iommu.platform") ? config : HoconFiles.Load(HoconFiles.Platform));

    /// <summary>Props of the unit entity named by the entity id.</summary>
    public static Func<string, Props> UnitProps(PlatformSpec platform, int snapshotFloor = 1000) => name =>
    {
        var spec = platform.Units.FirstOrDefault(u => u.Name == name)
            ?? throw new ArgumentException($"no IOMMU unit named '{name}' on this platform", nameof(name));
        return UnitActor.Props(spec, platform.Devices, snapshotFloor);
    };
}
