using System.Collections.Immutable;
using IommuActors.Core.Messaging;
using IommuActors.Fd.Objects;
using static IommuActors.Fd.Files.FileProtocol;

namespace IommuActors.Fd.Context;

/// <summary>
/// Read-only questions to an iommufd context for iommuctl (contexts, objects, graph). Routed like
/// every file request through the file region under the context's file id; answered in every
/// state of the context, since they change nothing and wait for nothing.
/// </summary>
public static class IntrospectProtocol
{
    /// <summary>
    /// The live object table. Answered with <see cref="ContextObjects"/>; with
    /// <paramref name="WithMappings"/>, each IOAS also answers the asker its
    /// <see cref="Domains.Ioas.IoasProtocol.Summary"/> (ContextObjects names the IOAS asked).
    /// </summary>
    public sealed record GetContextObjects(string FileId, bool WithMappings = false) : IFileRequest;

    /// <summary>
    /// The objects by ID, and the VM's PASID set key when the context has used the PASID
    /// extension (empty otherwise: the set entity was never started, so nobody should wake it);
    /// <paramref name="Summaries"/>: the keys of the IOAS asked for their summary.
    /// </summary>
    public sealed record ContextObjects(string FileId, ImmutableArray<ObjectInfo> Objects, string PasidSet, ImmutableArray<string> Summaries) : IClusterMessage;

    /// <summary>
    /// One object: what it uses (by ID), the key of its actor or file (an IOAS's <c>ioas-&lt;key&gt;</c>),
    /// a DEVICE's PCI address and attachments, a HWPT's IOMMU unit and its domain there (0 for none).
    /// </summary>
    public sealed record ObjectInfo(uint Id, ObjectKind Kind, ImmutableArray<uint> Uses, string Key, string Pci, string Unit,
        ImmutableArray<ObjectAttachment> Attachments, int Domain);

    /// <summary>A device attachment: the PASID (<see cref="ContextProtocol.NoPasid"/> for the RID) and the page table it points at.</summary>
    public sealed record ObjectAttachment(int Pasid, uint PtId);
}
