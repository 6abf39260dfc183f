using System.Collections.Immutable;
using IommuActors.Core.Messaging;

namespace IommuActors.Notifier.Driver;

public static class IommuDriverProtocol
{
    /// <summary>Attach a device (PCI address) to a PASID (BIND_PGTBL); the first bind of the PASID publishes BIND.</summary>
    public sealed record BindDevice(string SetKey, int Pasid, int GuestPasid, string Device) : IClusterMessage;
    /// <summary>Detach the device's PASID context in its unit, then unbind; the last unbind publishes UNBIND.</summary>
    public sealed record UnbindDevice(string SetKey, int Pasid, string Device) : IClusterMessage;
    public sealed record DeviceBindResult(string SetKey, int Pasid, string Device, int Errno) : IClusterMessage;

    public sealed record GetBindings() : IClusterMessage;
    public sealed record Bindings(ImmutableDictionary<string, ImmutableArray<string>> DevicesByPasid) : IClusterMessage;
}
