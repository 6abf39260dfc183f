using System.Collections.Immutable;
using System.Text.Json;
using Akka.Actor;
using Akka.Cluster;
using IommuActors.Hardware.Platform;
using IommuActors.Uapi;
using static IommuActors.Host.FrontDoor.SessionProtocol;

namespace IommuActors.Host.FrontDoor;

/// <summary>What iommuctl status shows besides what it asks actors for.</summary>
public sealed record HostFacts(string SocketPath, string WorkDir, string Store);

/// <summary>Answers the extension requests by sending a short-lived <see cref="StatusReporter"/> to gather replies.</summary>
public sealed class StatusSource(ActorSystem system, IActorRef? platform, HostFacts facts, IActorRef? units, IntrospectSources introspect) : IStatusSource
{
    public void Describe(ushort kind, long tag, IActorRef replyTo, byte[] request) =>
        system.ActorOf(kind switch
        {
            ExtensionKinds.Dma => DmaReporter.Props(tag, replyTo, request, platform, units),
            ExtensionKinds.Contexts or ExtensionKinds.Objects or ExtensionKinds.Graph => IntrospectReporter.Props(kind, tag, replyTo, request, introspect),
            ExtensionKinds.Release => ReleaseReporter.Props(tag, replyTo, request, introspect.Sessions()),
            _ => StatusReporter.Props(kind, tag, replyTo, introspect.Sessions(), platform, facts),
        });
}

/// <summary>
/// Gathers one status or platform answer as JSON, replies, and stops; gives up with ETIMEDOUT. The
/// status lists the client sessions of every node's front door (<paramref name="sessions"/>, one directory a node).
/// </summary>
public sealed class StatusReporter : ReceiveActor
{
    private static readonly JsonSerializerOptions Json = new() { PropertyNamingPolicy = JsonNamingPolicy.CamelCase };

    public static Props Props(ushort kind, long tag, IActorRef replyTo, ImmutableArray<ICanTell> sessions, IActorRef? platform, HostFacts facts) =>
        Akka.Actor.Props.Create(() => new StatusReporter(kind, tag, replyTo, sessions, platform, facts));

    public StatusReporter(ushort kind, long tag, IActorRef replyTo, ImmutableArray<ICanTell> sessions, IActorRef? platform, HostFacts facts)
    {
        Context.SetReceiveTimeout(TimeSpan.FromSeconds(10));
        Receive<ReceiveTimeout>(_ => Reply(replyTo, new StatusJson(tag, Errno.ETIMEDOUT, "{}")));
        if (kind == ExtensionKinds.Platform)
        {
            if (platform is null) { Reply(replyTo, new StatusJson(tag, Errno.ENODEV, "{}")); return; }
            Receive<PlatformProtocol.PlatformReply>(p => Reply(replyTo, new StatusJson(tag, 0, PlatformJson(p.Platform))));
            platform.Tell(new PlatformProtocol.GetPlatform());
        }
        else
        {
            var lists = new List<SessionList>();
            Receive<SessionList>(s =>
            {
                lists.Add(s);
                if (lists.Count == sessions.Length) Reply(replyTo, new StatusJson(tag, 0, StatusJsonOf(lists, facts)));
            });
            foreach (var directory in sessions)
                directory.Tell(new GetSessions(), Self);
        }
    }

    private void Reply(IActorRef replyTo, StatusJson json)
    {
        replyTo.Tell(json);
        Context.Stop(Self);
    }

    private string StatusJsonOf(List<SessionList> lists, HostFacts facts)
    {
        var cluster = Cluster.Get(Context.System);
        return JsonSerializer.Serialize(new
        {
            server = ConnectionActor.ServerName,
            protocolVersion = Uapi.Wire.WireFormat.Version,
            cluster = new
            {
                self = cluster.SelfAddress.ToString(),
                status = cluster.SelfMember.Status.ToString(),
                members = cluster.State.Members.Select(m => new { address = m.Address.ToString(), status = m.Status.ToString() }),
                leader = cluster.State.Leader?.ToString(),
            },
            store = facts.Store,
            socket = facts.SocketPath,
            workDir = facts.WorkDir,
            sessions = lists.SelectMany(l => l.Sessions.Select(s => new
            {
                token = s.Token.ToString("x16"),
                pid = s.Pid,
                client = s.ClientName,
                fds = s.Fds,
                connected = s.Connected,
                graceLeftSeconds = s.GraceLeft is { } left ? Math.Round(left.TotalSeconds, 1) : (double?)null,
                node = l.Node,
            })).OrderBy(s => s.token, StringComparer.Ordinal),
        }, Json);
    }

    private static string PlatformJson(PlatformSpec platform) => JsonSerializer.Serialize(new
    {
        units = platform.Units.Select(u => new
        {
            name = u.Name,
            kind = u.Kind.ToString(),
            pageSizes = $"0x{u.PageSizes:x}",
            addressWidth = u.AddressWidth,
            pasidWidth = u.PasidWidth,
            nesting = u.Nesting,
            dirtyTracking = u.DirtyTracking,
            iopf = u.Iopf,
            devices = platform.DevicesOf(u.Name).Count(),
        }),
        devices = platform.Devices.Select(d => new
        {
            pci = d.Pci,
            vendor = $"{d.VendorId:x4}",
            device = $"{d.DeviceId:x4}",
            unit = d.Unit,
            group = d.Group,
            pasidWidth = d.PasidWidth,
            pri = d.Pri,
            ats = d.Ats,
            cdev = d.Cdev,
        }),
    }, Json);
}
