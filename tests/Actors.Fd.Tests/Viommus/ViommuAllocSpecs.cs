using IommuActors.Fd.Objects;
using IommuActors.Fd.Tests.TestOps;
using IommuActors.Uapi;
using IommuActors.Uapi.Structs;
using Xunit;
using U = IommuActors.Hardware.Units.UnitProtocol;

namespace IommuActors.Fd.Tests.Viommus;

/// <summary>
/// IOMMU_VIOMMU_ALLOC of the selftest's type on the mock unit, as the selftest's iommufd_viommu
/// fixture drives it: a vIOMMU over a nesting parent, nested HWPTs on it, and their lifetimes.
/// </summary>
public sealed class ViommuAllocSpecs : TestOpSpec
{
    private const ulong Data = Mem + 0x100;

    private IoctlDoneOf Alloc(uint dev, uint hwpt, uint type = Selftest.ViommuType, uint dataLen = 0, uint flags = 0) =>
        new(Ioctl(Ctx, Ioctls.IOMMU_VIOMMU_ALLOC, new IommuViommuAlloc(40, flags, type, dev, hwpt, 0, dataLen, 0, dataLen == 0 ? 0 : Data)));

    private sealed record IoctlDoneOf(Files.FileProtocol.IoctlDone Done)
    {
        public int Errno => Done.Errno;
        public uint Id => Back<IommuViommuAlloc>(Done).OutViommuId;
    }

    /// <summary>The fixture's setup: an IOAS, a mock device on it, a nesting parent HWPT.</summary>
    private (uint Ioas, (uint Stdev, uint Hwpt, uint Idev) Mock, uint Parent) Setup()
    {
        var ioas = NewIoas();
        var mock = MockDomain(ioas);
        return (ioas, mock, AllocHwpt(mock.Idev, ioas, HwptAllocFlags.NestParent));
    }

    [Fact]
    public void A_vIOMMU_over_a_nesting_parent_is_a_VIOMMU_object_that_holds_its_parent()
    {
        var (_, mock, parent) = Setup();
        var done = Alloc(mock.Idev, parent);
        Assert.Equal(0, done.Errno);
        var id = done.Id;
        Assert.Equal(UserStruct.Encode(new IommuViommuAlloc(40, 0, Selftest.ViommuType, mock.Idev, parent, id, 0, 0, 0)),
            done.Done.Writeback);
        Assert.Equal(ObjectKind.Viommu, ObjectOf(id).Kind);
        Assert.Equal([parent], ObjectOf(id).Uses.ToArray());
        Assert.Equal(MockUnit, ObjectOf(id).Unit);

        Assert.Equal(Errno.EBUSY, Destroy(parent));
        Assert.Equal(0, Destroy(id));
        Assert.Equal(Errno.ENOENT, Destroy(id));
        Assert.Equal(0, Destroy(parent));
    }

    [Fact]
    public void The_negative_cases_answer_as_the_kernel_in_its_order()
    {
        var (ioas, mock, parent) = Setup();
        Assert.Equal(Errno.EOPNOTSUPP, Alloc(mock.Idev, parent, flags: 1).Errno);
        Assert.Equal(Errno.EOPNOTSUPP, Alloc(mock.Idev, parent, type: ViommuType.Default).Errno);
        Assert.Equal(Errno.ENOENT, Alloc(0, parent).Errno);
        Assert.Equal(Errno.ENOENT, Alloc(mock.Stdev, parent).Errno);
        // The type is the driver's question, asked before the HWPT is looked up.
        Assert.Equal(Errno.EOPNOTSUPP, Alloc(mock.Idev, 0, type: 0xdead).Errno);
        Assert.Equal(Errno.ENOENT, Alloc(mock.Idev, 0).Errno);
        Assert.Equal(Errno.ENOENT, Alloc(mock.Idev, ioas).Errno);
        var plain = AllocHwpt(mock.Idev, ioas);
        Assert.Equal(Errno.EINVAL, Alloc(mock.Idev, plain).Errno);
        Assert.Equal(Errno.EINVAL, Alloc(mock.Idev, mock.Hwpt).Errno);
        Assert.Equal(0, Destroy(plain));
        Assert.Equal(0, Destroy(parent));
    }

    [Fact]
    public void Selftest_data_is_echoed_to_out_data_and_bad_data_fails_without_an_object()
    {
        var (_, mock, parent) = Setup();
        var data = new byte[24];
        BitConverter.GetBytes(0xbeefu).CopyTo(data, 0);
        Poke(Data, data);
        var done = Alloc(mock.Idev, parent, dataLen: 24);
        Assert.Equal(0, done.Errno);
        var back = Peek(Data, 24);
        Assert.Equal(0xbeefu, BitConverter.ToUInt32(back, 0));
        Assert.Equal(0xbeefu, BitConverter.ToUInt32(back, 4));
        Assert.Equal(new byte[16], back[8..]);

        var before = NewIoas();
        Assert.Equal(Errno.EINVAL, Alloc(mock.Idev, parent, dataLen: 4).Errno);
        Poke(Data + 24, [7]);
        Assert.Equal(Errno.E2BIG, Alloc(mock.Idev, parent, dataLen: 32).Errno);
        // No object was left behind: the next ID is the one after the IOAS.
        Assert.Equal(before + 1, NewIoas());
        Assert.Equal(Errno.EBUSY, Destroy(parent));
        Assert.Equal(0, Destroy(done.Id));
    }

    [Fact]
    public void A_nested_HWPT_on_a_vIOMMU_holds_the_vIOMMU_and_takes_a_fault_id()
    {
        var (_, mock, parent) = Setup();
        var viommu = Alloc(mock.Idev, parent).Id;
        var nested = AllocNested(mock.Idev, viommu, Selftest.IotlbDefault);
        Assert.Equal(ObjectKind.HwptNested, ObjectOf(nested).Kind);
        Assert.Equal([viommu], ObjectOf(nested).Uses.ToArray());
        Assert.Equal(Errno.EBUSY, Destroy(viommu));
        Assert.Equal(Errno.EBUSY, Destroy(parent));

        // Without driver data the vIOMMU makes no nested domain.
        Assert.Equal(Errno.EOPNOTSUPP, Ioctl(Ctx, Ioctls.IOMMU_HWPT_ALLOC,
            new IommuHwptAlloc(44, 0, mock.Idev, viommu, 0, 0, 0, 0, 0, 0, 0)).Errno);

        var fault = Back<IommuFaultAlloc>(Ioctl(Ctx, Ioctls.IOMMU_FAULT_QUEUE_ALLOC, new IommuFaultAlloc(16, 0, 0, 0))).OutFaultId;
        Poke(Mem, BitConverter.GetBytes(Selftest.IotlbDefault));
        IommuHwptAlloc Iopf(uint faultId, uint flags) =>
            new(44, flags, mock.Idev, viommu, 0, 0, Selftest.HwptDataType, 4, Mem, faultId, 0);
        Assert.Equal(Errno.ENOENT, Ioctl(Ctx, Ioctls.IOMMU_HWPT_ALLOC, Iopf(uint.MaxValue, HwptAllocFlags.FaultIdValid)).Errno);
        Assert.Equal(Errno.EOPNOTSUPP, Ioctl(Ctx, Ioctls.IOMMU_HWPT_ALLOC, Iopf(fault, HwptAllocFlags.FaultIdValid | (1u << 31))).Errno);
        var iopf = Back<IommuHwptAlloc>(Ioctl(Ctx, Ioctls.IOMMU_HWPT_ALLOC, Iopf(fault, HwptAllocFlags.FaultIdValid))).OutHwptId;
        Assert.Equal([viommu, fault], ObjectOf(iopf).Uses.ToArray());

        Assert.Equal(0, Destroy(iopf));
        Assert.Equal(0, Destroy(nested));
        Assert.Equal(0, Destroy(viommu));
        Assert.Equal(0, Destroy(parent));
    }

    [Fact]
    public void Closing_the_iommufd_tears_down_nested_HWPTs_the_vIOMMU_and_its_parent()
    {
        var (_, mock, parent) = Setup();
        var viommu = Alloc(mock.Idev, parent).Id;
        AllocNested(mock.Idev, viommu, Selftest.IotlbDefault);
        var pci = ObjectOf(mock.Stdev).Pci;
        Release(Ctx);
        Assert.Equal(new U.Failed(MockUnit, Errno.ENOENT), UnplugFromUnit(pci));
    }
}
