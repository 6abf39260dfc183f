using IommuActors.Uapi.Structs;
using Xunit;

namespace IommuActors.Uapi.Tests.Structs;

public sealed class StructSizeSpecs
{
    private static (int Min, int Full) S<T>() where T : IUapiStruct<T> => (UserStruct.MinSizeOf<T>(), UserStruct.SizeOf<T>());

    // sizeof and offsetofend(last field named in the kernel's ioctl table), counted by hand from the headers.
    public static TheoryData<string, int, int, int, int> Sizes() => new()
    {
        { "iommu_destroy", S<IommuDestroy>().Min, S<IommuDestroy>().Full, 8, 8 },
        { "iommu_ioas_alloc", S<IommuIoasAlloc>().Min, S<IommuIoasAlloc>().Full, 12, 12 },
        { "iommu_iova_range", S<IommuIovaRange>().Min, S<IommuIovaRange>().Full, 16, 16 },
        { "iommu_ioas_iova_ranges", S<IommuIoasIovaRanges>().Min, S<IommuIoasIovaRanges>().Full, 32, 32 },
        { "iommu_ioas_allow_iovas", S<IommuIoasAllowIovas>().Min, S<IommuIoasAllowIovas>().Full, 24, 24 },
        { "iommu_ioas_map", S<IommuIoasMap>().Min, S<IommuIoasMap>().Full, 40, 40 },
        { "iommu_ioas_map_file", S<IommuIoasMapFile>().Min, S<IommuIoasMapFile>().Full, 40, 40 },
        { "iommu_ioas_copy", S<IommuIoasCopy>().Min, S<IommuIoasCopy>().Full, 40, 40 },
        { "iommu_ioas_unmap", S<IommuIoasUnmap>().Min, S<IommuIoasUnmap>().Full, 24, 24 },
        { "iommu_option", S<IommuOption>().Min, S<IommuOption>().Full, 24, 24 },
        { "iommu_vfio_ioas", S<IommuVfioIoas>().Min, S<IommuVfioIoas>().Full, 12, 12 },
        { "iommu_hwpt_alloc", S<IommuHwptAlloc>().Min, S<IommuHwptAlloc>().Full, 24, 48 },
        { "iommu_hwpt_vtd_s1", S<IommuHwptVtdS1>().Min, S<IommuHwptVtdS1>().Full, 24, 24 },
        { "iommu_hw_info", S<IommuHwInfo>().Min, S<IommuHwInfo>().Full, 32, 40 },
        { "iommu_hw_info_vtd", S<IommuHwInfoVtd>().Min, S<IommuHwInfoVtd>().Full, 24, 24 },
        { "iommu_hw_info_arm_smmuv3", S<IommuHwInfoArmSmmuv3>().Min, S<IommuHwInfoArmSmmuv3>().Full, 40, 40 },
        { "iommu_hwpt_set_dirty_tracking", S<IommuHwptSetDirtyTracking>().Min, S<IommuHwptSetDirtyTracking>().Full, 16, 16 },
        { "iommu_hwpt_get_dirty_bitmap", S<IommuHwptGetDirtyBitmap>().Min, S<IommuHwptGetDirtyBitmap>().Full, 48, 48 },
        { "iommu_hwpt_invalidate", S<IommuHwptInvalidate>().Min, S<IommuHwptInvalidate>().Full, 32, 32 },
        { "iommu_hwpt_vtd_s1_invalidate", S<IommuHwptVtdS1Invalidate>().Min, S<IommuHwptVtdS1Invalidate>().Full, 24, 24 },
        { "iommu_fault_alloc", S<IommuFaultAlloc>().Min, S<IommuFaultAlloc>().Full, 16, 16 },
        { "iommu_hwpt_pgfault", S<IommuHwptPgfault>().Min, S<IommuHwptPgfault>().Full, 40, 40 },
        { "iommu_hwpt_page_response", S<IommuHwptPageResponse>().Min, S<IommuHwptPageResponse>().Full, 8, 8 },
        { "iommu_viommu_alloc", S<IommuViommuAlloc>().Min, S<IommuViommuAlloc>().Full, 24, 40 },
        { "iommu_vdevice_alloc", S<IommuVdeviceAlloc>().Min, S<IommuVdeviceAlloc>().Full, 24, 24 },
        { "iommu_ioas_change_process", S<IommuIoasChangeProcess>().Min, S<IommuIoasChangeProcess>().Full, 8, 8 },
        { "iommu_veventq_alloc", S<IommuVeventqAlloc>().Min, S<IommuVeventqAlloc>().Full, 28, 32 },
        { "iommufd_vevent_header", S<IommufdVeventHeader>().Min, S<IommufdVeventHeader>().Full, 8, 8 },
        { "iommu_hw_queue_alloc", S<IommuHwQueueAlloc>().Min, S<IommuHwQueueAlloc>().Full, 40, 40 },
        { "vfio_device_bind_iommufd", S<VfioDeviceBindIommufd>().Min, S<VfioDeviceBindIommufd>().Full, 16, 24 },
        { "vfio_device_attach_iommufd_pt", S<VfioDeviceAttachIommufdPt>().Min, S<VfioDeviceAttachIommufdPt>().Full, 12, 16 },
        { "vfio_device_detach_iommufd_pt", S<VfioDeviceDetachIommufdPt>().Min, S<VfioDeviceDetachIommufdPt>().Full, 8, 12 },
        { "vfio_device_info", S<VfioDeviceInfo>().Min, S<VfioDeviceInfo>().Full, 16, 24 },
        { "vfio_iommu_type1_info", S<VfioIommuType1Info>().Min, S<VfioIommuType1Info>().Full, 16, 24 },
        { "vfio_iommu_type1_dma_map", S<VfioIommuType1DmaMap>().Min, S<VfioIommuType1DmaMap>().Full, 32, 32 },
        { "vfio_iommu_type1_dma_unmap", S<VfioIommuType1DmaUnmap>().Min, S<VfioIommuType1DmaUnmap>().Full, 24, 24 },
    };

    [Theory]
    [MemberData(nameof(Sizes))]
    public void Each_struct_has_the_kernels_minimum_and_full_size(string name, int min, int full, int kernelMin, int kernelFull)
    {
        Assert.True(kernelMin == min, $"{name} minimum {min}, kernel {kernelMin}");
        Assert.True(kernelFull == full, $"{name} size {full}, kernel {kernelFull}");
    }

    [Fact]
    public void Ioas_map_fields_sit_at_the_kernels_offsets()
    {
        var bytes = UserStruct.Encode(new IommuIoasMap(40, IoasMapFlags.Readable | IoasMapFlags.FixedIova, 3, 0,
            0x1122334455667788, 0x2000, 0xA0000));
        Assert.Equal(new byte[]
        {
            40, 0, 0, 0, 5, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0,
            0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11,
            0, 0x20, 0, 0, 0, 0, 0, 0,
            0, 0, 0x0A, 0, 0, 0, 0, 0,
        }, bytes);
    }

    [Fact]
    public void Hwpt_alloc_fault_id_sits_after_the_data_pointer()
    {
        var bytes = UserStruct.Encode(new IommuHwptAlloc(48, HwptAllocFlags.FaultIdValid, 1, 2, 0, 0, 0, 0, 0, 0xBEEF, 0));
        Assert.Equal(0xBEEFu, BitConverter.ToUInt32(bytes, 40));
        Assert.Equal(4u, BitConverter.ToUInt32(bytes, 4));
    }
}
