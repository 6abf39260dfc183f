using System.Collections.Immutable;
using System.Text;
using System.Text.Json;
using Akka.Actor;
using IommuActors.Domains.Ioas;
using IommuActors.Fd.Context;
using IommuActors.Fd.Files;
using IommuActors.Hardware.Platform;
using IommuActors.Ioasid.Pasid;
using IommuActors.Notifier.Bus;
using static IommuActors.Fd.Context.IntrospectProtocol;
using static IommuActors.Host.FrontDoor.SessionProtocol;
using Errno = IommuActors.Uapi.Errno;

namespace IommuActors.Host.FrontDoor;

/// <summary>
/// The actors an introspection answer is gathered from; Sets and Bus are null in a host without
/// PASID sets. <paramref name="Sessions"/> names, at the time of asking, the session directory of
/// every node (<see cref="FrontDoorNodes.Everywhere"/>).
/// </summary>
public sealed record IntrospectSources(IActorRef Files, Func<ImmutableArray<ICanTell>> Sessions, IActorRef? Platform, IActorRef? Sets, IActorRef? Bus);

/// <summary>What <see cref="IntrospectReporter.Gather"/> answers: every live context's objects, by session then fd.</summary>
public sealed record ObjectsGathered(long Tag, ImmutableArray<ContextObjects> Contexts);

/// <summary>
/// Serves one EXT_CONTEXTS, EXT_OBJECTS or EXT_GRAPH (iommuctl contexts, objects, graph): the
/// session directory of every node names the iommufd files its sessions hold; each context answers
/// its object table through the file region (wherever its shard lives); for the graph, the
/// platform, the PASID sets of the contexts that have one and the notifier bus's subscribers too.
/// Replies once all have answered, and stops; ETIMEDOUT when some did not within 10 s, ENOENT for
/// an EXT_OBJECTS context that is not a live iommufd.
/// </summary>
public sealed class IntrospectReporter : ReceiveActor
{
    private static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull,
    };

    /// <summary>The kind of a reporter that gathers the objects for another actor (<see cref="ObjectsGathered"/>) instead of answering JSON.</summary>
    private const ushort GatherOnly = 0;

    private readonly ushort _kind;
    private readonly long _tag;
    private readonly IActorRef _replyTo;
    private readonly IntrospectSources _from;
    private readonly Dictionary<string, ContextObjects> _objects = new();
    private readonly Dictionary<string, PasidSetProtocol.SetState> _sets = new();
    private readonly Dictionary<string, IoasProtocol.Summary> _summaries = new(); // IOAS key -> what it maps (EXT_OBJECTS)
    private readonly HashSet<string> _summariesAsked = new();
    private bool _finished;
    private readonly List<OpenFileList> _nodes = new();
    private readonly Dictionary<string, string> _nodeOf = new(); // file id -> the node whose session holds it
    private readonly Dictionary<string, string> _runsOn = new(); // file id -> the node whose shard runs the context
    private ImmutableArray<OpenFile> _contexts = [];
    private PlatformSpec? _platform;
    private ImmutableArray<string>? _subscribers;
    private int _waiting;

    public static Props Props(ushort kind, long tag, IActorRef replyTo, byte[] request, IntrospectSources from) =>
        Akka.Actor.Props.Create(() => new IntrospectReporter(kind, tag, replyTo, request, from));

    /// <summary>
    /// Gathers every context's objects for <paramref name="replyTo"/>: answered <see cref="ObjectsGathered"/>,
    /// or a <see cref="StatusJson"/> with the errno when some context did not answer.
    /// </summary>
    public static Props Gather(long tag, IActorRef replyTo, IntrospectSources from) =>
        Akka.Actor.Props.Create(() => new IntrospectReporter(GatherOnly, tag, replyTo, Array.Empty<byte>(), from));

    public IntrospectReporter(ushort kind, long tag, IActorRef replyTo, byte[] request, IntrospectSources from)
    {
        _kind = kind;
        _tag = tag;
        _replyTo = replyTo;
        _from = from;
        var only = ContextOf(request);
        if (only is null)
        {
            Answer(Errno.EINVAL, new { });
            return;
        }
        Context.SetReceiveTimeout(TimeSpan.FromSeconds(10));
        Receive<ReceiveTimeout>(_ => Answer(Errno.ETIMEDOUT, new { }));
        var directories = from.Sessions();
        var unanswered = directories.Length;
        Receive<OpenFileList>(list =>
        {
            _nodes.Add(list);
            if (--unanswered == 0) OnOpenFiles(only);
        });
        Receive<ContextObjects>(OnContextObjects);
        Receive<IoasProtocol.Summary>(s =>
        {
            _summaries[s.IoasId] = s;
            FinishWhenAnswered();
        });
        // The file closed between the directory's answer and ours (its entity answers a request it does not know with EBADF).
        Receive<FileProtocol.Opened>(gone =>
        {
            _contexts = _contexts.RemoveAll(c => c.FileId == gone.FileId);
            Arrived();
        });
        Receive<PlatformProtocol.PlatformReply>(p => { _platform = p.Platform; Arrived(); });
        Receive<NotifierProtocol.Subscriptions>(s => { _subscribers = s.Names; Arrived(); });
        Receive<PasidSetProtocol.SetState>(s => { _sets[s.EntityId] = s; Arrived(); });
        foreach (var directory in directories)
            directory.Tell(new GetOpenFiles(), Self);
    }

    /// <summary>The context an EXT_OBJECTS names ("" for all); null for a malformed request.</summary>
    private static string? ContextOf(byte[] request)
    {
        if (request.Length == 0) return "";
        try
        {
            using var doc = JsonDocument.Parse(Encoding.UTF8.GetString(request));
            if (doc.RootElement.ValueKind != JsonValueKind.Object) return null;
            return doc.RootElement.TryGetProperty("context", out var c) ? c.ValueKind == JsonValueKind.String ? c.GetString() : null : "";
        }
        catch (Exception error) when (error is JsonException or DecoderFallbackException)
        {
            return null;
        }
    }

    private static bool IsContext(OpenFile f) => f.Path is FileActor.IommuPath or FileActor.VfioContainerPath;

    /// <summary>Every node has answered: the contexts of all, by session token (each session lives on one node), then fd.</summary>
    private void OnOpenFiles(string only)
    {
        foreach (var list in _nodes)
        foreach (var file in list.Files)
            _nodeOf[file.FileId] = list.Node;
        _contexts = [.. _nodes.SelectMany(l => l.Files).Where(f => IsContext(f) && (only.Length == 0 || f.FileId == only)).OrderBy(f => f.Token)];
        if (only.Length > 0 && _contexts.IsEmpty)
        {
            Answer(Errno.ENOENT, new { });
            return;
        }
        _waiting = _contexts.Length;
        foreach (var context in _contexts)
            _from.Files.Tell(new GetContextObjects(context.FileId, WithMappings: _kind == ExtensionKinds.Objects));
        if (_kind == ExtensionKinds.Graph)
        {
            _waiting += (_from.Platform is null ? 0 : 1) + (_from.Bus is null ? 0 : 1);
            _from.Platform?.Tell(new PlatformProtocol.GetPlatform());
            _from.Bus?.Tell(new NotifierProtocol.GetSubscriptions());
        }
        FinishWhenAnswered();
    }

    private void OnContextObjects(ContextObjects objects)
    {
        _objects[objects.FileId] = objects;
        _summariesAsked.UnionWith(objects.Summaries);
        // The context answered from its entity: a remote reference carries its node's address, a local one is this node.
        var address = Sender.Path.Address;
        _runsOn[objects.FileId] = (address.HasGlobalScope ? address : ((ExtendedActorSystem)Context.System).Provider.DefaultAddress).ToString();
        // A set is asked only when the context started it: asking would otherwise start an empty one.
        if (_kind == ExtensionKinds.Graph && objects.PasidSet.Length > 0 && _from.Sets is { } sets)
        {
            _waiting++;
            sets.Tell(new PasidSetProtocol.GetSet(objects.PasidSet));
        }
        Arrived();
    }

    private void Arrived()
    {
        --_waiting;
        FinishWhenAnswered();
    }

    /// <summary>Every context (and what else was asked) has answered, and every IOAS asked for its summary too (which may come first).</summary>
    private void FinishWhenAnswered()
    {
        if (_finished || _waiting > 0 || !_summariesAsked.IsSubsetOf(_summaries.Keys)) return;
        _finished = true;
        Finish();
    }

    private void Finish()
    {
        switch (_kind)
        {
            case GatherOnly:
                _replyTo.Tell(new ObjectsGathered(_tag, [.. _contexts.Where(c => _objects.ContainsKey(c.FileId)).Select(c => _objects[c.FileId])]));
                Context.Stop(Self);
                break;
            case ExtensionKinds.Contexts: Answer(0, new { contexts = _contexts.Select(ContextJson) }); break;
            case ExtensionKinds.Objects: Answer(0, new { objects = _contexts.SelectMany(c => ObjectsOf(c.FileId)) }); break;
            default: Answer(0, GraphJson()); break;
        }
    }

    private object ContextJson(OpenFile c)
    {
        var objects = _objects[c.FileId].Objects;
        return new
        {
            file = c.FileId,
            path = c.Path,
            session = c.Token.ToString("x16"),
            pid = c.Pid,
            client = c.ClientName,
            fds = c.Fds,
            connected = c.Connected,
            objects = objects.Length,
            kinds = objects.GroupBy(o => o.Kind).OrderBy(g => g.Key).ToDictionary(g => g.Key.ToString(), g => g.Count()),
            pasidSet = _objects[c.FileId].PasidSet,
            node = _nodeOf[c.FileId],
            runsOn = _runsOn.GetValueOrDefault(c.FileId, ""),
        };
    }

    private IEnumerable<object> ObjectsOf(string fileId) => _objects[fileId].Objects.Select(o => new
    {
        context = fileId,
        id = o.Id,
        kind = o.Kind.ToString(),
        uses = o.Uses,
        key = o.Key,
        pci = o.Pci,
        unit = o.Unit,
        attachments = o.Attachments.Select(a => new { pasid = a.Pasid, pt = a.PtId }),
        domain = o.Domain != 0 ? o.Domain : (int?)null,
        mappings = _summaries.TryGetValue(o.Key, out var m) && o.Kind == Fd.Objects.ObjectKind.Ioas
            ? new { count = m.Mappings, bytes = m.Bytes, pinnedPages = m.PinnedPages, chargedPages = m.ChargedPages }
            : null,
    });

    private object GraphJson()
    {
        var devices = _objects.Values.SelectMany(c => c.Objects).Where(o => o.Pci.Length > 0).Select(o => o.Pci).ToHashSet();
        var sets = _objects.Values.Where(c => c.PasidSet.Length > 0).Select(c => c.PasidSet).ToHashSet();
        return new
        {
            contexts = _contexts.Select(c => new
            {
                file = c.FileId,
                session = c.Token.ToString("x16"),
                pid = c.Pid,
                client = c.ClientName,
                pasidSet = _objects[c.FileId].PasidSet,
                objects = ObjectsOf(c.FileId),
            }),
            units = (_platform?.Units ?? []).Select(u => new { name = u.Name, kind = u.Kind.ToString() }),
            // Every device of the platform behind its unit; bound: some context's DEVICE is it.
            devices = (_platform?.Devices ?? []).Select(d => new { pci = d.Pci, unit = d.Unit, bound = devices.Contains(d.Pci) }),
            pasidSets = _sets.Values.OrderBy(s => s.EntityId, StringComparer.Ordinal).Select(s => new
            {
                key = s.EntityId,
                quota = s.Quota,
                pasids = s.Entries.Select(e => new { pasid = e.Pasid, state = e.State.ToString(), spid = e.Spid, binds = e.Binds }),
            }),
            // A subscriber of one set is named "<role>/<set>"; one without a set (the IOMMU driver) hears every set.
            subscribers = (_subscribers ?? []).Where(name => !name.StartsWith(TraceProtocol.SubscriberPrefix, StringComparison.Ordinal)).Select(name => new
            {
                name,
                set = name.IndexOf('/') is var slash and > 0 ? name[(slash + 1)..] : "",
            }).Where(s => s.set.Length == 0 || sets.Contains(s.set)),
        };
    }

    private void Answer(int errno, object body)
    {
        _replyTo.Tell(new StatusJson(_tag, errno, JsonSerializer.Serialize(body, Json)));
        Context.Stop(Self);
    }
}
