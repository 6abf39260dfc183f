namespace IommuActors.Domains.Pages;

/// <summary>
/// One range of user memory pinned once (the kernel's iopt_pages), shared by every area of every
/// table that maps it; charged to the locked-memory account once, released with its last user.
/// </summary>
public sealed class PinnedPages(string id, ulong userAddress, ulong length)
{
    public const ulong PageSize = 4096;

    public string Id { get; } = id;
    public ulong UserAddress { get; } = userAddress;
    public ulong Length { get; } = length;
    public int Users { get; private set; }

    /// <summary>Whole pages spanned by the user range, the unit the kernel charges.</summary>
    public ulong PageCount => NumberOfPages(UserAddress, Length);

    public static ulong NumberOfPages(ulong userAddress, ulong length)
    {
        var first = userAddress / PageSize;
        var last = (userAddress + length - 1) / PageSize;
        return last - first + 1;
    }

    internal void AddUser() => Users++;

    internal bool RemoveUser() => --Users == 0;
}
