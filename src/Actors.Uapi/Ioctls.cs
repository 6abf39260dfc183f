namespace IommuActors.Uapi;

/// <summary>Which kind of file an ioctl number is issued on; VFIO reuses numbers across file kinds.</summary>
public enum IoctlTarget { Iommufd, VfioDevice }

/// <summary>ioctl request numbers of iommufd (uapi/linux/iommufd.h) and VFIO (uapi/linux/vfio.h).</summary>
public static class Ioctls
{
    /// <summary>Both headers use the type ';' and plain _IO numbers: (type &lt;&lt; 8) | nr.</summary>
    public const uint IommufdType = ';';
    public const uint IommufdCmdBase = 0x80;
    public const uint VfioBase = 100;

    public static uint Io(uint type, uint nr) => (type << 8) | nr;

    public const uint IOMMU_DESTROY = 0x3b80;
    public const uint IOMMU_IOAS_ALLOC = 0x3b81;
    public const uint IOMMU_IOAS_ALLOW_IOVAS = 0x3b82;
    public const uint IOMMU_IOAS_COPY = 0x3b83;
    public const uint IOMMU_IOAS_IOVA_RANGES = 0x3b84;
    public const uint IOMMU_IOAS_MAP = 0x3b85;
    public const uint IOMMU_IOAS_UNMAP = 0x3b86;
    public const uint IOMMU_OPTION = 0x3b87;
    public const uint IOMMU_VFIO_IOAS = 0x3b88;
    public const uint IOMMU_HWPT_ALLOC = 0x3b89;
    public const uint IOMMU_GET_HW_INFO = 0x3b8a;
    public const uint IOMMU_HWPT_SET_DIRTY_TRACKING = 0x3b8b;
    public const uint IOMMU_HWPT_GET_DIRTY_BITMAP = 0x3b8c;
    public const uint IOMMU_HWPT_INVALIDATE = 0x3b8d;
    public const uint IOMMU_FAULT_QUEUE_ALLOC = 0x3b8e;
    public const uint IOMMU_IOAS_MAP_FILE = 0x3b8f;
    public const uint IOMMU_VIOMMU_ALLOC = 0x3b90;
    public const uint IOMMU_VDEVICE_ALLOC = 0x3b91;
    public const uint IOMMU_IOAS_CHANGE_PROCESS = 0x3b92;
    public const uint IOMMU_VEVENTQ_ALLOC = 0x3b93;
    public const uint IOMMU_HW_QUEUE_ALLOC = 0x3b94;
    /// <summary>The kernel's selftest command, IOMMUFD_CMD_BASE + 32.</summary>
    public const uint IOMMU_TEST_CMD = 0x3ba0;

    // Container (type1 compat) ioctls: VFIO_BASE + n.
    public const uint VFIO_GET_API_VERSION = 0x3b64;
    public const uint VFIO_CHECK_EXTENSION = 0x3b65;
    public const uint VFIO_SET_IOMMU = 0x3b66;
    public const uint VFIO_IOMMU_GET_INFO = 0x3b70;
    public const uint VFIO_IOMMU_MAP_DMA = 0x3b71;
    public const uint VFIO_IOMMU_UNMAP_DMA = 0x3b72;
    public const uint VFIO_IOMMU_ENABLE = 0x3b73;
    public const uint VFIO_IOMMU_DISABLE = 0x3b74;
    public const uint VFIO_IOMMU_DIRTY_PAGES = 0x3b75;

    // Device cdev ioctls.
    public const uint VFIO_DEVICE_GET_INFO = 0x3b6b;
    public const uint VFIO_DEVICE_GET_REGION_INFO = 0x3b6c;
    public const uint VFIO_DEVICE_GET_IRQ_INFO = 0x3b6d;
    public const uint VFIO_DEVICE_SET_IRQS = 0x3b6e;
    public const uint VFIO_DEVICE_RESET = 0x3b6f;
    /// <summary>Same number as VFIO_IOMMU_GET_INFO, told apart by the file it is issued on.</summary>
    public const uint VFIO_DEVICE_GET_PCI_HOT_RESET_INFO = 0x3b70;
    /// <summary>Same number as VFIO_IOMMU_MAP_DMA, told apart by the file it is issued on.</summary>
    public const uint VFIO_DEVICE_PCI_HOT_RESET = 0x3b71;
    public const uint VFIO_DEVICE_FEATURE = 0x3b75;
    public const uint VFIO_DEVICE_BIND_IOMMUFD = 0x3b76;
    public const uint VFIO_DEVICE_ATTACH_IOMMUFD_PT = 0x3b77;
    public const uint VFIO_DEVICE_DETACH_IOMMUFD_PT = 0x3b78;

    // VFIO_CHECK_EXTENSION / VFIO_SET_IOMMU arguments.
    public const uint VFIO_API_VERSION = 0;
    public const uint VFIO_TYPE1_IOMMU = 1;
    public const uint VFIO_SPAPR_TCE_IOMMU = 2;
    public const uint VFIO_TYPE1v2_IOMMU = 3;
    public const uint VFIO_DMA_CC_IOMMU = 4;
    public const uint VFIO_EEH = 5;
    public const uint VFIO_TYPE1_NESTING_IOMMU = 6;
    public const uint VFIO_SPAPR_TCE_v2_IOMMU = 7;
    public const uint VFIO_NOIOMMU_IOMMU = 8;
    public const uint VFIO_UNMAP_ALL = 9;
    public const uint VFIO_UPDATE_VADDR = 10;

    private static readonly Dictionary<uint, string> IommufdNames = new()
    {
        [IOMMU_DESTROY] = nameof(IOMMU_DESTROY), [IOMMU_IOAS_ALLOC] = nameof(IOMMU_IOAS_ALLOC),
        [IOMMU_IOAS_ALLOW_IOVAS] = nameof(IOMMU_IOAS_ALLOW_IOVAS), [IOMMU_IOAS_COPY] = nameof(IOMMU_IOAS_COPY),
        [IOMMU_IOAS_IOVA_RANGES] = nameof(IOMMU_IOAS_IOVA_RANGES), [IOMMU_IOAS_MAP] = nameof(IOMMU_IOAS_MAP),
        [IOMMU_IOAS_UNMAP] = nameof(IOMMU_IOAS_UNMAP), [IOMMU_OPTION] = nameof(IOMMU_OPTION),
        [IOMMU_VFIO_IOAS] = nameof(IOMMU_VFIO_IOAS), [IOMMU_HWPT_ALLOC] = nameof(IOMMU_HWPT_ALLOC),
        [IOMMU_GET_HW_INFO] = nameof(IOMMU_GET_HW_INFO),
        [IOMMU_HWPT_SET_DIRTY_TRACKING] = nameof(IOMMU_HWPT_SET_DIRTY_TRACKING),
        [IOMMU_HWPT_GET_DIRTY_BITMAP] = nameof(IOMMU_HWPT_GET_DIRTY_BITMAP),
        [IOMMU_HWPT_INVALIDATE] = nameof(IOMMU_HWPT_INVALIDATE),
        [IOMMU_FAULT_QUEUE_ALLOC] = nameof(IOMMU_FAULT_QUEUE_ALLOC),
        [IOMMU_IOAS_MAP_FILE] = nameof(IOMMU_IOAS_MAP_FILE), [IOMMU_VIOMMU_ALLOC] = nameof(IOMMU_VIOMMU_ALLOC),
        [IOMMU_VDEVICE_ALLOC] = nameof(IOMMU_VDEVICE_ALLOC),
        [IOMMU_IOAS_CHANGE_PROCESS] = nameof(IOMMU_IOAS_CHANGE_PROCESS),
        [IOMMU_VEVENTQ_ALLOC] = nameof(IOMMU_VEVENTQ_ALLOC), [IOMMU_HW_QUEUE_ALLOC] = nameof(IOMMU_HW_QUEUE_ALLOC),
        [IOMMU_TEST_CMD] = nameof(IOMMU_TEST_CMD),
        [VFIO_GET_API_VERSION] = nameof(VFIO_GET_API_VERSION), [VFIO_CHECK_EXTENSION] = nameof(VFIO_CHECK_EXTENSION),
        [VFIO_SET_IOMMU] = nameof(VFIO_SET_IOMMU), [VFIO_IOMMU_GET_INFO] = nameof(VFIO_IOMMU_GET_INFO),
        [VFIO_IOMMU_MAP_DMA] = nameof(VFIO_IOMMU_MAP_DMA), [VFIO_IOMMU_UNMAP_DMA] = nameof(VFIO_IOMMU_UNMAP_DMA),
        [VFIO_IOMMU_ENABLE] = nameof(VFIO_IOMMU_ENABLE), [VFIO_IOMMU_DISABLE] = nameof(VFIO_IOMMU_DISABLE),
        [VFIO_IOMMU_DIRTY_PAGES] = nameof(VFIO_IOMMU_DIRTY_PAGES),
    };

    private static readonly Dictionary<uint, string> DeviceNames = new()
    {
        [VFIO_DEVICE_GET_INFO] = nameof(VFIO_DEVICE_GET_INFO),
        [VFIO_DEVICE_GET_REGION_INFO] = nameof(VFIO_DEVICE_GET_REGION_INFO),
        [VFIO_DEVICE_GET_IRQ_INFO] = nameof(VFIO_DEVICE_GET_IRQ_INFO),
        [VFIO_DEVICE_SET_IRQS] = nameof(VFIO_DEVICE_SET_IRQS), [VFIO_DEVICE_RESET] = nameof(VFIO_DEVICE_RESET),
        [VFIO_DEVICE_GET_PCI_HOT_RESET_INFO] = nameof(VFIO_DEVICE_GET_PCI_HOT_RESET_INFO),
        [VFIO_DEVICE_PCI_HOT_RESET] = nameof(VFIO_DEVICE_PCI_HOT_RESET),
        [VFIO_DEVICE_FEATURE] = nameof(VFIO_DEVICE_FEATURE),
        [VFIO_DEVICE_BIND_IOMMUFD] = nameof(VFIO_DEVICE_BIND_IOMMUFD),
        [VFIO_DEVICE_ATTACH_IOMMUFD_PT] = nameof(VFIO_DEVICE_ATTACH_IOMMUFD_PT),
        [VFIO_DEVICE_DETACH_IOMMUFD_PT] = nameof(VFIO_DEVICE_DETACH_IOMMUFD_PT),
    };

    /// <summary>Every number known for a file kind, with its name.</summary>
    public static IReadOnlyDictionary<uint, string> Known(IoctlTarget target) =>
        target == IoctlTarget.Iommufd ? IommufdNames : DeviceNames;

    /// <summary>The request's name for logs; unknown numbers as hex.</summary>
    public static string Name(uint request, IoctlTarget target = IoctlTarget.Iommufd) =>
        Known(target).TryGetValue(request, out var name) ? name : $"ioctl 0x{request:x}";
}
