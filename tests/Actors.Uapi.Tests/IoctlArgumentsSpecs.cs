using IommuActors.Uapi;
using IommuActors.Uapi.Structs;
using Xunit;

namespace IommuActors.Uapi.Tests;

/// <summary>What iommuctl trace prints for an ioctl's argument: the kernel's field names, given and returned.</summary>
public sealed class IoctlArgumentsSpecs
{
    private static string Given<T>(uint request, T value, IoctlTarget target = IoctlTarget.Iommufd) where T : IUapiStruct<T> =>
        IoctlArguments.Given(request, target, 0, UserStruct.Encode(value));

    private static string Returned<T>(uint request, T value, IoctlTarget target = IoctlTarget.Iommufd) where T : IUapiStruct<T> =>
        IoctlArguments.Returned(request, target, UserStruct.Encode(value));

    [Fact]
    public void A_map_gives_its_IOAS_flags_by_name_and_addresses_in_hex_and_returns_the_IOVA()
    {
        var map = new IommuIoasMap(40, IoasMapFlags.Writeable | IoasMapFlags.Readable, 1, 0, 0x7f0000001000, 0x2000, 0);
        Assert.Equal("{flags=WRITEABLE|READABLE, ioas_id=1, user_va=0x7f0000001000, length=0x2000, iova=0}", Given(Ioctls.IOMMU_IOAS_MAP, map));
        Assert.Equal("{iova=0x100000}", Returned(Ioctls.IOMMU_IOAS_MAP, map with { Iova = 0x100000 }));
    }

    [Fact]
    public void Allocations_return_the_IDs_the_kernel_chose_and_give_the_IDs_they_name()
    {
        Assert.Equal("{flags=0}", Given(Ioctls.IOMMU_IOAS_ALLOC, new IommuIoasAlloc(12, 0, 0)));
        Assert.Equal("{out_ioas_id=1}", Returned(Ioctls.IOMMU_IOAS_ALLOC, new IommuIoasAlloc(12, 0, 1)));
        var hwpt = new IommuHwptAlloc(48, HwptAllocFlags.NestParent | HwptAllocFlags.Pasid, 2, 1, 5, 0, HwptDataType.None, 0, 0, 0, 0);
        Assert.Equal("{flags=NEST_PARENT|PASID, dev_id=2, pt_id=1, data_type=NONE, fault_id=0}", Given(Ioctls.IOMMU_HWPT_ALLOC, hwpt));
        Assert.Equal("{out_hwpt_id=5}", Returned(Ioctls.IOMMU_HWPT_ALLOC, hwpt));
        Assert.Equal("{id=3}", Given(Ioctls.IOMMU_DESTROY, new IommuDestroy(8, 3)));
        Assert.Equal("", Returned(Ioctls.IOMMU_DESTROY, new IommuDestroy(8, 3)));
    }

    [Fact]
    public void A_caller_older_than_the_kernel_gives_only_the_fields_its_size_holds()
    {
        var hwpt = UserStruct.Encode(new IommuHwptAlloc(24, 0, 2, 1, 0, 0, 0, 0, 0, 0, 0))[..24];
        Assert.Equal("{flags=0, dev_id=2, pt_id=1}", IoctlArguments.Given(Ioctls.IOMMU_HWPT_ALLOC, IoctlTarget.Iommufd, 0, hwpt));
    }

    [Fact]
    public void Device_ioctls_are_told_apart_from_container_ioctls_of_the_same_number()
    {
        var bind = new VfioDeviceBindIommufd(24, 0, 3, 7, 0);
        Assert.Equal("{flags=0, iommufd=3}", Given(Ioctls.VFIO_DEVICE_BIND_IOMMUFD, bind, IoctlTarget.VfioDevice));
        Assert.Equal("{out_devid=7}", Returned(Ioctls.VFIO_DEVICE_BIND_IOMMUFD, bind, IoctlTarget.VfioDevice));
        var attach = new VfioDeviceAttachIommufdPt(16, VfioDeviceAttachIommufdPt.FlagPasid, 1, 5);
        Assert.Equal("{flags=PASID, pt_id=1, pasid=5}", Given(Ioctls.VFIO_DEVICE_ATTACH_IOMMUFD_PT, attach, IoctlTarget.VfioDevice));
        Assert.Equal("{pt_id=3}", Returned(Ioctls.VFIO_DEVICE_ATTACH_IOMMUFD_PT, attach with { PtId = 3 }, IoctlTarget.VfioDevice));
        // 0x3b71 is VFIO_IOMMU_MAP_DMA on a container and VFIO_DEVICE_PCI_HOT_RESET on a device.
        var dma = new VfioIommuType1DmaMap(32, VfioIommuType1DmaMap.FlagRead | VfioIommuType1DmaMap.FlagWrite, 0x1000, 0x2000, 0x3000);
        Assert.Equal("{flags=READ|WRITE, vaddr=0x1000, iova=0x2000, size=0x3000}", Given(Ioctls.VFIO_IOMMU_MAP_DMA, dma));
        var reset = new byte[16];
        BitConverter.GetBytes(16u).CopyTo(reset, 0);
        BitConverter.GetBytes(2u).CopyTo(reset, 8);
        Assert.Equal("{count=2}", IoctlArguments.Given(Ioctls.VFIO_DEVICE_PCI_HOT_RESET, IoctlTarget.VfioDevice, 0, reset));
    }

    [Fact]
    public void Plain_value_arguments_read_as_the_names_of_the_extension()
    {
        Assert.Equal("VFIO_TYPE1v2_IOMMU", IoctlArguments.Given(Ioctls.VFIO_CHECK_EXTENSION, IoctlTarget.Iommufd, Ioctls.VFIO_TYPE1v2_IOMMU, []));
        Assert.Equal("VFIO_UNMAP_ALL", IoctlArguments.Given(Ioctls.VFIO_SET_IOMMU, IoctlTarget.Iommufd, Ioctls.VFIO_UNMAP_ALL, []));
        Assert.Equal("99", IoctlArguments.Given(Ioctls.VFIO_CHECK_EXTENSION, IoctlTarget.Iommufd, 99, []));
    }

    [Fact]
    public void PASID_ioctls_give_and_return_PASIDs_and_options_read_by_name()
    {
        Assert.Equal("{out_pasid=33}", Returned(EmulatorIoctls.PASID_ALLOC, new EmuPasidAlloc(12, 0, 33)));
        Assert.Equal("{flags=0, guest_pasid=7, host_pasid=33}", Given(EmulatorIoctls.PASID_MAP_GUEST, new EmuPasidMapGuest(16, 0, 7, 33)));
        var option = new IommuOption(24, IommuOptions.HugePages, IommuOptions.OpGet, 0, 1, 0);
        Assert.Equal("{option_id=HUGE_PAGES, op=GET, object_id=1, val64=0}", Given(Ioctls.IOMMU_OPTION, option));
        Assert.Equal("{val64=0x1}", Returned(Ioctls.IOMMU_OPTION, option with { Val64 = 1 }));
    }

    [Fact]
    public void Unnamed_flag_bits_show_in_hex_and_an_unknown_request_decodes_to_nothing()
    {
        Assert.Equal("{flags=FIXED_IOVA|0x10, ioas_id=1, user_va=0, length=0, iova=0}",
            Given(Ioctls.IOMMU_IOAS_MAP, new IommuIoasMap(40, IoasMapFlags.FixedIova | 0x10, 1, 0, 0, 0, 0)));
        Assert.Equal("", IoctlArguments.Given(0x3bff, IoctlTarget.Iommufd, 0, new byte[12]));
        Assert.Equal("", IoctlArguments.Returned(0x3bff, IoctlTarget.Iommufd, new byte[12]));
        Assert.Equal("{out_data_type=INTEL_VTD, out_max_pasid_log2=20, out_capabilities=DIRTY_TRACKING|PCI_PASID_EXEC|0x80}",
            Returned(Ioctls.IOMMU_GET_HW_INFO, new IommuHwInfo(40, 0, 1, 0, 0, HwInfo.TypeIntelVtd, 20, 0x83)));
    }

    [Fact]
    public void The_selftest_command_names_its_op()
    {
        var cmd = new byte[64];
        BitConverter.GetBytes(64u).CopyTo(cmd, 0);
        BitConverter.GetBytes((uint)TestOp.MockDomain).CopyTo(cmd, 4);
        BitConverter.GetBytes(1u).CopyTo(cmd, 8);
        Assert.Equal("{op=MockDomain, id=1}", IoctlArguments.Given(Ioctls.IOMMU_TEST_CMD, IoctlTarget.Iommufd, 0, cmd));
    }
}
