using System.Collections.Immutable;
using Akka.Actor;
using IommuActors.Core.Messaging;

namespace IommuActors.Domains.Ioas;

/// <summary>The vocabulary of one IOAS actor: commands, replies, access notifications, events, snapshot.</summary>
public static class IoasProtocol
{
    /// <summary>IOMMU_OPTION ids the IOAS serves.</summary>
    public const int OptionRlimitMode = 0;
    public const int OptionHugePages = 1;

    public sealed record IovaSpan(ulong Start, ulong Last);

    // Answer: when given, the IOAS sends the sender Answer(result) instead of the result. An iommufd
    // uses it to have the IOAS answer the ioctl itself, straight to the client, so that its own
    // mailbox is not on the way back. The function runs in the IOAS and never crosses a node: the
    // IOAS is a child of its iommufd.

    // UserMemory: the client whose memory the map takes its pages from (its connection); when the
    // IOAS has a domain it asks it whether the pages can be pinned (Pages.UserPagePins). Nobody:
    // the pages are taken as they are.
    public sealed record MapRange(string EntityId, ulong UserAddress, ulong Length, Protection Protection, bool FixedIova, ulong Iova,
        Func<MapResult, object>? Answer = null, IActorRef? UserMemory = null) : IEntityMessage;
    public sealed record MapResult(string IoasId, int Errno, ulong Iova) : IClusterMessage;

    // CutFirst: VFIO type1 (v1) unmap; when the IOAS's large pages are disabled, the areas holding
    // Iova-1 and Iova+Length-1 are cut there first (IoPageTable.Cut), so a piece of a mapping can go.
    public sealed record UnmapRange(string EntityId, ulong Iova, ulong Length, Func<UnmapResult, object>? Answer = null,
        bool CutFirst = false) : IEntityMessage;
    public sealed record UnmapResult(string IoasId, int Errno, ulong Unmapped) : IClusterMessage;

    /// <summary>Sent to the destination IOAS; it asks the source for the pages by message.</summary>
    public sealed record CopyRange(string EntityId, IActorRef Source, ulong SourceIova, ulong Length, Protection Protection, bool FixedIova,
        ulong DestinationIova, Func<CopyResult, object>? Answer = null) : IEntityMessage;
    public sealed record CopyResult(string IoasId, int Errno, ulong DestinationIova) : IClusterMessage;

    /// <summary>[Offset, Offset+Length) of a pinned pages object, and whether that object was pinned writable.</summary>
    public sealed record PinnedSliceRecord(string PagesId, ulong UserAddress, ulong PagesLength, bool PagesWritable, ulong Offset, ulong Length);
    public sealed record GetPagesForCopy(string EntityId, ulong Iova, ulong Length) : IEntityMessage;
    public sealed record PagesForCopy(string IoasId, int Errno, ImmutableArray<PinnedSliceRecord> Slices) : IClusterMessage;

    public sealed record AllowIovas(string EntityId, ImmutableArray<IovaSpan> Ranges) : IEntityMessage;
    public sealed record AllowIovasResult(string IoasId, int Errno) : IClusterMessage;

    public sealed record GetIovaRanges(string EntityId) : IEntityMessage;
    public sealed record IovaRanges(string IoasId, ImmutableArray<IovaSpan> Ranges, ulong Alignment) : IClusterMessage;

    public sealed record SetOption(string EntityId, int OptionId, ulong Value) : IEntityMessage;
    public sealed record OptionResult(string IoasId, int Errno) : IClusterMessage;

    /// <summary>IOMMU_OPTION_OP_GET of an IOAS option: the IOAS alone keeps its options.</summary>
    public sealed record GetOption(string EntityId, int OptionId) : IEntityMessage;
    public sealed record OptionValue(string IoasId, int Errno, ulong Value) : IClusterMessage;

    public sealed record AddReserved(string EntityId, string Owner, ImmutableArray<IovaSpan> Ranges) : IEntityMessage;
    public sealed record RemoveReserved(string EntityId, string Owner) : IEntityMessage;
    public sealed record ReservedResult(string IoasId, int Errno) : IClusterMessage;

    public sealed record RaiseAlignment(string EntityId, string Owner, ulong Alignment) : IEntityMessage;
    public sealed record DropAlignment(string EntityId, string Owner) : IEntityMessage;
    public sealed record AlignmentResult(string IoasId, int Errno, ulong Alignment) : IClusterMessage;

    public sealed record PinPages(string EntityId, string AccessId, IActorRef Access, ulong Iova, ulong Length, bool Write) : IEntityMessage;
    public sealed record PinResult(string IoasId, string AccessId, int Errno) : IClusterMessage;
    public sealed record UnpinPages(string EntityId, string AccessId, ulong Iova, ulong Length) : IEntityMessage;
    public sealed record UnpinResult(string IoasId, string AccessId, int Errno) : IClusterMessage;

    /// <summary>To an access: an unmap needs [Iova, Iova+Length); unpin what you hold there, then answer AccessUnmapDone.</summary>
    public sealed record AccessUnmapRequested(string IoasId, ulong Iova, ulong Length) : IClusterMessage;
    public sealed record AccessUnmapDone(string EntityId, string AccessId) : IEntityMessage;

    /// <summary>
    /// IOMMU_DESTROY of the IOAS (Wait false) or the release of its iommufd (Wait true): answered
    /// <see cref="RetireResult"/> 0 once nothing the IOAS was asked before is still in flight, after
    /// which it takes nothing more and may be stopped. An ioctl in flight holds the object as the
    /// kernel's iommufd_get_object does, so without Wait a busy IOAS answers EBUSY.
    /// </summary>
    public sealed record Retire(string EntityId, bool Wait) : IEntityMessage;
    public sealed record RetireResult(string IoasId, int Errno) : IClusterMessage;

    /// <summary>
    /// What iommuctl objects shows of an IOAS: its mappings (areas) and their bytes, the user pages
    /// it holds pinned (each page once, however many areas and accesses hold it) and the pages it
    /// charged to locked memory. Answered in every state, as <see cref="GetMappings"/>.
    /// </summary>
    public sealed record GetSummary(string EntityId) : IEntityMessage;
    public sealed record Summary(string IoasId, int Mappings, ulong Bytes, ulong PinnedPages, ulong ChargedPages) : IClusterMessage;

    public sealed record GetMappings(string EntityId) : IEntityMessage;
    public sealed record MappingView(ulong Iova, ulong Length, Protection Protection, string PagesId, ulong PagesOffset);
    public sealed record Mappings(string IoasId, ImmutableArray<MappingView> Areas, ulong ChargedPages) : IClusterMessage;

    /// <summary>
    /// The user memory this IOAS holds pinned: one entry per held span of a pinned pages object
    /// (whole pages; several may name one object). A page is pinned once per object that holds it,
    /// which is what the selftest's MD_CHECK_REFS counts.
    /// </summary>
    public sealed record GetPinned(string EntityId) : IEntityMessage;
    public sealed record PinnedView(string PagesId, ulong UserAddress, ulong Length);
    public sealed record Pinned(string IoasId, ImmutableArray<PinnedView> Pages) : IClusterMessage;

    public sealed record PinnedAreaRecord(ulong Iova, Protection Protection, PinnedSliceRecord Slice);

    // Journal events (never change meaning; add new ones). A map's pages are writable when its Protection has Write.
    public sealed record RangeMapped(ulong Iova, Protection Protection, string PagesId, ulong UserAddress, ulong Length) : IPersistedEvent;
    public sealed record SlicesCopied(ulong Iova, Protection Protection, ImmutableArray<PinnedSliceRecord> Slices) : IPersistedEvent;
    public sealed record RangeUnmapped(ulong Iova, ulong Length) : IPersistedEvent;
    public sealed record AllUnmapped(ulong Unmapped) : IPersistedEvent;
    /// <summary>Areas were cut so that each IOVA ends one (replayed by cutting the same way).</summary>
    public sealed record AreasCut(ImmutableArray<ulong> Iovas) : IPersistedEvent;
    public sealed record AllowedSet(ImmutableArray<IovaSpan> Ranges) : IPersistedEvent;
    public sealed record ReservedAdded(string Owner, ImmutableArray<IovaSpan> Ranges) : IPersistedEvent;
    public sealed record ReservedRemoved(string Owner) : IPersistedEvent;
    public sealed record AlignmentRaised(string Owner, ulong Alignment) : IPersistedEvent;
    public sealed record AlignmentDropped(string Owner) : IPersistedEvent;
    public sealed record OptionChanged(int OptionId, ulong Value) : IPersistedEvent;

    public sealed record IoasTableSnapshot(
        ImmutableArray<PinnedAreaRecord> Areas,
        ImmutableArray<IovaSpan> Allowed,
        ImmutableDictionary<string, ImmutableArray<IovaSpan>> Reserved,
        ImmutableDictionary<string, ulong> Alignments,
        bool LargePagesDisabled,
        int RlimitMode,
        long PagesCounter);

    // The copy event and snapshots written before pinned pages remembered whether they were pinned
    // writable; replayed, never written. They carry no flag: pages they bring that the table does not
    // know yet count as writable, as every copy was accepted then.
    public sealed record SliceRecord(string PagesId, ulong UserAddress, ulong PagesLength, ulong Offset, ulong Length);
    public sealed record SlicesMapped(ulong Iova, Protection Protection, ImmutableArray<SliceRecord> Slices) : IPersistedEvent;
    public sealed record AreaRecord(ulong Iova, Protection Protection, SliceRecord Slice);

    public sealed record IoasSnapshot(
        ImmutableArray<AreaRecord> Areas,
        ImmutableArray<IovaSpan> Allowed,
        ImmutableDictionary<string, ImmutableArray<IovaSpan>> Reserved,
        ImmutableDictionary<string, ulong> Alignments,
        bool LargePagesDisabled,
        int RlimitMode,
        long PagesCounter) : IPersistedSnapshot;
}
