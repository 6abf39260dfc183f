using Akka.Actor;
using Akka.Cluster.Hosting;
using Akka.Cluster.Sharding;
using Akka.Configuration;
using Akka.Hosting;
using IommuActors.Core.Sharding;
using IommuActors.Core.Supervision;
using IommuActors.Fd;
using IommuActors.Hardware;
using IommuActors.Hardware.Platform;
using IommuActors.Ioasid;
using IommuActors.Notifier;

namespace IommuActors.Host;

// ActorRegistry keys of the subsystem's regions and singletons (a singleton's key answers its proxy).

/// <summary>The IOMMU unit shard region (entity id: the unit's name).</summary>
public sealed class UnitRegion;

/// <summary>The actor that answers what the emulated machine is made of.</summary>
public sealed class PlatformRegistryKey;

/// <summary>The shard region of open files: iommufd contexts, device cdevs, fault queues.</summary>
public sealed class FileRegion;

/// <summary>The DMA ownership registry (devices and groups bound to iommufd contexts).</summary>
public sealed class OwnershipKey;

/// <summary>The system PASID space.</summary>
public sealed class PasidSpaceKey;

/// <summary>The PASID set shard region (entity id: "pasid-set-&lt;vm&gt;").</summary>
public sealed class PasidSetRegion;

/// <summary>The box's locked-memory accounts (one ledger per user and per process, RLIMIT_MEMLOCK each).</summary>
public sealed class AccountsKey;

/// <summary>The IOASID notifier bus.</summary>
public sealed class NotifierBusKey;

/// <summary>The IOMMU-driver subscriber of the notifier.</summary>
public sealed class IommuDriverKey;

/// <summary>The notifier's node actor for the per-VM KVM and VDCM subscribers.</summary>
public sealed class VmSubscribersKey;

/// <summary>The subsystem's sharded entities and singletons, registered with Akka.Hosting in dependency order.</summary>
public static class Regions
{
    /// <summary>A singleton that stops (a journal write failed) comes back after a backoff instead of staying dead.</summary>
    private static Props Kept(Props singleton, string name) => RestartWithBackoff.Props(singleton, name);

    public static AkkaConfigurationBuilder WithSubsystem(this AkkaConfigurationBuilder akka, Config config,
        PlatformSpec platform, int snapshotFloor, FdSettings? files = null)
    {
        files ??= FdSettings.Default;
        var shards = new ShardOptions { StateStoreMode = StateStoreMode.DData };
        var ioasid = IoasidModule.LoadSettings(config);
        return akka
            .WithShardRegion<UnitRegion>(HardwareModule.ShardRegion,
                HardwareModule.UnitProps(platform, snapshotFloor), new EntityMessageExtractor(), shards)
            .WithActors((system, registry) =>
                registry.Register<PlatformRegistryKey>(system.ActorOf(PlatformActor.Props(platform), "platform")))
            .WithSingleton<PasidSpaceKey>(IoasidModule.SpaceSingleton, Kept(IoasidModule.SpaceProps(ioasid), IoasidModule.SpaceSingleton), createProxyToo: true)
            .WithSingleton<NotifierBusKey>(NotifierModule.BusSingleton,
                Kept(NotifierModule.BusProps(ioasid, ActorRefs.Nobody), NotifierModule.BusSingleton), createProxyToo: true)
            .WithShardRegion<PasidSetRegion>(IoasidModule.SetShardRegion,
                (_, registry) => IoasidModule.SetProps(ioasid, registry.Get<PasidSpaceKey>(), registry.Get<NotifierBusKey>()),
                new EntityMessageExtractor(), shards)
            .WithActors((system, registry) => system.ActorOf(IoasidModule.SetWakerProps(registry.Get<PasidSpaceKey>(), registry.Get<PasidSetRegion>()), IoasidModule.SetWaker))
            .WithSingleton<IommuDriverKey>(NotifierModule.DriverSingleton, (_, registry, _) => Kept(NotifierModule.DriverProps(
                registry.Get<PasidSetRegion>(), registry.Get<PasidSpaceKey>(), registry.Get<NotifierBusKey>(),
                registry.Get<UnitRegion>(), platform), NotifierModule.DriverSingleton), createProxyToo: true)
            .WithActors((system, registry) => registry.Register<VmSubscribersKey>(system.ActorOf(
                NotifierModule.VmSubscribersProps(registry.Get<PasidSetRegion>(), registry.Get<NotifierBusKey>()), NotifierModule.VmSubscribers)))
            .WithSingleton<OwnershipKey>(FdModule.OwnershipName, Kept(FdModule.OwnershipProps(), FdModule.OwnershipName), createProxyToo: true)
            .WithSingleton<AccountsKey>(FdModule.AccountsName, Kept(FdModule.AccountsProps(files), FdModule.AccountsName), createProxyToo: true)
            .WithShardRegion<FileRegion>(FdModule.ShardRegion,
                (_, registry) => FdModule.FileProps(platform, registry.Get<UnitRegion>(),
                    () => registry.Get<FileRegion>(), registry.Get<OwnershipKey>(), files,
                    sets: registry.Get<PasidSetRegion>(), subscribers: registry.Get<VmSubscribersKey>(), accounts: registry.Get<AccountsKey>()),
                new EntityMessageExtractor(), shards);
    }
}
