using Akka.Actor;

namespace IommuActors.Notifier.Bus;

/// <summary>
/// The parent of one cluster-wide subscriber (the IOMMU driver): starts it, restarts it in place whatever it throws,
/// and forwards every message to it, so whoever holds this actor's reference (the singleton proxy) talks to the
/// subscriber. The subscriber subscribes to the bus under its own reference.
/// </summary>
public sealed class SubscriberSupervisor : ReceiveActor
{
    public static Props Props(Props subscriber, string name) =>
        Akka.Actor.Props.Create(() => new SubscriberSupervisor(subscriber, name));

    public SubscriberSupervisor(Props subscriber, string name)
    {
        var child = Context.ActorOf(subscriber, name);
        ReceiveAny(m => child.Forward(m));
    }

    protected override SupervisorStrategy SupervisorStrategy() =>
        new OneForOneStrategy(-1, Timeout.InfiniteTimeSpan, _ => Directive.Restart);
}
