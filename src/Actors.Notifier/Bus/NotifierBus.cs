using System.Collections.Immutable;
using Akka.Actor;
using IommuActors.Ioasid.Pasid;
using static IommuActors.Notifier.Bus.NotifierProtocol;

namespace IommuActors.Notifier.Bus;

/// <summary>
/// IOASID pub/sub with acknowledgements. Each event is a round delivered to its subscribers one after
/// another in priority order. Rounds for one PASID run in publication order, except that an UNBIND
/// published while a FREE of the same PASID is in flight (the driver detaching inside its FREE handler)
/// runs first and the FREE waits for it: nobody sees FREE before the UNBIND of a bind it saw.
/// </summary>
public sealed class NotifierBus : ReceiveActor, IWithTimers
{
    private sealed record Subscription(IActorRef Ref, string Name, SubscriberPriority Priority, string SetKey);

    private sealed class Round(IoasidEvent evt, IActorRef publisher, Queue<Subscription> remaining)
    {
        public IoasidEvent Event { get; } = evt;
        public IActorRef Publisher { get; } = publisher;
        public Queue<Subscription> Remaining { get; } = remaining;
        public long? Awaiting { get; set; }
        public Subscription? Current { get; set; }
        public List<string> Unanswered { get; } = new();
    }

    private readonly TimeSpan _ackTimeout;
    private readonly IActorRef _reporter;
    private readonly List<Subscription> _subscriptions = new();
    private readonly Dictionary<(string, int), List<Round>> _rounds = new();
    private readonly Dictionary<long, Round> _inFlight = new();
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
        Receive<GetSubscriptions>(_ => Sender.Tell(new Subscriptions(_subscriptions
            .OrderBy(s => s.Priority).ThenBy(s => s.Name, StringComparer.Ordinal).Select(s => s.Name).ToImmutableArray())));
        Receive<PublishIoasidEvent>(m => Enqueue(m.Event, Sender));
        Receive<Acknowledge>(m => Answered(m.DeliveryId, timedOut: false));
        Receive<DeliveryTimedOut>(m => Answered(m.DeliveryId, timedOut: true));
        Receive<Terminated>(m => Stopped(m.ActorRef));
    }

    private void Enqueue(IoasidEvent evt, IActorRef publisher)
    {
        var targets = _subscriptions
            .Where(s => s.SetKey.Length == 0 || s.SetKey == evt.SetKey)
            .OrderBy(s => s.Priority)
            .ToList();
        var key = (evt.SetKey, evt.Pasid);
        if (!_rounds.TryGetValue(key, out var list))
            _rounds[key] = list = new List<Round>();
        list.Add(new Round(evt, publisher, new Queue<Subscription>(targets)));
        Pump(key);
    }

    private void Pump((string, int) key)
    {
        while (_rounds.TryGetValue(key, out var list))
        {
            var progressed = false;
            foreach (var round in Eligible(list))
            {
                if (round.Awaiting is not null)
                    continue;
                progressed = true;
                if (round.Remaining.TryDequeue(out var next))
                    Deliver(round, next);
                else
                    Complete(key, list, round);
            }
            if (!progressed)
                return;
        }
    }

    // A fresh list each time: Pump removes completed rounds from the one it walks.
    private static List<Round> Eligible(List<Round> list)
    {
        var head = list[0];
        if (head.Event.Kind == IoasidEventKind.Free)
        {
            List<Round>? nested = null;
            for (var i = 1; i < list.Count; i++)
                if (list[i].Event.Kind == IoasidEventKind.Unbind)
                    (nested ??= new List<Round>()).Add(list[i]);
            if (nested is not null)
                return nested;
        }
        return [head];
    }

    private void Deliver(Round round, Subscription to)
    {
        var id = _nextDelivery++;
        round.Awaiting = id;
        round.Current = to;
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
        if (timedOut)
        {
            round.Unanswered.Add(round.Current!.Name);
            _reporter.Tell(new SubscriberUnresponsive(round.Current.Name, round.Event));
        }
        round.Awaiting = null;
        round.Current = null;
        Pump((round.Event.SetKey, round.Event.Pasid));
    }

    private void Complete((string, int) key, List<Round> list, Round round)
    {
        list.Remove(round);
        if (list.Count == 0)
            _rounds.Remove(key);
        if (round.Event.Kind != IoasidEventKind.Free)
            return;
        if (round.Unanswered.Count == 0)
            round.Publisher.Tell(new PasidSetProtocol.FreeAcknowledged(round.Event.SetKey, round.Event.Pasid));
        else
            round.Publisher.Tell(new PasidSetProtocol.FreeAckTimedOut(round.Event.SetKey, round.Event.Pasid, round.Unanswered.ToImmutableArray()));
    }

    // A stopped subscriber cannot hold a PASID any more than it can answer: its waiting deliveries count as unanswered.
    private void Stopped(IActorRef subscriber)
    {
        _subscriptions.RemoveAll(s => s.Ref.Equals(subscriber));
        foreach (var (id, round) in _inFlight.Where(kv => kv.Value.Current!.Ref.Equals(subscriber)).ToList())
            Answered(id, timedOut: true);
    }
}
