using IommuActors.Hardware.Platform;
using IommuActors.Uapi.Structs;

namespace IommuActors.Fd.Selftests;

/// <summary>A SELFTEST object: its key, the name of its mock device behind the mock unit, MOCK_DOMAIN_FLAGS' dev_flags.</summary>
public sealed record MockDevice(string Key, string Pci, uint Flags);

/// <summary>
/// The selftest's mock devices of one context (selftest.c's selftest_obj of TYPE_IDEV): each
/// SELFTEST object and the device it stands for, as the mock driver presents it (mock_dev_create).
/// </summary>
public sealed class MockDevices(string? mockUnit)
{
    /// <summary>The device flags mock_dev_create accepts.</summary>
    public const uint DeviceFlags = Selftest.DeviceNoDirty | Selftest.DeviceHugeIova | Selftest.DevicePasid;

    /// <summary>Groups of mock devices: one of its own each (generic_device_group), apart from the platform's numbers.</summary>
    public const int GroupBase = 1 << 30;

    private readonly Dictionary<uint, MockDevice> _byObject = new();
    private readonly Dictionary<string, (MockDevice Device, DeviceSpec Spec)> _byPci = new();

    /// <summary>
    /// Each mock device's cache entries (mock_dev's cache[]): IOMMU_TEST_DEV_CACHE_DEFAULT when made,
    /// zeroed by a vIOMMU's cache invalidation. Driver state, volatile as the driver's is.
    /// </summary>
    private readonly Dictionary<string, uint[]> _caches = new();

    /// <summary>The platform's mock unit; null when it has none (MOCK_DOMAIN is then ENODEV).</summary>
    public string? Unit => mockUnit;

    public int Count => _byObject.Count;

    /// <summary>mock_dev_create: PASID-capable (MOCK_PASID_WIDTH bits) only with DEVICE_PASID; the mock IOMMU takes page requests from any device.</summary>
    public DeviceSpec SpecFor(uint stdevId, string pci, uint flags) =>
        new(pci, 0, 0, mockUnit ?? "", GroupBase + (int)stdevId,
            (flags & Selftest.DevicePasid) != 0 ? Selftest.MockPasidWidth : 0, Pri: true, Ats: false, Cdev: "");

    public void Add(uint stdevId, string key, string pci, uint flags)
    {
        var device = new MockDevice(key, pci, flags);
        _byObject[stdevId] = device;
        _byPci[pci] = (device, SpecFor(stdevId, pci, flags));
        _caches[pci] = Enumerable.Repeat(Selftest.DevCacheDefault, (int)Selftest.DevCacheNum).ToArray();
    }

    /// <summary>A mock device's cache entry; null for another device or an index past the last.</summary>
    public uint? CacheOf(string pci, uint cacheId) =>
        _caches.TryGetValue(pci, out var c) && cacheId < c.Length ? c[cacheId] : null;

    /// <summary>Zeroes one cache entry of a mock device, or (cacheId null) all of them.</summary>
    public void ClearCache(string pci, uint? cacheId)
    {
        if (!_caches.TryGetValue(pci, out var c))
            return;
        if (cacheId is { } one)
            c[one] = 0;
        else
            Array.Clear(c);
    }

    /// <summary>Forgets the SELFTEST object's device; false when the id names none.</summary>
    public bool Remove(uint stdevId)
    {
        if (!_byObject.Remove(stdevId, out var gone))
            return false;
        _byPci.Remove(gone.Pci);
        _caches.Remove(gone.Pci);
        return true;
    }

    public bool TryGet(uint stdevId, out MockDevice device) => _byObject.TryGetValue(stdevId, out device!);

    /// <summary>The device of a SELFTEST object, or null.</summary>
    public MockDevice? Of(uint stdevId) => _byObject.GetValueOrDefault(stdevId);

    /// <summary>Whether the device named pci is a mock device of this context.</summary>
    public bool IsMock(string pci) => _byPci.ContainsKey(pci);

    /// <summary>The spec of a mock device; null for any other device.</summary>
    public DeviceSpec? SpecOf(string pci) => _byPci.TryGetValue(pci, out var d) ? d.Spec : null;

    /// <summary>The MOCK_DOMAIN_FLAGS a mock device was made with; 0 for any other device.</summary>
    public uint FlagsOf(string pci) => _byPci.TryGetValue(pci, out var d) ? d.Device.Flags : 0;

    /// <summary>A mock device made with NO_DIRTY: its driver refuses a dirty-tracking domain.</summary>
    public bool IsNoDirty(string pci) => (FlagsOf(pci) & Selftest.DeviceNoDirty) != 0;
}
