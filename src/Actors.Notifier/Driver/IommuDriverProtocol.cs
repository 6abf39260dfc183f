using System.Collections.Immutable;
using IommuActors.Core.Messaging;

namespace IommuActors.Notifier.Driver;

public static class IommuDriverProtocol
{
    /// <summary>Attach a device to a PASID (BIND_PGTBL); the first bind of the PASID publishes BIND.</summary>
    public sealed record BindDevice(string SetKey, int Pasid, int GuestPasid, string Device) : IClusterMessage;
    public sealed record UnbindDevice(string SetKey, int Pasid, string Device) : IClusterMessage;
    public sealed record DeviceBindResult(string SetKey, int Pasid, string Device, int Errno) : IClusterMessage;

    /// <summary>To the IOMMU unit side: remove the PASID's context entries and flush its IOTLB entries.</summary>
    public sealed record TeardownPasidContext(string SetKey, int Pasid, ImmutableArray<string> Devices) : IClusterMessage;

    /// <summary>The unit side's acknowledgement of a teardown.</summary>
    public sealed record PasidContextTornDown(string SetKey, int Pasid) : IClusterMessage;

    public sealed record GetBindings() : IClusterMessage;
    public sealed record Bindings(ImmutableDictionary<string, ImmutableArray<string>> DevicesByPasid) : IClusterMessage;
}
