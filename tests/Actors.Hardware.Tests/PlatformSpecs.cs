using Akka.Configuration;
using IommuActors.Core.Configuration;
using IommuActors.Hardware;
using IommuActors.Hardware.Platform;
using Xunit;

namespace IommuActors.Hardware.Tests;

public sealed class PlatformSpecs
{
    [Fact]
    public void The_default_box_loads_two_vtd_units_a_mock_unit_and_a_shared_group()
    {
        var p = HardwareModule.LoadPlatform(Config.Empty);
        Assert.Equal(["dmar0", "dmar1", "mock0"], p.Units.Select(u => u.Name));
        Assert.Equal(UnitKind.IntelVtd, p.Unit("dmar0").Kind);
        Assert.Equal(HwInfoTypes.IntelVtd, p.Unit("dmar0").HwInfoType);
        Assert.Equal(0xFFFF_FFFF_FFFFUL, p.Unit("dmar0").ApertureEnd);
        Assert.Equal(2, p.Devices.Count(d => d.Group == 1));
        Assert.True(p.Device("0000:00:02.0")!.PasidCapable);
    }

    [Theory]
    [InlineData("platforms/amd-vi.conf", "ivhd0", UnitKind.AmdVi, 4u)]
    [InlineData("platforms/arm-smmuv3.conf", "smmu0", UnitKind.ArmSmmuV3, 2u)]
    public void A_shipped_example_box_loads(string file, string unit, UnitKind kind, uint hwInfoType)
    {
        var p = PlatformLoader.FromConfig(HoconFiles.Load(file));
        Assert.Equal(kind, p.Unit(unit).Kind);
        Assert.Equal(hwInfoType, p.Unit(unit).HwInfoType);
    }

    private const string GoodUnit = """{ name = u0, kind = intel-vtd, page-sizes = ["4096"], pasid-width = 8 }""";

    [Theory]
    [InlineData(GoodUnit, """{ pci = "0000:00:01.0", unit = nope, group = 0, cdev = vfio0 }""", "device '0000:00:01.0': unknown unit 'nope'")]
    [InlineData(GoodUnit, """{ pci = "0000:00:01.0", unit = u0, group = 0, cdev = vfio0 }, { pci = "0000:00:01.0", unit = u0, group = 1, cdev = vfio1 }""", "device '0000:00:01.0': duplicate PCI address")]
    [InlineData("""{ name = u0, kind = intel-vtd, page-sizes = ["4095"] }""", "", "unit 'u0': bad page size 4095")]
    [InlineData("""{ name = u0, kind = intel-vtd, page-sizes = ["4096"], pasid-width = 21 }""", "", "unit 'u0': pasid-width 21 outside 0..20")]
    [InlineData("""{ name = u0, kind = power9, page-sizes = ["4096"] }""", "", "unit 'u0': unknown kind 'power9'")]
    [InlineData(GoodUnit, """{ pci = "0000:00:01.0", unit = u0, group = 0, pasid-width = 21, cdev = vfio0 }""", "device '0000:00:01.0': pasid-width 21 outside 0..20")]
    [InlineData("""{ name = u0, kind = intel-vtd, page-sizes = ["4096"] }""", """{ pci = "0000:00:01.0", unit = u0, group = 0, pasid-width = 8, cdev = vfio0 }""", "device '0000:00:01.0': PASID capable behind unit 'u0' without PASID support")]
    [InlineData(GoodUnit + """, { name = u1, kind = amd-vi, page-sizes = ["4096"] }""", """{ pci = "0000:00:01.0", unit = u0, group = 0, cdev = vfio0 }, { pci = "0000:00:02.0", unit = u1, group = 0, cdev = vfio1 }""", "device '0000:00:02.0': group 0 spans two units")]
    [InlineData(GoodUnit, """{ pci = "00:01.0", unit = u0, group = 0, cdev = vfio0 }""", "device '00:01.0': not a PCI address")]
    [InlineData("""{ name = u0, kind = mock, page-sizes = ["2048"], address-width = 32, aperture-last = "0x100000000" }""", "", "unit 'u0': aperture 0..100000000 is empty or beyond address-width 32")]
    [InlineData("""{ name = u0, kind = mock, page-sizes = ["2048"], aperture-start = "0x2000", aperture-last = "0x1000" }""", "", "unit 'u0': aperture 2000..1000 is empty")]
    public void A_bad_entry_fails_naming_it(string units, string devices, string expected)
    {
        var config = ConfigurationFactory.ParseString($"iommu.platform {{ units = [{units}], devices = [{devices}] }}");
        var ex = Assert.Throws<PlatformConfigException>(() => PlatformLoader.FromConfig(config));
        Assert.StartsWith(expected, ex.Message);
    }
}
