using Akka.Actor;
using IommuActors.Core.Messaging;

namespace IommuActors.Fd.Files;

/// <summary>
/// The vocabulary between a client's connection (the socket front door, or a spec standing in
/// for it) and an open file of the emulator: an iommufd context (<c>/dev/iommu</c>), a VFIO device
/// cdev (<c>/dev/vfio/devices/vfioN</c>) or a file an ioctl returned (a fault or event queue).
///
/// Every open file is a sharded entity of the <see cref="FdModule.ShardRegion"/> region, keyed by a
/// file id the connection chooses at open (unique across the cluster and stable across a host
/// restart, e.g. the session token and an open counter). Fd numbers, dup and the fd table are the
/// connection's business; a file only hears <see cref="Release"/> when the last fd naming it closes.
///
/// Requests carry <c>Client</c>: the actor that speaks for the client process. A file sends it
/// <see cref="ReadMemory"/>, <see cref="WriteMemory"/>, <see cref="InstallFd"/> and
/// <see cref="FileReady"/>; it answers the first three to the sender. A file serves one request at
/// a time per file, in arrival order, so per-fd ordering of the wire protocol holds.
/// <c>Tag</c> is the requester's, echoed in the reply.
/// </summary>
public static class FileProtocol
{
    /// <summary>Every request addressed to an open file.</summary>
    public interface IFileRequest : IEntityMessage
    {
        string FileId { get; }
        string IEntityMessage.EntityId => FileId;
    }

    // ---- connection -> file ----

    /// <summary>First message of a file's life: opens the path. Answered with <see cref="Opened"/>.</summary>
    public sealed record Open(string FileId, string Path, uint Flags, IActorRef Client) : IFileRequest;

    /// <summary>
    /// errno 0, or ENOENT for a path the emulator does not have, EBUSY/EPERM as the kernel's open would.
    /// <paramref name="File"/> is the actor serving the open file's requests (see <see cref="Locate"/>).
    /// </summary>
    public sealed record Opened(string FileId, int Errno, IActorRef? File = null) : IClusterMessage;

    /// <summary>
    /// Asks for the actor that serves the file's ioctls, reads and writes, answered with
    /// <see cref="Located"/>. Sent through the region, so it arrives after everything the asker sent
    /// that way before; the asker holds the file's requests until the answer and may then send them
    /// straight to that actor (on the asker's node, where a direct send cannot overtake an earlier one).
    /// </summary>
    public sealed record Locate(string FileId) : IFileRequest;

    /// <summary>The actor behind an open file, or null when the file is not open.</summary>
    public sealed record Located(string FileId, IActorRef? File) : IClusterMessage;

    /// <summary>
    /// The process making a request, as the kernel's <c>current</c> would tell: its uid (whose
    /// locked-memory account it charges), its pid (whose account RLIMIT_MODE 1 charges) and whether
    /// it holds CAP_SYS_RESOURCE (the front door takes these from the socket's SO_PEERCRED and
    /// decides the capability by uid).
    /// </summary>
    public sealed record Caller(uint Uid, uint Pid, bool CapSysResource)
    {
        /// <summary>A sender inside the host (a spec, a bench): root's account, no process, every capability.</summary>
        public static Caller InProcess { get; } = new(0, 0, true);

        /// <summary>The key of the user's locked-memory account (the kernel's user->locked_vm).</summary>
        public string UserAccount => $"user-{Uid}";

        /// <summary>The key of the process's locked-memory account (the kernel's mm->locked_vm).</summary>
        public string ProcessAccount => $"process-{Pid}";
    }

    /// <summary>
    /// An ioctl: the kernel's request number, the raw argument, and the bytes the client sent from
    /// the argument's address (for iommufd/VFIO structs, the struct by its leading size).
    /// Caller: who calls (null: <see cref="Caller.InProcess"/>).
    /// </summary>
    public sealed record Ioctl(string FileId, long Tag, uint Request, ulong Arg, byte[] Inline, IActorRef Client,
        Caller? Caller = null) : IFileRequest
    {
        public Caller By => Caller ?? FileProtocol.Caller.InProcess;
    }

    /// <summary>
    /// errno 0 and the bytes to write back at the argument (empty when none), or the errno and no
    /// change. Where the kernel copies a struct out and still fails (IOAS_IOVA_RANGES' EMSGSIZE,
    /// HWPT_INVALIDATE, VFIO_IOMMU_UNMAP_DMA) the file writes it with <see cref="WriteMemory"/> at
    /// Arg before answering, so Writeback stays empty on every failure.
    /// </summary>
    /// <param name="Note">What an operator should know about this answer beyond its errno (iommuctl trace shows it): who holds a device a bind was refused.</param>
    public sealed record IoctlDone(string FileId, long Tag, int Errno, long ReturnValue, byte[] Writeback, string Note = "") : IClusterMessage;

    public sealed record Read(string FileId, long Tag, uint Count, IActorRef Client) : IFileRequest;

    /// <summary>EAGAIN when there is nothing to read yet (the client waits for <see cref="FileReady"/>).</summary>
    public sealed record ReadDone(string FileId, long Tag, int Errno, byte[] Data) : IClusterMessage;

    public sealed record Write(string FileId, long Tag, byte[] Data, IActorRef Client) : IFileRequest;

    public sealed record WriteDone(string FileId, long Tag, int Errno, uint Written) : IClusterMessage;

    /// <summary>The last fd naming the file closed (or the process went away): tear down as the kernel's release does.</summary>
    public sealed record Release(string FileId, IActorRef Client) : IFileRequest;

    public sealed record Released(string FileId) : IClusterMessage;

    // ---- file -> client ----

    /// <summary>Read client memory (MEM_READ). Answered with <see cref="MemoryRead"/> to the sender.</summary>
    public sealed record ReadMemory(long Tag, ulong Address, uint Length) : IClusterMessage;

    /// <summary>errno 0 and exactly the bytes asked for, or EFAULT (unreadable, or the client did not answer in time).</summary>
    public sealed record MemoryRead(long Tag, int Errno, byte[] Data) : IClusterMessage;

    /// <summary>Write client memory (MEM_WRITE). Answered with <see cref="MemoryWritten"/> to the sender.</summary>
    public sealed record WriteMemory(long Tag, ulong Address, byte[] Data) : IClusterMessage;

    public sealed record MemoryWritten(long Tag, int Errno) : IClusterMessage;

    /// <summary>
    /// An ioctl created a file (NEW_FD): the client gives it an fd number, which the ioctl then
    /// returns. The new file is an entity of the same region under <c>NewFileId</c>, already open.
    /// Answered with <see cref="FdInstalled"/> to the sender.
    /// </summary>
    public sealed record InstallFd(long Tag, uint Kind, string NewFileId) : IClusterMessage;

    /// <summary>The fd number the client chose, or an errno (EMFILE, ...) and no fd.</summary>
    public sealed record FdInstalled(long Tag, int Errno, int Fd) : IClusterMessage;

    /// <summary>
    /// An ioctl names another fd of the client (VFIO_DEVICE_BIND_IOMMUFD's iommufd): which open
    /// file is it? Answered with <see cref="FdResolved"/> to the sender.
    /// </summary>
    public sealed record ResolveFd(long Tag, int Fd) : IClusterMessage;

    /// <summary>The file id and the path it was opened with (an ioctl-made file: its anon_inode name), or EBADF when the fd is not open.</summary>
    public sealed record FdResolved(long Tag, int Errno, string FileId, string Path) : IClusterMessage;

    /// <summary>The file became readable/writable (poll events, Linux numbering): FD_READY to every fd naming it.</summary>
    public sealed record FileReady(string FileId, uint Events) : IClusterMessage;
}
