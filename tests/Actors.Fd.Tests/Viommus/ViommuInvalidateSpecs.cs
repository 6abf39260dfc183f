using IommuActors.Uapi;
using IommuActors.Uapi.Structs;
using IommuActors.Fd.Tests.TestOps;
using Xunit;

namespace IommuActors.Fd.Tests.Viommus;

/// <summary>
/// IOMMU_HWPT_INVALIDATE on a selftest vIOMMU and DEV_CHECK_CACHE, as the selftest's vdevice_cache
/// drives them: the mock device's cache entries named through its vDEVICE's virtual ID.
/// </summary>
public sealed class ViommuInvalidateSpecs : TestOpSpec
{
    private readonly uint _ioas;
    private readonly (uint Stdev, uint Hwpt, uint Idev) _mock;
    private readonly uint _viommu;

    public ViommuInvalidateSpecs()
    {
        _ioas = NewIoas();
        _mock = MockDomain(_ioas);
        var parent = AllocHwpt(_mock.Idev, _ioas, HwptAllocFlags.NestParent);
        _viommu = Back<IommuViommuAlloc>(Ioctl(Ctx, Ioctls.IOMMU_VIOMMU_ALLOC,
            new IommuViommuAlloc(40, 0, Selftest.ViommuType, _mock.Idev, parent, 0, 0, 0, 0))).OutViommuId;
        Assert.Equal(0, Ioctl(Ctx, Ioctls.IOMMU_VDEVICE_ALLOC, new IommuVdeviceAlloc(24, _viommu, _mock.Idev, 0, 0x99)).Errno);
    }

    private Files.FileProtocol.IoctlDone Invalidate(uint dataType, uint entryLen, params (uint Flags, uint VdevId, uint CacheId)[] entries)
    {
        Poke(Array, entries.SelectMany(e => BitConverter.GetBytes(e.Flags).Concat(BitConverter.GetBytes(e.VdevId))
            .Concat(BitConverter.GetBytes(e.CacheId))).ToArray());
        return Ioctl(Ctx, Ioctls.IOMMU_HWPT_INVALIDATE, new IommuHwptInvalidate(32, _viommu, Array, dataType, entryLen, (uint)entries.Length, 0));
    }

    private int Check(uint cacheId, uint value) =>
        Test(IommuTestCmd.Create(TestOp.DevCheckCache, _mock.Idev).WithU32(TestCmdLayout.CheckDevCache.Id, cacheId)
            .WithU32(TestCmdLayout.CheckDevCache.Cache, value)).Errno;

    /// <summary>Where the entries go; the ioctl's struct is at Mem (a failed one is copied back there).</summary>
    private const ulong Array = Mem + 0x1000;

    /// <summary>entry_num as copied back: with the answer on success, into the caller's struct on failure.</summary>
    private uint Handled(Files.FileProtocol.IoctlDone done) =>
        done.Errno == 0 ? Back<IommuHwptInvalidate>(done).EntryNum : IommuHwptInvalidate.Read(Peek(Mem, 32)).EntryNum;

    [Fact]
    public void A_mock_device_starts_with_default_entries_and_an_invalidation_zeroes_those_named_until_one_is_refused()
    {
        for (uint c = 0; c <= Selftest.DevCacheIdMax; c++)
            Assert.Equal(0, Check(c, Selftest.DevCacheDefault));
        Assert.Equal(Errno.EINVAL, Check(Selftest.DevCacheIdMax + 1, Selftest.DevCacheDefault));

        var refused = Invalidate(Selftest.InvalidateDataType, 12, (0, 0x99, 0), (0xffffffff, 0x99, 1));
        Assert.Equal(Errno.EOPNOTSUPP, refused.Errno);
        Assert.Equal(1u, Handled(refused));
        Assert.Equal(0, Check(0, 0));
        Assert.Equal(0, Check(1, Selftest.DevCacheDefault));

        var unknownVirtId = Invalidate(Selftest.InvalidateDataType, 12, (0, 0x9, 1));
        Assert.Equal(Errno.EINVAL, unknownVirtId.Errno);
        Assert.Equal(0u, Handled(unknownVirtId));

        var all = Invalidate(Selftest.InvalidateDataType, 12, (Selftest.InvalidateFlagAll, 0x99, 0));
        Assert.Equal(0, all.Errno);
        Assert.Equal(1u, Handled(all));
        for (uint c = 0; c <= Selftest.DevCacheIdMax; c++)
            Assert.Equal(0, Check(c, 0));
    }

    [Fact]
    public void A_wrong_type_is_EINVAL_but_an_empty_array_of_the_right_type_succeeds()
    {
        Assert.Equal(Errno.EINVAL, Invalidate(Selftest.InvalidateDataTypeInvalid, 12, (0, 0x99, 0)).Errno);
        Assert.Equal(0, Ioctl(Ctx, Ioctls.IOMMU_HWPT_INVALIDATE,
            new IommuHwptInvalidate(32, _viommu, Array, Selftest.InvalidateDataType, 12, 0, 0)).Errno);
        Assert.Equal(0, Check(0, Selftest.DevCacheDefault));
    }
}
