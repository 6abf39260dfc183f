using Akka.Actor;
using IommuActors.Core.Messaging;
using IommuActors.Fd.Objects;
using IommuActors.Fd.Selftests;

namespace IommuActors.Fd.Context;

/// <summary>
/// What an iommufd context lends the parts of iommufd that run on its thread (the IOAS, HWPT,
/// DEVICE and FAULT ioctls, VFIO compat, the selftest driver and its accesses): the request it
/// serves, its object table and what the objects stand for, its children, and its journal. The
/// context alone persists; they save through it.
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

    IReadOnlyDictionary<uint, Viommus.ViommuEntry> Viommus { get; }

    /// <summary>The selftest's mock devices: devices of the context that the platform does not list.</summary>
    MockDevices Mocks { get; }

    /// <summary>The context actor itself (where the units send what they report).</summary>
    IActorRef Self { get; }

    /// <summary>Starts a child of the context.</summary>
    IActorRef Spawn(Props props, string name);

    void StopChild(IActorRef child);

    /// <summary>Journals the event, applies it, then continues.</summary>
    void Save(IPersistedEvent e, Action then);

    /// <summary>The number the next new key carries (the one <see cref="NewKey"/> gives).</summary>
    long NextKeyNumber { get; }

    /// <summary>A key for a new object of the kind, unique in this context across restarts.</summary>
    string NewKey(string kind);
}
