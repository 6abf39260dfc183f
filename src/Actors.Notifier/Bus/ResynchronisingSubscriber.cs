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
/// A restart backs off before re-synchronising (<see cref="SubscriberBackoff"/>): the restart happens in place, so
/// the subscriber keeps its reference, its subscription and its mailbox (nothing sent to it meanwhile is lost,
/// unlike with a BackoffSupervisor, which stops the child and drops what arrives until the next one starts);
/// only the re-synchronisation waits, longer after each crash that follows the previous one closely.
/// </summary>
public abstract class ResynchronisingSubscriber : ReceiveActor, IWithUnboundedStash, IWithTimers
{
    private readonly IActorRef _bus;
    private readonly string _name;
    private readonly SubscriberPriority _priority;
    private readonly SubscriberBackoff _backoff;
    private readonly DateTime _startedAt = DateTime.UtcNow;
    private int _restarts;

    // Told to itself by the failing incarnation, so the count survives the restart (the mailbox does).
    private sealed record Restarted(int Count);

    private sealed record BackedOff;

    protected ResynchronisingSubscriber(IActorRef bus, string name, SubscriberPriority priority, string setKey, SubscriberBackoff? backoff = null)
    {
        _bus = bus;
        _name = name;
        _priority = priority;
        _backoff = backoff ?? SubscriberBackoff.Default;
        SetKey = setKey;
    }

    public IStash Stash { get; set; } = null!;

    public ITimerScheduler Timers { get; set; } = null!;

    /// <summary>The set this subscriber listens to, or "" for every set.</summary>
    protected string SetKey { get; }

    /// <summary>How many restarts in a row (each within the backoff's reset time of the previous) led to this incarnation.</summary>
    protected int Restarts => _restarts;

    protected override void PreRestart(Exception reason, object message)
    {
        var count = DateTime.UtcNow - _startedAt > _backoff.ResetAfter ? 1 : _restarts + 1;
        Self.Tell(new Restarted(count));
        base.PreRestart(reason, message);
    }

    protected override void PostRestart(Exception reason)
    {
        Become(() =>
        {
            Receive<Restarted>(r =>
            {
                _restarts = r.Count;
                Timers.StartSingleTimer(nameof(BackedOff), new BackedOff(), _backoff.DelayAfter(r.Count));
            });
            Receive<BackedOff>(_ => PreStart());
            DropWhatTheOldIncarnationWaitedFor();
            ReceiveAny(_ => Stash.Stash());
        });
    }

    // A restarted subscriber goes through the same re-synchronisation as a new one, after its backoff.
    protected override void PreStart()
    {
        Become(() =>
        {
            Resynchronising();
            DropWhatTheOldIncarnationWaitedFor();
            ReceiveAny(_ => Stash.Stash());
        });
        StartResynchronising();
    }

    private void DropWhatTheOldIncarnationWaitedFor()
    {
        Receive<Notify>(_ => { });
        Receive<PasidResult>(_ => { });
        Receive<SpidFound>(_ => { });
        Receive<HoldsReleased>(_ => { });
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
            // A VM's subscriber tells its parent it hears the VM's events (the VM is served only then).
            Receive<Subscribed>(_ =>
            {
                if (SetKey.Length > 0)
                    Context.Parent.Tell(new SubscriberListening(SetKey, _name));
            });
            Receive<HoldsReleased>(_ => { });
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
