using System.Collections.Immutable;
using Akka.Actor;
using Akka.Event;
using Akka.Persistence;
using IommuActors.Core.Persistence;
using IommuActors.Fd.Files;
using IommuActors.Uapi;
using static IommuActors.Host.FrontDoor.SessionProtocol;

namespace IommuActors.Host.FrontDoor;

/// <summary>
/// The durable list of client sessions (token -> fd table -> file ids). A session whose
/// connection is gone without ending it (the host restarted, or the connection actor died) waits
/// the grace period for a HELLO with its token and is then released as a process exit would be.
/// </summary>
public sealed class SessionDirectoryActor : SnapshottingActor, IWithTimers
{
    public const string Name = "front-door-sessions";
    /// <summary>Sessions change a few times per client: a snapshot waits for at least this many events.</summary>
    private const int SnapshotFloor = 200;

    private readonly IActorRef _files;
    private readonly TimeSpan _grace;
    private readonly SessionBook _book = new();
    private readonly Dictionary<ulong, IActorRef> _connected = new();
    private readonly ILoggingAdapter _log = Context.GetLogger();

    public ITimerScheduler Timers { get; set; } = null!;

    public override string PersistenceId { get; }

    /// <summary>This node's address, which iommuctl shows beside each of its sessions.</summary>
    private readonly string _node;

    /// <param name="persistenceId">
    /// <see cref="Name"/> on the node that founds the cluster; a node that joins another keeps its sessions apart
    /// (<see cref="JoiningNodeId"/>), since both may share one store.
    /// </param>
    public static Props Props(IActorRef files, TimeSpan grace, string persistenceId = Name) =>
        Akka.Actor.Props.Create(() => new SessionDirectoryActor(files, grace, persistenceId));

    /// <summary>The journal of a joining node's sessions: named by its socket, which is what its clients resume through.</summary>
    public static string JoiningNodeId(string socketPath) => $"{Name}:{socketPath}";

    private sealed record GraceOver(ulong Token);

    public SessionDirectoryActor(IActorRef files, TimeSpan grace, string persistenceId) : base(SnapshotFloor)
    {
        _files = files;
        _grace = grace;
        PersistenceId = persistenceId;
        _node = ((ExtendedActorSystem)Context.System).Provider.DefaultAddress.ToString();

        Recover<SnapshotOffer>(o =>
        {
            if (o.Snapshot is SessionsSnapshot s) _book.Restore(s);
            SnapshotOffered(o.Metadata, _book.Sessions.Count + 1);
        });
        Recover<IommuActors.Core.Messaging.IPersistedEvent>(e => _book.Apply(e));
        Recover<RecoveryCompleted>(_ =>
        {
            RecoveredForSnapshots();
            StartGraceForAll();
        });

        Command<OpenSession>(OnOpen);
        Command<ResumeSession>(OnResume);
        Command<BindFd>(b => Record(new FdBound(b.Token, b.Fd, b.Entry.FileId, b.Entry.Path, b.NextOpen), b.Tag));
        Command<UnbindFd>(u => Record(new FdUnbound(u.Token, u.Fd), u.Tag));
        Command<EndSession>(e => Finish(e.Token));
        Command<GraceOver>(OnGraceOver);
        Command<Terminated>(OnConnectionGone);
        Command<GetSessions>(_ => Sender.Tell(new SessionList(_node, _book.Sessions
            .Select(kv => new SessionInfo(kv.Key, kv.Value.Pid, kv.Value.ClientName, kv.Value.Fds.Count, _connected.ContainsKey(kv.Key)))
            .OrderBy(s => s.Token).ToImmutableArray())));
        Command<GetOpenFiles>(_ => Sender.Tell(OpenFiles()));
        Command<FileProtocol.Released>(_ => { });
        SnapshotReplies();
    }

    private OpenFileList OpenFiles() => new(_node, [.. _book.Sessions.OrderBy(kv => kv.Key).SelectMany(kv => kv.Value.Fds
        .GroupBy(fd => fd.Value.FileId, StringComparer.Ordinal)
        .OrderBy(g => g.Min(fd => fd.Key))
        .Select(g => new OpenFile(g.Key, g.First().Value.Path, kv.Key, kv.Value.Pid, kv.Value.ClientName,
            [.. g.Select(fd => fd.Key).Order()], _connected.ContainsKey(kv.Key))))]);

    /// <summary>Every session found at start-up lost its connection with the previous host.</summary>
    private void StartGraceForAll()
    {
        foreach (var token in _book.Sessions.Keys)
            Timers.StartSingleTimer(token, new GraceOver(token), _grace);
        if (_book.Sessions.Count > 0)
            _log.Info("{0} client session(s) await a resume for {1}", _book.Sessions.Count, _grace);
    }

    private void OnOpen(OpenSession open)
    {
        var sender = Sender;
        Persist(new SessionBegun(open.Token, open.Pid, open.ClientName), e =>
        {
            Applied(e);
            Attach(open.Token, open.Connection);
            sender.Tell(new SessionOpened(open.Token));
        });
    }

    private void OnResume(ResumeSession resume)
    {
        var session = _book.Find(resume.Token);
        if (session is null)
            Sender.Tell(new ResumeRefused(resume.Token, Errno.ENOENT));
        else if (_connected.ContainsKey(resume.Token))
            Sender.Tell(new ResumeRefused(resume.Token, Errno.EBUSY));
        else
        {
            Timers.Cancel(resume.Token);
            Attach(resume.Token, resume.Connection);
            _log.Info("Session {0:x16} resumed with {1} fd(s)", resume.Token, session.Fds.Count);
            Sender.Tell(new SessionResumed(resume.Token, session));
        }
    }

    private void Record(IommuActors.Core.Messaging.IPersistedEvent e, long tag)
    {
        var sender = Sender;
        Persist(e, done => { Applied(done); sender.Tell(new FdRecorded(tag)); });
    }

    private void Finish(ulong token)
    {
        if (_connected.Remove(token, out var connection)) Context.Unwatch(connection);
        Timers.Cancel(token);
        if (!_book.Contains(token)) return;
        Persist(new SessionFinished(token), Applied);
    }

    private void OnGraceOver(GraceOver over)
    {
        var session = _book.Find(over.Token);
        if (session is null || _connected.ContainsKey(over.Token)) return;
        _log.Info("Session {0:x16} was not resumed within {1}; releasing its {2} file(s)", over.Token, _grace,
            session.Fds.Values.Select(f => f.FileId).Distinct().Count());
        foreach (var fileId in session.Fds.Values.Select(f => f.FileId).Distinct())
            _files.Tell(new FileProtocol.Release(fileId, Self));
        Finish(over.Token);
    }

    /// <summary>A connection that stopped without ending its session (it failed): the session waits as after a restart.</summary>
    private void OnConnectionGone(Terminated gone)
    {
        foreach (var token in _connected.Where(kv => kv.Value.Equals(gone.ActorRef)).Select(kv => kv.Key).ToList())
        {
            _connected.Remove(token);
            if (_book.Contains(token)) Timers.StartSingleTimer(token, new GraceOver(token), _grace);
        }
    }

    private void Attach(ulong token, IActorRef connection)
    {
        _connected[token] = connection;
        Context.Watch(connection);
    }

    private void Applied(IommuActors.Core.Messaging.IPersistedEvent e)
    {
        _book.Apply(e);
        SnapshotIfDue(_book.Sessions.Count + 1, () => new SessionsSnapshot(_book.Sessions));
    }
}
