namespace IommuActors.Fd.Faults;

/// <summary>
/// One page request group as it waits in a fault queue: one record per fault the unit raised.
/// UnitCookie 0: reported by software (the selftest's TRIGGER_IOPF), no DMA waits on the answer.
/// </summary>
/// <param name="Pasid">The PASID of the request; negative for none (the RID).</param>
public sealed record FaultGroup(uint DevId, int Pasid, uint HwptId, string Unit, long UnitCookie, ulong Address, uint Perm,
    uint Grpid = 0);
