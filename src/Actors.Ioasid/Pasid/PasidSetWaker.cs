using Akka.Actor;
using Akka.Event;
using static IommuActors.Ioasid.Pasid.PasidSetProtocol;
using static IommuActors.Ioasid.Pasid.PasidSpaceProtocol;

namespace IommuActors.Ioasid.Pasid;

/// <summary>
/// Host start: a set recovers only when something is sent to it, and only a recovered set publishes again the
/// FREEs it still owes acknowledgements, so a set whose VM is gone would keep its freed PASIDs out of the pool
/// until somebody happened to touch it. This actor asks the space which sets it leases PASIDs to (a FREE_PENDING
/// PASID stays leased to its set until it is reclaimed, so those sets include every one with a FREE in flight) and
/// wakes each, then stops. It asks again until the space answers (a singleton proxy may not have found the
/// singleton yet); waking a set twice, from two nodes, is harmless.
/// </summary>
public sealed class PasidSetWaker : ReceiveActor, IWithTimers
{
    private sealed record AskAgain;

    private readonly IActorRef _space;
    private readonly IActorRef _sets;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly HashSet<string> _waking = new(StringComparer.Ordinal);

    public ITimerScheduler Timers { get; set; } = null!;

    /// <param name="space">The PASID space (its singleton proxy).</param>
    /// <param name="sets">The pasid-set shard region.</param>
    /// <param name="retry">How long to wait for the space before asking again.</param>
    public static Props Props(IActorRef space, IActorRef sets, TimeSpan retry) =>
        Akka.Actor.Props.Create(() => new PasidSetWaker(space, sets, retry));

    public PasidSetWaker(IActorRef space, IActorRef sets, TimeSpan retry)
    {
        _space = space;
        _sets = sets;
        Receive<AskAgain>(_ => _space.Tell(new GetOwnerSets()));
        Receive<OwnerSets>(o =>
        {
            Timers.Cancel(nameof(AskAgain));
            Become(Waking);
            _waking.UnionWith(o.Keys);
            foreach (var key in o.Keys)
                _sets.Tell(new WakeSet(key));
            if (_waking.Count == 0)
                Context.Stop(Self);
        });
        Timers.StartPeriodicTimer(nameof(AskAgain), new AskAgain(), retry);
        _space.Tell(new GetOwnerSets());
    }

    private void Waking()
    {
        Receive<SetAwake>(a =>
        {
            if (a.FreesInFlight > 0)
                _log.Info("{0} woke with {1} FREE(s) still owed acknowledgements, published again", a.EntityId, a.FreesInFlight);
            if (_waking.Remove(a.EntityId) && _waking.Count == 0)
                Context.Stop(Self);
        });
        Receive<OwnerSets>(_ => { });
    }
}
