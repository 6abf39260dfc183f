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
    public sealed record OpenSession(ulong Token, uint Pid, string ClientName, IActorRef Connection);

    public sealed record SessionOpened(ulong Token);

    /// <summary>A HELLO that presents a resume token. Answered with <see cref="SessionResumed"/> or <see cref="ResumeRefused"/>.</summary>
    public sealed record ResumeSession(ulong Token, uint Pid, IActorRef Connection);

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

    public sealed record SessionInfo(ulong Token, uint Pid, string ClientName, int Fds, bool Connected);

    /// <summary>The sessions of one node's front door, <paramref name="Node"/> its actor system's address.</summary>
    public sealed record SessionList(string Node, ImmutableArray<SessionInfo> Sessions) : IClusterMessage;

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
}
