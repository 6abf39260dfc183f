using System.Buffers.Binary;
using IommuActors.Fd.Tests.Support;
using IommuActors.Uapi;
using IommuActors.Uapi.Structs;
using Xunit;
using static IommuActors.Fd.Files.FileProtocol;

namespace IommuActors.Fd.Tests.Pasid;

/// <summary>
/// docs/ioasid-rfc.md, run: each operation of the 2021 per-VM /dev/ioasid sketch done the
/// emulator's way (iommufd ioctls plus the PASID extension), one sequence per fact, over the socket
/// of a real host with the answers the page shows.
/// </summary>
public sealed class IoasidRfcSequenceSpecs : FdSpec, IClassFixture<SocketHost>
{
    private const uint DefaultQuota = 1024; // hocon/ioasid.conf default-set-quota
    private const uint RW = IoasMapFlags.Readable | IoasMapFlags.Writeable | IoasMapFlags.FixedIova;
    private const ulong GuestRam = 0x200000;
    private const ulong S1Data = Mem + 0x3f0000;

    public IoasidRfcSequenceSpecs(SocketHost host) => UseSocket(host);

    private EmuPasidSetInfo SetInfo(string ctx) =>
        Back<EmuPasidSetInfo>(Ioctl(ctx, EmulatorIoctls.PASID_SET_INFO, new EmuPasidSetInfo(16, 0, 0, 0)));

    private uint AllocPasid(string ctx) =>
        Back<EmuPasidAlloc>(Ioctl(ctx, EmulatorIoctls.PASID_ALLOC, new EmuPasidAlloc(12, 0, 0))).OutPasid;

    private int Free(string ctx, uint pasid) => Ioctl(ctx, EmulatorIoctls.PASID_FREE, new EmuPasidFree(8, pasid)).Errno;

    private IoctlDone Translate(string ctx, uint guest) => Ioctl(ctx, EmulatorIoctls.KVM_TRANSLATE, new EmuKvmTranslate(12, guest, 0));

    private int AttachPasid(string dev, uint hwpt, uint pasid) => Attach(dev, hwpt, VfioDeviceAttachIommufdPt.FlagPasid, 16, pasid).Errno;

    private int DetachPasid(string dev, uint pasid) =>
        Ioctl(dev, Ioctls.VFIO_DEVICE_DETACH_IOMMUFD_PT, new VfioDeviceDetachIommufdPt(12, VfioDeviceDetachIommufdPt.FlagPasid, pasid)).Errno;

    /// <summary>The VM's fd, an IOAS with guest RAM mapped, one bound device and a PASID of the VM's set.</summary>
    private (string Ctx, uint Ioas, string Dev, uint DevId, uint Pasid) Vm()
    {
        var (ctx, fd) = Open("/dev/iommu");
        var ioas = NewIoas(ctx);
        Assert.Equal(0, Ioctl(ctx, Ioctls.IOMMU_IOAS_MAP, new IommuIoasMap(40, RW, ioas, 0, Mem, GuestRam, 0)).Errno);
        var (dev, _) = Open("/dev/vfio/devices/vfio0");
        var devId = Bind(dev, fd);
        return (ctx, ioas, dev, devId, AllocPasid(ctx));
    }

    /// <summary>BIND_PGTBL's page-table half: a nest parent over the IOAS and a VT-d stage-1 HWPT on the guest's table at GPA 0x1000.</summary>
    private (uint Parent, uint Nested) GuestPageTable(string ctx, uint devId, uint ioas)
    {
        var parent = Back<IommuHwptAlloc>(Ioctl(ctx, Ioctls.IOMMU_HWPT_ALLOC,
            new IommuHwptAlloc(44, HwptAllocFlags.NestParent, devId, ioas, 0, 0, HwptDataType.None, 0, 0, 0, 0))).OutHwptId;
        var data = new byte[24];
        BinaryPrimitives.WriteUInt64LittleEndian(data.AsSpan(8), 0x1000);
        BinaryPrimitives.WriteUInt32LittleEndian(data.AsSpan(16), 48);
        Poke(S1Data, data);
        var nested = Back<IommuHwptAlloc>(Ioctl(ctx, Ioctls.IOMMU_HWPT_ALLOC,
            new IommuHwptAlloc(44, HwptAllocFlags.Pasid, devId, parent, 0, 0, HwptDataType.VtdS1, 24, S1Data, 0, 0))).OutHwptId;
        return (parent, nested);
    }

    [Fact]
    public void Open_the_per_VM_fd_is_opening_dev_iommu_each_open_is_a_VM_with_an_empty_set_of_its_own()
    {
        var (vmA, _) = Open("/dev/iommu");
        var (vmB, _) = Open("/dev/iommu");
        Assert.Equal(new EmuPasidSetInfo(16, 0, DefaultQuota, 0), SetInfo(vmA));
        Assert.Equal(new EmuPasidSetInfo(16, 0, DefaultQuota, 0), SetInfo(vmB));

        var pasid = AllocPasid(vmA);
        Assert.Equal(1u, SetInfo(vmA).OutUsed);
        Assert.Equal(0u, SetInfo(vmB).OutUsed);
        // The fd is the set's token: the other VM can neither free nor map the PASID.
        Assert.Equal(Errno.EACCES, Free(vmB, pasid));
        Assert.Equal(Errno.EACCES, Ioctl(vmB, EmulatorIoctls.PASID_MAP_GUEST, new EmuPasidMapGuest(16, 0, 5, pasid)).Errno);
        Assert.Equal(0, Free(vmA, pasid));
    }

    [Fact]
    public void ALLOC_is_IOAS_ALLOC_for_the_address_space_and_PASID_ALLOC_for_the_PASID_which_the_set_counts()
    {
        var (ctx, _) = Open("/dev/iommu");
        var ioas = NewIoas(ctx);
        Assert.NotEqual(0u, ioas);
        var first = AllocPasid(ctx);
        var second = AllocPasid(ctx);
        Assert.InRange(first, 1u, (1u << 20) - 1);
        Assert.InRange(second, 1u, (1u << 20) - 1);
        Assert.NotEqual(first, second);
        Assert.Equal(new EmuPasidSetInfo(16, 0, DefaultQuota, 2), SetInfo(ctx));
        // Flags the emulator does not know are refused, as iommufd refuses them.
        Assert.Equal(Errno.EOPNOTSUPP, Ioctl(ctx, EmulatorIoctls.PASID_ALLOC, new EmuPasidAlloc(12, 1, 0)).Errno);
    }

    [Fact]
    public void DEVICE_ALLOW_IOASID_is_bind_then_a_PASID_attach_which_also_installs_the_translation_and_is_not_checked_against_the_set()
    {
        var (ctx, ioas, dev, devId, pasid) = Vm();
        var hwpt = Back<IommuHwptAlloc>(Ioctl(ctx, Ioctls.IOMMU_HWPT_ALLOC,
            new IommuHwptAlloc(48, HwptAllocFlags.Pasid, devId, ioas, 0, 0, HwptDataType.None, 0, 0, 0, 0))).OutHwptId;
        Assert.Equal(0, AttachPasid(dev, hwpt, pasid));
        // The attach holds the HWPT: it cannot be destroyed while the PASID uses it.
        Assert.Equal(Errno.EBUSY, Destroy(ctx, hwpt));

        // Unlike the sketch's ALLOW, the attach does not ask the set: a PASID this VM never allocated attaches too.
        var outside = pasid == 4242u ? 4243u : 4242u;
        Assert.Equal(0, AttachPasid(dev, hwpt, outside));
        Assert.Equal(0, DetachPasid(dev, outside));
        Assert.Equal(0, DetachPasid(dev, pasid));
        Assert.Equal(0, Destroy(ctx, hwpt));
    }

    [Fact]
    public void BIND_PGTBL_is_a_nested_stage_1_HWPT_attached_at_the_PASID_plus_PASID_MAP_GUEST_for_KVM()
    {
        var (ctx, ioas, dev, devId, pasid) = Vm();
        var (parent, nested) = GuestPageTable(ctx, devId, ioas);
        // The guest PASID first, then the page table: MAP_GUEST publishes the BIND that carries guest PASID 7.
        Assert.Equal(0, Ioctl(ctx, EmulatorIoctls.PASID_MAP_GUEST, new EmuPasidMapGuest(16, 0, 7, pasid)).Errno);
        Assert.Equal(0, AttachPasid(dev, nested, pasid));
        // MAP_GUEST answered after KVM applied the BIND: the guest's ENQCMD with PASID 7 finds the host PASID.
        var translated = Translate(ctx, 7);
        Assert.Equal(0, translated.Errno);
        Assert.Equal(new EmuKvmTranslate(12, 7, pasid), EmuKvmTranslate.Read(translated.Writeback));
        // One guest PASID per host PASID: another guest PASID for it is EBUSY, another host PASID under 7 EEXIST.
        Assert.Equal(Errno.EBUSY, Ioctl(ctx, EmulatorIoctls.PASID_MAP_GUEST, new EmuPasidMapGuest(16, 0, 8, pasid)).Errno);
        var other = AllocPasid(ctx);
        Assert.Equal(Errno.EEXIST, Ioctl(ctx, EmulatorIoctls.PASID_MAP_GUEST, new EmuPasidMapGuest(16, 0, 7, other)).Errno);
        // The nest parent is held by the nested HWPT, the nested HWPT by the attach.
        Assert.Equal(Errno.EBUSY, Destroy(ctx, parent));
        Assert.Equal(Errno.EBUSY, Destroy(ctx, nested));
    }

    [Fact]
    public void BIND_PGTBL_in_the_other_order_the_page_table_attached_first_then_PASID_MAP_GUEST_still_reaches_KVM()
    {
        var (ctx, ioas, dev, devId, pasid) = Vm();
        var (_, nested) = GuestPageTable(ctx, devId, ioas);
        Assert.Equal(0, AttachPasid(dev, nested, pasid));
        Assert.Equal(Errno.ENOENT, Translate(ctx, 7).Errno);
        // The attach's BIND carried no guest PASID; MAP_GUEST's bind is not the PASID's first, yet it attaches
        // guest PASID 7, so it is published and answered only once KVM applied it.
        Assert.Equal(0, Ioctl(ctx, EmulatorIoctls.PASID_MAP_GUEST, new EmuPasidMapGuest(16, 0, 7, pasid)).Errno);
        var translated = Translate(ctx, 7);
        Assert.Equal(0, translated.Errno);
        Assert.Equal(new EmuKvmTranslate(12, 7, pasid), EmuKvmTranslate.Read(translated.Writeback));
        // The device's detach is not the last unbind (MAP_GUEST's bind stays), so KVM keeps the guest PASID.
        Assert.Equal(0, DetachPasid(dev, pasid));
        Assert.Equal(new EmuKvmTranslate(12, 7, pasid), EmuKvmTranslate.Read(Translate(ctx, 7).Writeback));
    }

    [Fact]
    public void UNBIND_PGTBL_is_the_PASID_detach_the_guest_mapping_stays_until_FREE()
    {
        var (ctx, ioas, dev, devId, pasid) = Vm();
        var (parent, nested) = GuestPageTable(ctx, devId, ioas);
        // The guest PASID first, then the page table: MAP_GUEST publishes the BIND that carries guest PASID 7.
        Assert.Equal(0, Ioctl(ctx, EmulatorIoctls.PASID_MAP_GUEST, new EmuPasidMapGuest(16, 0, 7, pasid)).Errno);
        Assert.Equal(0, AttachPasid(dev, nested, pasid));

        Assert.Equal(0, DetachPasid(dev, pasid));
        Assert.Equal(0, Destroy(ctx, nested));
        Assert.Equal(0, Destroy(ctx, parent));
        // There is no PASID_UNMAP_GUEST: KVM keeps guest PASID 7 until the PASID is freed.
        Assert.Equal(new EmuKvmTranslate(12, 7, pasid), EmuKvmTranslate.Read(Translate(ctx, 7).Writeback));
        // VFIO's PASID detach of a PASID with nothing attached answers 0, as the kernel's does.
        Assert.Equal(0, DetachPasid(dev, pasid));
    }

    [Fact]
    public void DEVICE_DISALLOW_IOASID_is_the_detach_or_closing_the_device_fd_and_the_PASID_stays_in_the_set()
    {
        var (ctx, ioas, dev, devId, pasid) = Vm();
        var hwpt = Back<IommuHwptAlloc>(Ioctl(ctx, Ioctls.IOMMU_HWPT_ALLOC,
            new IommuHwptAlloc(48, HwptAllocFlags.Pasid, devId, ioas, 0, 0, HwptDataType.None, 0, 0, 0, 0))).OutHwptId;
        Assert.Equal(0, AttachPasid(dev, hwpt, pasid));
        Assert.Equal(Errno.EBUSY, Destroy(ctx, hwpt));

        // Closing the device fd detaches every PASID of the device (UNBIND published) and unbinds it from the VM.
        Release(dev);
        Assert.Equal(0, Destroy(ctx, hwpt));
        Assert.Equal(new EmuPasidSetInfo(16, 0, DefaultQuota, 1), SetInfo(ctx));
        Assert.Equal(0, Free(ctx, pasid));
    }

    [Fact]
    public void FREE_is_PASID_FREE_which_unbinds_the_guest_PASID_first_and_a_second_FREE_is_ENOENT()
    {
        var (ctx, _) = Open("/dev/iommu");
        var pasid = AllocPasid(ctx);
        Assert.Equal(0, Ioctl(ctx, EmulatorIoctls.PASID_MAP_GUEST, new EmuPasidMapGuest(16, 0, 9, pasid)).Errno);

        Assert.Equal(0, Free(ctx, pasid));
        // FREE answered after KVM, the driver and VDCM acknowledged: the guest PASID is gone from KVM's table.
        Assert.Equal(Errno.ENOENT, Translate(ctx, 9).Errno);
        Assert.Equal(Errno.ENOENT, Free(ctx, pasid));
        Assert.Equal(Errno.ENOENT, Ioctl(ctx, EmulatorIoctls.PASID_MAP_GUEST, new EmuPasidMapGuest(16, 0, 9, pasid)).Errno);
        AwaitAssert(() => Assert.Equal(new EmuPasidSetInfo(16, 0, DefaultQuota, 0), SetInfo(ctx)));
    }

    [Fact]
    public void REGISTER_MEMORY_is_IOAS_MAP_which_pins_once_per_IOAS_and_UNREGISTER_MEMORY_is_IOAS_UNMAP()
    {
        var (ctx, _) = Open("/dev/iommu");
        var ioas = NewIoas(ctx);
        Assert.Equal(0, Ioctl(ctx, Ioctls.IOMMU_IOAS_MAP, new IommuIoasMap(40, RW, ioas, 0, Mem, 0x10000, 0x100000)).Errno);
        // The same IOVA range again is EEXIST: an IOAS maps (and pins) a range once.
        Assert.Equal(Errno.EEXIST, Ioctl(ctx, Ioctls.IOMMU_IOAS_MAP, new IommuIoasMap(40, RW, ioas, 0, Mem, 0x10000, 0x100000)).Errno);

        var unmapped = Back<IommuIoasUnmap>(Ioctl(ctx, Ioctls.IOMMU_IOAS_UNMAP, new IommuIoasUnmap(24, ioas, 0x100000, 0x10000)));
        Assert.Equal(new IommuIoasUnmap(24, ioas, 0x100000, 0x10000), unmapped);
        Assert.Equal(Errno.ENOENT, Ioctl(ctx, Ioctls.IOMMU_IOAS_UNMAP, new IommuIoasUnmap(24, ioas, 0x100000, 0x10000)).Errno);
    }
}
