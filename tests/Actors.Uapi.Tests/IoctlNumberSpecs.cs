using IommuActors.Uapi;
using Xunit;

namespace IommuActors.Uapi.Tests;

public sealed class IoctlNumberSpecs
{
    // Literals worked out by hand from _IO(';', nr) = 0x3b00 | nr.
    [Theory]
    [InlineData("IOMMU_DESTROY", Ioctls.IOMMU_DESTROY, 0x3b80u)]
    [InlineData("IOMMU_IOAS_ALLOC", Ioctls.IOMMU_IOAS_ALLOC, 0x3b81u)]
    [InlineData("IOMMU_IOAS_ALLOW_IOVAS", Ioctls.IOMMU_IOAS_ALLOW_IOVAS, 0x3b82u)]
    [InlineData("IOMMU_IOAS_COPY", Ioctls.IOMMU_IOAS_COPY, 0x3b83u)]
    [InlineData("IOMMU_IOAS_IOVA_RANGES", Ioctls.IOMMU_IOAS_IOVA_RANGES, 0x3b84u)]
    [InlineData("IOMMU_IOAS_MAP", Ioctls.IOMMU_IOAS_MAP, 0x3b85u)]
    [InlineData("IOMMU_IOAS_UNMAP", Ioctls.IOMMU_IOAS_UNMAP, 0x3b86u)]
    [InlineData("IOMMU_OPTION", Ioctls.IOMMU_OPTION, 0x3b87u)]
    [InlineData("IOMMU_VFIO_IOAS", Ioctls.IOMMU_VFIO_IOAS, 0x3b88u)]
    [InlineData("IOMMU_HWPT_ALLOC", Ioctls.IOMMU_HWPT_ALLOC, 0x3b89u)]
    [InlineData("IOMMU_GET_HW_INFO", Ioctls.IOMMU_GET_HW_INFO, 0x3b8au)]
    [InlineData("IOMMU_HWPT_SET_DIRTY_TRACKING", Ioctls.IOMMU_HWPT_SET_DIRTY_TRACKING, 0x3b8bu)]
    [InlineData("IOMMU_HWPT_GET_DIRTY_BITMAP", Ioctls.IOMMU_HWPT_GET_DIRTY_BITMAP, 0x3b8cu)]
    [InlineData("IOMMU_HWPT_INVALIDATE", Ioctls.IOMMU_HWPT_INVALIDATE, 0x3b8du)]
    [InlineData("IOMMU_FAULT_QUEUE_ALLOC", Ioctls.IOMMU_FAULT_QUEUE_ALLOC, 0x3b8eu)]
    [InlineData("IOMMU_IOAS_MAP_FILE", Ioctls.IOMMU_IOAS_MAP_FILE, 0x3b8fu)]
    [InlineData("IOMMU_VIOMMU_ALLOC", Ioctls.IOMMU_VIOMMU_ALLOC, 0x3b90u)]
    [InlineData("IOMMU_VDEVICE_ALLOC", Ioctls.IOMMU_VDEVICE_ALLOC, 0x3b91u)]
    [InlineData("IOMMU_IOAS_CHANGE_PROCESS", Ioctls.IOMMU_IOAS_CHANGE_PROCESS, 0x3b92u)]
    [InlineData("IOMMU_VEVENTQ_ALLOC", Ioctls.IOMMU_VEVENTQ_ALLOC, 0x3b93u)]
    [InlineData("IOMMU_HW_QUEUE_ALLOC", Ioctls.IOMMU_HW_QUEUE_ALLOC, 0x3b94u)]
    [InlineData("IOMMU_TEST_CMD", Ioctls.IOMMU_TEST_CMD, 0x3ba0u)]
    [InlineData("VFIO_GET_API_VERSION", Ioctls.VFIO_GET_API_VERSION, 0x3b64u)]
    [InlineData("VFIO_CHECK_EXTENSION", Ioctls.VFIO_CHECK_EXTENSION, 0x3b65u)]
    [InlineData("VFIO_SET_IOMMU", Ioctls.VFIO_SET_IOMMU, 0x3b66u)]
    [InlineData("VFIO_DEVICE_GET_INFO", Ioctls.VFIO_DEVICE_GET_INFO, 0x3b6bu)]
    [InlineData("VFIO_DEVICE_GET_REGION_INFO", Ioctls.VFIO_DEVICE_GET_REGION_INFO, 0x3b6cu)]
    [InlineData("VFIO_DEVICE_GET_IRQ_INFO", Ioctls.VFIO_DEVICE_GET_IRQ_INFO, 0x3b6du)]
    [InlineData("VFIO_DEVICE_SET_IRQS", Ioctls.VFIO_DEVICE_SET_IRQS, 0x3b6eu)]
    [InlineData("VFIO_DEVICE_RESET", Ioctls.VFIO_DEVICE_RESET, 0x3b6fu)]
    [InlineData("VFIO_IOMMU_GET_INFO", Ioctls.VFIO_IOMMU_GET_INFO, 0x3b70u)]
    [InlineData("VFIO_DEVICE_GET_PCI_HOT_RESET_INFO", Ioctls.VFIO_DEVICE_GET_PCI_HOT_RESET_INFO, 0x3b70u)]
    [InlineData("VFIO_IOMMU_MAP_DMA", Ioctls.VFIO_IOMMU_MAP_DMA, 0x3b71u)]
    [InlineData("VFIO_DEVICE_PCI_HOT_RESET", Ioctls.VFIO_DEVICE_PCI_HOT_RESET, 0x3b71u)]
    [InlineData("VFIO_IOMMU_UNMAP_DMA", Ioctls.VFIO_IOMMU_UNMAP_DMA, 0x3b72u)]
    [InlineData("VFIO_DEVICE_FEATURE", Ioctls.VFIO_DEVICE_FEATURE, 0x3b75u)]
    [InlineData("VFIO_DEVICE_BIND_IOMMUFD", Ioctls.VFIO_DEVICE_BIND_IOMMUFD, 0x3b76u)]
    [InlineData("VFIO_DEVICE_ATTACH_IOMMUFD_PT", Ioctls.VFIO_DEVICE_ATTACH_IOMMUFD_PT, 0x3b77u)]
    [InlineData("VFIO_DEVICE_DETACH_IOMMUFD_PT", Ioctls.VFIO_DEVICE_DETACH_IOMMUFD_PT, 0x3b78u)]
    public void Each_ioctl_number_equals_the_value_the_kernel_header_yields(string name, uint actual, uint expected) =>
        Assert.True(expected == actual, $"{name} is 0x{actual:x}, kernel 0x{expected:x}");

    [Fact]
    public void Io_builds_type_and_number_the_way_the_kernel_macro_does()
    {
        Assert.Equal(0x3b85u, Ioctls.Io(Ioctls.IommufdType, Ioctls.IommufdCmdBase + 5));
        Assert.Equal(0x3b76u, Ioctls.Io(Ioctls.IommufdType, Ioctls.VfioBase + 18));
    }

    [Fact]
    public void Type1_extension_constants_match_vfio_h()
    {
        Assert.Equal(new uint[] { 0, 1, 3, 6, 8, 9, 10 }, new[] { Ioctls.VFIO_API_VERSION, Ioctls.VFIO_TYPE1_IOMMU,
            Ioctls.VFIO_TYPE1v2_IOMMU, Ioctls.VFIO_TYPE1_NESTING_IOMMU, Ioctls.VFIO_NOIOMMU_IOMMU,
            Ioctls.VFIO_UNMAP_ALL, Ioctls.VFIO_UPDATE_VADDR });
    }

    [Fact]
    public void Names_depend_on_the_file_the_shared_numbers_are_issued_on()
    {
        Assert.Equal("IOMMU_IOAS_MAP", Ioctls.Name(0x3b85));
        Assert.Equal("VFIO_IOMMU_MAP_DMA", Ioctls.Name(0x3b71));
        Assert.Equal("VFIO_DEVICE_PCI_HOT_RESET", Ioctls.Name(0x3b71, IoctlTarget.VfioDevice));
        Assert.Equal("VFIO_DEVICE_BIND_IOMMUFD", Ioctls.Name(0x3b76, IoctlTarget.VfioDevice));
        Assert.Equal("ioctl 0x3b9f", Ioctls.Name(0x3b9f));
    }

    [Fact]
    public void Every_iommufd_command_from_destroy_to_hw_queue_alloc_has_a_name()
    {
        for (var nr = 0x80u; nr <= 0x94u; nr++)
            Assert.StartsWith("IOMMU_", Ioctls.Name(0x3b00u | nr));
    }
}

public sealed class ErrnoSpecs
{
    [Theory]
    [InlineData(1, "EPERM")]
    [InlineData(2, "ENOENT")]
    [InlineData(7, "E2BIG")]
    [InlineData(11, "EAGAIN")]
    [InlineData(14, "EFAULT")]
    [InlineData(16, "EBUSY")]
    [InlineData(22, "EINVAL")]
    [InlineData(25, "ENOTTY")]
    [InlineData(28, "ENOSPC")]
    [InlineData(34, "ERANGE")]
    [InlineData(38, "ENOSYS")]
    [InlineData(71, "EPROTO")]
    [InlineData(75, "EOVERFLOW")]
    [InlineData(90, "EMSGSIZE")]
    [InlineData(95, "EOPNOTSUPP")]
    [InlineData(98, "EADDRINUSE")]
    [InlineData(110, "ETIMEDOUT")]
    [InlineData(111, "ECONNREFUSED")]
    [InlineData(-22, "EINVAL")]
    public void Name_gives_the_linux_symbol(int errno, string name) => Assert.Equal(name, Errno.Name(errno));

    [Fact]
    public void Every_number_from_EPERM_to_ERANGE_has_a_name_and_aliases_do_not_replace_it()
    {
        for (var n = 1; n <= 34; n++) Assert.StartsWith("E", Errno.Name(n));
        Assert.Equal("EAGAIN", Errno.Name(Errno.EWOULDBLOCK));
        Assert.Equal("EOPNOTSUPP", Errno.Name(Errno.ENOTSUP));
        Assert.Equal("errno 4095", Errno.Name(4095));
    }
}
