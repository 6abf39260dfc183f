using System.Collections.Immutable;
using IommuActors.Core.Messaging;

namespace IommuActors.Notifier.Vdcm;

public static class VdcmProtocol
{
    /// <summary>The guest writes a guest PASID into a virtual device's dedicated work queue.</summary>
    public sealed record ProgramQueue(string Device, int GuestPasid) : IClusterMessage;
    public sealed record QueueProgrammed(string Device, int GuestPasid, int HostPasid, int Errno) : IClusterMessage;

    public sealed record ClearQueue(string Device) : IClusterMessage;
    public sealed record QueueCleared(string Device, int Errno) : IClusterMessage;

    public sealed record GetQueues() : IClusterMessage;
    public sealed record Queues(ImmutableDictionary<string, int> HostPasidByDevice) : IClusterMessage;
}
