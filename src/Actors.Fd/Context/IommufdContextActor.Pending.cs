using Akka.Actor;
using IommuActors.Uapi.Structs;
using static IommuActors.Fd.Context.ContextProtocol;
using static IommuActors.Fd.Files.FileProtocol;
using Errno = IommuActors.Uapi.Errno;

namespace IommuActors.Fd.Context;

// Ioctls of objects the emulated hardware has no model for (vIOMMU and what hangs off it): the
// kernel's answer for an IOMMU driver without the feature.
public sealed partial class IommufdContextActor
{
    private void OnVdeviceAlloc(IommuVdeviceAlloc cmd, uint size) =>
        // No VIOMMU object can exist, so the vIOMMU lookup fails.
        Done(Errno.ENOENT);

    private void OnVeventqAlloc(IommuVeventqAlloc cmd, uint size) =>
        Done(cmd.Flags != 0 || cmd.Reserved != 0 ? Errno.EOPNOTSUPP : Errno.ENOENT);

    private void OnHwQueueAlloc(IommuHwQueueAlloc cmd, uint size) =>
        Done(cmd.Flags != 0 ? Errno.EOPNOTSUPP : Errno.ENOENT);
}
