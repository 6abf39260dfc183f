using System.Text.Json;
using Akka.Actor;
using Akka.Cluster;
using IClusterMessage = IommuActors.Core.Messaging.IClusterMessage;
using IommuActors.Ioasid.Pasid;
using IommuActors.Notifier.Bus;
using IommuActors.Uapi;

namespace IommuActors.Host.FrontDoor;

/// <summary>The vocabulary of iommuctl trace (EXT_TRACE): what connections publish and what a tracer tells its connection.</summary>
public static class TraceProtocol
{
    /// <summary>
    /// An ioctl a connection's file answered, published on the node's event stream by the
    /// connection actor as the reply leaves (so one fd's ioctls appear in request order).
    /// </summary>
    /// <param name="Arg">The ioctl's plain argument (VFIO_CHECK_EXTENSION's extension).</param>
    /// <param name="Given">The argument struct as the caller gave it.</param>
    /// <param name="Returned">The struct as the file wrote it back (empty for a failed ioctl).</param>
    public sealed record IoctlTraced(ulong Session, uint Pid, int Fd, string FileId, string Path, uint Request, int Errno, long ReturnValue,
        string Note, ulong Arg, byte[] Given, byte[] Returned) : IClusterMessage;

    /// <summary>An OPEN or CLOSE of a client's fd, published like <see cref="IoctlTraced"/> as its reply leaves.</summary>
    /// <param name="Op">"open" or "close".</param>
    /// <param name="FileId">The file the fd names ("" for an open that failed, or a close of an fd that was not open).</param>
    /// <param name="Released">A close that let the file go (the last fd naming it).</param>
    public sealed record FileTraced(ulong Session, uint Pid, int Fd, string Op, string Path, string FileId, int Errno, bool Released) : IClusterMessage;

    /// <summary>A tracer asks a node's <see cref="TraceRelay"/> for that node's ioctls. Answered with <see cref="IoctlsWatched"/>.</summary>
    public sealed record WatchIoctls(IActorRef Tracer) : IClusterMessage;

    /// <summary>From now on the tracer hears the ioctls of the node at <paramref name="Node"/>.</summary>
    public sealed record IoctlsWatched(string Node) : IClusterMessage;

    /// <summary>The tracer listens: the EXT_TRACE request is answered.</summary>
    public sealed record TraceStarted;

    /// <summary>One EXT_TRACE_EVENT body (utf-8 JSON) for the connection to send.</summary>
    public sealed record TraceLine(string Json);

    /// <summary>Prefix of a tracer's name on the notifier bus (iommuctl graph leaves tracers out).</summary>
    public const string SubscriberPrefix = "iommuctl-trace/";
}

/// <summary>
/// One on each node (<see cref="Name"/>): hands the ioctls its connections publish on the node's event
/// stream to the tracers that asked for them, wherever they run; listens to the event stream only
/// while some tracer is alive, so a node nobody traces pays nothing.
/// </summary>
public sealed class TraceRelay : ReceiveActor
{
    public const string Name = "front-door-trace";

    private readonly HashSet<IActorRef> _tracers = new();

    public static Props Props() => Akka.Actor.Props.Create(() => new TraceRelay());

    public TraceRelay()
    {
        var node = ((ExtendedActorSystem)Context.System).Provider.DefaultAddress.ToString();
        Receive<TraceProtocol.WatchIoctls>(w =>
        {
            if (_tracers.Add(w.Tracer))
            {
                Context.Watch(w.Tracer);
                if (_tracers.Count == 1) Subscribe();
            }
            w.Tracer.Tell(new TraceProtocol.IoctlsWatched(node));
        });
        Receive<Terminated>(t =>
        {
            if (_tracers.Remove(t.ActorRef) && _tracers.Count == 0)
                Context.System.EventStream.Unsubscribe(Self);
        });
        Receive<TraceProtocol.IoctlTraced>(Relay);
        Receive<TraceProtocol.FileTraced>(Relay);
    }

    private void Relay(object traced)
    {
        foreach (var tracer in _tracers) tracer.Tell(traced);
    }

    private void Subscribe()
    {
        Context.System.EventStream.Subscribe(Self, typeof(TraceProtocol.IoctlTraced));
        Context.System.EventStream.Subscribe(Self, typeof(TraceProtocol.FileTraced));
    }
}

/// <summary>
/// A connection's tracer (child of the connection that asked EXT_TRACE, gone with it): the ioctls
/// of every node's clients through each node's <see cref="TraceRelay"/> (a node that joins later
/// too), and every IOASID event from the notifier bus, where it subscribes to every set at the
/// lowest priority and acknowledges at once (it tears nothing down). Each becomes a
/// <see cref="TraceProtocol.TraceLine"/> to the connection. The trace starts once the bus and the
/// relays of the nodes known at the start have answered (or after 5 s, without those that did not).
/// </summary>
public sealed class TraceActor : ReceiveActor, IWithTimers
{
    public ITimerScheduler Timers { get; set; } = null!;

    private static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull,
    };
    private static readonly TimeSpan StartWithin = TimeSpan.FromSeconds(5);

    private readonly IActorRef? _relay;
    private readonly HashSet<Address> _watched = new();
    private readonly HashSet<string> _awaitedRelays = new(); // the nodes whose relays hold the start back
    private bool _awaitingBus;
    private bool _started;

    private sealed record StartAnyway;

    public static Props Props(string name, IActorRef? bus, IActorRef? relay) => Akka.Actor.Props.Create(() => new TraceActor(name, bus, relay));

    public TraceActor(string name, IActorRef? bus, IActorRef? relay)
    {
        _relay = relay;
        Receive<TraceProtocol.IoctlTraced>(t =>
        {
            var target = TargetOf(t);
            var given = IoctlArguments.Given(t.Request, target, t.Arg, t.Given);
            var returned = IoctlArguments.Returned(t.Request, target, t.Returned);
            Context.Parent.Tell(new TraceProtocol.TraceLine(JsonSerializer.Serialize(new
            {
                type = "ioctl",
                time = DateTime.UtcNow,
                session = t.Session.ToString("x16"),
                pid = t.Pid,
                fd = t.Fd,
                file = t.FileId,
                request = $"0x{t.Request:x}",
                name = NameOf(t),
                given = given.Length > 0 ? given : null,
                returned = returned.Length > 0 ? returned : null,
                errno = t.Errno,
                retval = t.ReturnValue,
                note = t.Note.Length > 0 ? t.Note : null,
            }, Json)));
        });
        Receive<TraceProtocol.FileTraced>(f => Context.Parent.Tell(new TraceProtocol.TraceLine(JsonSerializer.Serialize(new
        {
            type = f.Op,
            time = DateTime.UtcNow,
            session = f.Session.ToString("x16"),
            pid = f.Pid,
            fd = f.Fd,
            path = f.Path,
            file = f.FileId.Length > 0 ? f.FileId : null,
            errno = f.Errno,
            released = f.Op == "close" && f.Errno == 0 ? f.Released : (bool?)null,
        }, Json))));
        Receive<NotifierProtocol.Notify>(n =>
        {
            Sender.Tell(new NotifierProtocol.Acknowledge(n.DeliveryId));
            Context.Parent.Tell(new TraceProtocol.TraceLine(JsonSerializer.Serialize(new
            {
                type = "ioasid",
                time = DateTime.UtcNow,
                @event = n.Event.Kind.ToString(),
                set = n.Event.SetKey,
                pasid = n.Event.Pasid,
                spid = n.Event.Spid,
            }, Json)));
        });
        Receive<NotifierProtocol.Subscribed>(_ =>
        {
            _awaitingBus = false;
            StartWhenAnswered();
        });
        Receive<TraceProtocol.IoctlsWatched>(w =>
        {
            if (_awaitedRelays.Remove(w.Node)) StartWhenAnswered();
        });
        Receive<StartAnyway>(_ => Start());
        Receive<ClusterEvent.CurrentClusterState>(state =>
        {
            foreach (var member in state.Members.Where(m => m.Status == MemberStatus.Up)) Watch(member.Address, counted: false);
        });
        Receive<ClusterEvent.MemberUp>(up => Watch(up.Member.Address, counted: false));

        if (bus is not null)
        {
            _awaitingBus = true;
            bus.Tell(new NotifierProtocol.Subscribe(Self, name, SubscriberPriority.Device, ""));
        }
        if (relay is null)
        {
            Context.System.EventStream.Subscribe(Self, typeof(TraceProtocol.IoctlTraced));
            Context.System.EventStream.Subscribe(Self, typeof(TraceProtocol.FileTraced));
        }
        else
        {
            foreach (var node in FrontDoorNodes.Nodes(Context.System)) Watch(node, counted: true);
            // Nodes that come Up later (or in the moment between the look above and this subscription).
            if (((ExtendedActorSystem)Context.System).Provider is ClusterActorRefProvider)
                Cluster.Get(Context.System).Subscribe(Self, ClusterEvent.SubscriptionInitialStateMode.InitialStateAsSnapshot, typeof(ClusterEvent.MemberUp));
        }
        if (_awaitingBus || _awaitedRelays.Count > 0) Timers.StartSingleTimer(nameof(StartAnyway), new StartAnyway(), StartWithin);
        StartWhenAnswered();
    }

    /// <summary>Asks the relay of the node at <paramref name="node"/> for its ioctls, once; a relay asked before the start holds the start back.</summary>
    private void Watch(Address node, bool counted)
    {
        if (!_watched.Add(node)) return;
        if (counted) _awaitedRelays.Add(node.ToString());
        FrontDoorNodes.On(Context.System, node, _relay!).Tell(new TraceProtocol.WatchIoctls(Self), Self);
    }

    private void StartWhenAnswered()
    {
        if (!_awaitingBus && _awaitedRelays.Count == 0) Start();
    }

    private void Start()
    {
        if (_started) return;
        _started = true;
        Timers.Cancel(nameof(StartAnyway));
        Context.Parent.Tell(new TraceProtocol.TraceStarted());
    }

    // The emulator's PASID ioctls (docs/pasid-extension.md) by their constant names.
    private static readonly Dictionary<uint, string> EmulatorNames = typeof(Uapi.Structs.EmulatorIoctls)
        .GetFields(System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.Static)
        .Where(f => f is { IsLiteral: true, FieldType.Name: nameof(UInt32) } && f.Name != nameof(Uapi.Structs.EmulatorIoctls.Type))
        .ToDictionary(f => (uint)f.GetRawConstantValue()!, f => f.Name);

    internal static string NameOf(TraceProtocol.IoctlTraced t) =>
        EmulatorNames.TryGetValue(t.Request, out var name) ? name : Ioctls.Name(t.Request, TargetOf(t));

    private static IoctlTarget TargetOf(TraceProtocol.IoctlTraced t) =>
        t.Path.StartsWith(Fd.Files.FileActor.DeviceDirectory, StringComparison.Ordinal) ? IoctlTarget.VfioDevice : IoctlTarget.Iommufd;

    protected override void PostStop()
    {
        Context.System.EventStream.Unsubscribe(Self);
        if (_relay is not null && ((ExtendedActorSystem)Context.System).Provider is ClusterActorRefProvider)
            Cluster.Get(Context.System).Unsubscribe(Self);
    }
}
