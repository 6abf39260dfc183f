using Akka.Actor;
using IommuActors.Domains.Hwpt;
using IommuActors.Domains.Ioas;
using IommuActors.Fd.Tests.Support;
using IommuActors.Uapi;
using IommuActors.Uapi.Structs;
using Xunit;
using static IommuActors.Fd.Files.FileProtocol;

namespace IommuActors.Fd.Tests.Context;

/// <summary>
/// HWPT and attach rules of the iommufd context (hw_pagetable.c, device.c), driven with raw
/// struct bytes through the file region; the HWPTs themselves live in the IOAS actors.
/// </summary>
public abstract class HwptIoctlRules : FdSpec
{
    protected const uint RW = IoasMapFlags.Readable | IoasMapFlags.Writeable | IoasMapFlags.FixedIova;

    protected static IommuHwptAlloc Alloc(uint flags, uint devId, uint ptId, uint faultId = 0) =>
        new(44, flags, devId, ptId, 0, 0, 0, 0, 0, faultId, 0);

    [Fact]
    public void A_second_device_of_the_same_unit_attached_to_the_IOAS_reuses_its_automatic_HWPT()
    {
        var (ctx, fd) = Open("/dev/iommu");
        var ioas = NewIoas(ctx);
        var (dev0, _) = Open("/dev/vfio/devices/vfio0");
        var (dev3, _) = Open("/dev/vfio/devices/vfio3");
        Bind(dev0, fd);
        Bind(dev3, fd);
        var first = Back<VfioDeviceAttachIommufdPt>(Attach(dev0, ioas)).PtId;
        var second = Back<VfioDeviceAttachIommufdPt>(Attach(dev3, ioas)).PtId;
        Assert.Equal((4u, 4u), (first, second));
        // Still in use by the other device after one detaches.
        Assert.Equal(0, Ioctl(dev0, Ioctls.VFIO_DEVICE_DETACH_IOMMUFD_PT, UserStruct.Encode(new VfioDeviceDetachIommufdPt(8, 0, 0))[..8]).Errno);
        Assert.Equal(Errno.EBUSY, Destroy(ctx, first));
    }

    [Fact]
    public void Attaching_an_attached_device_to_another_IOAS_replaces_and_the_abandoned_automatic_HWPT_is_destroyed()
    {
        var (ctx, fd) = Open("/dev/iommu");
        var a = NewIoas(ctx);
        var b = NewIoas(ctx);
        var (dev, _) = Open("/dev/vfio/devices/vfio0");
        Bind(dev, fd);
        var old = Back<VfioDeviceAttachIommufdPt>(Attach(dev, a)).PtId;
        var now = Back<VfioDeviceAttachIommufdPt>(Attach(dev, b)).PtId;
        Assert.Equal((4u, 5u), (old, now));
        Assert.Equal(Errno.ENOENT, Destroy(ctx, old));
        // IOAS a is free again; b is held by the new HWPT.
        Assert.Equal(0, Destroy(ctx, a));
        Assert.Equal(Errno.EBUSY, Destroy(ctx, b));
    }

    [Fact]
    public void A_HWPT_with_an_attached_device_is_EBUSY_to_destroy()
    {
        var (ctx, fd) = Open("/dev/iommu");
        var ioas = NewIoas(ctx);
        var (dev, _) = Open("/dev/vfio/devices/vfio0");
        var devId = Bind(dev, fd);
        var hwpt = Back<IommuHwptAlloc>(Ioctl(ctx, Ioctls.IOMMU_HWPT_ALLOC, Alloc(0, devId, ioas))).OutHwptId;
        Assert.Equal(hwpt, Back<VfioDeviceAttachIommufdPt>(Attach(dev, hwpt)).PtId);
        Assert.Equal(Errno.EBUSY, Destroy(ctx, hwpt));
    }

    [Fact]
    public void A_bad_fault_id_is_ENOENT_after_the_domain_exists_and_the_HWPT_and_its_ID_are_given_back()
    {
        var (ctx, fd) = Open("/dev/iommu");
        var ioas = NewIoas(ctx);
        var (dev, _) = Open("/dev/vfio/devices/vfio0");
        var devId = Bind(dev, fd);
        Assert.Equal(Errno.ENOENT, Ioctl(ctx, Ioctls.IOMMU_HWPT_ALLOC, Alloc(HwptAllocFlags.FaultIdValid, devId, ioas, faultId: 77)).Errno);
        // Unknown flags are the domain allocation's EOPNOTSUPP, before the fault is looked up.
        Assert.Equal(Errno.EOPNOTSUPP, Ioctl(ctx, Ioctls.IOMMU_HWPT_ALLOC, Alloc(HwptAllocFlags.FaultIdValid | 0x100, devId, ioas, faultId: 77)).Errno);
        Assert.Equal(3u, Back<IommuHwptAlloc>(Ioctl(ctx, Ioctls.IOMMU_HWPT_ALLOC, Alloc(0, devId, ioas))).OutHwptId);
    }

    [Fact]
    public void A_fault_queue_on_a_nest_parent_is_EOPNOTSUPP()
    {
        var (ctx, fd) = Open("/dev/iommu");
        var ioas = NewIoas(ctx);
        var (dev, _) = Open("/dev/vfio/devices/vfio0");
        var devId = Bind(dev, fd);
        Assert.Equal(Errno.EOPNOTSUPP, Ioctl(ctx, Ioctls.IOMMU_HWPT_ALLOC,
            Alloc(HwptAllocFlags.FaultIdValid | HwptAllocFlags.NestParent, devId, ioas, faultId: 1)).Errno);
    }

    [Fact]
    public void A_nested_HWPT_needs_a_manual_nest_parent_so_an_automatic_or_plain_parent_is_EINVAL()
    {
        var (ctx, fd) = Open("/dev/iommu");
        var ioas = NewIoas(ctx);
        var (dev, _) = Open("/dev/vfio/devices/vfio0");
        var devId = Bind(dev, fd);
        var auto = Back<VfioDeviceAttachIommufdPt>(Attach(dev, ioas)).PtId;
        var plain = Back<IommuHwptAlloc>(Ioctl(ctx, Ioctls.IOMMU_HWPT_ALLOC, Alloc(0, devId, ioas))).OutHwptId;
        IommuHwptAlloc Nested(uint parent) => new(44, 0, devId, parent, 0, 0, HwptDataType.VtdS1, 24, Mem + 0x1000, 0, 0);
        Assert.Equal(Errno.EINVAL, Ioctl(ctx, Ioctls.IOMMU_HWPT_ALLOC, Nested(auto)).Errno);
        Assert.Equal(Errno.EINVAL, Ioctl(ctx, Ioctls.IOMMU_HWPT_ALLOC, Nested(plain)).Errno);
    }
}

/// <summary>The rules above in process, and the restart and crash-window specs that need the spec's own file region.</summary>
public sealed class HwptIoctlSpecs : HwptIoctlRules
{
    /// <summary>In a region of the spec's own: an iommufd with one IOAS and vfio0 bound to it.</summary>
    private (uint Ioas, uint DevId) IoasAndBoundDevice(IActorRef files, string ctx, int ctxFd, string dev, int devFd)
    {
        OpenIn(files, ctx, "/dev/iommu", ctxFd);
        OpenIn(files, dev, "/dev/vfio/devices/vfio0", devFd);
        var ioas = Back<IommuIoasAlloc>(Call(files, ctx, Ioctls.IOMMU_IOAS_ALLOC, new IommuIoasAlloc(12, 0, 0))).OutIoasId;
        var devId = Back<VfioDeviceBindIommufd>(Call(files, dev, Ioctls.VFIO_DEVICE_BIND_IOMMUFD,
            UserStruct.Encode(new VfioDeviceBindIommufd(16, 0, ctxFd, 0, 0))[..16])).OutDevid;
        return (ioas, devId);
    }

    [Fact]
    public void After_a_restart_the_context_has_its_objects_with_the_same_IDs_and_the_IOAS_its_HWPT_and_mappings()
    {
        var files = StartFiles("files-restart");
        const string ctx = "restart-ctx", dev = "restart-dev";
        var (ioas, devId) = IoasAndBoundDevice(files, ctx, 40, dev, 41);
        var hwpt = Back<IommuHwptAlloc>(Call(files, ctx, Ioctls.IOMMU_HWPT_ALLOC, Alloc(HwptAllocFlags.DirtyTracking, devId, ioas))).OutHwptId;
        Assert.Equal(0, Call(files, dev, Ioctls.VFIO_DEVICE_ATTACH_IOMMUFD_PT,
            UserStruct.Encode(new VfioDeviceAttachIommufdPt(12, 0, hwpt, 0))[..12]).Errno);
        Assert.Equal(0, Call(files, ctx, Ioctls.IOMMU_IOAS_MAP, new IommuIoasMap(40, RW, ioas, 0, Mem, 0x10000, 0x100000)).Errno);
        Assert.Equal((1u, 2u, 3u), (ioas, devId, hwpt));

        files = RestartFiles(files, "files-restart-2");

        // The object table: the IOAS is held by the HWPT, the HWPT by the attached device.
        Assert.Equal(Errno.EBUSY, Call(files, ctx, Ioctls.IOMMU_DESTROY, new IommuDestroy(8, ioas)).Errno);
        Assert.Equal(Errno.EBUSY, Call(files, ctx, Ioctls.IOMMU_DESTROY, new IommuDestroy(8, hwpt)).Errno);
        Assert.Equal(Errno.EBUSY, Call(files, ctx, Ioctls.IOMMU_DESTROY, new IommuDestroy(8, devId)).Errno);
        // The IOAS kept the HWPT with its dirty-tracking domain.
        Assert.Equal(0, Call(files, ctx, Ioctls.IOMMU_HWPT_SET_DIRTY_TRACKING, new IommuHwptSetDirtyTracking(16, 1, hwpt, 0)).Errno);
        Assert.Equal(0, Call(files, ctx, Ioctls.IOMMU_HWPT_GET_DIRTY_BITMAP,
            new IommuHwptGetDirtyBitmap(48, hwpt, 0, 0, 0x100000, 0x10000, 4096, Mem + 0x3000)).Errno);
        // ... and its mapping, which unmaps whole.
        Assert.Equal(0x10000ul, Back<IommuIoasUnmap>(Call(files, ctx, Ioctls.IOMMU_IOAS_UNMAP, new IommuIoasUnmap(24, ioas, 0x100000, 0x10000))).Length);
        // The next ID continues after the recovered ones.
        Assert.Equal(4u, Back<IommuIoasAlloc>(Call(files, ctx, Ioctls.IOMMU_IOAS_ALLOC, new IommuIoasAlloc(12, 0, 0))).OutIoasId);
    }

    [Fact]
    public void A_HWPT_the_IOAS_committed_but_the_context_never_recorded_is_destroyed_on_recovery_so_its_ID_is_free_again()
    {
        var files = StartFiles("files-crash");
        const string ctx = "crash-ctx", dev = "crash-dev";
        var (ioas, devId) = IoasAndBoundDevice(files, ctx, 50, dev, 51);
        Watch(files);
        Sys.Stop(files);
        ExpectTerminated(files);

        // The crash window: the IOAS journal has HWPT 3 (and its domain is in the unit), the context's has nothing.
        var key = $"{ctx}.ioas1";
        var unit = Platforms.Default.Unit("dmar0");
        var orphanHolder = Sys.ActorOf(IoasActor.Props(key, FdSettings.Default.LockedPageLimit, units: Units));
        orphanHolder.Tell(new HwptProtocol.AllocatePaging(key, 3, new HwptProtocol.DeviceRef("0000:00:02.0", "dmar0", 0, []), unit, 0, ActorRefs.Nobody));
        Assert.Equal(0, ExpectMsg<HwptProtocol.HwptAllocated>().Errno);
        Watch(orphanHolder);
        Sys.Stop(orphanHolder);
        ExpectTerminated(orphanHolder);

        files = StartFiles("files-crash-2");
        // Without the repair the IOAS would answer EEXIST for the ID the context hands out again.
        var hwpt = Back<IommuHwptAlloc>(Call(files, ctx, Ioctls.IOMMU_HWPT_ALLOC, Alloc(0, devId, ioas))).OutHwptId;
        Assert.Equal(3u, hwpt);
        Assert.Equal(0, Call(files, ctx, Ioctls.IOMMU_DESTROY, new IommuDestroy(8, hwpt)).Errno);
        Assert.Equal(0, Call(files, ctx, Ioctls.IOMMU_DESTROY, new IommuDestroy(8, ioas)).Errno);
        // The orphan's domain left the unit too: no domain is left on dmar0.
        Units.Tell(new Hardware.Units.UnitProtocol.GetUnitInfo("dmar0"), TestActor);
        Assert.Equal(0, ExpectMsg<Hardware.Units.UnitProtocol.UnitInfo>().Domains);
    }
}

/// <summary>The HWPT rules through the front door of a host as users run it.</summary>
public sealed class HwptIoctlOverSocketSpecs : HwptIoctlRules, IClassFixture<SocketHost>
{
    public HwptIoctlOverSocketSpecs(SocketHost host) => UseSocket(host);
}
