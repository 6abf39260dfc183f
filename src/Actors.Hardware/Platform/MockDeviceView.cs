using IommuActors.Uapi.Structs;

namespace IommuActors.Hardware.Platform;

/// <summary>
/// How the selftest's mock driver presents its unit to one mock device, by the flags the device was
/// made with (MOCK_DOMAIN_FLAGS): NO_DIRTY takes dirty tracking away, HUGE_IOVA lets the paging
/// domains allocated for the device map with the mock's huge page as well as its IO page. Any other
/// unit is the platform's as it is.
/// </summary>
public static class MockDeviceView
{
    public static UnitSpec For(UnitSpec unit, uint mockFlags)
    {
        if (unit.Kind != UnitKind.Mock)
            return unit;
        return unit with
        {
            DirtyTracking = unit.DirtyTracking && (mockFlags & Selftest.DeviceNoDirty) == 0,
            PageSizes = (mockFlags & Selftest.DeviceHugeIova) != 0 ? unit.PageSizes | Selftest.MockHugePageSize : unit.PageSizes,
        };
    }
}
