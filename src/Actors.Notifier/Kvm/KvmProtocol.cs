using System.Collections.Immutable;
using IommuActors.Core.Messaging;

namespace IommuActors.Notifier.Kvm;

public static class KvmProtocol
{
    /// <summary>ENQCMD from the guest: which host PASID stands for this guest PASID.</summary>
    public sealed record Translate(int GuestPasid) : IClusterMessage;
    public sealed record Translated(int GuestPasid, int HostPasid, int Errno) : IClusterMessage;

    public sealed record GetTranslationTable() : IClusterMessage;
    public sealed record TranslationTable(ImmutableDictionary<int, int> GuestToHost) : IClusterMessage;
}
