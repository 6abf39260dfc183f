using Akka.Actor;
using Akka.Event;

namespace IommuActors.Core.Supervision;

/// <summary>
/// Keeps a long-lived actor (a cluster singleton, a node's session directory) alive: a persistent
/// actor stops when a journal write fails (a duplicate key after a split, the store briefly gone)
/// or its recovery fails, and would otherwise stay dead with every request to it unanswered. It is
/// started again after a backoff (doubling from <see cref="MinBackoff"/> to <see cref="MaxBackoff"/>,
/// reset once it has lived <see cref="MaxBackoff"/>) and recovers from its journal. Messages sent
/// meanwhile are held (up to <see cref="HoldCapacity"/>, the oldest dropped beyond) and reach the
/// new one with their senders. An exception in a handler restarts it at once, as Akka's default does.
/// Whoever holds this actor's reference talks to the child through it.
/// </summary>
public sealed class RestartWithBackoff : ReceiveActor, IWithTimers
{
    public static readonly TimeSpan MinBackoff = TimeSpan.FromMilliseconds(200);
    public static readonly TimeSpan MaxBackoff = TimeSpan.FromSeconds(10);
    public const int HoldCapacity = 10_000;

    private sealed record StartChild
    {
        public static readonly StartChild Instance = new();
    }

    /// <summary>Asks the supervisor for its current child; answered with <see cref="CurrentChild"/>.</summary>
    public sealed record GetCurrentChild
    {
        public static readonly GetCurrentChild Instance = new();
    }

    /// <summary>The running child, or null while it waits out a backoff.</summary>
    public sealed record CurrentChild(IActorRef? Child);

    private readonly Props _child;
    private readonly string _childName;
    private readonly TimeSpan _min, _max;
    private readonly Queue<(object Message, IActorRef Sender)> _held = new();
    private IActorRef? _current;
    private DateTime _startedAt;
    private int _restarts;

    public ITimerScheduler Timers { get; set; } = null!;

    /// <summary>A supervisor of <paramref name="child"/>, named <paramref name="childName"/> under it.</summary>
    public static Props Props(Props child, string childName, TimeSpan? minBackoff = null, TimeSpan? maxBackoff = null) =>
        Akka.Actor.Props.Create(() => new RestartWithBackoff(child, childName, minBackoff ?? MinBackoff, maxBackoff ?? MaxBackoff));

    /// <summary>The delay before the <paramref name="restarts"/>-th start again (1 for the first): doubling, capped.</summary>
    public static TimeSpan DelayOf(int restarts, TimeSpan min, TimeSpan max) =>
        TimeSpan.FromTicks(Math.Min(max.Ticks, min.Ticks << Math.Min(restarts - 1, 30)));

    public RestartWithBackoff(Props child, string childName, TimeSpan min, TimeSpan max)
    {
        (_child, _childName, _min, _max) = (child, childName, min, max);
        Receive<Terminated>(t => t.ActorRef.Equals(_current), _ =>
        {
            _current = null;
            if (DateTime.UtcNow - _startedAt >= _max) _restarts = 0;
            _restarts++;
            Timers.StartSingleTimer(StartChild.Instance, StartChild.Instance, DelayOf(_restarts, _min, _max));
        });
        Receive<StartChild>(_ =>
        {
            Start();
            while (_held.TryDequeue(out var held)) _current!.Tell(held.Message, held.Sender);
        });
        Receive<GetCurrentChild>(_ => Sender.Tell(new CurrentChild(_current)));
        ReceiveAny(message =>
        {
            if (_current is not null)
            {
                _current.Forward(message);
                return;
            }
            if (_held.Count == HoldCapacity && _held.TryDequeue(out var dropped))
                Context.System.DeadLetters.Tell(new DeadLetter(dropped.Message, dropped.Sender, Self));
            _held.Enqueue((message, Sender));
        });
    }

    protected override void PreStart() => Start();

    protected override SupervisorStrategy SupervisorStrategy() => new OneForOneStrategy(_ => Directive.Restart);

    private void Start()
    {
        _current = Context.ActorOf(_child, _childName);
        Context.Watch(_current);
        _startedAt = DateTime.UtcNow;
    }
}
