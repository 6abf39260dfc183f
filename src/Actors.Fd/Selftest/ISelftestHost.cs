using IommuActors.Fd.Context;
using IommuActors.Fd.Faults;
using IommuActors.Hardware.Platform;
using IommuActors.Uapi.Structs;
using static IommuActors.Fd.Context.ContextProtocol;

namespace IommuActors.Fd.Selftests;

/// <summary>
/// What the selftest driver needs of its iommufd context beyond the object table: the device
/// paths a mock device goes through like a VFIO device (attach, replace, detach, unbind), and
/// the fault queues a triggered page request lands in.
/// </summary>
internal interface ISelftestHost : IContextHost
{
    /// <summary>Attach, or replace when attached at that PASID; then the errno and the HWPT now used.</summary>
    void AttachTo(AttachDevice m, Action<int, uint> then);

    /// <summary>Detaches a PASID (or the RID) of a device; detaching what is not attached succeeds.</summary>
    void Detach(uint devId, int pasid, Action then);

    /// <summary>Detaches everything of a DEVICE and destroys it.</summary>
    void Unbind(uint devId, Action then);

    /// <summary>A page request reported by software, queued in the FAULT object faultId (answered with GroupQueued).</summary>
    void QueuePageRequest(uint faultId, FaultGroup group);

    /// <summary>The access ops (CREATE_ACCESS, ACCESS_PAGES, ...).</summary>
    void ServeAccessOp(IommuTestCmd cmd, uint size);
}
