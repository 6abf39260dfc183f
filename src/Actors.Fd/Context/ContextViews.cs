using IommuActors.Fd.Objects;
using IommuActors.Hardware.Platform;
using IommuActors.Fd.Selftests;
using H = IommuActors.Domains.Hwpt.HwptProtocol;

namespace IommuActors.Fd.Context;

/// <summary>
/// How the parts of iommufd that run on a context's thread see its objects: a DEVICE and the
/// unit behind it, the IOAS a HWPT lives in. Read-only views of the context's records.
/// </summary>
internal static class ContextViews
{
    public static bool TryDevice(this IContextHost host, uint id, out DeviceEntry device)
    {
        device = null!;
        return host.Table.Get(id, ObjectKind.Device).IsOk && host.Devices.TryGetValue(id, out device!);
    }

    public static DeviceSpec SpecOf(this IContextHost host, DeviceEntry d) => host.With.Platform.Device(d.Pci) ?? host.Mocks.SpecOf(d.Pci)!;

    /// <summary>The device's unit as its driver presents it (a mock device's by its flags, MockDeviceView).</summary>
    public static UnitSpec UnitOf(this IContextHost host, DeviceEntry d) =>
        MockDeviceView.For(host.With.Platform.Unit(host.SpecOf(d).Unit), host.Mocks.FlagsOf(d.Pci));

    /// <summary>The IOAS object a HWPT belongs to: its own for a paging HWPT, its parent's for a nested one.</summary>
    public static uint IoasOf(this IContextHost host, HwptEntry h) => h.Nested ? host.Hwpts[host.ParentHwptOf(h)].Parent : h.Parent;

    /// <summary>The nesting parent of a nested HWPT: the HWPT it was made on, or that of the vIOMMU it was made on.</summary>
    public static uint ParentHwptOf(this IContextHost host, HwptEntry nested) =>
        host.Viommus.TryGetValue(nested.Parent, out var viommu) ? viommu.Hwpt : nested.Parent;

    /// <summary>The IOAS that holds a HWPT.</summary>
    public static IoasEntry HomeOf(this IContextHost host, uint hwptId) => host.Ioas[host.IoasOf(host.Hwpts[hwptId])];

    /// <summary>A device as the IOAS needs it: where it sits and the reserved regions a plain attach reserves.</summary>
    public static H.DeviceRef RefOf(this IContextHost host, DeviceEntry d)
    {
        var unit = host.UnitOf(d);
        return new H.DeviceRef(d.Pci, unit.Name, host.SpecOf(d).Group,
            [.. unit.ReservedRegions.Select(r => new Domains.Ioas.IoasProtocol.IovaSpan(r.Start, r.Last))]);
    }

    /// <summary>The context's "no PASID" (the RID) as the units and the IOAS write it.</summary>
    public static int UnitPasid(int pasid) => pasid == ContextProtocol.NoPasid ? H.NoPasid : pasid;
}
