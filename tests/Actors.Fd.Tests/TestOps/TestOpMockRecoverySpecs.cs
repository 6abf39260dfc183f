using Akka.Actor;
using IommuActors.Fd.Tests.Support;
using IommuActors.Uapi;
using IommuActors.Uapi.Structs;
using Xunit;
using static IommuActors.Fd.Files.FileProtocol;
using U = IommuActors.Hardware.Units.UnitProtocol;

namespace IommuActors.Fd.Tests.TestOps;

/// <summary>
/// Mock devices across a restart of their files: the context comes back from its journal (or its
/// snapshot) with the SELFTEST object, its DEVICE, flags and attachments under the same IDs, and
/// the unit still has the device, so the checks and the destruction work as before.
/// </summary>
public sealed class TestOpMockRecoverySpecs : TestOpSpec
{
    [Theory]
    [InlineData(500)]
    [InlineData(1)]
    public void After_a_restart_the_mock_devices_are_back_with_their_IDs_flags_and_attachments_and_can_be_destroyed(int snapshotEvery)
    {
        var files = StartFiles($"files-a{snapshotEvery}", snapshotEvery);
        var ctx = $"mock-recovery-{snapshotEvery}";
        OpenIn(files, ctx, "/dev/iommu", 40);
        IoctlDone TestIn(IommuTestCmd cmd) => Call(files, ctx, Ioctls.IOMMU_TEST_CMD, cmd);
        var ioas = Back<IommuIoasAlloc>(Call(files, ctx, Ioctls.IOMMU_IOAS_ALLOC, new IommuIoasAlloc(12, 0, 0))).OutIoasId;
        Assert.Equal(0, Call(files, ctx, Ioctls.IOMMU_IOAS_MAP, new IommuIoasMap(40, RW, ioas, 0, Buffer, 0x2000, MockIova)).Errno);
        var first = Back<IommuTestCmd>(TestIn(IommuTestCmd.Create(TestOp.MockDomainFlags, ioas)
            .WithU32(TestCmdLayout.MockDomain.DevFlags, Selftest.DeviceNoDirty)));
        var (stdev, hwpt, idev) = (first.U32(TestCmdLayout.MockDomain.OutStdevId), first.U32(TestCmdLayout.MockDomain.OutHwptId),
            first.U32(TestCmdLayout.MockDomain.OutIdevId));
        files.Tell(new IommuActors.Fd.Context.IntrospectProtocol.GetContextObjects(ctx), TestActor);
        var pci = ExpectMsg<IommuActors.Fd.Context.IntrospectProtocol.ContextObjects>().Objects.Single(o => o.Id == stdev).Pci;

        files = RestartFiles(files, $"files-b{snapshotEvery}", snapshotEvery);

        var checkMap = IommuTestCmd.Create(TestOp.MdCheckMap, hwpt)
            .WithU64(TestCmdLayout.CheckMap.Iova, MockIova).WithU64(TestCmdLayout.CheckMap.Length, 0x2000).WithU64(TestCmdLayout.CheckMap.Uptr, Buffer);
        Assert.Equal(0, TestIn(checkMap).Errno);
        Assert.Equal(Errno.EOPNOTSUPP, Call(files, ctx, Ioctls.IOMMU_HWPT_ALLOC,
            new IommuHwptAlloc(44, HwptAllocFlags.DirtyTracking, idev, ioas, 0, 0, 0, 0, 0, 0, 0)).Errno);
        Assert.Equal(Errno.EBUSY, Call(files, ctx, Ioctls.IOMMU_DESTROY, new IommuDestroy(8, hwpt)).Errno);
        Assert.Equal(new U.Failed(MockUnit, Errno.EBUSY), UnplugFromUnit(pci));

        // A second device takes the next IDs, sharing the automatic HWPT.
        var second = Back<IommuTestCmd>(TestIn(IommuTestCmd.Create(TestOp.MockDomain, ioas)));
        Assert.Equal((hwpt + 1, hwpt), (second.U32(TestCmdLayout.MockDomain.OutStdevId), second.U32(TestCmdLayout.MockDomain.OutHwptId)));

        Assert.Equal(0, Call(files, ctx, Ioctls.IOMMU_DESTROY, new IommuDestroy(8, stdev)).Errno);
        Assert.Equal(Errno.ENOENT, Call(files, ctx, Ioctls.IOMMU_DESTROY, new IommuDestroy(8, idev)).Errno);
        Assert.Equal(new U.Failed(MockUnit, Errno.ENOENT), UnplugFromUnit(pci));
        Assert.Equal(0, TestIn(checkMap).Errno);
    }
}
