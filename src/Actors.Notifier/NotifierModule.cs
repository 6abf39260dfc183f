using Akka.Actor;
using IommuActors.Hardware.Platform;
using IommuActors.Ioasid;
using IommuActors.Notifier.Bus;
using IommuActors.Notifier.Driver;
using IommuActors.Notifier.Vm;

namespace IommuActors.Notifier;

/// <summary>
/// What the host needs to wire the IOASID notifier; the notifier starts and supervises all of its subscribers.
/// The bus and the IOMMU driver are one each for the whole cluster (the driver subscribes to every set under one
/// name), so both are singletons; the per-VM KVM and VDCM subscribers live under one actor per node:
/// <code>
/// akka.WithSingleton&lt;NotifierBusKey&gt;(NotifierModule.BusSingleton, NotifierModule.BusProps(ioasid, ActorRefs.Nobody))
///     // after the pasid-space singleton, the pasid-set region (IoasidModule) and the unit region (HardwareModule):
///     .WithSingleton&lt;IommuDriverKey&gt;(NotifierModule.DriverSingleton, (_, registry, _) =&gt; NotifierModule.DriverProps(
///         registry.Get&lt;PasidSetRegion&gt;(), registry.Get&lt;PasidSpaceKey&gt;(), registry.Get&lt;NotifierBusKey&gt;(),
///         registry.Get&lt;UnitRegion&gt;(), platform))
///     .WithActors((system, registry) =&gt; registry.Register&lt;VmSubscribersKey&gt;(system.ActorOf(
///         NotifierModule.VmSubscribersProps(registry.Get&lt;PasidSetRegion&gt;(), registry.Get&lt;NotifierBusKey&gt;()), NotifierModule.VmSubscribers)));
/// </code>
/// Whoever creates a VM's set asks the node's <see cref="VmSubscribersActor"/> to start its subscribers
/// (StartVm) and stops them (StopVm) once the set is freed. Every subscriber subscribes itself once it has
/// re-synchronised; its parent restarts it in place after a crash, and it backs off (<see cref="SubscriberBackoff"/>)
/// before it re-synchronises again.
/// </summary>
public static class NotifierModule
{
    public const string BusSingleton = "ioasid-notifier";
    public const string DriverSingleton = "iommu-driver";
    public const string VmSubscribers = "pasid-subscribers";

    /// <param name="reporter">Told SubscriberUnresponsive when a subscriber misses the ack timeout (the bus logs it too).</param>
    public static Props BusProps(IoasidSettings settings, IActorRef reporter) => NotifierBus.Props(settings.AckTimeout, reporter);

    /// <summary>The driver under its supervisor, which forwards every message to it.</summary>
    public static Props DriverProps(IActorRef sets, IActorRef space, IActorRef bus, IActorRef units, PlatformSpec platform) =>
        SubscriberSupervisor.Props(IommuDriverSubscriber.Props(sets, space, bus, units, platform.Devices.ToDictionary(d => d.Pci, d => d.Unit)),
            IommuDriverSubscriber.Name);

    public static Props VmSubscribersProps(IActorRef sets, IActorRef bus) => VmSubscribersActor.Props(sets, bus);
}
