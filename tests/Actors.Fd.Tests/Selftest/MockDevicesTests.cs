using IommuActors.Fd.Selftests;
using IommuActors.Uapi.Structs;
using Xunit;

namespace IommuActors.Fd.Tests.Selftests;

public sealed class MockDevicesTests
{
    [Fact]
    public void A_mock_device_is_PASID_capable_only_with_DEVICE_PASID_and_sits_alone_in_its_group_on_the_mock_unit()
    {
        var mocks = new MockDevices("mock0");
        mocks.Add(3, "k3", "iommufd_mock/k3", Selftest.DevicePasid);
        mocks.Add(4, "k4", "iommufd_mock/k4", 0);
        var pasid = mocks.SpecOf("iommufd_mock/k3")!;
        var plain = mocks.SpecOf("iommufd_mock/k4")!;
        Assert.Equal(("mock0", Selftest.MockPasidWidth, true), (pasid.Unit, pasid.PasidWidth, pasid.PasidCapable));
        Assert.Equal((0, false), (plain.PasidWidth, plain.PasidCapable));
        Assert.NotEqual(pasid.Group, plain.Group);
        Assert.True(pasid.Pri);
    }

    [Fact]
    public void Flags_and_NO_DIRTY_are_a_mock_devices_and_a_platform_device_has_none()
    {
        var mocks = new MockDevices("mock0");
        mocks.Add(3, "k3", "m3", Selftest.DeviceNoDirty | Selftest.DeviceHugeIova);
        Assert.Equal(Selftest.DeviceNoDirty | Selftest.DeviceHugeIova, mocks.FlagsOf("m3"));
        Assert.True(mocks.IsNoDirty("m3"));
        Assert.Equal(0u, mocks.FlagsOf("0000:00:01.0"));
        Assert.False(mocks.IsNoDirty("0000:00:01.0"));
        Assert.False(mocks.IsMock("0000:00:01.0"));
        Assert.Null(mocks.SpecOf("0000:00:01.0"));
    }

    [Fact]
    public void Removing_the_SELFTEST_object_forgets_its_device_and_a_second_remove_finds_nothing()
    {
        var mocks = new MockDevices(null);
        mocks.Add(3, "k3", "m3", 0);
        Assert.Equal(new MockDevice("k3", "m3", 0), mocks.Of(3));
        Assert.True(mocks.Remove(3));
        Assert.False(mocks.Remove(3));
        Assert.False(mocks.IsMock("m3"));
        Assert.Null(mocks.Of(3));
        Assert.Null(mocks.Unit);
    }
}
