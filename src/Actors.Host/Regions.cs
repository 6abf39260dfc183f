using Akka.Actor;
using Akka.Cluster.Hosting;
using Akka.Hosting;
using IommuActors.Core.Sharding;
using IommuActors.Hardware;
using IommuActors.Hardware.Platform;

namespace IommuActors.Host;

/// <summary>ActorRegistry key of the IOMMU unit shard region (entity id: the unit's name).</summary>
public sealed class UnitRegion;

/// <summary>ActorRegistry key of the actor that answers what the emulated machine is made of.</summary>
public sealed class PlatformRegistryKey;

/// <summary>The subsystem's sharded entities and singletons, registered with Akka.Hosting.</summary>
public static class Regions
{
    public static AkkaConfigurationBuilder WithSubsystem(this AkkaConfigurationBuilder akka, PlatformSpec platform,
        int snapshotEvery)
    {
        var shards = new ShardOptions { StateStoreMode = Akka.Cluster.Sharding.StateStoreMode.DData };
        return akka
            .WithShardRegion<UnitRegion>(HardwareModule.ShardRegion,
                HardwareModule.UnitProps(platform, snapshotEvery), new EntityMessageExtractor(), shards)
            .WithActors((system, registry) =>
                registry.Register<PlatformRegistryKey>(system.ActorOf(PlatformActor.Props(platform), "platform")));
    }
}
