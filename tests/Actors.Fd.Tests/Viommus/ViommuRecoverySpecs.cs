using IommuActors.Fd.Tests.TestOps;
using IommuActors.Uapi;
using IommuActors.Uapi.Structs;
using Xunit;
using static IommuActors.Fd.Files.FileProtocol;

namespace IommuActors.Fd.Tests.Viommus;

/// <summary>
/// A vIOMMU, a nested HWPT on it and a vDEVICE across a restart of their files: the context comes
/// back from its journal (or its snapshot) with the objects, what they hold, and the vDEVICE's
/// device and virtual ID.
/// </summary>
public sealed class ViommuRecoverySpecs : TestOpSpec
{
    [Theory]
    [InlineData(500)]
    [InlineData(1)]
    public void After_a_restart_the_vIOMMU_family_is_back_with_its_rules(int snapshotEvery)
    {
        var files = StartFiles($"files-va{snapshotEvery}", snapshotEvery);
        var ctx = $"viommu-recovery-{snapshotEvery}";
        OpenIn(files, ctx, "/dev/iommu", 41);
        IoctlDone TestIn(IommuTestCmd cmd) => Call(files, ctx, Ioctls.IOMMU_TEST_CMD, cmd);
        (uint Stdev, uint Idev) MockIn(uint ioasId)
        {
            var back = Back<IommuTestCmd>(TestIn(IommuTestCmd.Create(TestOp.MockDomain, ioasId)));
            return (back.U32(TestCmdLayout.MockDomain.OutStdevId), back.U32(TestCmdLayout.MockDomain.OutIdevId));
        }
        IoctlDone VdeviceIn(uint viommuId, uint dev, ulong virtId) =>
            Call(files, ctx, Ioctls.IOMMU_VDEVICE_ALLOC, new IommuVdeviceAlloc(24, viommuId, dev, 0, virtId));
        int DestroyIn(uint id) => Call(files, ctx, Ioctls.IOMMU_DESTROY, new IommuDestroy(8, id)).Errno;

        var ioas = Back<IommuIoasAlloc>(Call(files, ctx, Ioctls.IOMMU_IOAS_ALLOC, new IommuIoasAlloc(12, 0, 0))).OutIoasId;
        var mock = MockIn(ioas);
        var parent = Back<IommuHwptAlloc>(Call(files, ctx, Ioctls.IOMMU_HWPT_ALLOC,
            new IommuHwptAlloc(44, HwptAllocFlags.NestParent, mock.Idev, ioas, 0, 0, 0, 0, 0, 0, 0))).OutHwptId;
        var viommu = Back<IommuViommuAlloc>(Call(files, ctx, Ioctls.IOMMU_VIOMMU_ALLOC,
            new IommuViommuAlloc(40, 0, Selftest.ViommuType, mock.Idev, parent, 0, 0, 0, 0))).OutViommuId;
        Poke(Mem, BitConverter.GetBytes(Selftest.IotlbDefault));
        var nested = Back<IommuHwptAlloc>(Call(files, ctx, Ioctls.IOMMU_HWPT_ALLOC,
            new IommuHwptAlloc(44, 0, mock.Idev, viommu, 0, 0, Selftest.HwptDataType, 4, Mem, 0, 0))).OutHwptId;
        var vdev = Back<IommuVdeviceAlloc>(VdeviceIn(viommu, mock.Idev, 0x99)).OutVdeviceId;

        files = RestartFiles(files, $"files-vb{snapshotEvery}", snapshotEvery);

        var other = MockIn(ioas);
        Assert.Equal(Errno.EEXIST, VdeviceIn(viommu, other.Idev, 0x99).Errno);
        Assert.Equal(Errno.EEXIST, VdeviceIn(viommu, mock.Idev, 0x88).Errno);
        Assert.Equal(Errno.ENOENT, TestIn(ReplaceCmd(other.Stdev, nested)).Errno);
        Assert.Equal(0, TestIn(ReplaceCmd(mock.Stdev, nested)).Errno);
        Assert.Equal(Errno.EBUSY, DestroyIn(viommu));
        Assert.Equal(Errno.EBUSY, DestroyIn(parent));
        Assert.Equal(0, TestIn(ReplaceCmd(mock.Stdev, ioas)).Errno);
        Assert.Equal(0, DestroyIn(nested));
        Assert.Equal(0, DestroyIn(vdev));
        Assert.Equal(0, DestroyIn(viommu));
        Assert.Equal(0, DestroyIn(parent));
        }

    [Theory]
    [InlineData(500)]
    [InlineData(1)]
    public void A_vDEVICE_tombstone_stays_taken_after_a_restart(int snapshotEvery)
    {
        var files = StartFiles($"files-ta{snapshotEvery}", snapshotEvery);
        var ctx = $"viommu-tombstone-{snapshotEvery}";
        OpenIn(files, ctx, "/dev/iommu", 42);
        var ioas = Back<IommuIoasAlloc>(Call(files, ctx, Ioctls.IOMMU_IOAS_ALLOC, new IommuIoasAlloc(12, 0, 0))).OutIoasId;
        var back = Back<IommuTestCmd>(Call(files, ctx, Ioctls.IOMMU_TEST_CMD, IommuTestCmd.Create(TestOp.MockDomain, ioas)));
        var (stdev, idev) = (back.U32(TestCmdLayout.MockDomain.OutStdevId), back.U32(TestCmdLayout.MockDomain.OutIdevId));
        var parent = Back<IommuHwptAlloc>(Call(files, ctx, Ioctls.IOMMU_HWPT_ALLOC,
            new IommuHwptAlloc(44, HwptAllocFlags.NestParent, idev, ioas, 0, 0, 0, 0, 0, 0, 0))).OutHwptId;
        var viommu = Back<IommuViommuAlloc>(Call(files, ctx, Ioctls.IOMMU_VIOMMU_ALLOC,
            new IommuViommuAlloc(40, 0, Selftest.ViommuType, idev, parent, 0, 0, 0, 0))).OutViommuId;
        var vdev = Back<IommuVdeviceAlloc>(Call(files, ctx, Ioctls.IOMMU_VDEVICE_ALLOC, new IommuVdeviceAlloc(24, viommu, idev, 0, 0x99))).OutVdeviceId;
        Assert.Equal(0, Call(files, ctx, Ioctls.IOMMU_DESTROY, new IommuDestroy(8, stdev)).Errno);

        files = RestartFiles(files, $"files-tb{snapshotEvery}", snapshotEvery);

        var ids = Enumerable.Range(0, 4)
            .Select(_ => Back<IommuIoasAlloc>(Call(files, ctx, Ioctls.IOMMU_IOAS_ALLOC, new IommuIoasAlloc(12, 0, 0))).OutIoasId).ToList();
        Assert.DoesNotContain(vdev, ids);
        Assert.Contains(stdev, ids);
        Assert.Equal(Errno.ENOENT, Call(files, ctx, Ioctls.IOMMU_DESTROY, new IommuDestroy(8, vdev)).Errno);
    }
}
