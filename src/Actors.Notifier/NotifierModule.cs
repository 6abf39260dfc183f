using Akka.Actor;
using IommuActors.Hardware.Platform;
using IommuActors.Ioasid;
using IommuActors.Notifier.Bus;
using IommuActors.Notifier.Driver;
using IommuActors.Notifier.Kvm;
using IommuActors.Notifier.Vdcm;

namespace IommuActors.Notifier;

/// <summary>
/// What the host needs to wire the IOASID notifier. The bus and the IOMMU driver are one each for the whole
/// cluster (the driver subscribes to every set under one name), so both are singletons:
/// <code>
/// akka.WithSingleton&lt;NotifierBusKey&gt;(NotifierModule.BusSingleton, NotifierModule.BusProps(ioasid, ActorRefs.Nobody))
///     // after the pasid-space singleton, the pasid-set region (IoasidModule) and the unit region (HardwareModule):
///     .WithSingleton&lt;IommuDriverKey&gt;(NotifierModule.DriverSingleton, (_, registry, _) =&gt; NotifierModule.DriverProps(
///         registry.Get&lt;PasidSetRegion&gt;(), registry.Get&lt;PasidSpaceKey&gt;(), registry.Get&lt;NotifierBusKey&gt;(),
///         registry.Get&lt;UnitRegion&gt;(), platform));
/// </code>
/// KVM and VDCM subscribers are per VM: whoever creates the VM's set starts them with <see cref="KvmProps"/> and
/// <see cref="VdcmProps"/>. Every subscriber subscribes itself once it has re-synchronised; its parent's default
/// supervision restarts it in place after a crash, and it backs off (<see cref="SubscriberBackoff"/>) before it
/// re-synchronises again.
/// </summary>
public static class NotifierModule
{
    public const string BusSingleton = "ioasid-notifier";
    public const string DriverSingleton = "iommu-driver";

    /// <param name="reporter">Told SubscriberUnresponsive when a subscriber misses the ack timeout.</param>
    public static Props BusProps(IoasidSettings settings, IActorRef reporter) => NotifierBus.Props(settings.AckTimeout, reporter);

    public static Props DriverProps(IActorRef sets, IActorRef space, IActorRef bus, IActorRef units, PlatformSpec platform) =>
        IommuDriverSubscriber.Props(sets, space, bus, units, platform.Devices.ToDictionary(d => d.Pci, d => d.Unit));

    public static Props KvmProps(string setKey, IActorRef sets, IActorRef bus) => KvmSubscriber.Props(setKey, sets, bus);

    public static Props VdcmProps(string setKey, IActorRef sets, IActorRef bus) => VdcmSubscriber.Props(setKey, sets, bus);
}
