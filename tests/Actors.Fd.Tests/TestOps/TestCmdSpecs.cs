using IommuActors.Fd.Tests.Support;
using IommuActors.Uapi;
using IommuActors.Uapi.Structs;
using Xunit;

namespace IommuActors.Fd.Tests.TestOps;

/// <summary>IOMMU_TEST_CMD on an iommufd context, with the selftest's struct bytes.</summary>
public sealed class TestCmdSpecs : FdSpec
{
    private const uint RW = IoasMapFlags.Readable | IoasMapFlags.Writeable | IoasMapFlags.FixedIova;

    private static IommuTestCmd AddReserved(uint ioas, ulong start, ulong length) =>
        IommuTestCmd.Create(TestOp.AddReserved, ioas)
            .WithU64(TestCmdLayout.AddReserved.Start, start)
            .WithU64(TestCmdLayout.AddReserved.Length, length);

    [Fact]
    public void ADD_RESERVED_makes_a_fixed_map_into_the_range_EINVAL_and_leaves_the_rest_mappable()
    {
        var ctx = Open("/dev/iommu").FileId;
        var ioas = Back<IommuIoasAlloc>(Ioctl(ctx, Ioctls.IOMMU_IOAS_ALLOC, new IommuIoasAlloc(12, 0, 0))).OutIoasId;

        var added = Ioctl(ctx, Ioctls.IOMMU_TEST_CMD, AddReserved(ioas, 0x100000, 0x10000));
        Assert.Equal((0, 0), (added.Errno, added.Writeback.Length));

        Assert.Equal(Errno.EINVAL, Ioctl(ctx, Ioctls.IOMMU_IOAS_MAP, new IommuIoasMap(40, RW, ioas, 0, Mem, 0x1000, 0x108000)).Errno);
        Assert.Equal(0, Ioctl(ctx, Ioctls.IOMMU_IOAS_MAP, new IommuIoasMap(40, RW, ioas, 0, Mem, 0x1000, 0x110000)).Errno);
    }

    [Fact]
    public void ADD_RESERVED_over_a_mapping_is_EADDRINUSE_and_on_an_object_that_is_no_IOAS_is_ENOENT()
    {
        var ctx = Open("/dev/iommu").FileId;
        var ioas = Back<IommuIoasAlloc>(Ioctl(ctx, Ioctls.IOMMU_IOAS_ALLOC, new IommuIoasAlloc(12, 0, 0))).OutIoasId;
        Assert.Equal(0, Ioctl(ctx, Ioctls.IOMMU_IOAS_MAP, new IommuIoasMap(40, RW, ioas, 0, Mem, 0x1000, 0x200000)).Errno);

        Assert.Equal(Errno.EADDRINUSE, Ioctl(ctx, Ioctls.IOMMU_TEST_CMD, AddReserved(ioas, 0x1ff000, 0x2000)).Errno);
        Assert.Equal(Errno.ENOENT, Ioctl(ctx, Ioctls.IOMMU_TEST_CMD, AddReserved(ioas + 7, 0, 0x1000)).Errno);
    }

    [Fact]
    public void An_op_the_emulator_does_not_serve_is_EOPNOTSUPP_and_a_short_struct_EINVAL()
    {
        var ctx = Open("/dev/iommu").FileId;
        Assert.Equal(Errno.EOPNOTSUPP, Ioctl(ctx, Ioctls.IOMMU_TEST_CMD, IommuTestCmd.Create((TestOp)22, 0)).Errno);
        var shorter = UserStruct.Encode(IommuTestCmd.Create(TestOp.AddReserved, 1))[..64];
        shorter[0] = 64;
        Assert.Equal(Errno.EINVAL, Ioctl(ctx, Ioctls.IOMMU_TEST_CMD, shorter).Errno);
    }

    [Fact]
    public void TRIGGER_IOPF_for_a_device_the_context_has_not_bound_is_ENOENT()
    {
        var ctx = Open("/dev/iommu").FileId;
        var trigger = IommuTestCmd.Create(TestOp.TriggerIopf, 0).WithU32(TestCmdLayout.TriggerIopf.DevId, 9);
        Assert.Equal(Errno.ENOENT, Ioctl(ctx, Ioctls.IOMMU_TEST_CMD, trigger).Errno);
    }
}
