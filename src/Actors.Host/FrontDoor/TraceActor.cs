using System.Text.Json;
using Akka.Actor;
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
    public sealed record IoctlTraced(ulong Session, uint Pid, int Fd, string FileId, string Path, uint Request, int Errno, long ReturnValue);

    /// <summary>The tracer listens: the EXT_TRACE request is answered.</summary>
    public sealed record TraceStarted;

    /// <summary>One EXT_TRACE_EVENT body (utf-8 JSON) for the connection to send.</summary>
    public sealed record TraceLine(string Json);

    /// <summary>Prefix of a tracer's name on the notifier bus (iommuctl graph leaves tracers out).</summary>
    public const string SubscriberPrefix = "iommuctl-trace/";
}

/// <summary>
/// A connection's tracer (child of the connection that asked EXT_TRACE, gone with it): the
/// node's ioctls from the event stream, and every IOASID event from the notifier bus, where it
/// subscribes to every set at the lowest priority and acknowledges at once (it tears nothing down).
/// Each becomes a <see cref="TraceProtocol.TraceLine"/> to the connection.
/// </summary>
public sealed class TraceActor : ReceiveActor
{
    private static readonly JsonSerializerOptions Json = new() { PropertyNamingPolicy = JsonNamingPolicy.CamelCase };

    public static Props Props(string name, IActorRef? bus) => Akka.Actor.Props.Create(() => new TraceActor(name, bus));

    public TraceActor(string name, IActorRef? bus)
    {
        Context.System.EventStream.Subscribe(Self, typeof(TraceProtocol.IoctlTraced));
        Receive<TraceProtocol.IoctlTraced>(t => Context.Parent.Tell(new TraceProtocol.TraceLine(JsonSerializer.Serialize(new
        {
            type = "ioctl",
            session = t.Session.ToString("x16"),
            pid = t.Pid,
            fd = t.Fd,
            file = t.FileId,
            request = $"0x{t.Request:x}",
            name = NameOf(t),
            errno = t.Errno,
            retval = t.ReturnValue,
        }, Json))));
        Receive<NotifierProtocol.Notify>(n =>
        {
            Sender.Tell(new NotifierProtocol.Acknowledge(n.DeliveryId));
            Context.Parent.Tell(new TraceProtocol.TraceLine(JsonSerializer.Serialize(new
            {
                type = "ioasid",
                @event = n.Event.Kind.ToString(),
                set = n.Event.SetKey,
                pasid = n.Event.Pasid,
                spid = n.Event.Spid,
            }, Json)));
        });
        Receive<NotifierProtocol.Subscribed>(_ => Context.Parent.Tell(new TraceProtocol.TraceStarted()));
        if (bus is null)
            Context.Parent.Tell(new TraceProtocol.TraceStarted());
        else
            bus.Tell(new NotifierProtocol.Subscribe(Self, name, SubscriberPriority.Device, ""));
    }

    // The emulator's PASID ioctls (docs/pasid-extension.md) by their constant names.
    private static readonly Dictionary<uint, string> EmulatorNames = typeof(Uapi.Structs.EmulatorIoctls)
        .GetFields(System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.Static)
        .Where(f => f is { IsLiteral: true, FieldType.Name: nameof(UInt32) } && f.Name != nameof(Uapi.Structs.EmulatorIoctls.Type))
        .ToDictionary(f => (uint)f.GetRawConstantValue()!, f => f.Name);

    private static string NameOf(TraceProtocol.IoctlTraced t) =>
        EmulatorNames.TryGetValue(t.Request, out var name) ? name
        : Ioctls.Name(t.Request, t.Path.StartsWith(Fd.Files.FileActor.DeviceDirectory, StringComparison.Ordinal)
            ? IoctlTarget.VfioDevice : IoctlTarget.Iommufd);

    protected override void PostStop() => Context.System.EventStream.Unsubscribe(Self);
}
