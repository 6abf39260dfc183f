using IommuActors.Ioasid.Pasid;
using IommuActors.Uapi;

namespace IommuActors.Fd.Pasid;

/// <summary>
/// The PASID arguments of the emulator's PASID ioctls (docs/pasid-extension.md, Errors): a host or guest PASID
/// of 0 (RID_PASID, never handed out) or outside the 20-bit space is a malformed argument, EINVAL, checked before
/// the set or a subscriber is asked (which would only say the PASID is not there, ENOENT).
/// </summary>
public static class PasidArguments
{
    /// <summary>EINVAL when any of <paramref name="pasids"/> is 0 or above 2^20-1, else 0.</summary>
    public static int Check(params ReadOnlySpan<uint> pasids)
    {
        foreach (var pasid in pasids)
            if (pasid is 0 or > PasidSpace.MaxPasid)
                return Errno.EINVAL;
        return 0;
    }
}
