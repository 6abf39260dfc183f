using System.Collections.Immutable;
using System.Globalization;
using System.Text.RegularExpressions;
using Akka.Configuration;
using Akka.Configuration.Hocon;

namespace IommuActors.Hardware.Platform;

public sealed class PlatformConfigException(string message) : Exception(message);

/// <summary>Reads iommu.platform { units = [...], devices = [...] } and rejects a bad box naming the entry.</summary>
public static partial class PlatformLoader
{
    // The PCIe PASID capability carries at most 20 bits.
    public const int MaxPasidWidth = 20;

    public static PlatformSpec FromConfig(Config config)
    {
        var root = config.GetConfig("iommu.platform")
            ?? throw new PlatformConfigException("iommu.platform is missing");
        var units = ImmutableArray.CreateBuilder<UnitSpec>();
        var unitObjects = root.GetValue("units")?.GetArray() ?? [];
        for (var i = 0; i < unitObjects.Count; i++)
        {
            var unit = ReadUnit(new Config(new HoconRoot(unitObjects[i])), i);
            if (units.Any(u => u.Name == unit.Name))
                throw new PlatformConfigException($"unit '{unit.Name}': duplicate unit name");
            units.Add(unit);
        }
        var devices = ImmutableArray.CreateBuilder<DeviceSpec>();
        var deviceObjects = root.GetValue("devices")?.GetArray() ?? [];
        for (var i = 0; i < deviceObjects.Count; i++)
        {
            var device = ReadDevice(new Config(new HoconRoot(deviceObjects[i])), i);
            var where = $"device '{device.Pci}'";
            if (devices.Any(d => d.Pci == device.Pci))
                throw new PlatformConfigException($"{where}: duplicate PCI address");
            if (devices.Any(d => d.Cdev == device.Cdev))
                throw new PlatformConfigException($"{where}: duplicate cdev name '{device.Cdev}'");
            var unit = units.FirstOrDefault(u => u.Name == device.Unit)
                ?? throw new PlatformConfigException($"{where}: unknown unit '{device.Unit}'");
            if (device.PasidWidth > 0 && unit.PasidWidth == 0)
                throw new PlatformConfigException($"{where}: PASID capable behind unit '{unit.Name}' without PASID support");
            if (devices.Any(d => d.Group == device.Group && d.Unit != device.Unit))
                throw new PlatformConfigException($"{where}: group {device.Group} spans two units");
            devices.Add(device);
        }
        return new PlatformSpec(units.ToImmutable(), devices.ToImmutable());
    }

    private static UnitSpec ReadUnit(Config c, int index)
    {
        var name = c.GetString("name", null) ?? throw new PlatformConfigException($"unit #{index}: no name");
        var where = $"unit '{name}'";
        var kind = c.GetString("kind", "") switch
        {
            "intel-vtd" => UnitKind.IntelVtd,
            "amd-vi" => UnitKind.AmdVi,
            "arm-smmuv3" => UnitKind.ArmSmmuV3,
            "mock" => UnitKind.Mock,
            var other => throw new PlatformConfigException($"{where}: unknown kind '{other}'"),
        };
        ulong pageSizes = 0;
        foreach (var text in c.GetStringList("page-sizes") ?? [])
        {
            var size = Number(text, where, "page-sizes");
            if (size < 512 || (size & (size - 1)) != 0)
                throw new PlatformConfigException($"{where}: bad page size {text} (a power of two of at least 512)");
            pageSizes |= size;
        }
        if (pageSizes == 0)
            throw new PlatformConfigException($"{where}: no page sizes");
        var width = c.GetInt("address-width", 48);
        if (width is < 32 or > 64)
            throw new PlatformConfigException($"{where}: address-width {width} outside 32..64");
        var pasidWidth = c.GetInt("pasid-width", 0);
        if (pasidWidth is < 0 or > MaxPasidWidth)
            throw new PlatformConfigException($"{where}: pasid-width {pasidWidth} outside 0..{MaxPasidWidth}");
        var regions = ImmutableArray.CreateBuilder<ReservedRegion>();
        foreach (var value in c.GetValue("reserved-regions")?.GetArray() ?? [])
        {
            var r = new Config(new HoconRoot(value));
            var start = Number(r.GetString("start"), where, "reserved-regions.start");
            var last = Number(r.GetString("last"), where, "reserved-regions.last");
            if (last < start)
                throw new PlatformConfigException($"{where}: reserved region {start:x}..{last:x} is empty");
            var rk = r.GetString("kind", "reserved") switch
            {
                "msi" => ReservedKind.Msi,
                "direct" => ReservedKind.Direct,
                "reserved" => ReservedKind.Reserved,
                "sw-msi" => ReservedKind.SwMsi,
                var other => throw new PlatformConfigException($"{where}: unknown reserved region kind '{other}'"),
            };
            regions.Add(new ReservedRegion(start, last, rk));
        }
        var hwInfoText = c.GetString("hw-info", "");
        if (hwInfoText.Length % 2 != 0 || !HexOnly().IsMatch(hwInfoText))
            throw new PlatformConfigException($"{where}: hw-info is not an even-length hex string");
        var hwInfo = Convert.FromHexString(hwInfoText).ToImmutableArray();
        var nesting = c.GetBoolean("nesting", false);
        var apertureStart = Number(c.GetString("aperture-start", "0"), where, "aperture-start");
        var apertureLast = Number(c.GetString("aperture-last", "0"), where, "aperture-last");
        var widthEnd = width >= 64 ? ulong.MaxValue : (1UL << width) - 1;
        if (apertureLast > widthEnd || (apertureLast != 0 && apertureLast <= apertureStart) || apertureStart > widthEnd)
            throw new PlatformConfigException($"{where}: aperture {apertureStart:x}..{apertureLast:x} is empty or beyond address-width {width}");
        return new UnitSpec(name, kind, pageSizes, width, pasidWidth, nesting,
            c.GetString("stage1-format", "none"), c.GetBoolean("dirty-tracking", false),
            c.GetBoolean("enforce-cache-coherency", true), c.GetBoolean("iopf", false), regions.ToImmutable(),
            (uint)Number(c.GetString("hw-info-type", HwInfoTypes.For(kind).ToString(CultureInfo.InvariantCulture)), where, "hw-info-type"),
            hwInfo) { ApertureStart = apertureStart, ApertureLast = apertureLast };
    }

    private static DeviceSpec ReadDevice(Config c, int index)
    {
        var pci = c.GetString("pci", null) ?? throw new PlatformConfigException($"device #{index}: no pci address");
        var where = $"device '{pci}'";
        if (!PciAddress().IsMatch(pci))
            throw new PlatformConfigException($"{where}: not a PCI address dddd:bb:dd.f");
        var pasidWidth = c.GetInt("pasid-width", 0);
        if (pasidWidth is < 0 or > MaxPasidWidth)
            throw new PlatformConfigException($"{where}: pasid-width {pasidWidth} outside 0..{MaxPasidWidth}");
        var pri = c.GetBoolean("pri", false);
        return new DeviceSpec(pci,
            (ushort)Number(c.GetString("vendor", "0"), where, "vendor"),
            (ushort)Number(c.GetString("device", "0"), where, "device"),
            c.GetString("unit", null) ?? throw new PlatformConfigException($"{where}: no unit"),
            c.GetInt("group", -1) is var g and >= 0 ? g : throw new PlatformConfigException($"{where}: no group"),
            pasidWidth, pri, c.GetBoolean("ats", false),
            c.GetString("cdev", null) ?? throw new PlatformConfigException($"{where}: no cdev name"));
    }

    private static ulong Number(string? text, string where, string field)
    {
        text = text?.Trim() ?? "";
        var ok = text.StartsWith("0x", StringComparison.OrdinalIgnoreCase)
            ? ulong.TryParse(text.AsSpan(2), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var v)
            : ulong.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out v);
        return ok ? v : throw new PlatformConfigException($"{where}: {field} '{text}' is not a number");
    }

    [GeneratedRegex("^[0-9a-fA-F]*$")]
    private static partial Regex HexOnly();

    [GeneratedRegex("^[0-9a-f]{4}:[0-9a-f]{2}:[0-1][0-9a-f]\\.[0-7]$")]
    private static partial Regex PciAddress();
}
