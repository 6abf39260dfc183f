using System.Collections.Immutable;
using IommuActors.Core.Messaging;

namespace IommuActors.Domains.Pages;

/// <summary>
/// Locked-memory accounting shared by every IOAS charging the same user or process (the kernel's
/// IOMMU_OPTION_RLIMIT_MODE: user->locked_vm or mm->pinned_vm). A pinned-pages object is charged
/// once, when its first holder (an IOAS) takes it, and given back when its last holder lets go,
/// so pages shared by IOAS_COPY count once however many IOAS map them.
/// EntityId is the account key ("user-1000", "process-4242").
/// </summary>
public static class AccountProtocol
{
    public sealed record PagesCharge(string PagesId, ulong Pages);

    /// <summary>All or nothing: ENOMEM when the fresh pages would pass the limit, and nothing is charged.</summary>
    public sealed record ChargePages(string EntityId, string Holder, ImmutableArray<PagesCharge> Pages) : IEntityMessage;
    public sealed record ChargeResult(string Account, string Holder, int Errno, ulong ChargedPages) : IClusterMessage;

    public sealed record ReleasePages(string EntityId, string Holder, ImmutableArray<string> PagesIds) : IEntityMessage;
    public sealed record ReleaseResult(string Account, string Holder, ulong ChargedPages) : IClusterMessage;

    /// <summary>A recovered IOAS states what it holds; the account makes the holder's entry exactly that.</summary>
    public sealed record ReconcileHolder(string EntityId, string Holder, ImmutableArray<PagesCharge> Pages) : IEntityMessage;

    public sealed record GetAccount(string EntityId) : IEntityMessage;
    public sealed record AccountView(string Account, ulong ChargedPages, ulong LimitPages, int PagesObjects) : IClusterMessage;

    // Journal events.
    public sealed record PagesCharged(string Account, string Holder, ImmutableArray<PagesCharge> Pages) : IPersistedEvent;
    public sealed record PagesReleased(string Account, string Holder, ImmutableArray<string> PagesIds) : IPersistedEvent;
    public sealed record HolderReconciled(string Account, string Holder, ImmutableArray<PagesCharge> Pages) : IPersistedEvent;

    public sealed record HolderRecord(string Holder, ImmutableArray<PagesCharge> Pages);
    public sealed record AccountRecord(string Account, ImmutableArray<HolderRecord> Holders);
    public sealed record AccountSnapshot(ImmutableArray<AccountRecord> Accounts) : IPersistedSnapshot;
}
