using System.Collections.Immutable;

namespace IommuActors.Hardware.Platform;

public enum UnitKind { IntelVtd, AmdVi, ArmSmmuV3, Mock }

public enum ReservedKind { Msi, Direct, Reserved, SwMsi }

public sealed record ReservedRegion(ulong Start, ulong Last, ReservedKind Kind);

/// <summary>One IOMMU unit as the platform declares it.</summary>
public sealed record UnitSpec(
    string Name,
    UnitKind Kind,
    ulong PageSizes,
    int AddressWidth,
    int PasidWidth,
    bool Nesting,
    string Stage1Format,
    bool DirtyTracking,
    bool EnforceCacheCoherency,
    bool Iopf,
    ImmutableArray<ReservedRegion> ReservedRegions,
    uint HwInfoType,
    ImmutableArray<byte> HwInfo)
{
    /// <summary>The first IOVA a domain of the unit translates (the mock's geometry starts above 0).</summary>
    public ulong ApertureStart { get; init; }

    /// <summary>The last IOVA a domain translates when the platform narrows it below the address width; 0 for the width's.</summary>
    public ulong ApertureLast { get; init; }

    public ulong ApertureEnd => ApertureLast != 0 ? ApertureLast : AddressWidth >= 64 ? ulong.MaxValue : (1UL << AddressWidth) - 1;
    public ulong MinPageSize => PageSizes & (~PageSizes + 1);
}

/// <summary>One PCI device behind a unit.</summary>
public sealed record DeviceSpec(
    string Pci,
    ushort VendorId,
    ushort DeviceId,
    string Unit,
    int Group,
    int PasidWidth,
    bool Pri,
    bool Ats,
    string Cdev)
{
    public bool PasidCapable => PasidWidth > 0;
}

public sealed record PlatformSpec(ImmutableArray<UnitSpec> Units, ImmutableArray<DeviceSpec> Devices)
{
    public UnitSpec Unit(string name) => Units.First(u => u.Name == name);
    public DeviceSpec? Device(string pci) => Devices.FirstOrDefault(d => d.Pci == pci);
    public IEnumerable<DeviceSpec> DevicesOf(string unit) => Devices.Where(d => d.Unit == unit);
}

/// <summary>The hw info type numbers of include/uapi/linux/iommufd.h (and the selftest mock's).</summary>
public static class HwInfoTypes
{
    public const uint None = 0;
    public const uint IntelVtd = 1;
    public const uint ArmSmmuV3 = 2;
    public const uint Amd = 4;
    public const uint Selftest = 0xfeedbeef;

    public static uint For(UnitKind kind) => kind switch
    {
        UnitKind.IntelVtd => IntelVtd,
        UnitKind.ArmSmmuV3 => ArmSmmuV3,
        UnitKind.AmdVi => Amd,
        _ => Selftest,
    };
}
