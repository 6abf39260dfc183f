using Akka.Actor;
using Akka.Configuration;
using IommuActors.Core.Configuration;
using IommuActors.Ioasid.Pasid;

namespace IommuActors.Ioasid;

/// <summary>
/// What the host needs to wire the PASID space and sets. The registration, with Akka.Cluster.Hosting
/// (the bus comes from NotifierModule, registered before the sets because they publish to it):
/// <code>
/// var ioasid = IoasidModule.LoadSettings(config);
/// akka.WithSingleton&lt;PasidSpaceKey&gt;(IoasidModule.SpaceSingleton, IoasidModule.SpaceProps(ioasid), createProxyToo: true)
///     .WithSingleton&lt;NotifierBusKey&gt;(NotifierModule.BusSingleton, NotifierModule.BusProps(ioasid, reporter: ActorRefs.Nobody))
///     .WithShardRegion&lt;PasidSetRegion&gt;(IoasidModule.SetShardRegion,
///         (_, registry) =&gt; IoasidModule.SetProps(ioasid, registry.Get&lt;PasidSpaceKey&gt;(), registry.Get&lt;NotifierBusKey&gt;()),
///         new EntityMessageExtractor(), new ShardOptions { StateStoreMode = StateStoreMode.DData });
/// </code>
/// and, once the region is up, the actor that wakes at host start the sets the space leases PASIDs to:
/// <code>
/// .WithActors((system, registry) =&gt; system.ActorOf(IoasidModule.SetWakerProps(registry.Get&lt;PasidSpaceKey&gt;(), registry.Get&lt;PasidSetRegion&gt;()), IoasidModule.SetWaker))
/// </code>
/// registry.Get of a singleton key answers its proxy. The entity id is the set key "pasid-set-&lt;vm&gt;"
/// (<see cref="PasidSetProtocol.KeyOf"/>), which every set message carries as EntityId and which is the
/// set's PersistenceId. The space is one cluster singleton whatever the node count (architecture rule 6).
/// </summary>
public static class IoasidModule
{
    public const string SetShardRegion = "pasid-set";
    public const string SpaceSingleton = "pasid-space";
    public const string SetWaker = "pasid-set-waker";

    /// <summary>The space's PersistenceId is "pasid-space-system".</summary>
    public const string SpaceId = "system";

    public const string HoconFile = "ioasid.conf";

    /// <summary>The given config's iommu-actors.ioasid over the defaults of hocon/ioasid.conf.</summary>
    public static IoasidSettings LoadSettings(Config config) => IoasidSettings.FromConfig(config, HoconFiles.Load(HoconFile));

    public static Props SpaceProps(IoasidSettings settings) =>
        PasidSpaceActor.Props(SpaceId, settings.FirstPasid, settings.LastPasid, settings.Capacity, settings.SnapshotFloor);

    /// <summary>Props of the set entity named by the entity id; a new set gets the default quota.</summary>
    public static Func<string, Props> SetProps(IoasidSettings settings, IActorRef space, IActorRef bus) => key =>
        PasidSetActor.Props(key, settings.DefaultSetQuota, space, bus, settings.SnapshotFloor);

    /// <summary>Wakes, at host start, every set the space leases PASIDs to, so FREEs in flight at a crash are finished.</summary>
    public static Props SetWakerProps(IActorRef space, IActorRef sets) => PasidSetWaker.Props(space, sets, TimeSpan.FromSeconds(5));
}
