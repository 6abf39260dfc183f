using IommuActors.Fd.Tests.Support;
using IommuActors.Uapi;
using IommuActors.Uapi.Structs;
using Xunit;

namespace IommuActors.Fd.Tests.Pasid;

/// <summary>
/// A device's PASID attached to a HWPT, then freed with the PASID extension's PASID_FREE while
/// still attached: the IOMMU driver tears the PASID's context entries down in the unit. The IOAS
/// owns the attachment, the unit the context entry, the context the object table; all three must
/// agree afterwards, over the socket as users run it (only a real host has the PASID extension).
/// </summary>
public sealed class FreedAttachedPasidSpecs : FdSpec, IClassFixture<SocketHost>
{
    public FreedAttachedPasidSpecs(SocketHost host) => UseSocket(host);

    private int DetachPasid(string device, uint pasid) =>
        Ioctl(device, Ioctls.VFIO_DEVICE_DETACH_IOMMUFD_PT,
            new VfioDeviceDetachIommufdPt(12, VfioDeviceDetachIommufdPt.FlagPasid, pasid)).Errno;

    [Fact]
    public void A_PASID_freed_while_attached_detaches_with_0_attaches_again_with_0_and_holds_its_HWPT_only_while_attached()
    {
        var (ctx, fd) = Open("/dev/iommu");
        var ioas = NewIoas(ctx);
        var (dev, _) = Open("/dev/vfio/devices/vfio0");
        var devId = Bind(dev, fd);
        var hwpt = Back<IommuHwptAlloc>(Ioctl(ctx, Ioctls.IOMMU_HWPT_ALLOC,
            new IommuHwptAlloc(48, HwptAllocFlags.Pasid, devId, ioas, 0, 0, HwptDataType.None, 0, 0, 0, 0))).OutHwptId;
        var pasid = Back<EmuPasidAlloc>(Ioctl(ctx, EmulatorIoctls.PASID_ALLOC, new EmuPasidAlloc(12, 0, 0))).OutPasid;
        Assert.Equal(0, Attach(dev, hwpt, VfioDeviceAttachIommufdPt.FlagPasid, 16, pasid).Errno);

        Assert.Equal(0, Ioctl(ctx, EmulatorIoctls.PASID_FREE, new EmuPasidFree(8, pasid)).Errno);
        // The driver already took the entry down; VFIO's PASID detach answers 0 all the same.
        Assert.Equal(0, DetachPasid(dev, pasid));
        // Nothing remembers the old attachment: the HWPT is free, and the PASID attaches again.
        Assert.Equal(0, Attach(dev, hwpt, VfioDeviceAttachIommufdPt.FlagPasid, 16, pasid).Errno);
        Assert.Equal(Errno.EBUSY, Destroy(ctx, hwpt));
        Assert.Equal(0, DetachPasid(dev, pasid));
        Assert.Equal(0, Destroy(ctx, hwpt));
    }
}
