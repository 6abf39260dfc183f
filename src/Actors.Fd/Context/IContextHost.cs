using IommuActors.Core.Messaging;
using IommuActors.Fd.Objects;

namespace IommuActors.Fd.Context;

/// <summary>
/// What an iommufd context lends the parts of iommufd that run on its thread (the selftest
/// driver, VFIO compat, accesses): the request it serves, its object table and what the objects
/// stand for, and its journal. The context alone persists; they save through it.
/// </summary>
internal interface IContextHost
{
    string FileId { get; }

    FileCollaborators With { get; }

    ServedRequest Request { get; }

    ObjectTable Table { get; }

    IReadOnlyDictionary<uint, IoasEntry> Ioas { get; }

    IReadOnlyDictionary<uint, DeviceEntry> Devices { get; }

    IReadOnlyDictionary<uint, HwptEntry> Hwpts { get; }

    /// <summary>Journals the event, applies it, then continues.</summary>
    void Save(IPersistedEvent e, Action then);

    /// <summary>A key for a new object of the kind, unique in this context across restarts.</summary>
    string NewKey(string kind);
}
