using IommuActors.Fd.Context;
using IommuActors.Uapi.Structs;
using Errno = IommuActors.Uapi.Errno;

namespace IommuActors.Fd.Hwpts;

/// <summary>
/// Ioctls of objects the emulated hardware has no model for (vIOMMU and what hangs off it): the
/// kernel's answer for an IOMMU driver without the feature.
/// </summary>
internal sealed class ViommuIoctls(IContextHost host)
{
    private void Done(int errno) => host.Request.Done(errno);

    public void ViommuAlloc(IommuViommuAlloc cmd, uint size)
    {
        if (cmd.Flags != 0 || cmd.Type == ViommuType.Default)
        {
            Done(Errno.EOPNOTSUPP);
            return;
        }
        Done(host.TryDevice(cmd.DevId, out _) ? Errno.EOPNOTSUPP : Errno.ENOENT);
    }

    /// <summary>No VIOMMU object can exist, so the vIOMMU lookup fails.</summary>
    public void VdeviceAlloc(IommuVdeviceAlloc cmd, uint size) => Done(Errno.ENOENT);

    public void VeventqAlloc(IommuVeventqAlloc cmd, uint size) =>
        Done(cmd.Flags != 0 || cmd.Reserved != 0 ? Errno.EOPNOTSUPP : Errno.ENOENT);

    public void HwQueueAlloc(IommuHwQueueAlloc cmd, uint size) =>
        Done(cmd.Flags != 0 ? Errno.EOPNOTSUPP : Errno.ENOENT);
}
