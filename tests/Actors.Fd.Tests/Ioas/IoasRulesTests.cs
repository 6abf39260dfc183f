using IommuActors.Domains.Ioas;
using IommuActors.Fd.Ioases;
using IommuActors.Uapi.Structs;
using Xunit;
using Errno = IommuActors.Uapi.Errno;

namespace IommuActors.Fd.Tests.Ioases;

public sealed class IoasRulesTests
{
    private const uint RW = IoasMapFlags.Readable | IoasMapFlags.Writeable;

    [Fact]
    public void Map_checks_flags_then_overflow_then_permission()
    {
        Assert.Equal(0, IoasRules.MapFlagsErrno(RW | IoasMapFlags.FixedIova, 0, 0x1000, 0x1000));
        Assert.Equal(Errno.EOPNOTSUPP, IoasRules.MapFlagsErrno(1u << 3, 0, ulong.MaxValue, 0));
        Assert.Equal(Errno.EOPNOTSUPP, IoasRules.MapFlagsErrno(RW, 1, 0, 0x1000));
        Assert.Equal(Errno.EOVERFLOW, IoasRules.MapFlagsErrno(0, 0, ulong.MaxValue, 0x1000));
        Assert.Equal(Errno.EOVERFLOW, IoasRules.MapFlagsErrno(RW, 0, 0, ulong.MaxValue));
        Assert.Equal(Errno.EINVAL, IoasRules.MapFlagsErrno(IoasMapFlags.FixedIova, 0, 0, 0x1000));
        Assert.Equal(Protection.Read, IoasRules.ProtectionOf(IoasMapFlags.Readable));
        Assert.Equal(Protection.Read | Protection.Write, IoasRules.ProtectionOf(RW));
        Assert.True(IoasRules.FixedIova(IoasMapFlags.FixedIova));
        Assert.False(IoasRules.FixedIova(RW));
    }

    private static byte[] Ranges(params (ulong Start, ulong Last)[] ranges)
    {
        var bytes = new byte[ranges.Length * 16];
        for (var i = 0; i < ranges.Length; i++)
            new IommuIovaRange(ranges[i].Start, ranges[i].Last).Write(bytes.AsSpan(i * 16));
        return bytes;
    }

    [Fact]
    public void Allowed_IOVAs_are_ranges_of_more_than_a_byte_that_do_not_overlap()
    {
        var (errno, ranges) = IoasRules.AllowedIovas(Ranges((0x1000, 0x1fff), (0x4000, 0x4001)), 2);
        Assert.Equal(0, errno);
        Assert.Equal([new IoasProtocol.IovaSpan(0x1000, 0x1fff), new IoasProtocol.IovaSpan(0x4000, 0x4001)], ranges);
        Assert.Equal(Errno.EINVAL, IoasRules.AllowedIovas(Ranges((0x1000, 0x1000)), 1).Errno);
        Assert.Equal(Errno.EINVAL, IoasRules.AllowedIovas(Ranges((0x2000, 0x1000)), 1).Errno);
        Assert.Equal(Errno.EINVAL, IoasRules.AllowedIovas(Ranges((0x1000, 0x1fff), (0x1fff, 0x3000)), 2).Errno);
        Assert.Equal((0, 0), (IoasRules.AllowedIovas([], 0).Errno, IoasRules.AllowedIovas([], 0).Ranges.Count));
    }

    [Fact]
    public void IOVA_ranges_copy_what_fits_and_EMSGSIZE_when_not_all_fit()
    {
        IoasProtocol.IovaSpan[] ranges = [new(0, 0xfff), new(0x10000, ulong.MaxValue)];
        var (array, errno) = IoasRules.IovaRanges(ranges, 2);
        Assert.Equal((32, 0), (array.Length, errno));
        Assert.Equal(new IommuIovaRange(0x10000, ulong.MaxValue), IommuIovaRange.Read(array.AsSpan(16)));
        (array, errno) = IoasRules.IovaRanges(ranges, 1);
        Assert.Equal((16, Errno.EMSGSIZE), (array.Length, errno));
        (array, errno) = IoasRules.IovaRanges(ranges, 0);
        Assert.Equal((0, Errno.EMSGSIZE), (array.Length, errno));
        Assert.Equal(0, IoasRules.IovaRanges(ranges, 5).Errno);
    }

    [Fact]
    public void The_rlimit_mode_needs_the_capability_an_empty_table_and_0_or_1()
    {
        Assert.Equal(0, IoasRules.RlimitSetErrno(true, 0, 1));
        Assert.Equal(Errno.EPERM, IoasRules.RlimitSetErrno(false, 1, 2));
        Assert.Equal(Errno.EBUSY, IoasRules.RlimitSetErrno(true, 1, 2));
        Assert.Equal(Errno.EINVAL, IoasRules.RlimitSetErrno(true, 0, 2));
    }
}
