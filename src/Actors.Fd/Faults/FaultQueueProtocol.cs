namespace IommuActors.Fd.Faults;

/// <summary>
/// What an iommufd context tells the actor of one of its FAULT objects. Reads and writes of the
/// queue's fd (<see cref="Context.ContextProtocol.ReadFaults"/>, <see cref="Context.ContextProtocol.WriteResponses"/>)
/// are forwarded to it as they came, and it answers the file itself.
/// </summary>
public static class FaultQueueProtocol
{
    /// <summary>
    /// A page request group reached the FAULT: it waits to be read. Answered with <see cref="GroupQueued"/>
    /// once the queue holds it and its client was told the fd is readable.
    /// </summary>
    public sealed record EnqueueGroup(FaultGroup Group);

    public sealed record GroupQueued(uint FaultId);

    /// <summary>A detach: the groups that came through the attachment are answered INVALID. Answered with <see cref="AttachmentFaultsFailed"/>.</summary>
    /// <param name="Pasid">The unit's PASID of the attachment (negative for the RID).</param>
    public sealed record FailAttachmentFaults(uint DevId, int Pasid, uint HwptId);

    public sealed record AttachmentFaultsFailed(uint FaultId);

    /// <summary>The FAULT is destroyed: every group it holds is answered INVALID. Answered with <see cref="QueueReleased"/>; the context then stops the actor.</summary>
    public sealed record ReleaseQueue;

    public sealed record QueueReleased(uint FaultId);
}
