using System.Buffers.Binary;
using System.Text;
using Akka.Actor;
using Akka.Hosting;
using IommuActors.Fd.Files;
using IommuActors.Host.FrontDoor;
using IommuActors.Uapi;
using IommuActors.Uapi.Wire;

namespace IommuActors.FrontDoor.Tests;

/// <summary>Request numbers the fake files answer (outside the kernel's ';' type so they mean nothing real).</summary>
public static class FakeIoctl
{
    public const uint Echo = 0xE0;      // writeback = inline, retval = its length
    public const uint WhoAmI = 0xE1;    // writeback = the file id
    public const uint Copy = 0xE2;      // inline u64 src, u64 dst, u32 len: MEM_READ src then MEM_WRITE dst
    public const uint NewQueue = 0xE3;  // NEW_FD for a fault queue; retval = the fd
    public const uint Gate = 0xE4;      // answers only once another file opens the gate
    public const uint OpenGate = 0xE5;  // inline = utf-8 file id of the gated file
    public const uint Resolve = 0xE6;   // inline i32 fd: writeback = the path that fd was opened with
    public const uint WhoCalls = 0xE7;  // writeback = the caller's u32 uid, u32 pid, u8 CAP_SYS_RESOURCE
    public const uint HoldRelease = 0xE8; // the file's release is answered only once its gate opens
    public const uint Vanish = 0xE9;    // the file's actor stops without answering (as when its node dies)
    public const uint Swallow = 0xEA;   // never answered; the file goes on serving

    /// <summary>A file that names its own actor in OPEN's reply, so the connection watches it (and sends to it directly).</summary>
    public const string NamedPath = "/dev/vfio/devices/named";

    public static byte[] CopyArgs(ulong src, ulong dst, uint len)
    {
        var b = new byte[20];
        BinaryPrimitives.WriteUInt64LittleEndian(b, src);
        BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(8), dst);
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(16), len);
        return b;
    }
}

/// <summary>What happened to the fake files ("open id path", "release id"), awaitable from a spec.</summary>
public sealed class FileLog
{
    private readonly List<string> _lines = [];
    private readonly List<(Func<string, bool> Match, TaskCompletionSource<string> Done)> _waiters = [];

    public void Add(string line)
    {
        lock (_lines)
        {
            _lines.Add(line);
            foreach (var w in _waiters.Where(w => w.Match(line)).ToList())
            {
                _waiters.Remove(w);
                w.Done.TrySetResult(line);
            }
        }
    }

    public IReadOnlyList<string> Lines { get { lock (_lines) return _lines.ToList(); } }

    public Task<string> WaitFor(Func<string, bool> match)
    {
        lock (_lines)
        {
            var seen = _lines.FirstOrDefault(match);
            if (seen is not null) return Task.FromResult(seen);
            var done = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
            _waiters.Add((match, done));
            return done.Task.WaitAsync(TimeSpan.FromSeconds(15));
        }
    }

    public Task<string> WaitFor(string line) => WaitFor(l => l == line);
}

/// <summary>Registers a fake file region in the host the spec builds.</summary>
public sealed class FakeFiles(FileLog log) : IFileRegionProvider
{
    public IActorRef Resolve(ActorSystem system, IActorRegistry registry) =>
        system.ActorOf(Props.Create(() => new FakeFileRegion(log)), "fake-files");
}

/// <summary>Routes by file id to one child per file, as the shard region does.</summary>
public sealed class FakeFileRegion : ReceiveActor
{
    public sealed record GateOpen;

    public FakeFileRegion(FileLog log)
    {
        Receive<FileProtocol.IFileRequest>(r => Child(r.FileId, log).Forward(r));
        Receive<(string FileId, GateOpen Open)>(g => Child(g.FileId, log).Tell(g.Open));
    }

    private static IActorRef Child(string fileId, FileLog log)
    {
        var name = Uri.EscapeDataString(fileId);
        var child = Context.Child(name);
        return !child.IsNobody() ? child
            : Context.ActorOf(Props.Create(() => new FakeFile(fileId, log)), name);
    }
}

/// <summary>One open file: serves one request at a time, like the real entity.</summary>
public sealed class FakeFile : ReceiveActor, IWithUnboundedStash
{
    private readonly string _id;
    private readonly FileLog _log;
    private readonly Queue<byte[]> _queue = new();
    private bool _gateOpen;
    private bool _holdRelease;
    private IActorRef? _heldRelease;

    public IStash Stash { get; set; } = null!;

    public FakeFile(string id, FileLog log)
    {
        _id = id;
        _log = log;
        Idle();
    }

    private bool IsQueue => _id.EndsWith("-q", StringComparison.Ordinal);

    private void Idle()
    {
        Receive<FileProtocol.Open>(o =>
        {
            _log.Add($"open {_id} {o.Path}");
            var ok = o.Path == "/dev/iommu" || o.Path.StartsWith("/dev/vfio/devices/", StringComparison.Ordinal);
            Sender.Tell(new FileProtocol.Opened(_id, ok ? 0 : Errno.ENOENT, o.Path == FakeIoctl.NamedPath ? Self : null));
        });
        // The fake is reached through its region: it names no actor to send to directly (but at NamedPath).
        Receive<FileProtocol.Locate>(_ => Sender.Tell(new FileProtocol.Located(_id, null)));
        Receive<FileProtocol.Ioctl>(OnIoctl);
        Receive<FileProtocol.Read>(r =>
        {
            if (IsQueue)
                Sender.Tell(_queue.TryDequeue(out var item)
                    ? new FileProtocol.ReadDone(_id, r.Tag, 0, item)
                    : new FileProtocol.ReadDone(_id, r.Tag, Errno.EAGAIN, []));
            else
                Sender.Tell(new FileProtocol.ReadDone(_id, r.Tag, 0, "hello"u8.ToArray().Take((int)r.Count).ToArray()));
        });
        Receive<FileProtocol.Write>(w =>
        {
            if (IsQueue)
            {
                _queue.Enqueue(w.Data);
                w.Client.Tell(new FileProtocol.FileReady(_id, 1));
            }
            Sender.Tell(new FileProtocol.WriteDone(_id, w.Tag, 0, (uint)w.Data.Length));
        });
        Receive<FileProtocol.Release>(r =>
        {
            _log.Add($"release {_id}");
            if (_holdRelease && !_gateOpen) _heldRelease = Sender;
            else Sender.Tell(new FileProtocol.Released(_id));
        });
        Receive<FakeFileRegion.GateOpen>(_ =>
        {
            _gateOpen = true;
            _heldRelease?.Tell(new FileProtocol.Released(_id));
            _heldRelease = null;
        });
    }

    private void OnIoctl(FileProtocol.Ioctl io)
    {
        var replyTo = Sender;
        void Done(int errno, long ret, byte[] wb)
        {
            replyTo.Tell(new FileProtocol.IoctlDone(_id, io.Tag, errno, ret, wb));
            UnbecomeStacked();
            Stash.UnstashAll();
        }
        switch (io.Request)
        {
            case FakeIoctl.Echo:
                replyTo.Tell(new FileProtocol.IoctlDone(_id, io.Tag, 0, io.Inline.Length, io.Inline));
                return;
            case FakeIoctl.HoldRelease:
                _holdRelease = true;
                replyTo.Tell(new FileProtocol.IoctlDone(_id, io.Tag, 0, 0, []));
                return;
            case FakeIoctl.Vanish:
                Context.Stop(Self);
                return;
            case FakeIoctl.Swallow:
                return;
            case FakeIoctl.WhoAmI:
                replyTo.Tell(new FileProtocol.IoctlDone(_id, io.Tag, 0, 0, Encoding.UTF8.GetBytes(_id)));
                return;
            case FakeIoctl.WhoCalls:
            {
                var who = new byte[9];
                BinaryPrimitives.WriteUInt32LittleEndian(who, io.By.Uid);
                BinaryPrimitives.WriteUInt32LittleEndian(who.AsSpan(4), io.By.Pid);
                who[8] = io.By.CapSysResource ? (byte)1 : (byte)0;
                replyTo.Tell(new FileProtocol.IoctlDone(_id, io.Tag, 0, 0, who));
                return;
            }
            case FakeIoctl.OpenGate:
                Context.Parent.Tell((Encoding.UTF8.GetString(io.Inline), new FakeFileRegion.GateOpen()));
                replyTo.Tell(new FileProtocol.IoctlDone(_id, io.Tag, 0, 0, []));
                return;
            case FakeIoctl.Copy:
            {
                var src = BinaryPrimitives.ReadUInt64LittleEndian(io.Inline);
                var dst = BinaryPrimitives.ReadUInt64LittleEndian(io.Inline.AsSpan(8));
                var len = BinaryPrimitives.ReadUInt32LittleEndian(io.Inline.AsSpan(16));
                io.Client.Tell(new FileProtocol.ReadMemory(io.Tag, src, len));
                BecomeStacked(() =>
                {
                    Receive<FileProtocol.MemoryRead>(r =>
                    {
                        if (r.Errno != 0) { Done(r.Errno, 0, []); return; }
                        io.Client.Tell(new FileProtocol.WriteMemory(io.Tag, dst, r.Data));
                    });
                    Receive<FileProtocol.MemoryWritten>(w => Done(w.Errno, 0, []));
                    ReceiveAny(_ => Stash.Stash());
                });
                return;
            }
            case FakeIoctl.NewQueue:
                io.Client.Tell(new FileProtocol.InstallFd(io.Tag, NewFdKind.FaultQueue, _id + "-q"));
                BecomeStacked(() =>
                {
                    Receive<FileProtocol.FdInstalled>(i => Done(i.Errno, i.Errno == 0 ? i.Fd : 0, []));
                    ReceiveAny(_ => Stash.Stash());
                });
                return;
            case FakeIoctl.Resolve:
                io.Client.Tell(new FileProtocol.ResolveFd(io.Tag, BinaryPrimitives.ReadInt32LittleEndian(io.Inline)));
                BecomeStacked(() =>
                {
                    Receive<FileProtocol.FdResolved>(r => Done(r.Errno, 0, r.Errno == 0 ? Encoding.UTF8.GetBytes(r.Path) : []));
                    ReceiveAny(_ => Stash.Stash());
                });
                return;
            case FakeIoctl.Gate:
                if (_gateOpen) { replyTo.Tell(new FileProtocol.IoctlDone(_id, io.Tag, 0, 0, [])); return; }
                BecomeStacked(() =>
                {
                    Receive<FakeFileRegion.GateOpen>(_ => { _gateOpen = true; Done(0, 0, []); });
                    ReceiveAny(_ => Stash.Stash());
                });
                return;
            default:
                replyTo.Tell(new FileProtocol.IoctlDone(_id, io.Tag, Errno.ENOTTY, 0, []));
                return;
        }
    }
}
