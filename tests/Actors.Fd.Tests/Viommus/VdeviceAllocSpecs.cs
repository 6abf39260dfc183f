using IommuActors.Fd.Objects;
using IommuActors.Fd.Tests.TestOps;
using IommuActors.Uapi;
using IommuActors.Uapi.Structs;
using Xunit;

namespace IommuActors.Fd.Tests.Viommus;

/// <summary>
/// IOMMU_VDEVICE_ALLOC on a selftest vIOMMU, as the selftest's vdevice_alloc and
/// viommu_alloc_nested_iopf drive it: a device's virtual ID, and the attach it allows.
/// </summary>
public sealed class VdeviceAllocSpecs : TestOpSpec
{
    private uint _ioas;
    private (uint Stdev, uint Hwpt, uint Idev) _mock;
    private uint _parent;
    private uint _viommu;
    private uint _nested;

    public VdeviceAllocSpecs()
    {
        _ioas = NewIoas();
        _mock = MockDomain(_ioas);
        _parent = AllocHwpt(_mock.Idev, _ioas, HwptAllocFlags.NestParent);
        _viommu = Back<IommuViommuAlloc>(Ioctl(Ctx, Ioctls.IOMMU_VIOMMU_ALLOC,
            new IommuViommuAlloc(40, 0, Selftest.ViommuType, _mock.Idev, _parent, 0, 0, 0, 0))).OutViommuId;
        _nested = AllocNested(_mock.Idev, _viommu, Selftest.IotlbDefault);
    }

    private Files.FileProtocol.IoctlDone Vdevice(uint viommu, uint dev, ulong virtId) =>
        Ioctl(Ctx, Ioctls.IOMMU_VDEVICE_ALLOC, new IommuVdeviceAlloc(24, viommu, dev, 0, virtId));

    [Fact]
    public void A_vDEVICE_answers_its_ID_uses_the_vIOMMU_and_is_one_per_device()
    {
        var done = Vdevice(_viommu, _mock.Idev, 0x99);
        Assert.Equal(0, done.Errno);
        var id = Back<IommuVdeviceAlloc>(done).OutVdeviceId;
        Assert.Equal(UserStruct.Encode(new IommuVdeviceAlloc(24, _viommu, _mock.Idev, id, 0x99)), done.Writeback);
        Assert.Equal(ObjectKind.Vdevice, ObjectOf(id).Kind);
        Assert.Equal([_viommu], ObjectOf(id).Uses.ToArray());

        Assert.Equal(Errno.EEXIST, Vdevice(_viommu, _mock.Idev, 0x99).Errno);
        Assert.Equal(Errno.EEXIST, Vdevice(_viommu, _mock.Idev, 0x88).Errno);
        var other = MockDomain(_ioas);
        Assert.Equal(Errno.EEXIST, Vdevice(_viommu, other.Idev, 0x99).Errno);
        Assert.Equal(0, Vdevice(_viommu, other.Idev, 0x77).Errno);

        Assert.Equal(0, Destroy(_nested));
        Assert.Equal(Errno.EBUSY, Destroy(_viommu));
        Assert.Equal(0, Destroy(id));
        Assert.Equal(Errno.ENOENT, Destroy(id));
        Assert.Equal(0, Vdevice(_viommu, _mock.Idev, 0x88).Errno);
    }

    [Fact]
    public void Unknown_vIOMMU_or_device_is_ENOENT()
    {
        Assert.Equal(Errno.ENOENT, Vdevice(0, _mock.Idev, 0x99).Errno);
        Assert.Equal(Errno.ENOENT, Vdevice(_parent, _mock.Idev, 0x99).Errno);
        Assert.Equal(Errno.ENOENT, Vdevice(_viommu, 0, 0x99).Errno);
        Assert.Equal(Errno.ENOENT, Vdevice(_viommu, _mock.Stdev, 0x99).Errno);
    }

    [Fact]
    public void Attaching_to_a_nested_HWPT_of_the_vIOMMU_needs_the_vDEVICE_first()
    {
        Assert.Equal(Errno.ENOENT, Test(ReplaceCmd(_mock.Stdev, _nested)).Errno);
        Assert.Equal(0, Vdevice(_viommu, _mock.Idev, 0x99).Errno);
        Assert.Equal(0, Test(ReplaceCmd(_mock.Stdev, _nested)).Errno);
        Assert.Equal(Errno.EBUSY, Destroy(_nested));
        Assert.Equal(0, Test(ReplaceCmd(_mock.Stdev, _ioas)).Errno);
        Assert.Equal(0, Destroy(_nested));
    }

    [Fact]
    public void Destroying_the_mock_device_takes_its_vDEVICE_with_it()
    {
        var id = Back<IommuVdeviceAlloc>(Vdevice(_viommu, _mock.Idev, 0x99)).OutVdeviceId;
        Assert.Equal(0, Destroy(_mock.Stdev));
        Assert.Equal(Errno.ENOENT, Destroy(id));
        Assert.Equal(0, Destroy(_nested));
        Assert.Equal(0, Destroy(_viommu));
    }

    [Fact]
    public void A_vDEVICE_gone_with_its_device_leaves_its_ID_taken()
    {
        var id = Back<IommuVdeviceAlloc>(Vdevice(_viommu, _mock.Idev, 0x99)).OutVdeviceId;
        Assert.Equal(0, Destroy(_mock.Stdev));
        // Every ID below the tombstone freed so far is handed out again, the tombstone's never.
        var handedOut = Enumerable.Range(0, 6).Select(_ => NewIoas()).ToList();
        Assert.DoesNotContain(id, handedOut);
        Assert.Contains(_mock.Stdev, handedOut);
        Assert.Equal(Errno.ENOENT, Destroy(id));
        // The virtual ID itself is free again on the vIOMMU.
        var other = MockDomain(_ioas);
        Assert.Equal(0, Vdevice(_viommu, other.Idev, 0x99).Errno);
    }
}
