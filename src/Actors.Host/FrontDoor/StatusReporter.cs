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
            ExtensionKinds.Dma => DmaReporter.Props(tag, replyTo, request, platform, units, introspect),
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

    /// <summary>How long the status waits for the other nodes' session lists: a node that died but is not yet seen unreachable is listed as unanswered.</summary>
    public static readonly TimeSpan SessionsWait = TimeSpan.FromSeconds(2);

    public StatusReporter(ushort kind, long tag, IActorRef replyTo, ImmutableArray<ICanTell> sessions, IActorRef? platform, HostFacts facts)
    {
        if (kind == ExtensionKinds.Platform)
        {
            Context.SetReceiveTimeout(TimeSpan.FromSeconds(10));
            Receive<ReceiveTimeout>(_ => Reply(replyTo, new StatusJson(tag, Errno.ETIMEDOUT, "{}")));
            if (platform is null) { Reply(replyTo, new StatusJson(tag, Errno.ENODEV, "{}")); return; }
            Receive<PlatformProtocol.PlatformReply>(p => Reply(replyTo, new StatusJson(tag, 0, PlatformJson(p.Platform))));
            platform.Tell(new PlatformProtocol.GetPlatform());
        }
        else
        {
            var lists = new List<SessionList>();
            var asked = FrontDoorNodes.Nodes(Context.System);
            Context.SetReceiveTimeout(SessionsWait);
            Receive<ReceiveTimeout>(_ => Reply(replyTo, new StatusJson(tag, 0, StatusJsonOf(lists, facts, asked))));
            Receive<SessionList>(s =>
            {
                lists.Add(s);
                if (lists.Count == sessions.Length) Reply(replyTo, new StatusJson(tag, 0, StatusJsonOf(lists, facts, asked)));
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

    /// <summary>The cluster singletons of the subsystem: all run on the oldest Up member, with the shard coordinators.</summary>
    public static readonly ImmutableArray<string> Singletons =
    [
        Ioasid.IoasidModule.SpaceSingleton, Notifier.NotifierModule.BusSingleton, Notifier.NotifierModule.DriverSingleton,
        Fd.FdModule.OwnershipName, Fd.FdModule.AccountsName, "shard coordinators",
    ];

    private string StatusJsonOf(List<SessionList> lists, HostFacts facts, ImmutableArray<Address> asked)
    {
        var cluster = Cluster.Get(Context.System);
        var state = cluster.State;
        var unreachable = state.Unreachable.Select(m => m.UniqueAddress).ToHashSet();
        var oldest = state.Members.Where(m => m.Status == MemberStatus.Up).OrderBy(m => m, Member.AgeOrdering).FirstOrDefault();
        var answered = lists.Select(l => l.Node).ToHashSet();
        return JsonSerializer.Serialize(new
        {
            server = ConnectionActor.ServerName,
            protocolVersion = Uapi.Wire.WireFormat.Version,
            cluster = new
            {
                self = cluster.SelfAddress.ToString(),
                status = cluster.SelfMember.Status.ToString(),
                // Reachable as this node's failure detector sees it: an Up member that stopped answering is Up and unreachable until it is downed.
                members = state.Members.Select(m => new
                {
                    address = m.Address.ToString(),
                    status = m.Status.ToString(),
                    reachable = !unreachable.Contains(m.UniqueAddress),
                }),
                leader = state.Leader?.ToString(),
                singletons = new { node = oldest?.Address.ToString(), names = Singletons },
                // Nodes whose session lists did not come within SessionsWait: their sessions are missing below.
                unanswered = asked.Select(a => a.ToString()).Where(a => !answered.Contains(a)),
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
