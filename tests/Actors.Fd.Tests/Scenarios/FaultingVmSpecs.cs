using IommuActors.Fd.Tests.Support;
using IommuActors.Hardware.Units;
using IommuActors.Uapi;
using IommuActors.Uapi.Structs;
using Xunit;
using static IommuActors.Fd.Files.FileProtocol;

namespace IommuActors.Fd.Tests.Scenarios;

/// <summary>
/// A VM whose device faults: a HWPT with a fault queue, emulated DMA to IOVAs the VMM has not
/// mapped yet, the page requests read from the queue file, and the responses that complete or
/// fail the waiting DMA.
/// </summary>
public sealed class FaultingVmSpecs : FdSpec
{
    private const string DevPci = "0000:00:02.0";
    private const uint RW = IoasMapFlags.Readable | IoasMapFlags.Writeable | IoasMapFlags.FixedIova;

    /// <summary>The device's DMA engine: it gets the unit's answers, apart from the ioctl replies.</summary>
    private readonly Akka.TestKit.TestProbe _device;

    public FaultingVmSpecs() => _device = CreateTestProbe();

    private void Dma(ulong iova, DmaDirection direction) =>
        Units.Tell(new UnitProtocol.Dma("dmar0", DevPci, UnitProtocol.NoPasid, iova, 0x1000, direction), _device);

    /// <summary>An IOAS, a fault queue, the device bound and attached to a HWPT that reports to the queue.</summary>
    private (string Ctx, string Dev, uint Ioas, IommuFaultAlloc Fault, string Queue, uint DevId, uint Hwpt) Boot()
    {
        var (ctx, fd) = Open("/dev/iommu");
        var ioas = NewIoas(ctx);
        var fault = Back<IommuFaultAlloc>(Ioctl(ctx, Ioctls.IOMMU_FAULT_QUEUE_ALLOC, new IommuFaultAlloc(16, 0, 0, 0)));
        var (dev, _) = Open("/dev/vfio/devices/vfio0");
        var devId = Bind(dev, fd);
        var hwpt = Back<IommuHwptAlloc>(Ioctl(ctx, Ioctls.IOMMU_HWPT_ALLOC,
            new IommuHwptAlloc(44, HwptAllocFlags.FaultIdValid, devId, ioas, 0, 0, 0, 0, 0, fault.OutFaultId, 0))).OutHwptId;
        Assert.Equal(0, Attach(dev, hwpt).Errno);
        Client.Tell(new ResolveFd(1, (int)fault.OutFaultFd), TestActor);
        return (ctx, dev, ioas, fault, ExpectMsg<FdResolved>().FileId, devId, hwpt);
    }

    private int Readable(string queue) => Ready.Count(r => r.FileId == queue && r.Events == 0x41);

    /// <summary>The queue said it turned readable once more than <paramref name="before"/> times: the fault is in it.</summary>
    private void AwaitReadable(string queue, int before) => AwaitAssert(() => Assert.Equal(before + 1, Readable(queue)));

    private IommuHwptPgfault[] ReadFaults(string queue, uint count)
    {
        Files.Tell(new Read(queue, 1, count, Client), TestActor);
        var read = ExpectMsg<ReadDone>();
        Assert.Equal(0, read.Errno);
        return [.. read.Data.Chunk(40).Select(c => IommuHwptPgfault.Read(c))];
    }

    private WriteDone Respond(string queue, uint cookie, uint code)
    {
        var bytes = new byte[8];
        new IommuHwptPageResponse(cookie, code).Write(bytes);
        Files.Tell(new Write(queue, 2, bytes, Client), TestActor);
        return ExpectMsg<WriteDone>();
    }

    [Fact]
    public void A_faulting_device_waits_for_the_VMM_which_maps_the_page_and_answers_or_refuses()
    {
        var (ctx, dev, ioas, fault, queue, devId, hwpt) = Boot();
        Assert.Equal(0, Ioctl(ctx, Ioctls.IOMMU_IOAS_MAP, new IommuIoasMap(40, RW, ioas, 0, Mem, 0x1000, 0x100000)).Errno);
        Assert.Equal((1u, 2u, 3u, 4u), (ioas, fault.OutFaultId, devId, hwpt));

        // Mapped memory translates without a fault.
        Dma(0x100000, DmaDirection.Read);
        Assert.Equal([new Segment(0x100000, Mem, 0x1000)], _device.ExpectMsg<UnitProtocol.DmaCompleted>().Segments.ToArray());

        // A write to an unmapped page waits; the queue turns readable and holds one record.
        Dma(0x200000, DmaDirection.Write);
        AwaitReadable(queue, 0);
        _device.ExpectNoMsg(TimeSpan.FromMilliseconds(200));
        var first = Assert.Single(ReadFaults(queue, 80));
        Assert.Equal(new IommuHwptPgfault(PageFault.FlagLastPage, devId, 0, 0, PageFault.PermWrite, 0, 0x200000, 0, 1), first);

        // The VMM maps the page, answers SUCCESS, and the DMA completes into that memory.
        Assert.Equal(0, Ioctl(ctx, Ioctls.IOMMU_IOAS_MAP, new IommuIoasMap(40, RW, ioas, 0, Mem + 0x10000, 0x1000, 0x200000)).Errno);
        Assert.Equal(new WriteDone(queue, 2, 0, 8), Respond(queue, first.Cookie, PageFault.ResponseSuccess));
        Assert.Equal([new Segment(0x200000, Mem + 0x10000, 0x1000)], _device.ExpectMsg<UnitProtocol.DmaCompleted>().Segments.ToArray());

        // A second request refused with INVALID fails its DMA; its cookie is then unknown (EINVAL).
        Dma(0x300000, DmaDirection.Read);
        AwaitReadable(queue, 1);
        var second = Assert.Single(ReadFaults(queue, 40));
        Assert.Equal((0x300000ul, PageFault.PermRead), (second.Addr, second.Perm));
        Assert.Equal(new WriteDone(queue, 2, 0, 8), Respond(queue, second.Cookie, PageFault.ResponseInvalid));
        Assert.Equal(FaultKind.PageResponseFailed, _device.ExpectMsg<UnitProtocol.DmaFaulted>().Fault.Kind);
        Assert.Equal(new WriteDone(queue, 2, Errno.EINVAL, 0), Respond(queue, second.Cookie, PageFault.ResponseSuccess));

        // The queue is held by the HWPT, the HWPT by the device, until the VMM tears down in order.
        Assert.Equal(Errno.EBUSY, Ioctl(ctx, Ioctls.IOMMU_DESTROY, new IommuDestroy(8, fault.OutFaultId)).Errno);
        Assert.Equal(Errno.EBUSY, Ioctl(ctx, Ioctls.IOMMU_DESTROY, new IommuDestroy(8, hwpt)).Errno);
        Assert.Equal(0, Detach(dev));
        Assert.Equal(0, Ioctl(ctx, Ioctls.IOMMU_DESTROY, new IommuDestroy(8, hwpt)).Errno);
        Release(queue);
        Assert.Equal(0, Ioctl(ctx, Ioctls.IOMMU_DESTROY, new IommuDestroy(8, fault.OutFaultId)).Errno);
    }

    [Fact]
    public void A_fault_pending_when_its_device_detaches_fails_its_DMA()
    {
        var (_, dev, _, _, queue, _, _) = Boot();

        Dma(0x200000, DmaDirection.Read);
        AwaitReadable(queue, 0);
        _device.ExpectNoMsg(TimeSpan.FromMilliseconds(200));
        // Detach answers the device's outstanding requests INVALID: the DMA fails, nothing hangs.
        Assert.Equal(0, Detach(dev));
        Assert.Equal(FaultKind.PageResponseFailed, _device.ExpectMsg<UnitProtocol.DmaFaulted>().Fault.Kind);
    }

    [Fact]
    public async Task A_page_request_that_reaches_the_context_after_its_device_detached_is_failed_not_queued()
    {
        var (ctx, dev, _, _, queue, _, hwpt) = Boot();
        var context = await Sys.ActorSelection(Files.Path / Uri.EscapeDataString(ctx) / ("iommufd-" + Uri.EscapeDataString(ctx)))
            .ResolveOne(TimeSpan.FromSeconds(5));
        var ioasKey = $"{ctx}.ioas1";
        Sys.ActorSelection(context.Path / ("ioas-" + Uri.EscapeDataString(ioasKey))).Tell(new Domains.Hwpt.HwptProtocol.GetHwpts(ioasKey), TestActor);
        var domain = ExpectMsg<Domains.Hwpt.HwptProtocol.Hwpts>().Items.Single(h => h.HwptId == hwpt).DomainId;
        Assert.Equal(0, Detach(dev));

        // The unit raised it while the device was attached; the context hears of it after the detach.
        context.Tell(new UnitProtocol.FaultRaised("dmar0",
            new UnitProtocol.Fault(FaultKind.NotPresent, DevPci, UnitProtocol.NoPasid, domain, 0x200000, Access.Read, Cookie: 77)), TestActor);
        // An ioctl behind it proves the context handled it; nothing became readable or waits in the queue.
        Assert.Equal(0, Ioctl(ctx, Ioctls.IOMMU_DESTROY, new IommuDestroy(8, hwpt)).Errno);
        Assert.Equal(0, Readable(queue));
        Assert.Empty(ReadFaults(queue, 40));
    }
}
