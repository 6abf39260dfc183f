using Akka.Actor;
using IommuActors.Hardware.Platform;

namespace IommuActors.Fd;

/// <summary>What a user may tune about the files of the emulator; the defaults work on a fresh machine.</summary>
/// <param name="LockedPageLimit">
/// RLIMIT_MEMLOCK in pages: what each user (each process in RLIMIT_MODE 1) may hold pinned in the
/// box's locked-memory accounts, or in each IOAS's own ledger when no accounts are wired.
/// </param>
/// <param name="ClientTimeout">How long an ioctl waits for the client to answer a memory or fd request before it fails with EFAULT.</param>
/// <param name="SnapshotFloor">The least number of journal events between two snapshots of a context (Core's SnapshotPolicy).</param>
public sealed record FdSettings(ulong LockedPageLimit, TimeSpan ClientTimeout, int SnapshotFloor)
{
    public static FdSettings Default { get; } = new(ulong.MaxValue / 4096, TimeSpan.FromSeconds(10), 500);
}

/// <summary>The neighbours every file actor talks to, handed over at creation.</summary>
/// <param name="Platform">The emulated box: which devices and units exist.</param>
/// <param name="Units">The shard region of IOMMU units (<see cref="Hardware.HardwareModule.ShardRegion"/>).</param>
/// <param name="Files">The shard region of files (<see cref="FdModule.ShardRegion"/>), for files that talk to each other.</param>
/// <param name="Ownership">The DMA ownership registry (<see cref="Devices.DmaOwnershipActor"/>).</param>
/// <param name="Settings">Limits and timeouts.</param>
/// <param name="Sets">The PASID set shard region, for the emulator's PASID ioctls (null: they answer ENOTTY).</param>
/// <param name="Subscribers">The notifier's node actor that starts and stops a VM's KVM and VDCM subscribers.</param>
/// <param name="Accounts">
/// The box's locked-memory accounts (<see cref="FdModule.AccountsProps"/>), which every IOAS charges
/// under its creator's user or process; null: each IOAS keeps a ledger of its own.
/// </param>
public sealed record FileCollaborators(PlatformSpec Platform, IActorRef Units, IActorRef Files, IActorRef Ownership, FdSettings Settings,
    IActorRef? Sets = null, IActorRef? Subscribers = null, IActorRef? Accounts = null);
