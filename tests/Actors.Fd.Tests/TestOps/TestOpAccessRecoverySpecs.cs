using Akka.Actor;
using IommuActors.Fd.Tests.Support;
using IommuActors.Uapi;
using IommuActors.Uapi.Structs;
using Xunit;
using static IommuActors.Fd.Files.FileProtocol;

namespace IommuActors.Fd.Tests.TestOps;

/// <summary>
/// An access across a restart of its files: the context comes back from its journal (or its
/// snapshot) with the access on the IOAS it was last moved to and with its flags; its pins do
/// not come back, as the IOAS journals none.
/// </summary>
public sealed class TestOpAccessRecoverySpecs : FdSpec
{
    private const uint RW = IoasMapFlags.Readable | IoasMapFlags.Writeable | IoasMapFlags.FixedIova;
    private const ulong Iova = 0x100000;
    private const ulong Buffer = Mem + 0x10000;

    private IoctlDone Test(IActorRef files, string ctx, IommuTestCmd cmd) => Call(files, ctx, Ioctls.IOMMU_TEST_CMD, cmd);

    private static IommuTestCmd PagesCmd(uint fd, ulong iova, ulong uptr) =>
        IommuTestCmd.Create(TestOp.AccessPages, fd)
            .WithU64(TestCmdLayout.AccessPages.Iova, iova)
            .WithU64(TestCmdLayout.AccessPages.Length, 0x1000)
            .WithU64(TestCmdLayout.AccessPages.Uptr, uptr);

    [Theory]
    [InlineData(500)]
    [InlineData(1)]
    public void After_a_restart_the_access_is_on_the_IOAS_it_was_moved_to_with_its_flags_and_without_pins(int snapshotEvery)
    {
        var files = StartFiles($"files-a{snapshotEvery}", snapshotEvery);
        var ctx = $"recovery-{snapshotEvery}";
        OpenIn(files, ctx, "/dev/iommu", 3);
        uint NewIoas() => Back<IommuIoasAlloc>(Call(files, ctx, Ioctls.IOMMU_IOAS_ALLOC, new IommuIoasAlloc(12, 0, 0))).OutIoasId;
        var first = NewIoas();
        var second = NewIoas();
        Assert.Equal(0, Call(files, ctx, Ioctls.IOMMU_IOAS_MAP, new IommuIoasMap(40, RW, first, 0, Buffer, 0x1000, Iova)).Errno);
        Assert.Equal(0, Call(files, ctx, Ioctls.IOMMU_IOAS_MAP, new IommuIoasMap(40, RW, second, 0, Buffer, 0x2000, Iova)).Errno);
        var created = Test(files, ctx, IommuTestCmd.Create(TestOp.CreateAccess, first)
            .WithU32(TestCmdLayout.CreateAccess.Flags, Selftest.FlagsAccessCreateNeedsPinPages));
        var fd = Back<IommuTestCmd>(created).U32(TestCmdLayout.CreateAccess.OutAccessFd);
        Assert.Equal(0, Test(files, ctx, PagesCmd(fd, Iova, Buffer)).Errno);
        Assert.Equal(0, Test(files, ctx, IommuTestCmd.Create(TestOp.AccessReplaceIoas, fd)
            .WithU32(TestCmdLayout.AccessReplaceIoas.IoasId, second)).Errno);
        var pinned = Test(files, ctx, PagesCmd(fd, Iova + 0x1000, Buffer + 0x1000));
        Assert.Equal(1u, Back<IommuTestCmd>(pinned).U32(TestCmdLayout.AccessPages.OutAccessPagesId));

        files = RestartFiles(files, $"files-b{snapshotEvery}", snapshotEvery);

        Assert.Equal(0, Call(files, ctx, Ioctls.IOMMU_DESTROY, new IommuDestroy(8, first)).Errno);
        Assert.Equal(Errno.EBUSY, Call(files, ctx, Ioctls.IOMMU_DESTROY, new IommuDestroy(8, second)).Errno);
        Assert.Equal(Errno.EBUSY, Call(files, ctx, Ioctls.IOMMU_DESTROY, new IommuDestroy(8, second + 1)).Errno);
        Assert.Equal(Errno.ENOENT, Test(files, ctx, IommuTestCmd.Create(TestOp.DestroyAccessPages, fd)
            .WithU32(TestCmdLayout.DestroyAccessPages.AccessPagesId, 1)).Errno);
        // Still an access that pins (the IOAS keeps page alignment for it), numbering anew.
        var again = Test(files, ctx, PagesCmd(fd, Iova, Buffer));
        Assert.Equal(0u, Back<IommuTestCmd>(again).U32(TestCmdLayout.AccessPages.OutAccessPagesId));
        Assert.Equal(Errno.EINVAL, Call(files, ctx, Ioctls.IOMMU_IOAS_MAP, new IommuIoasMap(40, RW, second, 0, Buffer, 0x800, 0x400000)).Errno);

        Client.Tell(new ResolveFd(-1, (int)fd), TestActor);
        var accessFile = ExpectMsg<FdResolved>().FileId;
        files.Tell(new Release(accessFile, Client), TestActor);
        ExpectMsg(new Released(accessFile));
        Assert.Equal(0, Call(files, ctx, Ioctls.IOMMU_DESTROY, new IommuDestroy(8, second)).Errno);
    }
}
