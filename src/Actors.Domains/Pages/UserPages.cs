using IommuActors.Core.Messaging;
using IommuActors.Domains.Ioas;

namespace IommuActors.Domains.Pages;

/// <summary>
/// Asks the client process whether the user pages [Address, Address+Length) could be pinned now:
/// every page mapped, readable, and writable too when <paramref name="Write"/>. Sent to the
/// client's connection (the actor that serves the client's memory), which answers
/// <see cref="UserPagesChecked"/> to the sender: 0, or EFAULT as the kernel's pin would give.
/// </summary>
public sealed record CheckUserPages(ulong Address, ulong Length, bool Write) : IClusterMessage;

public sealed record UserPagesChecked(int Errno) : IClusterMessage;

/// <summary>
/// When an IOAS operation takes pages out of the user's memory, and which. The kernel keeps a new
/// map's pages unpinned while its IOAS has no domain (nothing needs a PFN yet); with a domain the
/// map pins them before it returns, so a page that is not there (unmapped, or without the access
/// the map asks for) fails the map with EFAULT and the map leaves nothing behind. The pin covers
/// whole CPU pages: from the page holding the first byte to the page holding the last. Pages are
/// pinned for writing when the map is writeable.
/// </summary>
public static class UserPagePins
{
    /// <summary>The check an IOAS_MAP of [userAddress, userAddress+length) needs, or null when the map pins nothing now.</summary>
    public static CheckUserPages? ForMap(int domains, ulong userAddress, ulong length, Protection protection)
    {
        // An empty or wrapping range never gets this far: the table refuses it first.
        if (domains == 0 || length == 0 || userAddress > ulong.MaxValue - length)
            return null;
        const ulong page = PinnedPages.PageSize;
        var first = userAddress & ~(page - 1);
        var lastPage = (userAddress + (length - 1)) & ~(page - 1);
        // Whole pages; the last one may end at the very top of the address space.
        return new CheckUserPages(first, lastPage - first + page, (protection & Protection.Write) != 0);
    }
}
