using IommuActors.Fd.Tests.Support;
using IommuActors.Uapi;
using IommuActors.Uapi.Structs;
using Xunit;

namespace IommuActors.Fd.Tests.Scenarios;

public sealed class VmmBootSpecs : FdSpec
{
    private const uint RW = IoasMapFlags.Readable | IoasMapFlags.Writeable;

    [Fact]
    public void A_VMM_boots_maps_guest_RAM_tracks_dirty_pages_and_tears_everything_down()
    {
        var (ctx, ctxFd) = Open("/dev/iommu");
        var ioas = Back<IommuIoasAlloc>(Ioctl(ctx, Ioctls.IOMMU_IOAS_ALLOC, new IommuIoasAlloc(12, 0, 0))).OutIoasId;
        var (dev, _) = Open("/dev/vfio/devices/vfio0");
        var devId = Bind(dev, ctxFd);
        Assert.Equal(2u, devId);

        var attached = Ioctl(dev, Ioctls.VFIO_DEVICE_ATTACH_IOMMUFD_PT, UserStruct.Encode(new VfioDeviceAttachIommufdPt(12, 0, ioas, 0))[..12]);
        var hwpt = Back<VfioDeviceAttachIommufdPt>(attached).PtId;
        Assert.Equal(3u, hwpt);

        // dmar0: 48-bit aperture, the MSI window reserved, 4 KiB alignment.
        var ranges = Back<IommuIoasIovaRanges>(Ioctl(ctx, Ioctls.IOMMU_IOAS_IOVA_RANGES, new IommuIoasIovaRanges(32, ioas, 4, 0, Mem + 0x1000, 0)));
        Assert.Equal((2u, 4096ul), (ranges.NumIovas, ranges.OutIovaAlignment));
        Assert.Equal(new IommuIovaRange(0, 0xfedfffff), IommuIovaRange.Read(Peek(Mem + 0x1000, 16)));
        Assert.Equal(new IommuIovaRange(0xfef00000, (1ul << 48) - 1), IommuIovaRange.Read(Peek(Mem + 0x1010, 16)));

        Assert.Equal(0, Ioctl(ctx, Ioctls.IOMMU_IOAS_MAP, new IommuIoasMap(40, RW | IoasMapFlags.FixedIova, ioas, 0, Mem, 0x10000, 0)).Errno);

        var info = Back<IommuHwInfo>(Ioctl(ctx, Ioctls.IOMMU_GET_HW_INFO, new IommuHwInfo(40, 0, devId, 24, Mem + 0x2000, 0, 0, 0)));
        Assert.Equal((24u, HwInfo.TypeIntelVtd, (byte)20), (info.DataLen, info.OutDataType, info.OutMaxPasidLog2));
        Assert.Equal(HwInfo.CapDirtyTracking, info.OutCapabilities & HwInfo.CapDirtyTracking);

        // The automatic HWPT was allocated without IOMMU_HWPT_ALLOC_DIRTY_TRACKING: it has no dirty ops.
        Assert.Equal(Errno.EOPNOTSUPP, Ioctl(ctx, Ioctls.IOMMU_HWPT_SET_DIRTY_TRACKING, new IommuHwptSetDirtyTracking(16, 1, hwpt, 0)).Errno);
        // For migration the VMM allocates a dirty-tracking HWPT and replaces the automatic one with it,
        // which then goes with its last device.
        var tracked = Back<IommuHwptAlloc>(Ioctl(ctx, Ioctls.IOMMU_HWPT_ALLOC,
            new IommuHwptAlloc(44, HwptAllocFlags.DirtyTracking, devId, ioas, 0, 0, 0, 0, 0, 0, 0))).OutHwptId;
        Assert.Equal(4u, tracked);
        var replaced = Ioctl(dev, Ioctls.VFIO_DEVICE_ATTACH_IOMMUFD_PT, UserStruct.Encode(new VfioDeviceAttachIommufdPt(12, 0, tracked, 0))[..12]);
        Assert.Equal(tracked, Back<VfioDeviceAttachIommufdPt>(replaced).PtId);
        Assert.Equal(Errno.ENOENT, Ioctl(ctx, Ioctls.IOMMU_DESTROY, new IommuDestroy(8, hwpt)).Errno);

        Assert.Equal(0, Ioctl(ctx, Ioctls.IOMMU_HWPT_SET_DIRTY_TRACKING, new IommuHwptSetDirtyTracking(16, 1, tracked, 0)).Errno);
        Poke(Mem + 0x3000, new byte[8] { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff });
        Assert.Equal(0, Ioctl(ctx, Ioctls.IOMMU_HWPT_GET_DIRTY_BITMAP, new IommuHwptGetDirtyBitmap(48, tracked, 0, 0, 0, 0x10000, 4096, Mem + 0x3000)).Errno);
        Assert.Equal(new byte[8], Peek(Mem + 0x3000, 8));

        Assert.Equal(Errno.EBUSY, Ioctl(ctx, Ioctls.IOMMU_DESTROY, new IommuDestroy(8, ioas)).Errno);
        Assert.Equal(Errno.EBUSY, Ioctl(ctx, Ioctls.IOMMU_DESTROY, new IommuDestroy(8, devId)).Errno);

        Assert.Equal(0x10000ul, Back<IommuIoasUnmap>(Ioctl(ctx, Ioctls.IOMMU_IOAS_UNMAP, new IommuIoasUnmap(24, ioas, 0, 0x10000))).Length);
        Assert.Equal(0, Ioctl(dev, Ioctls.VFIO_DEVICE_DETACH_IOMMUFD_PT, UserStruct.Encode(new VfioDeviceDetachIommufdPt(8, 0, 0))[..8]).Errno);
        // A manual HWPT outlives its devices: the IOAS stays busy until it is destroyed.
        Assert.Equal(Errno.EBUSY, Ioctl(ctx, Ioctls.IOMMU_DESTROY, new IommuDestroy(8, ioas)).Errno);
        Assert.Equal(0, Ioctl(ctx, Ioctls.IOMMU_DESTROY, new IommuDestroy(8, tracked)).Errno);
        Assert.Equal(0, Ioctl(ctx, Ioctls.IOMMU_DESTROY, new IommuDestroy(8, ioas)).Errno);
        Release(dev);
        Release(ctx);
    }

    [Fact]
    public void A_group_bound_in_one_context_is_EBUSY_for_another()
    {
        var (_, fdA) = Open("/dev/iommu");
        var (_, fdB) = Open("/dev/iommu");
        var (dev1, _) = Open("/dev/vfio/devices/vfio1");
        var (dev2, _) = Open("/dev/vfio/devices/vfio2");
        Bind(dev1, fdA);
        Assert.Equal(Errno.EBUSY, BindCall(dev2, fdB).Errno);
    }

    [Fact]
    public void Opening_a_device_the_platform_does_not_have_is_ENOENT()
    {
        Open("/dev/vfio/devices/vfio99", Errno.ENOENT);
    }

    [Fact]
    public void Device_ioctls_before_bind_are_EINVAL()
    {
        var (dev, _) = Open("/dev/vfio/devices/vfio0");
        Assert.Equal(Errno.EINVAL, Ioctl(dev, Ioctls.VFIO_DEVICE_GET_INFO, UserStruct.Encode(new VfioDeviceInfo(24, 0, 0, 0, 0, 0))).Errno);
    }

    [Fact]
    public void Binding_to_an_fd_that_is_not_an_iommufd_is_EBADFD()
    {
        var (dev, devFd) = Open("/dev/vfio/devices/vfio0");
        Assert.Equal(77, BindCall(dev, devFd).Errno);
    }
}
