using IommuActors.Hardware.Platform;
using IommuActors.Uapi.Structs;
using Xunit;

namespace IommuActors.Hardware.Tests;

/// <summary>The mock unit as the selftest's mock driver presents it per device, and its geometry on the default box.</summary>
public sealed class MockDeviceViewTests
{
    private static readonly PlatformSpec Box = HardwareModule.LoadPlatform(Akka.Configuration.Config.Empty);

    [Fact]
    public void The_default_mock_unit_has_the_mocks_2_KiB_IO_page_and_its_aperture_of_16_MiB_to_2_GiB()
    {
        var mock = Box.Unit("mock0");
        Assert.Equal((2048UL, 2048UL), (mock.PageSizes, mock.MinPageSize));
        Assert.Equal((Selftest.MockApertureStart, Selftest.MockApertureLast), (mock.ApertureStart, mock.ApertureEnd));
        Assert.Equal((0UL, 0xFFFF_FFFF_FFFFUL), (Box.Unit("dmar0").ApertureStart, Box.Unit("dmar0").ApertureEnd));
    }

    [Fact]
    public void A_HUGE_IOVA_device_adds_the_1_MiB_page_NO_DIRTY_takes_dirty_tracking_away_and_no_flag_changes_nothing()
    {
        var mock = Box.Unit("mock0");
        Assert.Equal(mock, MockDeviceView.For(mock, 0));
        Assert.Equal(2048UL | 0x100000UL, MockDeviceView.For(mock, Selftest.DeviceHugeIova).PageSizes);
        Assert.True(MockDeviceView.For(mock, Selftest.DeviceHugeIova).DirtyTracking);
        var noDirty = MockDeviceView.For(mock, Selftest.DeviceNoDirty | Selftest.DevicePasid);
        Assert.Equal((false, 2048UL), (noDirty.DirtyTracking, noDirty.PageSizes));
    }

    [Fact]
    public void A_platform_unit_is_never_changed_by_mock_flags()
    {
        var vtd = Box.Unit("dmar0");
        Assert.Same(vtd, MockDeviceView.For(vtd, Selftest.DeviceHugeIova | Selftest.DeviceNoDirty));
    }
}
