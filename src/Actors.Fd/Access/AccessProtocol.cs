using Akka.Actor;
using IommuActors.Core.Messaging;
using static IommuActors.Fd.Files.FileProtocol;

// Plural: a namespace named Access would hide the units' Access enum from all of the Fd code.
namespace IommuActors.Fd.Accesses;

/// <summary>
/// The selftest's in-kernel user of an IOAS (iommufd_access with the mock driver's ops): what its
/// context asks the <see cref="AccessActor"/>, what the access file and the context say to each
/// other, and the context's journal entry for a replaced IOAS.
/// </summary>
public static class AccessProtocol
{
    /// <summary>NEW_FD kind of the access file (beside the fault and event queues).</summary>
    public const uint AccessFileKind = Uapi.Wire.NewFdKind.SelftestAccess;

    // ---- context -> access actor ----

    /// <summary>Pin [Iova, Iova+Length) through the access and keep it as an item. Answered with <see cref="ItemPinned"/>.</summary>
    public sealed record PinItem(ulong Iova, ulong Length, bool Write);

    /// <summary>errno 0 and the new item's id (the selftest's next_id, from 0), or the IOAS's errno and no item.</summary>
    public sealed record ItemPinned(int Errno, uint ItemId);

    /// <summary>DESTROY_ACCESS_PAGES: unpin one item. Answered with <see cref="ItemUnpinned"/> (ENOENT: no such item).</summary>
    public sealed record UnpinItem(uint ItemId);

    public sealed record ItemUnpinned(int Errno);

    /// <summary>
    /// iommufd_access_change_ioas after the new IOAS took the access: every item is unpinned from
    /// the current IOAS, then the access works on the new one (an empty key: on none).
    /// Answered with <see cref="IoasSwitched"/> once the old IOAS has let go.
    /// </summary>
    public sealed record SwitchIoas(string IoasKey, IActorRef Ioas);

    public sealed record IoasSwitched;

    // ---- files ----

    /// <summary>CREATE_ACCESS made a file: the new file entity learns it is that access's fd. Answered with <see cref="Opened"/>.</summary>
    public sealed record OpenAccessFile(string FileId, string ContextFileId, uint AccessId) : IFileRequest;

    /// <summary>
    /// The access fd closed (the selftest's release): the context destroys the access and drops
    /// its pins. Sent to the context's file; answered with <see cref="AccessClosed"/>.
    /// </summary>
    public sealed record CloseAccess(string FileId, string AccessFileId, uint AccessId) : IFileRequest;

    public sealed record AccessClosed(string FileId, uint AccessId) : IClusterMessage;

    /// <summary>To the access file: the context destroyed the access on its own (it closed); a later close has nothing to wait for.</summary>
    public sealed record AccessGone(string FileId) : IFileRequest;

    // ---- journal of the context ----

    /// <summary>ACCESS_REPLACE_IOAS moved the access to another IOAS of the context.</summary>
    public sealed record AccessIoasChanged(uint AccessId, uint IoasId) : IPersistedEvent;
}
