using Akka.Actor;
using IommuActors.Domains.Pages;
using IommuActors.Fd.Devices;
using IommuActors.Fd.Files;
using IommuActors.Hardware.Platform;

namespace IommuActors.Fd;

/// <summary>What the host needs to wire the files of the emulator (iommufd contexts, device cdevs, queues).</summary>
public static class FdModule
{
    /// <summary>The shard region of every open file, keyed by <see cref="Files.FileProtocol.IFileRequest.FileId"/>.</summary>
    public const string ShardRegion = "file";

    /// <summary>Name of the one DMA ownership registry of the box (a cluster singleton on many nodes).</summary>
    public const string OwnershipName = "dma-ownership";

    /// <summary>Props of the DMA ownership registry; create one and pass it to <see cref="FileProps"/>.</summary>
    public static Props OwnershipProps() => DmaOwnershipActor.Props();

    /// <summary>Name of the one locked-memory account book of the box (a cluster singleton on many nodes).</summary>
    public const string AccountsName = "locked-memory";

    /// <summary>
    /// Props of the box's locked-memory accounts: one ledger per user and per process, each under
    /// the RLIMIT_MEMLOCK of <paramref name="settings"/>; create one and pass it to <see cref="FileProps"/>.
    /// </summary>
    public static Props AccountsProps(FdSettings? settings = null) =>
        AccountActor.Props("box", (settings ?? FdSettings.Default).LockedPageLimit);

    /// <summary>
    /// Props of the file entity named by the entity id. <paramref name="files"/> yields the file
    /// region itself (asked when an entity starts, so the region may be created with this factory).
    /// </summary>
    /// <paramref name="sets"/> and <paramref name="subscribers"/> serve the emulator's PASID ioctls (docs/pasid-extension.md);
    /// <paramref name="accounts"/> are the box's locked-memory accounts (<see cref="AccountsProps"/>).
    public static Func<string, Props> FileProps(PlatformSpec platform, IActorRef units, Func<IActorRef> files,
        IActorRef ownership, FdSettings? settings = null, IActorRef? sets = null, IActorRef? subscribers = null, IActorRef? accounts = null) =>
        fileId => FileActor.Props(fileId, new FileCollaborators(platform, units, files(), ownership, settings ?? FdSettings.Default, sets, subscribers, accounts));
}
