using System.Buffers.Binary;
using System.Collections.Immutable;
using System.Security.Cryptography;
using System.Text;
using Akka.Actor;
using Akka.Event;
using IommuActors.Fd.Files;
using IommuActors.Uapi;
using IommuActors.Uapi.Wire;
using static IommuActors.Host.FrontDoor.ConnectionProtocol;
using static IommuActors.Host.FrontDoor.SessionProtocol;

namespace IommuActors.Host.FrontDoor;

/// <summary>Who is on the other end of the socket (SO_PEERCRED) and what the connection works with.</summary>
public sealed record ConnectionContext(
    FrameSink Sink,
    uint PeerPid,
    uint PeerUid,
    IActorRef Files,
    IActorRef Sessions,
    IStatusSource Status,
    FrontDoorSettings Settings,
    IActorRef? Bus = null,
    IActorRef? TraceRelay = null);

/// <summary>Answers the project's extension requests (iommuctl status, platform) with JSON.</summary>
public interface IStatusSource
{
    /// <summary>Asked from inside the connection actor: must not block; sends <see cref="StatusJson"/> to <paramref name="replyTo"/>.</summary>
    void Describe(ushort kind, long tag, IActorRef replyTo, byte[] request);
}

public sealed record StatusJson(long Tag, int Errno, string Json);

/// <summary>
/// One client process: its session, its fd table, and the translation of its frames onto
/// <see cref="FileProtocol"/>. Requests on different fds run concurrently; replies on one fd
/// leave in request order (<see cref="ReplyLanes{TReply}"/>).
/// </summary>
public sealed class ConnectionActor : ReceiveActor, IWithTimers, IWithUnboundedStash
{
    public const string ServerName = "iommu-actors";

    private readonly ConnectionContext _ctx;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly ReplyLanes<IWireBody> _lanes = new();
    private readonly Dictionary<int, FdEntry> _fds = new();
    private readonly HashSet<int> _opening = new();
    private readonly Dictionary<int, List<(ulong Seq, IWireBody Body)>> _deferred = new();
    private readonly Dictionary<long, FileCall> _fileCalls = new(); // tag -> the request waiting for its file
    private readonly Dictionary<string, (int Fd, long Slot, string Path)> _opens = new();
    private readonly Dictionary<long, Action> _afterRecord = new();
    private readonly Dictionary<string, Action> _releasing = new(); // file id -> the CLOSE waiting for its release
    private readonly Dictionary<ulong, Action<RawFrame>> _clientReplies = new();
    private readonly Dictionary<long, ClientCall> _calls = new();
    private readonly Dictionary<long, (ushort Kind, ulong Seq)> _extensions = new();
    private readonly Dictionary<long, (int Fd, uint Request, ulong Arg, byte[] Given, long Started)> _ioctls = new(); // tag -> what iommuctl trace and the metrics show
    private readonly Dictionary<string, IActorRef> _serving = new(); // file id -> the actor serving it (watched), where known
    private readonly Dictionary<string, IActorRef> _direct = new(); // file id -> the actor serving it, when it runs on this node
    private readonly HashSet<string> _relocating = new(); // files whose actor stopped, asked where they run now
    private IActorRef? _tracer;
    private ulong _token;
    private uint _pid;
    private long _nextOpen = 1;
    private long _nextTag;
    private ulong _serverSeq;
    private bool _ended;

    public ITimerScheduler Timers { get; set; } = null!;
    public IStash Stash { get; set; } = null!;

    public static Props Props(ConnectionContext ctx) => Akka.Actor.Props.Create(() => new ConnectionActor(ctx));

    /// <summary>A request of ours to the client (memory or NEW_FD) on behalf of a file, with its deadline.</summary>
    private sealed class ClientCall(long id, IActorRef requester, Action<int> fail)
    {
        public long Id { get; } = id;
        public IActorRef Requester { get; } = requester;
        public Action<int> Fail { get; } = fail;
        public List<ulong> Seqs { get; } = [];
        public int Outstanding { get; set; }
    }

    private sealed record CallTimedOut(long Id);

    /// <summary>A request sent to a file: its reply's place in the fd's lane, and when it left.</summary>
    private readonly record struct FileCall(long Slot, string FileId, FrameKind Kind, long Started);

    /// <summary>Time to answer ETIMEDOUT to the requests that waited longer than Iommu:RequestTimeout.</summary>
    private sealed record SweepCalls
    {
        public static readonly SweepCalls Instance = new();
    }

    public ConnectionActor(ConnectionContext ctx)
    {
        _ctx = ctx;
        AwaitingHello();
    }

    private int MaxFrame => _ctx.Settings.MaxFrame;

    // ---------------- before HELLO ----------------

    private void AwaitingHello()
    {
        Receive<FrameReceived>(r => OnFirstFrame(r.Frame));
        Receive<FrameUnreadable>(u => { SendErrno(u.Kind, u.Seq, Errno.EPROTO); Close(); });
        Receive<ClientGone>(_ => Close());
    }

    private void OnFirstFrame(RawFrame frame)
    {
        if (frame.Kind != (ushort)FrameKind.Hello || frame.IsReply
            || WireBodies.TryParse(frame, out var body) != 0 || body is not HelloRequest hello)
        {
            SendErrno(frame.Kind, frame.Seq, Errno.EPROTO);
            Close();
            return;
        }
        if (!_ctx.Settings.AllowedUids.Contains(_ctx.PeerUid))
        {
            _log.Warning("Refused a client with uid {0} (pid {1}): not in Iommu:AllowedUids", _ctx.PeerUid, _ctx.PeerPid);
            ReplyHello(frame.Seq, Errno.EACCES, 0);
            Close();
            return;
        }
        if (hello.Version != WireFormat.Version)
        {
            ReplyHello(frame.Seq, Errno.EPROTO, 0);
            Close();
            return;
        }
        _pid = hello.Pid;
        if (hello.ResumeToken == 0)
        {
            var token = NewToken();
            _ctx.Sessions.Tell(new OpenSession(token, hello.Pid, hello.ClientName, Self, _ctx.PeerPid));
        }
        else
        {
            _ctx.Sessions.Tell(new ResumeSession(hello.ResumeToken, hello.Pid, Self, _ctx.PeerPid));
        }
        Become(() => JoiningSession(frame.Seq));
    }

    private void JoiningSession(ulong helloSeq)
    {
        Receive<SessionOpened>(o => Joined(helloSeq, o.Token, SessionRecord.New(0, "")));
        Receive<SessionResumed>(r => Joined(helloSeq, r.Token, r.Session));
        Receive<ResumeRefused>(r => { ReplyHello(helloSeq, r.Errno, 0); Close(); });
        Receive<ClientGone>(_ => Close());
        ReceiveAny(_ => Stash.Stash());
    }

    private void Joined(ulong helloSeq, ulong token, SessionRecord session)
    {
        _token = token;
        _nextOpen = session.NextOpen;
        foreach (var (fd, entry) in session.Fds) _fds[fd] = entry;
        // Requests of resumed fds wait until their file says which actor serves it (LocateFiles).
        LocateFiles();
        var limit = _ctx.Settings.RequestTimeout;
        if (limit > TimeSpan.Zero)
            Timers.StartPeriodicTimer("sweep", SweepCalls.Instance, TimeSpan.FromMilliseconds(Math.Clamp(limit.TotalMilliseconds / 4, 100, 5000)));
        ReplyHello(helloSeq, 0, token);
        Become(Serving);
        Stash.UnstashAll();
    }

    private void ReplyHello(ulong seq, int errno, ulong token) =>
        _ctx.Sink.Send(seq, new HelloReply(errno, WireFormat.Version, (uint)MaxFrame, token, ServerName));

    private static ulong NewToken()
    {
        Span<byte> b = stackalloc byte[8];
        ulong token;
        do { RandomNumberGenerator.Fill(b); token = BinaryPrimitives.ReadUInt64LittleEndian(b); } while (token == 0);
        return token;
    }

    // ---------------- serving ----------------

    private void Serving()
    {
        Receive<FrameReceived>(r => OnFrame(r.Frame));
        Receive<FrameUnreadable>(u => { SendErrno(u.Kind, u.Seq, Errno.EPROTO); Drop("unreadable frame: " + u.Reason); });
        Receive<ClientGone>(g => Drop(g.Reason));

        Receive<FileProtocol.Opened>(OnOpened);
        Receive<FileProtocol.Located>(OnLocated);
        Receive<Terminated>(t => Lost(t.ActorRef));
        Receive<SweepCalls>(_ => Sweep());
        Receive<FileProtocol.IoctlDone>(d =>
        {
            Traced(d);
            FinishCall(d.Tag, new IoctlReply(d.Errno, d.ReturnValue, d.Errno == 0 ? d.Writeback : []));
        });
        Receive<FileProtocol.ReadDone>(d => FinishCall(d.Tag, new ReadReply(d.Errno, d.Errno == 0 ? d.Data : [])));
        Receive<FileProtocol.WriteDone>(d => FinishCall(d.Tag, new WriteReply(d.Errno, d.Errno == 0 ? d.Written : 0)));
        Receive<FileProtocol.Released>(r => { if (_releasing.Remove(r.FileId, out var then)) then(); });
        Receive<FdRecorded>(r => { if (_afterRecord.Remove(r.Tag, out var then)) then(); });

        Receive<FileProtocol.ReadMemory>(OnReadMemory);
        Receive<FileProtocol.WriteMemory>(OnWriteMemory);
        Receive<Domains.Pages.CheckUserPages>(OnCheckUserPages);
        Receive<FileProtocol.InstallFd>(OnInstallFd);
        Receive<FileProtocol.ResolveFd>(r => Sender.Tell(_fds.TryGetValue(r.Fd, out var e)
            ? new FileProtocol.FdResolved(r.Tag, 0, e.FileId, e.Path)
            : new FileProtocol.FdResolved(r.Tag, Errno.EBADF, "", "")));
        Receive<FileProtocol.FileReady>(OnFileReady);
        Receive<CallTimedOut>(t => { if (_calls.TryGetValue(t.Id, out var call)) FailCall(call, Errno.EFAULT); });

        Receive<StatusJson>(OnStatusJson);
        Receive<TraceProtocol.TraceStarted>(_ => OnStatusJson(new StatusJson(TraceTag, 0, "{}")));
        Receive<TraceProtocol.TraceLine>(l =>
            _ctx.Sink.Send(new OutgoingFrame(ExtensionKinds.TraceEvent, FrameFlags.None, ++_serverSeq, Encoding.UTF8.GetBytes(l.Json))));
    }

    private void OnFrame(RawFrame frame)
    {
        if (frame.IsReply)
        {
            if (_clientReplies.Remove(frame.Seq, out var handle)) handle(frame);
            return;
        }
        if (frame.Kind >= ExtensionKinds.First)
        {
            OnExtension(frame);
            return;
        }
        if (WireBodies.TryParse(frame, out var body) != 0 || body is null)
        {
            SendErrno(frame.Kind, frame.Seq, Errno.EINVAL);
            return;
        }
        Dispatch(frame.Seq, body);
    }

    private static int? FdOf(IWireBody body) => body switch
    {
        OpenRequest o => o.Fd,
        CloseRequest c => c.Fd,
        IoctlRequest i => i.Fd,
        ReadRequest r => r.Fd,
        WriteRequest w => w.Fd,
        DupRequest d => d.OldFd,
        _ => null,
    };

    private void Dispatch(ulong seq, IWireBody body)
    {
        if (FdOf(body) is { } fd && _deferred.TryGetValue(fd, out var waiting))
        {
            // The fd is being opened: whether it exists is not known yet.
            waiting.Add((seq, body));
            return;
        }
        switch (body)
        {
            case OpenRequest open: Open(seq, open); break;
            case CloseRequest close: CloseFd(seq, close); break;
            case DupRequest dup: Dup(seq, dup); break;
            case IoctlRequest ioctl:
                if (Forward(seq, ioctl.Fd, body, (id, tag) => new FileProtocol.Ioctl(id, tag, ioctl.Request, ioctl.Arg, ioctl.Inline, Self,
                        new FileProtocol.Caller(_ctx.PeerUid, _ctx.PeerPid, _ctx.Settings.HasCapSysResource(_ctx.PeerUid)))) is var tag and > 0)
                {
                    _ioctls[tag] = (ioctl.Fd, ioctl.Request, ioctl.Arg, ioctl.Inline, Telemetry.HostMetrics.Started());
                    Telemetry.HostMetrics.IoctlSent();
                }
                break;
            case ReadRequest read:
                Forward(seq, read.Fd, body, (id, tag) => new FileProtocol.Read(id, tag, read.Count, Self));
                break;
            case WriteRequest write:
                Forward(seq, write.Fd, body, (id, tag) => new FileProtocol.Write(id, tag, write.Data, Self));
                break;
            default:
                // HELLO again, or a server-side kind sent by the client.
                SendErrno((ushort)body.Kind, seq, Errno.EINVAL);
                break;
        }
    }

    /// <summary>Sends the request to the fd's file; returns its tag, or 0 when the fd is not open (answered EBADF).</summary>
    private long Forward(ulong seq, int fd, IWireBody body, Func<string, long, FileProtocol.IFileRequest> request)
    {
        var slot = _lanes.Enter(fd, seq);
        if (!_fds.TryGetValue(fd, out var entry))
        {
            Complete(slot, ErrorBody(body.Kind, Errno.EBADF));
            return 0;
        }
        var tag = ++_nextTag;
        _fileCalls[tag] = new FileCall(slot, entry.FileId, body.Kind, Environment.TickCount64);
        (_direct.GetValueOrDefault(entry.FileId) ?? _ctx.Files).Tell(request(entry.FileId, tag));
        return tag;
    }

    /// <summary>iommuctl trace: the answered ioctl goes on the node's event stream.</summary>
    private void Traced(FileProtocol.IoctlDone done)
    {
        if (!_ioctls.Remove(done.Tag, out var call)) return;
        var path = _fds.TryGetValue(call.Fd, out var entry) ? entry.Path : "";
        var traced = new TraceProtocol.IoctlTraced(_token, _pid, call.Fd, done.FileId, path, call.Request, done.Errno, done.ReturnValue, done.Note,
            call.Arg, call.Given, done.Errno == 0 ? done.Writeback : []);
        Context.System.EventStream.Publish(traced);
        Telemetry.HostMetrics.IoctlAnswered(TraceActor.NameOf(traced), done.Errno, call.Started);
    }

    /// <summary>iommuctl trace: an OPEN or CLOSE answered, on the node's event stream.</summary>
    private void TracedFile(int fd, string op, string path, string fileId, int errno, bool released = false) =>
        Context.System.EventStream.Publish(new TraceProtocol.FileTraced(_token, _pid, fd, op, path, fileId, errno, released));

    private void FinishCall(long tag, IWireBody reply)
    {
        if (_fileCalls.Remove(tag, out var call)) Complete(call.Slot, reply);
    }

    // ---------------- requests whose answer will not come ----------------
    //
    // A request is lost when the node running its file dies with it (the file's actor is watched
    // wherever it runs: its Terminated comes when that node is removed from the cluster), or when no
    // answer comes within Iommu:RequestTimeout. Either way it is answered ETIMEDOUT (whether its effect
    // took hold is not known: the client asks), so that the fd's later replies, which leave in request
    // order, are not held behind it. A late answer is dropped. Later requests go through the region,
    // which brings the file's entity back on a living node, recovered from the journal.

    private void Unanswered(long tag)
    {
        if (!_fileCalls.Remove(tag, out var call)) return;
        _ioctls.Remove(tag);
        Complete(call.Slot, ErrorBody(call.Kind, Errno.ETIMEDOUT));
    }

    private void Sweep()
    {
        var before = Environment.TickCount64 - (long)_ctx.Settings.RequestTimeout.TotalMilliseconds;
        foreach (var tag in _fileCalls.Where(kv => kv.Value.Started <= before).Select(kv => kv.Key).ToList())
            Unanswered(tag);
    }

    /// <summary>The actor serving these files stopped: what it had not answered, it never will.</summary>
    private void Lost(IActorRef file)
    {
        var files = _serving.Where(kv => kv.Value.Equals(file)).Select(kv => kv.Key).ToHashSet();
        foreach (var fileId in files)
        {
            _serving.Remove(fileId);
            _direct.Remove(fileId);
        }
        foreach (var tag in _fileCalls.Where(kv => files.Contains(kv.Value.FileId)).Select(kv => kv.Key).OrderBy(t => t).ToList())
            Unanswered(tag);
        // Watch the file's next actor, wherever the region starts it (through the region from now on).
        foreach (var fileId in files.Where(id => _fds.Values.Any(e => e.FileId == id)))
        {
            _relocating.Add(fileId);
            _ctx.Files.Tell(new FileProtocol.Locate(fileId));
        }
    }

    private void Open(ulong seq, OpenRequest open)
    {
        var slot = _lanes.Enter(open.Fd, seq);
        if (open.Fd < 0 || _fds.ContainsKey(open.Fd) || _opening.Contains(open.Fd))
        {
            Complete(slot, new StatusReply(FrameKind.Open, Errno.EBADF));
            TracedFile(open.Fd, "open", open.Path, "", Errno.EBADF);
            return;
        }
        var fileId = $"{_token:x16}-{_nextOpen++}";
        _opening.Add(open.Fd);
        _deferred[open.Fd] = [];
        _opens[fileId] = (open.Fd, slot, open.Path);
        _ctx.Files.Tell(new FileProtocol.Open(fileId, open.Path, open.Flags, Self));
    }

    private void OnOpened(FileProtocol.Opened opened)
    {
        if (!_opens.Remove(opened.FileId, out var open)) return;
        if (opened.Errno != 0)
        {
            _opening.Remove(open.Fd);
            Complete(open.Slot, new StatusReply(FrameKind.Open, opened.Errno));
            TracedFile(open.Fd, "open", open.Path, "", opened.Errno);
            Undefer(open.Fd);
            return;
        }
        Direct(opened.FileId, opened.File);
        Bind(open.Fd, new FdEntry(opened.FileId, open.Path), () =>
        {
            _opening.Remove(open.Fd);
            Complete(open.Slot, new StatusReply(FrameKind.Open, 0));
            TracedFile(open.Fd, "open", open.Path, opened.FileId, 0);
            Undefer(open.Fd);
        });
    }

    /// <summary>Requests that waited for an OPEN of their fd run now, in their order.</summary>
    private void Undefer(int fd)
    {
        if (!_deferred.Remove(fd, out var waiting)) return;
        foreach (var (seq, body) in waiting) Dispatch(seq, body);
    }

    /// <summary>The fd names the file from now on; <paramref name="then"/> runs once the session record is durable.</summary>
    private void Bind(int fd, FdEntry entry, Action then)
    {
        _fds[fd] = entry;
        var tag = ++_nextTag;
        _afterRecord[tag] = then;
        _ctx.Sessions.Tell(new BindFd(_token, tag, fd, entry, _nextOpen));
    }

    private void CloseFd(ulong seq, CloseRequest close)
    {
        var slot = _lanes.Enter(close.Fd, seq);
        if (!_fds.Remove(close.Fd, out var entry))
        {
            Complete(slot, new StatusReply(FrameKind.Close, Errno.EBADF));
            TracedFile(close.Fd, "close", "", "", Errno.EBADF);
            return;
        }
        // The kernel's release runs when the last fd naming the file goes, and close() returns after
        // it (the final fput's work runs before the return to user space): what the file held is gone
        // by the reply, so an IOMMU_DESTROY right after the close of an access's fd finds the IOAS free.
        var releases = !_fds.Values.Any(e => e.FileId == entry.FileId);
        var waiting = releases ? 2 : 1;
        void Answered()
        {
            if (--waiting != 0) return;
            Complete(slot, new StatusReply(FrameKind.Close, 0));
            TracedFile(close.Fd, "close", entry.Path, entry.FileId, 0, releases);
        }
        if (releases)
        {
            _direct.Remove(entry.FileId);
            _relocating.Remove(entry.FileId);
            if (_serving.Remove(entry.FileId, out var served)) Context.Unwatch(served);
            _releasing[entry.FileId] = Answered;
            _ctx.Files.Tell(new FileProtocol.Release(entry.FileId, Self));
        }
        var tag = ++_nextTag;
        _afterRecord[tag] = Answered;
        _ctx.Sessions.Tell(new UnbindFd(_token, tag, close.Fd));
    }

    // ---------------- the direct route to a file's actor ----------------
    //
    // A request for a file goes through the file region (region, shard, file entity, then the actor
    // of the file: four mailboxes). Once the connection knows the actor and it runs on this node, it
    // sends there directly. Ordering holds: the actor is learnt from a reply sent after everything
    // sent through the region before (the OPEN's own reply, or LOCATE's while the fd's requests
    // wait), and a direct send to a local actor is in its mailbox before anything sent after it
    // by any route. A remote actor is always reached through the region. File entities are never
    // passivated; when the actor stops, the route falls back to the region.

    private void Direct(string fileId, IActorRef? file)
    {
        if (!Serve(fileId, file)) return;
        if (file is IInternalActorRef { IsLocal: true }) _direct[fileId] = file;
    }

    /// <summary>Watches the actor serving the file, wherever it runs; false when it is not known or already watched.</summary>
    private bool Serve(string fileId, IActorRef? file)
    {
        if (file is null || _serving.ContainsKey(fileId)) return false;
        _serving[fileId] = file;
        Context.Watch(file);
        return true;
    }

    private void LocateFiles()
    {
        foreach (var (fd, _) in _fds) _deferred[fd] = [];
        foreach (var fileId in _fds.Values.Select(e => e.FileId).Distinct())
            _ctx.Files.Tell(new FileProtocol.Locate(fileId));
    }

    private void OnLocated(FileProtocol.Located located)
    {
        if (_relocating.Remove(located.FileId))
        {
            // After a loss, requests already went through the region: a direct send could overtake them.
            if (_fds.Values.Any(e => e.FileId == located.FileId)) Serve(located.FileId, located.File);
            return;
        }
        Direct(located.FileId, located.File);
        foreach (var fd in _fds.Where(kv => kv.Value.FileId == located.FileId).Select(kv => kv.Key).ToList())
            Undefer(fd);
    }

    private void Dup(ulong seq, DupRequest dup)
    {
        var slot = _lanes.Enter(dup.OldFd, seq);
        if (!_fds.TryGetValue(dup.OldFd, out var entry) || dup.NewFd < 0 || _fds.ContainsKey(dup.NewFd)
            || _opening.Contains(dup.NewFd))
        {
            Complete(slot, new StatusReply(FrameKind.Dup, Errno.EBADF));
            return;
        }
        Bind(dup.NewFd, entry, () => Complete(slot, new StatusReply(FrameKind.Dup, 0)));
    }

    private void Complete(long slot, IWireBody reply)
    {
        foreach (var (seq, body) in _lanes.Complete(slot, reply)) _ctx.Sink.Send(seq, body);
    }

    // ---------------- requests of files to the client ----------------

    private int ReadChunk => MaxFrame - WireFormat.HeaderSize - 4;
    private int WriteChunk => MaxFrame - WireFormat.HeaderSize - 8;

    private void OnReadMemory(FileProtocol.ReadMemory read)
    {
        var requester = Sender;
        if (read.Length == 0)
        {
            requester.Tell(new FileProtocol.MemoryRead(read.Tag, 0, []));
            return;
        }
        var buffer = new byte[read.Length];
        var call = NewCall(requester, errno => requester.Tell(new FileProtocol.MemoryRead(read.Tag, errno, [])));
        for (long offset = 0; offset < read.Length; offset += ReadChunk)
        {
            var at = (int)offset;
            var length = (int)Math.Min(ReadChunk, read.Length - offset);
            AskClient(call, new MemReadRequest(read.Address + (ulong)offset, (uint)length), reply =>
            {
                if (WireBodies.TryParse(reply, out var body) != 0 || body is not MemReadReply r) return Errno.EFAULT;
                if (r.Errno != 0) return r.Errno;
                if (r.Data.Length != length) return Errno.EFAULT;
                r.Data.CopyTo(buffer, at);
                return 0;
            }, () => requester.Tell(new FileProtocol.MemoryRead(read.Tag, 0, buffer)));
        }
    }

    private void OnWriteMemory(FileProtocol.WriteMemory write)
    {
        var requester = Sender;
        if (write.Data.Length == 0)
        {
            requester.Tell(new FileProtocol.MemoryWritten(write.Tag, 0));
            return;
        }
        var call = NewCall(requester, errno => requester.Tell(new FileProtocol.MemoryWritten(write.Tag, errno)));
        for (var offset = 0; offset < write.Data.Length; offset += WriteChunk)
        {
            var chunk = write.Data.AsSpan(offset, Math.Min(WriteChunk, write.Data.Length - offset)).ToArray();
            AskClient(call, new MemWriteRequest(write.Address + (ulong)offset, chunk), reply =>
                WireBodies.TryParse(reply, out var body) != 0 || body is not StatusReply s ? Errno.EFAULT : s.Errno,
                () => requester.Tell(new FileProtocol.MemoryWritten(write.Tag, 0)));
        }
    }

    /// <summary>
    /// Whether the client's pages could be pinned now: one EXT_MEM_CHECK, whatever the length. A
    /// client that does not know the request (EINVAL) cannot tell, and the pages are taken as they are.
    /// </summary>
    private void OnCheckUserPages(Domains.Pages.CheckUserPages check)
    {
        var requester = Sender;
        var call = NewCall(requester, errno => requester.Tell(new Domains.Pages.UserPagesChecked(errno)));
        AskClient(call, new MemCheckRequest(check.Address, check.Length, check.Write ? MemCheckRequest.Write : 0),
            reply => MemCheckReply.ErrnoOf(reply.Body) is var errno && errno == Errno.EINVAL ? 0 : errno,
            () => requester.Tell(new Domains.Pages.UserPagesChecked(0)));
    }

    private void OnInstallFd(FileProtocol.InstallFd install)
    {
        var requester = Sender;
        var call = NewCall(requester, errno => requester.Tell(new FileProtocol.FdInstalled(install.Tag, errno, -1)));
        var chosen = -1;
        AskClient(call, new NewFdRequest(install.Kind), reply =>
        {
            if (WireBodies.TryParse(reply, out var body) != 0 || body is not NewFdReply r) return Errno.EFAULT;
            if (r.Errno != 0) return r.Errno;
            if (r.Fd < 0 || _fds.ContainsKey(r.Fd) || _opening.Contains(r.Fd)) return Errno.EBADF;
            chosen = r.Fd;
            return 0;
        }, () =>
        {
            var path = install.Kind switch
            {
                NewFdKind.EventQueue => "anon_inode:[iommufd-veventq]",
                NewFdKind.SelftestAccess => "anon_inode:[iommufd_test_staccess]",
                _ => "anon_inode:[iommufd-fault]",
            };
            Bind(chosen, new FdEntry(install.NewFileId, path),
                () => requester.Tell(new FileProtocol.FdInstalled(install.Tag, 0, chosen)));
        });
    }

    private ClientCall NewCall(IActorRef requester, Action<int> fail)
    {
        var call = new ClientCall(++_nextTag, requester, fail);
        _calls[call.Id] = call;
        Timers.StartSingleTimer(("call", call.Id), new CallTimedOut(call.Id), _ctx.Settings.MemoryTimeout);
        return call;
    }

    /// <summary>Sends one request of the call; <paramref name="accept"/> checks its reply (errno), <paramref name="done"/> runs when all have succeeded.</summary>
    private void AskClient(ClientCall call, IWireBody request, Func<RawFrame, int> accept, Action done)
    {
        var seq = ++_serverSeq;
        call.Seqs.Add(seq);
        call.Outstanding++;
        _clientReplies[seq] = reply =>
        {
            if (!_calls.ContainsKey(call.Id)) return;
            var errno = accept(reply);
            if (errno != 0) { FailCall(call, errno); return; }
            if (--call.Outstanding > 0) return;
            _calls.Remove(call.Id);
            Timers.Cancel(("call", call.Id));
            done();
        };
        _ctx.Sink.Send(seq, request);
    }

    private void FailCall(ClientCall call, int errno)
    {
        if (!_calls.Remove(call.Id)) return;
        Timers.Cancel(("call", call.Id));
        foreach (var seq in call.Seqs) _clientReplies.Remove(seq);
        call.Fail(errno);
    }

    private void OnFileReady(FileProtocol.FileReady ready)
    {
        foreach (var (fd, entry) in _fds.OrderBy(kv => kv.Key))
            if (entry.FileId == ready.FileId)
                _ctx.Sink.Send(++_serverSeq, new FdReady(fd, ready.Events));
    }

    // ---------------- project extensions ----------------

    private const long TraceTag = -1;

    private void OnExtension(RawFrame frame)
    {
        if (frame.Kind == ExtensionKinds.Trace && !frame.Oversize)
        {
            StartTrace(frame.Seq);
            return;
        }
        if (!ExtensionKinds.IsQuery(frame.Kind) || frame.Oversize)
        {
            SendErrno(frame.Kind, frame.Seq, Errno.EINVAL);
            return;
        }
        var tag = ++_nextTag;
        _extensions[tag] = (frame.Kind, frame.Seq);
        _ctx.Status.Describe(frame.Kind, tag, Self, frame.Body);
    }

    /// <summary>EXT_TRACE: a tracer child streams EXT_TRACE_EVENT frames until the connection ends; answered once it listens.</summary>
    private void StartTrace(ulong seq)
    {
        if (_tracer is not null)
        {
            SendErrno(ExtensionKinds.Trace, seq, Errno.EALREADY);
            return;
        }
        _extensions[TraceTag] = (ExtensionKinds.Trace, seq);
        _tracer = Context.ActorOf(TraceActor.Props($"{TraceProtocol.SubscriberPrefix}{_token:x16}", _ctx.Bus, _ctx.TraceRelay), "trace");
    }

    private void OnStatusJson(StatusJson status)
    {
        if (!_extensions.Remove(status.Tag, out var ext)) return;
        var json = Encoding.UTF8.GetBytes(status.Json);
        var body = new byte[4 + json.Length];
        BinaryPrimitives.WriteInt32LittleEndian(body, status.Errno);
        json.CopyTo(body, 4);
        _ctx.Sink.Send(new OutgoingFrame(ext.Kind, FrameFlags.Reply, ext.Seq, body));
    }

    // ---------------- errors and the end ----------------

    /// <summary>The reply body of a kind carrying only an errno (for kinds whose reply has more fields, those as zero).</summary>
    private IWireBody ErrorBody(FrameKind kind, int errno) => kind switch
    {
        FrameKind.Hello => new HelloReply(errno, WireFormat.Version, (uint)MaxFrame, 0, ServerName),
        FrameKind.Ioctl => new IoctlReply(errno, 0, []),
        FrameKind.Read => new ReadReply(errno, []),
        FrameKind.Write => new WriteReply(errno, 0),
        _ => new StatusReply(kind, errno),
    };

    private void SendErrno(ushort kind, ulong seq, int errno)
    {
        if (Enum.IsDefined(typeof(FrameKind), kind) && kind != (ushort)FrameKind.FdReady)
        {
            _ctx.Sink.Send(seq, ErrorBody((FrameKind)kind, errno));
            return;
        }
        var body = new byte[4];
        BinaryPrimitives.WriteInt32LittleEndian(body, errno);
        _ctx.Sink.Send(new OutgoingFrame(kind, FrameFlags.Reply, seq, body));
    }

    /// <summary>The client is gone (or was put out): its files are released as a process exit would.</summary>
    private void Drop(string reason)
    {
        if (!_ended) ReleaseSession(reason);
        Close();
    }

    private void ReleaseSession(string reason)
    {
        _ended = true;
        // The session ends first, so that whoever sees a file released no longer sees the session.
        _ctx.Sessions.Tell(new EndSession(_token));
        var files = _fds.Values.Select(e => e.FileId).Concat(_opens.Keys).Distinct().ToList();
        foreach (var fileId in files) _ctx.Files.Tell(new FileProtocol.Release(fileId, Self));
        foreach (var call in _calls.Values.ToList()) FailCall(call, Errno.EFAULT);
        _fds.Clear();
        _log.Info("Client session {0:x16} (pid {1}) ended ({2}); released {3} file(s)", _token, _ctx.PeerPid, reason, files.Count);
    }

    private void Close()
    {
        _ctx.Sink.Complete();
        Context.Stop(Self);
    }

    protected override void PostStop()
    {
        _ctx.Sink.Complete();
        Telemetry.HostMetrics.IoctlsAbandoned(_ioctls.Count);
        // Stopped by a failure rather than by the client or the host going down: release like a drop.
        if (_token != 0 && !_ended && CoordinatedShutdown.Get(Context.System).ShutdownReason is null)
            ReleaseSession("connection failed");
    }
}
