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
/// the grace period for a HELLO with its token and is then released as a process exit would be;
/// at once when its process is gone (checked every second while it waits, <see cref="ProcessLiveness"/>),
/// or when an operator releases it (iommuctl release).
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
    /// <summary>When each session awaiting a resume is released if nobody resumes it.</summary>
    private readonly Dictionary<ulong, DateTime> _deadlines = new();
    private static readonly TimeSpan ProcessCheckEvery = TimeSpan.FromSeconds(1);
    private readonly ILoggingAdapter _log = Context.GetLogger();

    public ITimerScheduler Timers { get; set; } = null!;

    public override string PersistenceId { get; }

    /// <summary>This node's address, which iommuctl shows beside each of its sessions.</summary>
    private readonly string _node;

    /// <param name="persistenceId">
    /// <see cref="Name"/> on the node that founds the cluster; a node that joins another keeps its sessions apart
    /// (<see cref="JoiningNodeId"/>), since both may share one store.
    /// </param>
    /// <param name="operatorLog">
    /// Where what an operator acts on (sessions awaiting a resume, released, resumed) is said: the
    /// host's log, which shows Information while Akka's own is kept to warnings; null for Akka's log.
    /// </param>
    public static Props Props(IActorRef files, TimeSpan grace, string persistenceId = Name,
        Microsoft.Extensions.Logging.ILogger? operatorLog = null) =>
        Akka.Actor.Props.Create(() => new SessionDirectoryActor(files, grace, persistenceId, operatorLog));

    /// <summary>The journal of a joining node's sessions: named by its socket, which is what its clients resume through.</summary>
    public static string JoiningNodeId(string socketPath) => $"{Name}:{socketPath}";

    private sealed record GraceOver(ulong Token);

    /// <summary>Look for sessions awaiting a resume whose process has gone.</summary>
    private sealed record CheckProcesses
    {
        public static readonly CheckProcesses Instance = new();
    }

    private readonly Microsoft.Extensions.Logging.ILogger? _operatorLog;

    public SessionDirectoryActor(IActorRef files, TimeSpan grace, string persistenceId, Microsoft.Extensions.Logging.ILogger? operatorLog = null)
        : base(SnapshotFloor)
    {
        _operatorLog = operatorLog;
        _files = files;
        _grace = grace;
        PersistenceId = persistenceId;
        _node = ((ExtendedActorSystem)Context.System).Provider.DefaultAddress.ToString();

        Recover<SnapshotOffer>(o =>
        {
            if (o.Snapshot is SessionsProcessSnapshot p) _book.Restore(p);
            else if (o.Snapshot is SessionsSnapshot s) _book.Restore(s);
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
        Command<GraceOver>(over => Release(over.Token, $"was not resumed within {_grace}"));
        Command<CheckProcesses>(_ => ReleaseTheDead());
        Command<ReleaseSession>(OnReleaseSession);
        Command<Terminated>(OnConnectionGone);
        Command<GetSessions>(_ => Sender.Tell(new SessionList(_node, _book.Sessions
            .Select(kv => new SessionInfo(kv.Key, kv.Value.Pid, kv.Value.ClientName, kv.Value.Fds.Count, _connected.ContainsKey(kv.Key),
                _deadlines.TryGetValue(kv.Key, out var deadline) ? Max(deadline - DateTime.UtcNow, TimeSpan.Zero) : null))
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

    /// <summary>Every session found at start-up lost its connection with the previous host; those whose process is gone are released now.</summary>
    private void StartGraceForAll()
    {
        foreach (var token in _book.Sessions.Keys)
            StartGrace(token);
        ReleaseTheDead();
        if (_deadlines.Count > 0)
            Say($"{_deadlines.Count} client session(s) await a resume for {_grace} (iommuctl sessions lists them)");
    }

    private void StartGrace(ulong token)
    {
        Timers.StartSingleTimer(token, new GraceOver(token), _grace);
        _deadlines[token] = DateTime.UtcNow + _grace;
        Telemetry.HostMetrics.Sessions(_book.Sessions.Count, _deadlines.Count);
        if (!Timers.IsTimerActive(CheckProcesses.Instance))
            Timers.StartPeriodicTimer(CheckProcesses.Instance, CheckProcesses.Instance, ProcessCheckEvery);
    }

    /// <summary>A session awaiting a resume whose process has exited (or whose pid now names another process) will never be resumed.</summary>
    private void ReleaseTheDead()
    {
        foreach (var token in _deadlines.Keys.ToList())
            if (_book.Processes.TryGetValue(token, out var process) && !ProcessLiveness.IsAlive(process.Pid, process.StartTime))
                Release(token, $"lost its process {process.Pid}, which has exited");
        if (_deadlines.Count == 0) Timers.Cancel(CheckProcesses.Instance);
    }

    private void OnReleaseSession(ReleaseSession release)
    {
        var session = _book.Find(release.Token);
        if (session is null)
            Sender.Tell(new SessionReleaseResult(release.Token, Errno.ENOENT, 0, 0, _node));
        else if (_connected.ContainsKey(release.Token))
            Sender.Tell(new SessionReleaseResult(release.Token, Errno.EBUSY, 0, session.Pid, _node));
        else
            Sender.Tell(new SessionReleaseResult(release.Token, 0, Release(release.Token, "was released by an operator (iommuctl release)"), session.Pid, _node));
    }

    private void Say(string line)
    {
        if (_operatorLog is null) _log.Info(line);
        else Microsoft.Extensions.Logging.LoggerExtensions.LogInformation(_operatorLog, "{Line}", line);
    }

    private static TimeSpan Max(TimeSpan a, TimeSpan b) => a > b ? a : b;

    private void OnOpen(OpenSession open)
    {
        var sender = Sender;
        Persist(new SessionBegun(open.Token, open.Pid, open.ClientName), e =>
        {
            Applied(e);
            Attach(open.Token, open.Connection);
            RecordProcess(open.Token, open.PeerPid, () => sender.Tell(new SessionOpened(open.Token)));
        });
    }

    /// <summary>Journals which process holds the session (unless known already), then goes on.</summary>
    private void RecordProcess(ulong token, uint pid, Action then)
    {
        var start = pid == 0 ? null : ProcessLiveness.StartTime(pid);
        if (start is null || _book.Processes.GetValueOrDefault(token) is { } known && known.Pid == pid && known.StartTime == start)
        {
            then();
            return;
        }
        Persist(new SessionProcess(token, pid, start.Value), e => { Applied(e); then(); });
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
            _deadlines.Remove(resume.Token);
            Telemetry.HostMetrics.Sessions(_book.Sessions.Count, _deadlines.Count);
            Attach(resume.Token, resume.Connection);
            Say($"Session {resume.Token:x16} resumed with {session.Fds.Count} fd(s)");
            var sender = Sender;
            RecordProcess(resume.Token, resume.PeerPid, () => sender.Tell(new SessionResumed(resume.Token, session)));
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
        _deadlines.Remove(token);
        if (!_book.Contains(token)) return;
        Persist(new SessionFinished(token), Applied);
    }

    /// <summary>Releases the files of a session no connection holds, as its process's exit would; the number of files.</summary>
    private int Release(ulong token, string why)
    {
        var session = _book.Find(token);
        if (session is null || _connected.ContainsKey(token)) return 0;
        var files = session.Fds.Values.Select(f => f.FileId).Distinct().ToList();
        Say($"Session {token:x16} of pid {session.Pid} ({session.ClientName}) {why}; releasing its {files.Count} file(s)");
        foreach (var fileId in files)
            _files.Tell(new FileProtocol.Release(fileId, Self));
        Finish(token);
        return files.Count;
    }

    /// <summary>A connection that stopped without ending its session (it failed): the session waits as after a restart.</summary>
    private void OnConnectionGone(Terminated gone)
    {
        foreach (var token in _connected.Where(kv => kv.Value.Equals(gone.ActorRef)).Select(kv => kv.Key).ToList())
        {
            _connected.Remove(token);
            if (_book.Contains(token)) StartGrace(token);
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
        Telemetry.HostMetrics.Sessions(_book.Sessions.Count, _deadlines.Count);
        SnapshotIfDue(_book.Sessions.Count + 1, () => _book.Snapshot());
    }
}
