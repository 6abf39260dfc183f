using IommuActors.Core.Messaging;
using IommuActors.Ioasid.Pasid;

namespace IommuActors.Notifier.Bus;

/// <summary>Notifier priority, highest first: vCPUs stop before IOMMU contexts go, and those before devices.</summary>
public enum SubscriberPriority
{
    Cpu = 0,
    Iommu = 1,
    Device = 2,
}

public static class NotifierProtocol
{
    /// <summary>
    /// SetKey "" subscribes to every set (the IOMMU driver); otherwise to one set only. Subscribing again under the
    /// same name replaces the subscription and re-delivers whatever the bus still awaits from that subscriber.
    /// </summary>
    public sealed record Subscribe(Akka.Actor.IActorRef Subscriber, string Name, SubscriberPriority Priority, string SetKey) : IClusterMessage;
    public sealed record Subscribed(string Name) : IClusterMessage;

    /// <summary>From a VM's subscriber to its parent: subscribed, it hears the set's events from now on.</summary>
    public sealed record SubscriberListening(string SetKey, string Name) : IClusterMessage;

    public sealed record GetSubscriptions() : IClusterMessage;
    /// <summary>Subscriber names in delivery order (priority, then name).</summary>
    public sealed record Subscriptions(System.Collections.Immutable.ImmutableArray<string> Names) : IClusterMessage;

    /// <summary>An event delivered to one subscriber; it answers Acknowledge with the same id when its teardown is done.</summary>
    public sealed record Notify(long DeliveryId, IoasidEvent Event) : IClusterMessage;
    public sealed record Acknowledge(long DeliveryId) : IClusterMessage;

    /// <summary>Sent to the reporter when a subscriber does not acknowledge in time.</summary>
    public sealed record SubscriberUnresponsive(string Name, IoasidEvent Event) : IClusterMessage;

    internal sealed record DeliveryTimedOut(long DeliveryId);
}
