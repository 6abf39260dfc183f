using Akka.Actor;
using Akka.Persistence;
using IommuActors.Core.Messaging;
using IommuActors.Fd.Accesses;
using IommuActors.Fd.Context;
using IommuActors.Fd.Devices;
using static IommuActors.Fd.Context.ContextProtocol;
using static IommuActors.Fd.Files.FileProtocol;
using Errno = IommuActors.Uapi.Errno;

namespace IommuActors.Fd.Files;

/// <summary>Journal of a file entity: what it was opened as.</summary>
public static class FileEntityProtocol
{
    public sealed record FileOpened(string Path, string ContextFileId, uint FaultId) : IPersistedEvent;
}

/// <summary>
/// The entity behind one file id of the <see cref="FdModule.ShardRegion"/> region. It remembers
/// what the file was opened as and hands everything to the actor of that kind of file (an
/// iommufd context, a device cdev, a fault queue), so a file comes back as what it was after a
/// restart. A request for a file that was never opened (or is closed) is answered EBADF.
/// </summary>
public sealed class FileActor : Core.Persistence.JournalingActor
{
    public const string IommuPath = "/dev/iommu", VfioContainerPath = "/dev/vfio/vfio",
        DeviceDirectory = "/dev/vfio/devices/", FaultQueuePath = "anon_inode:[iommufd-pgfault]",
        AccessPath = "anon_inode:[iommufd_test_staccess]";

    private readonly string _fileId;
    private readonly FileCollaborators _with;
    private FileEntityProtocol.FileOpened? _opened;
    private IActorRef? _file;
    private IActorRef? _releasedTo;

    public override string PersistenceId { get; }

    public static Props Props(string fileId, FileCollaborators with) => Akka.Actor.Props.Create(() => new FileActor(fileId, with));

    public FileActor(string fileId, FileCollaborators with)
    {
        _fileId = fileId;
        _with = with;
        PersistenceId = $"file-{fileId}";
        Recover<FileEntityProtocol.FileOpened>(e => _opened = e);
        Recover<RecoveryCompleted>(_ =>
        {
            if (_opened is not null)
                _file = StartFile(_opened);
        });
        Command<Open>(OnOpen);
        Command<OpenFaultQueue>(OnOpenFaultQueue);
        // An access file keeps its access's object ID where a fault queue keeps its FAULT's.
        Command<AccessProtocol.OpenAccessFile>(o => OpenMadeFile(new FileEntityProtocol.FileOpened(AccessPath, o.ContextFileId, o.AccessId)));
        Command<Release>(r =>
        {
            if (_file is null)
            {
                Sender.Tell(new Released(_fileId));
                Context.Stop(Self);
                return;
            }
            _releasedTo = Sender;
            _file.Forward(r);
        });
        Command<Terminated>(t =>
        {
            if (!t.ActorRef.Equals(_file))
                return;
            _file = null;
            // The file is gone with its last fd: nothing of it comes back.
            DeleteMessages(long.MaxValue);
            Context.Stop(Self);
        });
        Command<Locate>(l => Sender.Tell(new Located(_fileId, _file)));
        Command<DeleteMessagesSuccess>(_ => { });
        Command<DeleteMessagesFailure>(_ => { });
        Command<IFileRequest>(m =>
        {
            if (_file is not null)
                _file.Forward(m);
            else
                Sender.Tell(NotOpen(m));
        });
    }

    private object NotOpen(IFileRequest m) => m switch
    {
        Ioctl i => new IoctlDone(_fileId, i.Tag, Errno.EBADF, 0, []),
        Read r => new ReadDone(_fileId, r.Tag, Errno.EBADF, []),
        Write w => new WriteDone(_fileId, w.Tag, Errno.EBADF, 0),
        BindDevice => new DeviceBindResult(_fileId, Errno.EBADF, 0),
        AttachDevice => new AttachResult(_fileId, Errno.EBADF, 0),
        DetachDevice => new DetachResult(_fileId, Errno.EBADF),
        UnbindDevice u => new DeviceUnbound(_fileId, u.DevId),
        _ => new Opened(_fileId, Errno.EBADF),
    };

    private void OnOpen(Open o)
    {
        if (_opened is not null)
        {
            Sender.Tell(new Opened(_fileId, Errno.EBUSY));
            return;
        }
        if (o.Path is not (IommuPath or VfioContainerPath) && DeviceOf(o.Path) is null)
        {
            Sender.Tell(new Opened(_fileId, Errno.ENOENT));
            Context.Stop(Self);
            return;
        }
        var sender = Sender;
        Persist(new FileEntityProtocol.FileOpened(o.Path, "", 0), e =>
        {
            _opened = e;
            _file = StartFile(e);
            sender.Tell(new Opened(_fileId, 0, _file));
        });
    }

    private void OnOpenFaultQueue(OpenFaultQueue o) =>
        OpenMadeFile(new FileEntityProtocol.FileOpened(FaultQueuePath, o.ContextFileId, o.FaultId));

    /// <summary>A file an ioctl made: remembered as what it is before it is opened.</summary>
    private void OpenMadeFile(FileEntityProtocol.FileOpened opened)
    {
        var sender = Sender;
        if (_opened is not null)
        {
            sender.Tell(new Opened(_fileId, Errno.EBUSY));
            return;
        }
        Persist(opened, e =>
        {
            _opened = e;
            _file = StartFile(e);
            sender.Tell(new Opened(_fileId, 0, _file));
        });
    }

    private Hardware.Platform.DeviceSpec? DeviceOf(string path) =>
        path.StartsWith(DeviceDirectory, StringComparison.Ordinal)
            ? _with.Platform.Devices.FirstOrDefault(d => d.Cdev == path[DeviceDirectory.Length..])
            : null;

    private IActorRef StartFile(FileEntityProtocol.FileOpened e)
    {
        var name = Uri.EscapeDataString(_fileId);
        var file = e.Path switch
        {
            IommuPath or VfioContainerPath => Context.ActorOf(IommufdContextActor.Props(_fileId, _with, e.Path == VfioContainerPath), "iommufd-" + name),
            FaultQueuePath => Context.ActorOf(FaultQueueFileActor.Props(_fileId, e.ContextFileId, e.FaultId, _with), "fault-queue-" + name),
            AccessPath => Context.ActorOf(AccessFileActor.Props(_fileId, e.ContextFileId, e.FaultId, _with), "access-" + name),
            _ => Context.ActorOf(DeviceFileActor.Props(_fileId, DeviceOf(e.Path)!, _with), "vfio-device-" + name),
        };
        Context.Watch(file);
        return file;
    }
}

/// <summary>
/// The file FAULT_QUEUE_ALLOC returned. Its queue lives in the context with the FAULT object
/// (faults keep queueing after the fd closes), so reads and writes are handed to the context.
/// </summary>
public sealed class FaultQueueFileActor : ReceiveActor
{
    public static Props Props(string fileId, string contextFileId, uint faultId, FileCollaborators with) =>
        Akka.Actor.Props.Create(() => new FaultQueueFileActor(fileId, contextFileId, faultId, with));

    public FaultQueueFileActor(string fileId, string contextFileId, uint faultId, FileCollaborators with)
    {
        Receive<Read>(r => with.Files.Tell(new ReadFaults(contextFileId, r.Tag, faultId, r.Count, r.Client), Sender));
        Receive<Write>(w => with.Files.Tell(new WriteResponses(contextFileId, w.Tag, faultId, w.Data, w.Client), Sender));
        Receive<Ioctl>(i => Sender.Tell(new IoctlDone(fileId, i.Tag, Errno.ENOTTY, 0, [])));
        Receive<Open>(o => Sender.Tell(new Opened(fileId, 0)));
        // The close answers once the context took the fd off its FAULT: a DESTROY sent after close()
        // returned goes straight to the context and must not overtake it. A context that is gone
        // answers EBADF (Opened) through its file entity instead.
        Receive<Release>(_ =>
        {
            var closer = Sender;
            with.Files.Tell(new FaultFileClosed(contextFileId, faultId), Self);
            void Closed()
            {
                closer.Tell(new Released(fileId));
                Context.Stop(Self);
            }
            Become(() =>
            {
                Receive<FaultFileClosedDone>(_ => Closed());
                Receive<Opened>(_ => Closed());
            });
        });
    }
}
