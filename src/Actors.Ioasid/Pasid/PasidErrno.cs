namespace IommuActors.Ioasid.Pasid;

/// <summary>
/// The one errno each PASID failure answers. Local until the shared Errno class lands.
/// ENOSPC: the system space has no usable PASID left (range or capacity).
/// EDQUOT: the set already holds its quota (the space may still have room).
/// ENOENT: the PASID (or SPID) is not in this set, or has left it (FREE_PENDING: unobtainable).
/// EACCES: the PASID belongs to another set (ownership check of find/free/get/bind).
/// EEXIST: the SPID is already used by another PASID in the same set.
/// EINVAL: malformed argument (PASID 0 or out of range, put without a reference, quota below use).
/// ENODEV: the driver was asked to bind a device the platform does not have.
/// EBUSY: the operation needs the PASID unbound (SPID change while bound).
/// ETIMEDOUT: a subscriber did not acknowledge a FREE in time; the PASID stays quarantined.
/// </summary>
public static class PasidErrno
{
    public const int Ok = 0;
    public const int ENOENT = 2;
    public const int EACCES = 13;
    public const int EBUSY = 16;
    public const int ENODEV = 19;
    public const int EEXIST = 17;
    public const int EINVAL = 22;
    public const int ENOSPC = 28;
    public const int ETIMEDOUT = 110;
    public const int EDQUOT = 122;
}
