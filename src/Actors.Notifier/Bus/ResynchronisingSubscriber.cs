using Akka.Actor;
using IommuActors.Ioasid.Pasid;
using static IommuActors.Ioasid.Pasid.PasidSetProtocol;
using static IommuActors.Notifier.Bus.NotifierProtocol;

namespace IommuActors.Notifier.Bus;

/// <summary>
/// The life cycle every IOASID subscriber shares. Its state is not journaled: on every start, first or after a
/// crash (the supervisor restarts it), it asks the sets what it holds, rebuilds from the answer, and only then
/// subscribes, so the bus re-delivers the events it was handling when it died. Until then requests wait in the
/// stash, and events and set answers addressed to the previous incarnation are dropped: the sets' answer
/// already counts what those requests did, and the bus delivers the events again.
/// </summary>
public abstract class ResynchronisingSubscriber : ReceiveActor, IWithUnboundedStash
{
    private readonly IActorRef _bus;
    private readonly string _name;
    private readonly SubscriberPriority _priority;

    protected ResynchronisingSubscriber(IActorRef bus, string name, SubscriberPriority priority, string setKey)
    {
        _bus = bus;
        _name = name;
        _priority = priority;
        SetKey = setKey;
    }

    public IStash Stash { get; set; } = null!;

    /// <summary>The set this subscriber listens to, or "" for every set.</summary>
    protected string SetKey { get; }

    // PostRestart calls PreStart: a restarted subscriber goes through the same re-synchronisation as a new one.
    protected override void PreStart()
    {
        Become(() =>
        {
            Resynchronising();
            Receive<Notify>(_ => { });
            Receive<PasidResult>(_ => { });
            Receive<SpidFound>(_ => { });
            ReceiveAny(_ => Stash.Stash());
        });
        StartResynchronising();
    }

    /// <summary>Sends the queries whose answers <see cref="Resynchronising"/> handles.</summary>
    protected abstract void StartResynchronising();

    /// <summary>Handlers of the re-synchronisation answers; the last one calls <see cref="Resynchronised"/>.</summary>
    protected abstract void Resynchronising();

    /// <summary>Handlers of normal operation.</summary>
    protected abstract void Active();

    protected void Resynchronised()
    {
        Become(() =>
        {
            Receive<Notify>(n =>
            {
                CheckAddressedToMe(n.Event);
                Handle(n);
            });
            Receive<Subscribed>(_ => { });
            Active();
        });
        _bus.Tell(new Subscribe(Self, _name, _priority, SetKey));
        Stash.UnstashAll();
    }

    protected abstract void Handle(Notify notify);

    // An event for another set or a PASID outside the 20-bit space means the wiring is broken: crash and re-synchronise.
    private void CheckAddressedToMe(IoasidEvent e)
    {
        if (SetKey.Length > 0 && e.SetKey != SetKey)
            throw new InvalidOperationException($"{_name} subscribed to {SetKey} was sent an event of {e.SetKey}");
        if (e.Pasid < 0 || e.Pasid > PasidSpace.MaxPasid || (e.Pasid == 0) != (e.Kind == IoasidEventKind.SetFreed))
            throw new InvalidOperationException($"{_name} was sent {e.Kind} of PASID {e.Pasid}");
    }
}
