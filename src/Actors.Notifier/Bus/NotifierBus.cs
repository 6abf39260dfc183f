using System.Collections.Immutable;
using Akka.Actor;
using Akka.Event;
using IommuActors.Core.Telemetry;
using IommuActors.Ioasid.Pasid;
using static IommuActors.Notifier.Bus.NotifierProtocol;

namespace IommuActors.Notifier.Bus;

/// <summary>
/// IOASID pub/sub with acknowledgements. Each event is a round delivered to its subscribers one after another in
/// priority order; which rounds may run at a time is <see cref="RoundOrder"/>'s business. When a round is done
/// (every subscriber acknowledged, or missed the ack timeout and was reported) the publisher is told: FREE with
/// FreeAcknowledged or FreeAckTimedOut, any event published with an id with EventApplied, so a publishing
/// ioctl can answer only once every subscriber acted on its event.
/// </summary>
public sealed class NotifierBus : ReceiveActor, IWithTimers
{
    private sealed record Subscription(IActorRef Ref, string Name, SubscriberPriority Priority, string SetKey);

    private sealed class Round(long id, IoasidEvent evt, long publisherId, IActorRef publisher, Queue<Subscription> remaining)
    {
        public long Id { get; } = id;
        public IoasidEvent Event { get; } = evt;
        public long PublisherId { get; } = publisherId;
        public IActorRef Publisher { get; } = publisher;
        public Queue<Subscription> Remaining { get; } = remaining;
        public long? Awaiting { get; set; }
        public Subscription? Current { get; set; }
        public long DeliveredAt { get; set; }
        public List<string> Unanswered { get; } = new();
    }

    private readonly TimeSpan _ackTimeout;
    private readonly IActorRef _reporter;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly List<Subscription> _subscriptions = new();
    private readonly RoundOrder _order = new();
    private readonly Dictionary<long, Round> _rounds = new();
    private readonly Dictionary<long, Round> _inFlight = new();
    private long _nextRound = 1;
    private long _nextDelivery = 1;

    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(TimeSpan ackTimeout, IActorRef reporter) =>
        Akka.Actor.Props.Create(() => new NotifierBus(ackTimeout, reporter));

    public NotifierBus(TimeSpan ackTimeout, IActorRef reporter)
    {
        _ackTimeout = ackTimeout;
        _reporter = reporter;
        Receive<Subscribe>(m =>
        {
            _subscriptions.RemoveAll(s => s.Name == m.Name);
            _subscriptions.Add(new Subscription(m.Subscriber, m.Name, m.Priority, m.SetKey));
            Context.Watch(m.Subscriber);
            Sender.Tell(new Subscribed(m.Name));
            Redeliver(m.Subscriber);
        });
        Receive<GetSubscriptions>(_ => Sender.Tell(new Subscriptions(
            RoundOrder.InDeliveryOrder(_subscriptions, s => s.Priority, s => s.Name).Select(s => s.Name).ToImmutableArray())));
        Receive<PublishIoasidEvent>(m => Enqueue(m.Event, m.Id, Sender));
        Receive<Acknowledge>(m => Answered(m.DeliveryId, timedOut: false));
        Receive<DeliveryTimedOut>(m => Answered(m.DeliveryId, timedOut: true));
        Receive<Terminated>(m => Stopped(m.ActorRef));
    }

    private void Enqueue(IoasidEvent evt, long publisherId, IActorRef publisher)
    {
        var targets = RoundOrder.InDeliveryOrder(
            _subscriptions.Where(s => s.SetKey.Length == 0 || s.SetKey == evt.SetKey), s => s.Priority, s => s.Name);
        var id = _nextRound++;
        _rounds[id] = new Round(id, evt, publisherId, publisher, new Queue<Subscription>(targets));
        Advance(_order.Add(id, evt));
    }

    // Each runnable round not waiting for an answer goes to its next subscriber, or completes (which may let others run).
    private void Advance(IReadOnlyList<long> runnable)
    {
        var work = new Queue<long>(runnable);
        while (work.TryDequeue(out var id))
        {
            if (!_rounds.TryGetValue(id, out var round) || round.Awaiting is not null)
                continue;
            if (round.Remaining.TryDequeue(out var next))
            {
                Deliver(round, next);
                continue;
            }
            _rounds.Remove(id);
            Complete(round);
            foreach (var other in _order.Complete(id))
                work.Enqueue(other);
        }
    }

    private void Deliver(Round round, Subscription to)
    {
        var id = _nextDelivery++;
        round.Awaiting = id;
        round.Current = to;
        round.DeliveredAt = System.Diagnostics.Stopwatch.GetTimestamp();
        _inFlight[id] = round;
        to.Ref.Tell(new Notify(id, round.Event));
        Timers.StartSingleTimer(id, new DeliveryTimedOut(id), _ackTimeout);
    }

    // A subscriber that restarted lost the deliveries it was handling; it subscribes again once re-synchronised
    // and gets them again under the same ids (a first subscription has none).
    private void Redeliver(IActorRef subscriber)
    {
        foreach (var (id, round) in _inFlight.Where(kv => kv.Value.Current!.Ref.Equals(subscriber)).OrderBy(kv => kv.Key))
        {
            subscriber.Tell(new Notify(id, round.Event));
            Timers.StartSingleTimer(id, new DeliveryTimedOut(id), _ackTimeout);
        }
    }

    private void Answered(long id, bool timedOut)
    {
        if (!_inFlight.Remove(id, out var round))
            return;
        Timers.Cancel(id);
        if (!timedOut)
            IommuMetrics.NotifierAcknowledged(round.Event.Kind.ToString(), round.DeliveredAt);
        else
        {
            IommuMetrics.NotifierAckMissed(round.Event.Kind.ToString());
            round.Unanswered.Add(round.Current!.Name);
            _log.Warning("{0} did not acknowledge {1} of {2} PASID {3} within {4}", round.Current.Name, round.Event.Kind,
                round.Event.SetKey, round.Event.Pasid, _ackTimeout);
            _reporter.Tell(new SubscriberUnresponsive(round.Current.Name, round.Event));
        }
        round.Awaiting = null;
        round.Current = null;
        // A FREE whose UNBINDs came in meanwhile waits for them; their completion lets it go on.
        if (_order.MayRun(round.Id))
            Advance([round.Id]);
    }

    private static void Complete(Round round)
    {
        var e = round.Event;
        var unanswered = round.Unanswered.ToImmutableArray();
        IommuMetrics.NotifierRoundDone(e.Kind.ToString(), unanswered.IsEmpty);
        if (e.Kind == IoasidEventKind.Free)
            round.Publisher.Tell(unanswered.IsEmpty
                ? new PasidSetProtocol.FreeAcknowledged(e.SetKey, e.Pasid)
                : new PasidSetProtocol.FreeAckTimedOut(e.SetKey, e.Pasid, unanswered));
        if (round.PublisherId != 0)
            round.Publisher.Tell(new PasidSetProtocol.EventApplied(e.SetKey, round.PublisherId, e, unanswered));
    }

    // A stopped subscriber cannot hold a PASID any more than it can answer: its waiting deliveries count as unanswered.
    private void Stopped(IActorRef subscriber)
    {
        _subscriptions.RemoveAll(s => s.Ref.Equals(subscriber));
        foreach (var (id, _) in _inFlight.Where(kv => kv.Value.Current!.Ref.Equals(subscriber)).ToList())
            Answered(id, timedOut: true);
    }
}
