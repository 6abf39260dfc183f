using IommuActors.Fd.Tests.Support;
using IommuActors.Uapi;
using IommuActors.Uapi.Structs;
using Xunit;
using static IommuActors.Fd.Context.IntrospectProtocol;
using static IommuActors.Fd.Files.FileProtocol;
using U = IommuActors.Hardware.Units.UnitProtocol;

namespace IommuActors.Fd.Tests.TestOps;

/// <summary>What the specs of the selftest's ops share: one context and its ioctls, with the selftest's struct bytes.</summary>
public abstract class TestOpSpec : FdSpec
{
    protected const uint RW = IoasMapFlags.Readable | IoasMapFlags.Writeable | IoasMapFlags.FixedIova;
    protected const ulong MockIova = Selftest.MockApertureStart;
    protected const ulong Buffer = Mem + 0x10000;
    protected const string MockUnit = "mock0";

    protected string Ctx { get; }
    protected int CtxFd { get; }

    protected TestOpSpec() => (Ctx, CtxFd) = Open("/dev/iommu");

    /// <summary>A platform device bound to the context through its VFIO cdev: its DEVICE ID.</summary>
    protected uint BindPlatformDevice(string cdev) => Bind(Open($"/dev/vfio/devices/{cdev}").FileId, CtxFd);

    protected uint NewIoas() => NewIoas(Ctx);

    protected int Map(uint ioas, ulong iova, ulong userVa, ulong length, uint flags = RW) =>
        Ioctl(Ctx, Ioctls.IOMMU_IOAS_MAP, new IommuIoasMap(40, flags, ioas, 0, userVa, length, iova)).Errno;

    protected int Unmap(uint ioas, ulong iova, ulong length) =>
        Ioctl(Ctx, Ioctls.IOMMU_IOAS_UNMAP, new IommuIoasUnmap(24, ioas, iova, length)).Errno;

    protected int Destroy(uint id) => Destroy(Ctx, id);

    protected IoctlDone Test(IommuTestCmd cmd) => Ioctl(Ctx, Ioctls.IOMMU_TEST_CMD, cmd);

    protected static IommuTestCmd MockDomainCmd(uint ptId, uint? devFlags = null) => devFlags is { } flags
        ? IommuTestCmd.Create(TestOp.MockDomainFlags, ptId).WithU32(TestCmdLayout.MockDomain.DevFlags, flags)
        : IommuTestCmd.Create(TestOp.MockDomain, ptId);

    /// <summary>MOCK_DOMAIN (or _FLAGS with devFlags): the stdev, HWPT and DEVICE IDs it answers.</summary>
    protected (uint Stdev, uint Hwpt, uint Idev) MockDomain(uint ptId, uint? devFlags = null)
    {
        var back = Back<IommuTestCmd>(Test(MockDomainCmd(ptId, devFlags)));
        return (back.U32(TestCmdLayout.MockDomain.OutStdevId), back.U32(TestCmdLayout.MockDomain.OutHwptId),
            back.U32(TestCmdLayout.MockDomain.OutIdevId));
    }

    protected uint AllocHwpt(uint idev, uint ptId, uint flags = 0) =>
        Back<IommuHwptAlloc>(Ioctl(Ctx, Ioctls.IOMMU_HWPT_ALLOC, new IommuHwptAlloc(44, flags, idev, ptId, 0, 0, 0, 0, 0, 0, 0))).OutHwptId;

    /// <summary>A nested HWPT of the mock driver over parent, with iommu_hwpt_selftest {iotlb} at Mem.</summary>
    protected uint AllocNested(uint idev, uint parent, uint iotlb, uint flags = 0)
    {
        Poke(Mem, BitConverter.GetBytes(iotlb));
        return Back<IommuHwptAlloc>(Ioctl(Ctx, Ioctls.IOMMU_HWPT_ALLOC,
            new IommuHwptAlloc(44, flags, idev, parent, 0, 0, Selftest.HwptDataType, 4, Mem, 0, 0))).OutHwptId;
    }

    protected static IommuTestCmd ReplaceCmd(uint stdev, uint ptId) =>
        IommuTestCmd.Create(TestOp.MockDomainReplace, stdev).WithU32(TestCmdLayout.MockDomainReplace.PtId, ptId);

    protected static IommuTestCmd CheckMapCmd(uint hwpt, ulong iova, ulong length, ulong uptr) =>
        IommuTestCmd.Create(TestOp.MdCheckMap, hwpt)
            .WithU64(TestCmdLayout.CheckMap.Iova, iova)
            .WithU64(TestCmdLayout.CheckMap.Length, length)
            .WithU64(TestCmdLayout.CheckMap.Uptr, uptr);

    protected static IommuTestCmd CheckRefsCmd(ulong uptr, ulong length, uint refs) =>
        IommuTestCmd.Create(TestOp.MdCheckRefs, 0)
            .WithU64(TestCmdLayout.CheckRefs.Length, length)
            .WithU64(TestCmdLayout.CheckRefs.Uptr, uptr)
            .WithU32(TestCmdLayout.CheckRefs.Refs, refs);

    /// <summary>The live object table as iommuctl sees it.</summary>
    protected ObjectInfo ObjectOf(uint id)
    {
        Files.Tell(new GetContextObjects(Ctx), TestActor);
        return ExpectMsg<ContextObjects>().Objects.Single(o => o.Id == id);
    }

    /// <summary>The answer of the mock unit to taking away a device: ENOENT once it has gone, EBUSY while attached.</summary>
    protected object UnplugFromUnit(string pci)
    {
        Units.Tell(new U.RemoveDevice(MockUnit, pci), TestActor);
        return ExpectMsg<object>(m => m is U.Done or U.Failed);
    }
}
