using IommuActors.Uapi.Wire;

namespace IommuActors.Host.FrontDoor;

/// <summary>What the socket's reading side tells a connection actor (local only: a socket never leaves its node).</summary>
public static class ConnectionProtocol
{
    /// <summary>One whole frame off the socket, in arrival order.</summary>
    public sealed record FrameReceived(RawFrame Frame);

    /// <summary>A frame that cannot be a frame (its header is bad): answer EPROTO and close.</summary>
    public sealed record FrameUnreadable(ushort Kind, ulong Seq, string Reason);

    /// <summary>The client closed its end, or the socket failed.</summary>
    public sealed record ClientGone(string Reason);
}

/// <summary>
/// Project extension frame kinds (docs/wire-extensions.md): 0x8000 and up, a range the kernel's
/// ioctl numbers never reach because they travel inside IOCTL frames, and which version 1 of the
/// wire protocol leaves unused (its kinds are 0x01-0x07 and 0x21-0x24).
/// </summary>
public static class ExtensionKinds
{
    public const ushort First = 0x8000;
    /// <summary>EXT_STATUS: empty body; reply i32 errno, utf-8 JSON (cluster, store, socket, sessions).</summary>
    public const ushort Status = 0x8001;
    /// <summary>EXT_PLATFORM: empty body; reply i32 errno, utf-8 JSON (units and devices).</summary>
    public const ushort Platform = 0x8002;
    /// <summary>EXT_DMA: utf-8 JSON request (pci, pasid, iova, length, write); reply i32 errno, utf-8 JSON (segments or fault).</summary>
    public const ushort Dma = 0x8003;
    /// <summary>EXT_CONTEXTS: empty body; reply i32 errno, utf-8 JSON (the live iommufd contexts, their owners and object counts).</summary>
    public const ushort Contexts = 0x8004;
    /// <summary>EXT_OBJECTS: empty or utf-8 JSON {context}; reply i32 errno, utf-8 JSON (the live object tables).</summary>
    public const ushort Objects = 0x8005;
    /// <summary>EXT_GRAPH: empty body; reply i32 errno, utf-8 JSON (contexts, objects, units, devices, PASID sets, subscribers).</summary>
    public const ushort Graph = 0x8006;
    /// <summary>EXT_TRACE: empty body; reply i32 errno, utf-8 JSON "{}" once the connection's tracer listens; then EXT_TRACE_EVENT frames.</summary>
    public const ushort Trace = 0x8007;
    /// <summary>EXT_TRACE_EVENT: sent by the server (flags 0, the server's seq, no reply): utf-8 JSON of one ioctl or IOASID event.</summary>
    public const ushort TraceEvent = 0x8008;
    /// <summary>EXT_RELEASE: utf-8 JSON {session}; reply i32 errno, utf-8 JSON (the session, its pid, the files released).</summary>
    public const ushort Release = 0x8009;

    /// <summary>The kinds answered with one <see cref="StatusJson"/> by the host's <see cref="IStatusSource"/>.</summary>
    public static bool IsQuery(ushort kind) => kind is Status or Platform or Dma or Contexts or Objects or Graph or Release;
}
