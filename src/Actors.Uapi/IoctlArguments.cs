using System.Buffers.Binary;
using System.Text;
using IommuActors.Uapi.Structs;

namespace IommuActors.Uapi;

/// <summary>
/// An ioctl's argument as iommuctl trace shows it, the way strace does: the fields the caller gave
/// (<see cref="Given"/>) and those the kernel wrote back (<see cref="Returned"/>), by the kernel's
/// field names, keyed by the request number and the kind of file it was issued on. Addresses and
/// lengths are hex, flags by their names, IDs and PASIDs decimal; the size/argsz word is left out.
/// A field past the bytes the caller gave is left out too; an unknown request decodes to "".
/// </summary>
public static class IoctlArguments
{
    private enum Shape { U32, I32, U16, U8, Hex64, Flags, Flags64, Names, TestOp }

    private enum Way { In, Out, InOut }

    /// <summary>One field of an argument struct: where it is, how it reads, which way it goes.</summary>
    private sealed record Field(string Name, int Offset, Shape Shape, Way Way = Way.In, string[]? Names = null);

    private static Field In(string name, int offset, Shape shape = Shape.U32, string[]? names = null) => new(name, offset, shape, Way.In, names);
    private static Field Out(string name, int offset, Shape shape = Shape.U32, string[]? names = null) => new(name, offset, shape, Way.Out, names);
    private static Field Both(string name, int offset, Shape shape = Shape.U32) => new(name, offset, shape, Way.InOut);

    // Flag names by bit, enum names by value, as the uapi headers spell them (without their prefixes).
    private static readonly string[] MapFlags = ["FIXED_IOVA", "WRITEABLE", "READABLE"];
    private static readonly string[] HwptFlags = ["NEST_PARENT", "DIRTY_TRACKING", "FAULT_ID_VALID", "PASID"];
    private static readonly string[] OptionIds = ["RLIMIT_MODE", "HUGE_PAGES"];
    private static readonly string[] OptionOps = ["SET", "GET"];
    private static readonly string[] VfioIoasOps = ["GET", "SET", "CLEAR"];
    private static readonly string[] HwptDataTypes = ["NONE", "VTD_S1", "ARM_SMMUV3"];
    private static readonly string[] InvalidateTypes = ["VTD_S1", "ARM_SMMUV3"];
    private static readonly string[] HwInfoTypes = ["NONE", "INTEL_VTD", "ARM_SMMUV3", "TEGRA241_CMDQV"];
    private static readonly string[] HwCaps = ["DIRTY_TRACKING", "PCI_PASID_EXEC", "PCI_PASID_PRIV"];
    private static readonly string[] ViommuTypes = ["DEFAULT", "ARM_SMMUV3", "TEGRA241_CMDQV"];
    private static readonly string[] DirtyFlags = ["ENABLE"];
    private static readonly string[] NoClear = ["NO_CLEAR"];
    private static readonly string[] DmaMapFlags = ["READ", "WRITE", "VADDR"];
    private static readonly string[] DmaUnmapFlags = ["GET_DIRTY_BITMAP", "ALL", "VADDR"];
    private static readonly string[] PasidFlag = ["PASID"];
    private static readonly string[] BindFlags = ["TOKEN"];
    private static readonly string[] Iommu1Info = ["PGSIZES", "CAPS"];
    private static readonly string[] VfioExtensions =
        ["API_VERSION", "TYPE1_IOMMU", "SPAPR_TCE_IOMMU", "TYPE1v2_IOMMU", "DMA_CC_IOMMU", "EEH", "TYPE1_NESTING_IOMMU",
         "SPAPR_TCE_v2_IOMMU", "NOIOMMU_IOMMU", "UNMAP_ALL", "UPDATE_VADDR"];

    private static readonly Dictionary<uint, Field[]> IommufdFields = new()
    {
        [Ioctls.IOMMU_DESTROY] = [In("id", 4)],
        [Ioctls.IOMMU_IOAS_ALLOC] = [In("flags", 4, Shape.Flags), Out("out_ioas_id", 8)],
        [Ioctls.IOMMU_IOAS_ALLOW_IOVAS] = [In("ioas_id", 4), In("num_iovas", 8)],
        [Ioctls.IOMMU_IOAS_COPY] = [In("flags", 4, Shape.Flags, MapFlags), In("dst_ioas_id", 8), In("src_ioas_id", 12),
            In("length", 16, Shape.Hex64), Both("dst_iova", 24, Shape.Hex64), In("src_iova", 32, Shape.Hex64)],
        [Ioctls.IOMMU_IOAS_IOVA_RANGES] = [In("ioas_id", 4), Both("num_iovas", 8), Out("out_iova_alignment", 24, Shape.Hex64)],
        [Ioctls.IOMMU_IOAS_MAP] = [In("flags", 4, Shape.Flags, MapFlags), In("ioas_id", 8), In("user_va", 16, Shape.Hex64),
            In("length", 24, Shape.Hex64), Both("iova", 32, Shape.Hex64)],
        [Ioctls.IOMMU_IOAS_MAP_FILE] = [In("flags", 4, Shape.Flags, MapFlags), In("ioas_id", 8), In("fd", 12, Shape.I32),
            In("start", 16, Shape.Hex64), In("length", 24, Shape.Hex64), Both("iova", 32, Shape.Hex64)],
        [Ioctls.IOMMU_IOAS_UNMAP] = [In("ioas_id", 4), In("iova", 8, Shape.Hex64), Both("length", 16, Shape.Hex64)],
        [Ioctls.IOMMU_OPTION] = [In("option_id", 4, Shape.Names, OptionIds), In("op", 8, Shape.U16, OptionOps), In("object_id", 12),
            Both("val64", 16, Shape.Hex64)],
        [Ioctls.IOMMU_VFIO_IOAS] = [Both("ioas_id", 4), In("op", 8, Shape.U16, VfioIoasOps)],
        [Ioctls.IOMMU_HWPT_ALLOC] = [In("flags", 4, Shape.Flags, HwptFlags), In("dev_id", 8), In("pt_id", 12), Out("out_hwpt_id", 16),
            In("data_type", 24, Shape.Names, HwptDataTypes), In("fault_id", 40)],
        [Ioctls.IOMMU_GET_HW_INFO] = [In("flags", 4, Shape.Flags, ["INPUT_TYPE"]), In("dev_id", 8), In("data_len", 12),
            Out("out_data_type", 24, Shape.Names, HwInfoTypes), Out("out_max_pasid_log2", 28, Shape.U8),
            Out("out_capabilities", 32, Shape.Flags64, HwCaps)],
        [Ioctls.IOMMU_HWPT_SET_DIRTY_TRACKING] = [In("flags", 4, Shape.Flags, DirtyFlags), In("hwpt_id", 8)],
        [Ioctls.IOMMU_HWPT_GET_DIRTY_BITMAP] = [In("hwpt_id", 4), In("flags", 8, Shape.Flags, NoClear), In("iova", 16, Shape.Hex64),
            In("length", 24, Shape.Hex64), In("page_size", 32, Shape.Hex64)],
        [Ioctls.IOMMU_HWPT_INVALIDATE] = [In("hwpt_id", 4), In("data_type", 16, Shape.Names, InvalidateTypes), In("entry_len", 20),
            Both("entry_num", 24)],
        [Ioctls.IOMMU_FAULT_QUEUE_ALLOC] = [In("flags", 4, Shape.Flags), Out("out_fault_id", 8), Out("out_fault_fd", 12)],
        [Ioctls.IOMMU_VIOMMU_ALLOC] = [In("flags", 4, Shape.Flags), In("type", 8, Shape.Names, ViommuTypes), In("dev_id", 12),
            In("hwpt_id", 16), Out("out_viommu_id", 20)],
        [Ioctls.IOMMU_VDEVICE_ALLOC] = [In("viommu_id", 4), In("dev_id", 8), Out("out_vdevice_id", 12), In("virt_id", 16, Shape.Hex64)],
        [Ioctls.IOMMU_IOAS_CHANGE_PROCESS] = [],
        [Ioctls.IOMMU_VEVENTQ_ALLOC] = [In("flags", 4, Shape.Flags), In("viommu_id", 8), In("type", 12), In("veventq_depth", 16),
            Out("out_veventq_id", 20), Out("out_veventq_fd", 24)],
        [Ioctls.IOMMU_HW_QUEUE_ALLOC] = [In("flags", 4, Shape.Flags), In("viommu_id", 8), In("type", 12), In("index", 16),
            Out("out_hw_queue_id", 20), In("nesting_parent_iova", 24, Shape.Hex64), In("length", 32, Shape.Hex64)],
        [Ioctls.IOMMU_TEST_CMD] = [In("op", 4, Shape.TestOp), In("id", 8)],
        [Ioctls.VFIO_GET_API_VERSION] = [],
        [Ioctls.VFIO_IOMMU_GET_INFO] = [Out("flags", 4, Shape.Flags, Iommu1Info), Out("iova_pgsizes", 8, Shape.Hex64)],
        [Ioctls.VFIO_IOMMU_MAP_DMA] = [In("flags", 4, Shape.Flags, DmaMapFlags), In("vaddr", 8, Shape.Hex64), In("iova", 16, Shape.Hex64),
            In("size", 24, Shape.Hex64)],
        [Ioctls.VFIO_IOMMU_UNMAP_DMA] = [In("flags", 4, Shape.Flags, DmaUnmapFlags), In("iova", 8, Shape.Hex64), Both("size", 16, Shape.Hex64)],
        [Ioctls.VFIO_IOMMU_ENABLE] = [],
        [Ioctls.VFIO_IOMMU_DISABLE] = [],
        [Ioctls.VFIO_IOMMU_DIRTY_PAGES] = [In("flags", 4, Shape.Flags, ["START", "STOP", "GET_BITMAP"])],
        [EmulatorIoctls.PASID_ALLOC] = [In("flags", 4, Shape.Flags), Out("out_pasid", 8)],
        [EmulatorIoctls.PASID_FREE] = [In("pasid", 4)],
        [EmulatorIoctls.PASID_SET_INFO] = [In("flags", 4, Shape.Flags), Out("out_quota", 8), Out("out_used", 12)],
        [EmulatorIoctls.PASID_MAP_GUEST] = [In("flags", 4, Shape.Flags), In("guest_pasid", 8), In("host_pasid", 12)],
        [EmulatorIoctls.VDCM_PROGRAM] = [In("queue", 4), In("guest_pasid", 8), Out("out_host_pasid", 12)],
        [EmulatorIoctls.KVM_TRANSLATE] = [In("guest_pasid", 4), Out("out_host_pasid", 8)],
        [EmulatorIoctls.PASID_SET_QUOTA] = [In("flags", 4, Shape.Flags), In("quota", 8), Out("out_used", 12)],
        [EmulatorIoctls.VDCM_CLEAR] = [In("queue", 4)],
    };

    private static readonly Dictionary<uint, Field[]> DeviceFields = new()
    {
        [Ioctls.VFIO_DEVICE_BIND_IOMMUFD] = [In("flags", 4, Shape.Flags, BindFlags), In("iommufd", 8, Shape.I32), Out("out_devid", 12)],
        // The kernel writes pt_id back: the HWPT an attach to an IOAS made or found.
        [Ioctls.VFIO_DEVICE_ATTACH_IOMMUFD_PT] = [In("flags", 4, Shape.Flags, PasidFlag), Both("pt_id", 8), In("pasid", 12)],
        [Ioctls.VFIO_DEVICE_DETACH_IOMMUFD_PT] = [In("flags", 4, Shape.Flags, PasidFlag), In("pasid", 8)],
        [Ioctls.VFIO_DEVICE_GET_INFO] = [Out("flags", 4, Shape.Flags, ["RESET", "PCI", "PLATFORM", "AMBA", "CCW", "AP", "FSL_MC", "CAPS", "CDX"]),
            Out("num_regions", 8), Out("num_irqs", 12)],
        [Ioctls.VFIO_DEVICE_GET_REGION_INFO] = [In("index", 8), Out("flags", 4, Shape.Flags, ["READ", "WRITE", "MMAP", "CAPS"]),
            Out("size", 16, Shape.Hex64), Out("offset", 24, Shape.Hex64)],
        [Ioctls.VFIO_DEVICE_GET_IRQ_INFO] = [In("index", 8), Out("flags", 4, Shape.Flags, ["EVENTFD", "MASKABLE", "AUTOMASKED", "NORESIZE"]),
            Out("count", 12)],
        [Ioctls.VFIO_DEVICE_SET_IRQS] = [In("flags", 4, Shape.Flags,
                ["DATA_NONE", "DATA_BOOL", "DATA_EVENTFD", "ACTION_MASK", "ACTION_UNMASK", "ACTION_TRIGGER"]),
            In("index", 8), In("start", 12), In("count", 16)],
        [Ioctls.VFIO_DEVICE_RESET] = [],
        [Ioctls.VFIO_DEVICE_GET_PCI_HOT_RESET_INFO] = [Out("count", 12)],
        [Ioctls.VFIO_DEVICE_PCI_HOT_RESET] = [In("count", 8)],
        [Ioctls.VFIO_DEVICE_FEATURE] = [In("flags", 4, Shape.U32)],
    };

    /// <summary>
    /// What the caller gave: "{ioas_id=1, iova=0x100000, length=0x1000}"; a plain-value argument
    /// (VFIO_CHECK_EXTENSION's, VFIO_SET_IOMMU's) by its name; "" for an ioctl not known here.
    /// </summary>
    public static string Given(uint request, IoctlTarget target, ulong arg, ReadOnlySpan<byte> given)
    {
        if (target == IoctlTarget.Iommufd && request is Ioctls.VFIO_CHECK_EXTENSION or Ioctls.VFIO_SET_IOMMU)
            return arg < (ulong)VfioExtensions.Length ? "VFIO_" + VfioExtensions[arg] : arg.ToString();
        return FieldsOf(request, target) is { } fields ? Struct(fields, given, Way.Out) : "";
    }

    /// <summary>What the kernel wrote back on success: "{out_ioas_id=1}"; "" when nothing of the struct goes back.</summary>
    public static string Returned(uint request, IoctlTarget target, ReadOnlySpan<byte> written) =>
        written.IsEmpty || FieldsOf(request, target) is not { } fields || fields.All(f => f.Way == Way.In) ? "" : Struct(fields, written, Way.In);

    private static Field[]? FieldsOf(uint request, IoctlTarget target) =>
        (target == IoctlTarget.VfioDevice ? DeviceFields : IommufdFields).GetValueOrDefault(request);

    /// <summary>The fields that fit in the bytes, all but those going the <paramref name="skipped"/> way only.</summary>
    private static string Struct(Field[] fields, ReadOnlySpan<byte> bytes, Way skipped)
    {
        var text = new StringBuilder("{");
        foreach (var field in fields)
        {
            if (field.Way == skipped || field.Offset + Width(field.Shape) > bytes.Length) continue;
            if (text.Length > 1) text.Append(", ");
            text.Append(field.Name).Append('=').Append(Value(field, bytes[field.Offset..]));
        }
        return text.Append('}').ToString();
    }

    private static int Width(Shape shape) => shape switch
    {
        Shape.U8 => 1,
        Shape.U16 => 2,
        Shape.Hex64 or Shape.Flags64 => 8,
        _ => 4,
    };

    private static string Value(Field field, ReadOnlySpan<byte> at)
    {
        switch (field.Shape)
        {
            case Shape.U8: return at[0].ToString();
            case Shape.I32: return BinaryPrimitives.ReadInt32LittleEndian(at).ToString();
            case Shape.Hex64: return Hex(BinaryPrimitives.ReadUInt64LittleEndian(at));
            case Shape.U16: return Named(BinaryPrimitives.ReadUInt16LittleEndian(at), field.Names);
            case Shape.Flags: return Flags(BinaryPrimitives.ReadUInt32LittleEndian(at), field.Names ?? []);
            case Shape.Flags64: return Flags(BinaryPrimitives.ReadUInt64LittleEndian(at), field.Names ?? []);
            case Shape.Names: return Named(BinaryPrimitives.ReadUInt32LittleEndian(at), field.Names);
            case Shape.TestOp:
                var op = (TestOp)BinaryPrimitives.ReadUInt32LittleEndian(at);
                return Enum.IsDefined(op) ? op.ToString() : ((uint)op).ToString();
            default: return BinaryPrimitives.ReadUInt32LittleEndian(at).ToString();
        }
    }

    private static string Named(uint value, string[]? names) => names is not null && value < names.Length ? names[value] : value.ToString();

    /// <summary>Flags by name, joined with |, bits without a name in hex; 0 for none.</summary>
    public static string Flags(ulong flags, IReadOnlyList<string> names)
    {
        if (flags == 0) return "0";
        var parts = new List<string>();
        var unnamed = 0ul;
        for (var bit = 0; bit < 64; bit++)
        {
            if ((flags >> bit & 1) == 0) continue;
            if (bit < names.Count) parts.Add(names[bit]);
            else unnamed |= 1ul << bit;
        }
        if (unnamed != 0) parts.Add(Hex(unnamed));
        return string.Join('|', parts);
    }

    private static string Hex(ulong value) => value == 0 ? "0" : $"0x{value:x}";
}
