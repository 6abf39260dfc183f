using System.Collections.Immutable;

namespace IommuActors.Fd.Faults;

/// <summary>
/// Which attachment of a device a page request reports through (iommu_report_device_fault): the
/// attachment of its PASID, or of the RID when it carries none. A PASID with no attachment of its
/// own goes to the RID's attachment when the driver keeps the PASID table in user space (the
/// selftest's mock does) and the RID is attached to a nested HWPT: the guest owns that PASID
/// table. Otherwise nothing takes it.
/// </summary>
public static class PageRequestRoute
{
    public const int NoPasid = -1;

    /// <returns>The key of the attachment (a PASID or <see cref="NoPasid"/>), or null.</returns>
    public static int? AttachmentFor(uint pasid, ImmutableDictionary<int, uint> attachments, bool userPasidTable, Func<uint, bool> isNested)
    {
        var own = pasid == 0 ? NoPasid : (int)pasid;
        if (attachments.ContainsKey(own))
            return own;
        if (own != NoPasid && userPasidTable && attachments.TryGetValue(NoPasid, out var rid) && isNested(rid))
            return NoPasid;
        return null;
    }
}
