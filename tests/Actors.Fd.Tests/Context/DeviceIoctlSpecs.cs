using Akka.Actor;
using IommuActors.Fd.Tests.Support;
using IommuActors.Hardware.Units;
using IommuActors.Uapi;
using IommuActors.Uapi.Structs;
using Xunit;
using static IommuActors.Fd.Context.ContextProtocol;
using static IommuActors.Fd.Files.FileProtocol;

namespace IommuActors.Fd.Tests.Context;

/// <summary>
/// The VFIO device cdev ioctls (device_cdev.c, vfio-pci's info ioctls) and the DEVICE object's
/// lifetime in its iommufd context (device.c), one rule a spec, driven with raw struct bytes.
/// </summary>
public abstract class DeviceIoctlRules : FdSpec
{
    protected const string Dev0 = "/dev/vfio/devices/vfio0", Dev0Pci = "0000:00:02.0";
    protected const uint RW = IoasMapFlags.Readable | IoasMapFlags.Writeable | IoasMapFlags.FixedIova;

    [Fact]
    public void Binding_a_bound_device_file_again_is_EINVAL()
    {
        var (_, fd) = Open("/dev/iommu");
        var (dev, _) = Open(Dev0);
        Assert.Equal(1u, Bind(dev, fd));
        Assert.Equal(Errno.EINVAL, BindCall(dev, fd).Errno);
    }

    [Fact]
    public void A_second_fd_of_a_device_bound_through_another_fd_is_EINVAL_to_bind()
    {
        var (_, fdA) = Open("/dev/iommu");
        var (_, fdB) = Open("/dev/iommu");
        var (first, _) = Open(Dev0);
        var (second, _) = Open(Dev0);
        Bind(first, fdA);
        // device_cdev.c: a device opens once through the cdev path, whichever iommufd the second fd names.
        Assert.Equal(Errno.EINVAL, BindCall(second, fdB).Errno);
        Assert.Equal(Errno.EINVAL, BindCall(second, fdA).Errno);
    }

    [Fact]
    public void BIND_with_an_unknown_flag_a_negative_iommufd_or_a_short_argsz_is_EINVAL()
    {
        var (_, fd) = Open("/dev/iommu");
        var (dev, _) = Open(Dev0);
        Assert.Equal(Errno.EINVAL, BindCall(dev, fd, flags: 2).Errno);
        Assert.Equal(Errno.EINVAL, BindCall(dev, -1).Errno);
        Assert.Equal(Errno.EINVAL, BindCall(dev, fd, argsz: 12).Errno);
        // None of them bound it.
        Assert.Equal(1u, Bind(dev, fd));
    }

    [Fact]
    public void BIND_with_an_fd_the_process_does_not_have_is_EBADF()
    {
        var (dev, _) = Open(Dev0);
        Assert.Equal(Errno.EBADF, BindCall(dev, 55).Errno);
    }

    [Fact]
    public void ATTACH_to_an_unknown_ID_is_ENOENT_and_to_an_object_that_is_no_page_table_EINVAL()
    {
        var (_, fd) = Open("/dev/iommu");
        var (dev, _) = Open(Dev0);
        var devId = Bind(dev, fd);
        Assert.Equal(Errno.ENOENT, Attach(dev, 99).Errno);
        Assert.Equal(Errno.EINVAL, Attach(dev, devId).Errno);
    }

    [Fact]
    public void ATTACH_with_an_unknown_flag_or_a_PASID_attach_with_a_short_argsz_is_EINVAL()
    {
        var (ctx, fd) = Open("/dev/iommu");
        var ioas = NewIoas(ctx);
        var (dev, _) = Open(Dev0);
        Bind(dev, fd);
        Assert.Equal(Errno.EINVAL, Attach(dev, ioas, flags: 2).Errno);
        Assert.Equal(Errno.EINVAL, Attach(dev, ioas, flags: VfioDeviceAttachIommufdPt.FlagPasid, argsz: 12, pasid: 5).Errno);
        Assert.Equal(Errno.EINVAL, Attach(dev, ioas, argsz: 8).Errno);
        // Nothing was attached: the IOAS has no HWPT yet and destroys.
        Assert.Equal(0, Destroy(ctx, ioas));
    }

    [Fact]
    public void ATTACH_writes_back_the_automatic_HWPT_ID_in_pt_id()
    {
        var (ctx, fd) = Open("/dev/iommu");
        var ioas = NewIoas(ctx);
        var (dev, _) = Open(Dev0);
        Bind(dev, fd);
        var back = Attach(dev, ioas);
        Assert.Equal(0, back.Errno);
        Assert.Equal(UserStruct.Encode(new VfioDeviceAttachIommufdPt(12, 0, 3, 0))[..12], back.Writeback);
    }

    [Fact]
    public void Detaching_a_device_that_is_not_attached_succeeds()
    {
        var (_, fd) = Open("/dev/iommu");
        var (dev, _) = Open(Dev0);
        Bind(dev, fd);
        Assert.Equal(0, Detach(dev));
    }

    [Fact]
    public void Closing_the_device_file_destroys_its_DEVICE_and_frees_the_device_for_another_context()
    {
        var (ctxA, fdA) = Open("/dev/iommu");
        var ioas = NewIoas(ctxA);
        var (dev, _) = Open(Dev0);
        var devId = Bind(dev, fdA);
        var hwpt = Back<VfioDeviceAttachIommufdPt>(Attach(dev, ioas)).PtId;
        Release(dev);
        Assert.Equal(Errno.ENOENT, Destroy(ctxA, devId));
        Assert.Equal(Errno.ENOENT, Destroy(ctxA, hwpt));
        Assert.Equal(0, Destroy(ctxA, ioas));
        var (_, fdB) = Open("/dev/iommu");
        var (again, _) = Open(Dev0);
        Assert.Equal(1u, Bind(again, fdB));
    }

    [Fact]
    public void GET_INFO_after_bind_reports_a_resettable_PCI_device_with_nine_regions_and_five_IRQ_indexes()
    {
        var (_, fd) = Open("/dev/iommu");
        var (dev, _) = Open(Dev0);
        Bind(dev, fd);
        var info = Back<VfioDeviceInfo>(Ioctl(dev, Ioctls.VFIO_DEVICE_GET_INFO, new VfioDeviceInfo(24, 0, 0, 0, 0, 0)));
        Assert.Equal(new VfioDeviceInfo(24, VfioDeviceInfo.FlagPci | VfioDeviceInfo.FlagReset, 9, 5, 0, 0), info);
    }

    [Fact]
    public void GET_REGION_INFO_has_256_bytes_of_config_space_and_past_the_last_region_is_EINVAL()
    {
        var (_, fd) = Open("/dev/iommu");
        var (dev, _) = Open(Dev0);
        Bind(dev, fd);
        static byte[] Region(uint index)
        {
            var b = new byte[32];
            BitConverter.TryWriteBytes(b.AsSpan(0), 32u);
            BitConverter.TryWriteBytes(b.AsSpan(8), index);
            return b;
        }
        var config = Ioctl(dev, Ioctls.VFIO_DEVICE_GET_REGION_INFO, Region(7));
        Assert.Equal(0, config.Errno);
        Assert.Equal(3u, BitConverter.ToUInt32(config.Writeback, 4)); // readable | writeable
        Assert.Equal(256ul, U64(config.Writeback, 16));
        Assert.Equal(7ul << 40, U64(config.Writeback, 24));
        Assert.Equal(Errno.EINVAL, Ioctl(dev, Ioctls.VFIO_DEVICE_GET_REGION_INFO, Region(9)).Errno);
    }

    [Fact]
    public void GET_HW_INFO_of_a_bound_device_gives_its_units_data_and_of_any_other_ID_ENOENT()
    {
        var (ctx, fd) = Open("/dev/iommu");
        var ioas = NewIoas(ctx);
        var (dev, _) = Open(Dev0);
        var devId = Bind(dev, fd);
        var info = Back<IommuHwInfo>(Ioctl(ctx, Ioctls.IOMMU_GET_HW_INFO, new IommuHwInfo(40, 0, devId, 24, Mem + 0x1000, 0, 0, 0)));
        Assert.Equal(new IommuHwInfo(40, 0, devId, 24, Mem + 0x1000, HwInfo.TypeIntelVtd, 20,
            HwInfo.CapDirtyTracking | HwInfo.CapPciPasidExec | HwInfo.CapPciPasidPriv), info);
        // struct iommu_hw_info_vtd as the platform gives it, apart from the struct at arg: flags 0, cap_reg, ecap_reg.
        Assert.Equal(Convert.FromHexString("000000000000000066e2c00bd0e83d000000000000000000"), Peek(Mem + 0x1000, 24));
        Assert.Equal(Errno.ENOENT, Ioctl(ctx, Ioctls.IOMMU_GET_HW_INFO, new IommuHwInfo(32, 0, ioas, 24, Mem, 0, 0, 0)).Errno);
        Assert.Equal(Errno.ENOENT, Ioctl(ctx, Ioctls.IOMMU_GET_HW_INFO, new IommuHwInfo(32, 0, 77, 24, Mem, 0, 0, 0)).Errno);
    }
}

/// <summary>The rules above in process, and those that look behind the ioctls: DMA through the unit, what holds a closed context.</summary>
public sealed class DeviceIoctlSpecs : DeviceIoctlRules
{
    private readonly Akka.TestKit.TestProbe _engine;

    public DeviceIoctlSpecs() => _engine = CreateTestProbe();

    private object DmaRead(ulong iova) => Dma(_engine, "dmar0", Dev0Pci, iova, DmaDirection.Read);

    /// <summary>A probe watching the file entity of a file id (its Terminated may come before or after other replies).</summary>
    private Akka.TestKit.TestProbe Watching(IActorRef region, string fileId)
    {
        var probe = CreateTestProbe();
        probe.Watch(Sys.ActorSelection(region.Path / Uri.EscapeDataString(fileId)).ResolveOne(TimeSpan.FromSeconds(5)).Result);
        return probe;
    }

    [Fact]
    public void After_DETACH_the_device_DMA_faults_and_the_automatic_HWPT_is_gone()
    {
        var (ctx, fd) = Open("/dev/iommu");
        var ioas = NewIoas(ctx);
        Assert.Equal(0, Ioctl(ctx, Ioctls.IOMMU_IOAS_MAP, new IommuIoasMap(40, RW, ioas, 0, Mem, 0x10000, 0x100000)).Errno);
        var (dev, _) = Open(Dev0);
        Bind(dev, fd);
        var hwpt = Back<VfioDeviceAttachIommufdPt>(Attach(dev, ioas)).PtId;
        Assert.IsType<UnitProtocol.DmaCompleted>(DmaRead(0x100000));
        Assert.Equal(0, Detach(dev));
        Assert.IsType<UnitProtocol.DmaFaulted>(DmaRead(0x100000));
        Assert.Equal(Errno.ENOENT, Destroy(ctx, hwpt));
    }

    // ---- what holds a context after its fd closes ----

    [Fact]
    public void Closing_the_iommufd_with_nothing_holding_it_releases_the_context_at_once()
    {
        var (ctx, _) = Open("/dev/iommu");
        NewIoas(ctx);
        var gone = Watching(Files, ctx);
        Release(ctx);
        gone.ExpectMsg<Terminated>();
        Assert.Equal(Errno.EBADF, Ioctl(ctx, Ioctls.IOMMU_IOAS_ALLOC, new IommuIoasAlloc(12, 0, 0)).Errno);
    }

    [Fact]
    public void A_bound_device_holds_the_closed_iommufd_so_its_DMA_translates_until_the_device_fd_closes()
    {
        var (ctx, fd) = Open("/dev/iommu");
        var ioas = NewIoas(ctx);
        Assert.Equal(0, Ioctl(ctx, Ioctls.IOMMU_IOAS_MAP, new IommuIoasMap(40, RW, ioas, 0, Mem, 0x10000, 0x100000)).Errno);
        var (dev, _) = Open(Dev0);
        Bind(dev, fd);
        Assert.Equal(3u, Back<VfioDeviceAttachIommufdPt>(Attach(dev, ioas)).PtId);
        var gone = Watching(Files, ctx);

        Release(ctx);
        Assert.IsType<UnitProtocol.DmaCompleted>(DmaRead(0x100000));
        // The device still reaches the context: detach and attach again (the ID of the gone automatic HWPT is reused).
        Assert.Equal(0, Detach(dev));
        Assert.Equal(3u, Back<VfioDeviceAttachIommufdPt>(Attach(dev, ioas)).PtId);
        ExpectNoMsg(TimeSpan.FromMilliseconds(200));

        Release(dev);
        gone.ExpectMsg<Terminated>();
        Assert.IsType<UnitProtocol.DmaFaulted>(DmaRead(0x100000));
        Units.Tell(new UnitProtocol.GetUnitInfo("dmar0"), TestActor);
        Assert.Equal(0, ExpectMsg<UnitProtocol.UnitInfo>().Domains);
    }

    [Fact]
    public void An_open_fault_queue_fd_holds_the_closed_iommufd_until_it_closes()
    {
        var (ctx, _) = Open("/dev/iommu");
        var fault = Back<IommuFaultAlloc>(Ioctl(ctx, Ioctls.IOMMU_FAULT_QUEUE_ALLOC, new IommuFaultAlloc(16, 0, 0, 0)));
        Client.Tell(new ResolveFd(1, (int)fault.OutFaultFd), TestActor);
        var queue = ExpectMsg<FdResolved>().FileId;
        var gone = Watching(Files, ctx);

        Release(ctx);
        // The queue still reads from the context: nothing is pending.
        Files.Tell(new Read(queue, 7, 400, Client), TestActor);
        var read = ExpectMsg<ReadDone>();
        Assert.Equal((7L, 0, 0), (read.Tag, read.Errno, read.Data.Length));

        Release(queue);
        gone.ExpectMsg<Terminated>();
    }

    [Fact]
    public void The_context_answers_a_fault_queue_close_once_the_FAULT_no_longer_counts_the_fd()
    {
        var (ctx, _) = Open("/dev/iommu");
        var fault = Back<IommuFaultAlloc>(Ioctl(ctx, Ioctls.IOMMU_FAULT_QUEUE_ALLOC, new IommuFaultAlloc(16, 0, 0, 0)));
        Assert.Equal(Errno.EBUSY, Ioctl(ctx, Ioctls.IOMMU_DESTROY, new IommuDestroy(8, fault.OutFaultId)).Errno);

        Files.Tell(new FaultFileClosed(ctx, fault.OutFaultId), TestActor);
        ExpectMsg(new FaultFileClosedDone(ctx, fault.OutFaultId));
        Assert.Equal(0, Ioctl(ctx, Ioctls.IOMMU_DESTROY, new IommuDestroy(8, fault.OutFaultId)).Errno);
        // A second close of a fd already gone is answered too.
        Files.Tell(new FaultFileClosed(ctx, fault.OutFaultId), TestActor);
        ExpectMsg(new FaultFileClosedDone(ctx, fault.OutFaultId));
    }

    [Fact]
    public void Closing_a_fault_queue_fd_answers_after_the_context_took_it_off_its_FAULT()
    {
        var (ctx, _) = Open("/dev/iommu");
        var fault = Back<IommuFaultAlloc>(Ioctl(ctx, Ioctls.IOMMU_FAULT_QUEUE_ALLOC, new IommuFaultAlloc(16, 0, 0, 0)));
        Client.Tell(new ResolveFd(1, (int)fault.OutFaultFd), TestActor);
        var queue = ExpectMsg<FdResolved>().FileId;

        Release(queue);
        Assert.Equal(0, Ioctl(ctx, Ioctls.IOMMU_DESTROY, new IommuDestroy(8, fault.OutFaultId)).Errno);
    }

    [Fact]
    public void A_closed_iommufd_held_by_a_device_comes_back_closed_after_a_restart_and_goes_with_the_device()
    {
        var files = StartFiles("files-held");
        const string ctx = "held-ctx", dev = "held-dev";
        OpenIn(files, ctx, "/dev/iommu", 60);
        OpenIn(files, dev, Dev0, 61);
        var ioas = Back<IommuIoasAlloc>(Call(files, ctx, Ioctls.IOMMU_IOAS_ALLOC, new IommuIoasAlloc(12, 0, 0))).OutIoasId;
        Assert.Equal(0, Call(files, dev, Ioctls.VFIO_DEVICE_BIND_IOMMUFD, UserStruct.Encode(new VfioDeviceBindIommufd(16, 0, 60, 0, 0))[..16]).Errno);
        Assert.Equal(0, Call(files, dev, Ioctls.VFIO_DEVICE_ATTACH_IOMMUFD_PT, UserStruct.Encode(new VfioDeviceAttachIommufdPt(12, 0, ioas, 0))[..12]).Errno);
        files.Tell(new Release(ctx, Client), TestActor);
        ExpectMsg(new Released(ctx));

        files = RestartFiles(files, "files-held-2");

        // The device's detach reaches the recovered context, which is still closed: the device's close releases it.
        Assert.Equal(0, Call(files, dev, Ioctls.VFIO_DEVICE_DETACH_IOMMUFD_PT, UserStruct.Encode(new VfioDeviceDetachIommufdPt(8, 0, 0))[..8]).Errno);
        var gone = Watching(files, ctx);
        files.Tell(new Release(dev, Client), TestActor);
        ExpectMsg(new Released(dev));
        gone.ExpectMsg<Terminated>();
        Assert.Equal(Errno.EBADF, Call(files, ctx, Ioctls.IOMMU_IOAS_ALLOC, new IommuIoasAlloc(12, 0, 0)).Errno);
    }
}

/// <summary>The device rules through the front door of a host as users run it.</summary>
public sealed class DeviceIoctlOverSocketSpecs : DeviceIoctlRules, IClassFixture<SocketHost>
{
    public DeviceIoctlOverSocketSpecs(SocketHost host) => UseSocket(host);
}
