using System.Collections.Immutable;
using Akka.Actor;
using IommuActors.Core.Messaging;

namespace IommuActors.Host.FrontDoor;

/// <summary>
/// The vocabulary of the session directory: which client sessions exist, which fds each holds
/// and which file each fd names, kept durable so that a HELLO with a resume token gets its fds
/// back after the host restarts.
/// </summary>
public static class SessionProtocol
{
    /// <summary>One fd of a session: the file entity it names and the path it was opened with.</summary>
    public sealed record FdEntry(string FileId, string Path);

    /// <summary>What is kept of a session: who it is, its fds, and the next open counter (so file ids never repeat).</summary>
    public sealed record SessionRecord(uint Pid, string ClientName, ImmutableDictionary<int, FdEntry> Fds, long NextOpen)
    {
        public static SessionRecord New(uint pid, string name) => new(pid, name, ImmutableDictionary<int, FdEntry>.Empty, 1);
    }

    // ---- connection -> directory ----

    /// <summary>A HELLO without a resume token. Answered with <see cref="SessionOpened"/> once durable.</summary>
    /// <param name="PeerPid">The pid SO_PEERCRED reports for the connection (0 when unknown): the process whose death ends the session.</param>
    public sealed record OpenSession(ulong Token, uint Pid, string ClientName, IActorRef Connection, uint PeerPid = 0);

    public sealed record SessionOpened(ulong Token);

    /// <summary>A HELLO that presents a resume token. Answered with <see cref="SessionResumed"/> or <see cref="ResumeRefused"/>.</summary>
    public sealed record ResumeSession(ulong Token, uint Pid, IActorRef Connection, uint PeerPid = 0);

    public sealed record SessionResumed(ulong Token, SessionRecord Session);

    /// <summary>ENOENT: no such session (never was, ended, or its grace period ran out); EBUSY: another connection holds it.</summary>
    public sealed record ResumeRefused(ulong Token, int Errno);

    /// <summary>An fd now names a file (OPEN, DUP, NEW_FD). Answered with <see cref="FdRecorded"/> once durable.</summary>
    public sealed record BindFd(ulong Token, long Tag, int Fd, FdEntry Entry, long NextOpen);

    /// <summary>An fd closed. Answered with <see cref="FdRecorded"/> once durable.</summary>
    public sealed record UnbindFd(ulong Token, long Tag, int Fd);

    public sealed record FdRecorded(long Tag);

    /// <summary>The client went away and its files were released: forget the session. No reply.</summary>
    public sealed record EndSession(ulong Token);

    // ---- iommuctl status (asked of every node's directory: these cross nodes) ----

    public sealed record GetSessions : IClusterMessage;

    /// <param name="GraceLeft">For a session awaiting a resume, how long until it is released; null while connected.</param>
    public sealed record SessionInfo(ulong Token, uint Pid, string ClientName, int Fds, bool Connected, TimeSpan? GraceLeft = null);

    /// <summary>The sessions of one node's front door, <paramref name="Node"/> its actor system's address.</summary>
    public sealed record SessionList(string Node, ImmutableArray<SessionInfo> Sessions) : IClusterMessage;

    // ---- iommuctl release (asked of every node's directory) ----

    /// <summary>An operator ends a session that awaits a resume, as its grace period running out would.</summary>
    public sealed record ReleaseSession(ulong Token) : IClusterMessage;

    /// <summary>0 and the files released; ENOENT: not this node's; EBUSY: its client is connected (stop that process instead).</summary>
    public sealed record SessionReleaseResult(ulong Token, int Errno, int Files, uint Pid, string Node) : IClusterMessage;

    // ---- iommuctl contexts, objects, graph ----

    /// <summary>Every file the sessions hold open. Answered with <see cref="OpenFileList"/>.</summary>
    public sealed record GetOpenFiles : IClusterMessage;

    /// <summary>One open file, the session holding it and the fd numbers naming it there.</summary>
    public sealed record OpenFile(string FileId, string Path, ulong Token, uint Pid, string ClientName, ImmutableArray<int> Fds, bool Connected);

    /// <summary>One node's open files (<paramref name="Node"/> its address) by session token, then fd.</summary>
    public sealed record OpenFileList(string Node, ImmutableArray<OpenFile> Files) : IClusterMessage;

    // ---- persisted ----

    public sealed record SessionBegun(ulong Token, uint Pid, string ClientName) : IPersistedEvent;

    public sealed record FdBound(ulong Token, int Fd, string FileId, string Path, long NextOpen) : IPersistedEvent;

    public sealed record FdUnbound(ulong Token, int Fd) : IPersistedEvent;

    public sealed record SessionFinished(ulong Token) : IPersistedEvent;

    public sealed record SessionsSnapshot(ImmutableDictionary<ulong, SessionRecord> Sessions) : IPersistedSnapshot;

    /// <summary>
    /// The process holding a session (pid as SO_PEERCRED saw it, start time from /proc, see
    /// <see cref="ProcessLiveness"/>): a session whose process is gone is released at once, not
    /// after the grace period. Sessions journaled before this event have none and wait the grace period.
    /// </summary>
    public sealed record SessionProcess(ulong Token, uint Pid, ulong StartTime) : IPersistedEvent;

    /// <summary>The snapshot with the sessions' processes (<see cref="SessionsSnapshot"/> is still read).</summary>
    public sealed record SessionsProcessSnapshot(ImmutableDictionary<ulong, SessionRecord> Sessions,
        ImmutableDictionary<ulong, SessionProcess> Processes) : IPersistedSnapshot;
}
