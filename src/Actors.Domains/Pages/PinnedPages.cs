namespace IommuActors.Domains.Pages;

/// <summary>
/// One range of user memory (the kernel's iopt_pages), shared by every area of every table that
/// maps it; each of its pages is pinned and charged once while any domain or access holds it.
/// Writable is fixed by the IOAS_MAP that created it (iopt_alloc_pages: pinned for write only when
/// the map asked for IOMMU_IOAS_MAP_WRITEABLE); every copy of it shares that.
/// </summary>
public sealed class PinnedPages(string id, ulong userAddress, ulong length, bool writable)
{
    public const ulong PageSize = 4096;

    public string Id { get; } = id;
    public ulong UserAddress { get; } = userAddress;
    public ulong Length { get; } = length;
    public bool Writable { get; } = writable;
    public int Users { get; private set; }

    internal void AddUser() => Users++;

    internal bool RemoveUser() => --Users == 0;
}
