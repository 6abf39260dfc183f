using System.Collections.Immutable;
using IommuActors.Core.Messaging;

namespace IommuActors.Domains.Pages;

/// <summary>
/// Locked-memory accounting shared by every IOAS charging the same user or process (the kernel's
/// IOMMU_OPTION_RLIMIT_MODE: user->locked_vm or mm->pinned_vm), page exact: a holder (an IOAS)
/// charges the index spans of a pinned-pages object it pins, and a page counts once while any
/// holder's span covers it, so pages shared by IOAS_COPY count once however many IOAS map them.
/// EntityId is the account key ("user-1000", "process-4242").
/// </summary>
public static class AccountProtocol
{
    /// <summary>Page indexes [First, Last] of one pinned-pages object (index 0 is the page holding its first byte).</summary>
    public sealed record PageSpan(string PagesId, ulong First, ulong Last);

    /// <summary>All or nothing: ENOMEM when the pages no holder held yet would pass the limit, and nothing is charged.</summary>
    public sealed record ChargePages(string EntityId, string Holder, ImmutableArray<PageSpan> Spans) : IEntityMessage;
    public sealed record ChargeResult(string Account, string Holder, int Errno, ulong ChargedPages) : IClusterMessage;

    /// <summary>The holder lets go of spans it charged; the exact inverse of the charge.</summary>
    public sealed record ReleasePages(string EntityId, string Holder, ImmutableArray<PageSpan> Spans) : IEntityMessage;
    public sealed record ReleaseResult(string Account, string Holder, ulong ChargedPages) : IClusterMessage;

    /// <summary>A recovered IOAS states what it holds; the account makes the holder's entry exactly that.</summary>
    public sealed record ReconcileHolder(string EntityId, string Holder, ImmutableArray<PageSpan> Spans) : IEntityMessage;

    public sealed record GetAccount(string EntityId) : IEntityMessage;
    public sealed record AccountView(string Account, ulong ChargedPages, ulong LimitPages, int PagesObjects) : IClusterMessage;

    // Journal events.
    public sealed record PageSpansCharged(string Account, string Holder, ImmutableArray<PageSpan> Spans) : IPersistedEvent;
    public sealed record PageSpansReleased(string Account, string Holder, ImmutableArray<PageSpan> Spans) : IPersistedEvent;
    public sealed record HolderSpansReconciled(string Account, string Holder, ImmutableArray<PageSpan> Spans) : IPersistedEvent;

    public sealed record HolderSpansRecord(string Holder, ImmutableArray<PageSpan> Spans);
    public sealed record AccountSpansRecord(string Account, ImmutableArray<HolderSpansRecord> Holders);
    public sealed record AccountSpansSnapshot(ImmutableArray<AccountSpansRecord> Accounts) : IPersistedSnapshot;

    // Journal events and snapshot of accounts written before charges were page exact (whole objects); replayed, never written.
    public sealed record PagesCharge(string PagesId, ulong Pages);
    public sealed record PagesCharged(string Account, string Holder, ImmutableArray<PagesCharge> Pages) : IPersistedEvent;
    public sealed record PagesReleased(string Account, string Holder, ImmutableArray<string> PagesIds) : IPersistedEvent;
    public sealed record HolderReconciled(string Account, string Holder, ImmutableArray<PagesCharge> Pages) : IPersistedEvent;
    public sealed record HolderRecord(string Holder, ImmutableArray<PagesCharge> Pages);
    public sealed record AccountRecord(string Account, ImmutableArray<HolderRecord> Holders);
    public sealed record AccountSnapshot(ImmutableArray<AccountRecord> Accounts) : IPersistedSnapshot;
}
