using FsCheck.Xunit;
using IommuActors.Uapi.Structs;
using Xunit;

namespace IommuActors.Uapi.Tests.Structs;

public sealed class SizeRuleSpecs
{
    private static byte[] UserBytes(uint size, int length)
    {
        var b = new byte[length];
        BitConverter.TryWriteBytes(b, size);
        return b;
    }

    [Fact]
    public void A_size_below_the_minimum_fails_with_EINVAL()
    {
        var rc = UserStruct.TryDecode<IommuHwptAlloc>(UserBytes(20, 20), out var v, out _);
        Assert.Equal(Errno.EINVAL, rc);
        Assert.Null(v);
    }

    [Fact]
    public void Fewer_than_four_bytes_cannot_hold_the_size_and_fail_with_EFAULT() =>
        Assert.Equal(Errno.EFAULT, UserStruct.TryDecode<IommuDestroy>(new byte[3], out _, out _));

    [Fact]
    public void A_declared_size_larger_than_the_bytes_given_fails_with_EFAULT() =>
        Assert.Equal(Errno.EFAULT, UserStruct.TryDecode<IommuDestroy>(UserBytes(16, 8), out _, out _));

    [Fact]
    public void A_non_zero_byte_beyond_the_known_size_fails_with_E2BIG()
    {
        var user = UserBytes(56, 56);
        user[55] = 1;
        Assert.Equal(Errno.E2BIG, UserStruct.TryDecode<IommuHwptAlloc>(user, out _, out _));
    }

    [Fact]
    public void A_zero_tail_beyond_the_known_size_is_accepted_and_the_caller_size_kept()
    {
        var user = UserBytes(64, 64);
        user[8] = 7;
        var rc = UserStruct.TryDecode<IommuHwptAlloc>(user, out var v, out var callerSize);
        Assert.Equal(0, rc);
        Assert.Equal(7u, v!.DevId);
        Assert.Equal(64u, callerSize);
    }

    [Fact]
    public void An_older_caller_at_the_minimum_size_reads_the_newer_fields_as_zero()
    {
        var user = UserBytes(24, 24);
        user[4] = 1;
        var rc = UserStruct.TryDecode<IommuHwptAlloc>(user, out var v, out _);
        Assert.Equal(0, rc);
        Assert.Equal(new IommuHwptAlloc(24, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0), v);
    }

    [Fact]
    public void Copy_back_to_an_older_caller_stops_at_the_caller_size()
    {
        var back = UserStruct.CopyBack(new IommuHwptAlloc(24, 0, 1, 2, 9, 0, 0, 0, 0, 0xAAAA, 0), 24);
        Assert.Equal(24, back.Length);
        Assert.Equal(9u, BitConverter.ToUInt32(back, 16));
    }

    [Fact]
    public void Copy_back_to_a_newer_caller_stops_at_the_known_size()
    {
        var back = UserStruct.CopyBack(new IommuIoasAlloc(32, 0, 5), 32);
        Assert.Equal(12, back.Length);
        Assert.Equal(5u, BitConverter.ToUInt32(back, 8));
    }

    [Fact]
    public void Vfio_argsz_below_the_minimum_fails_with_EINVAL_and_a_non_zero_tail_is_ignored()
    {
        Assert.Equal(Errno.EINVAL, UserStruct.TryDecodeArgsz<VfioIommuType1Info>(UserBytes(12, 12), out _, out _));
        // argsz 1: the inline is that one byte, and the kernel says EINVAL, not EFAULT.
        Assert.Equal(Errno.EINVAL, UserStruct.TryDecodeArgsz<VfioIommuType1DmaMap>([1], out _, out _));
        Assert.Equal(Errno.EINVAL, UserStruct.TryDecodeArgsz<VfioIommuType1DmaUnmap>([], out _, out _));
        var user = UserBytes(40, 40);
        user[39] = 0xff;
        user[8] = 0x10;
        Assert.Equal(0, UserStruct.TryDecodeArgsz<VfioIommuType1Info>(user, out var info, out var argsz));
        Assert.Equal((40u, 0x10ul), (argsz, info!.IovaPgsizes));
    }

    [Property]
    public bool Acceptance_follows_the_three_rules(ushort declared, byte tailByte, byte tailAt)
    {
        const int min = 24, full = 48;
        var size = (uint)(declared % 96);
        var user = UserBytes(size, Math.Max(4, (int)size));
        var tailIndex = full + tailAt % 48;
        if (tailIndex < user.Length) user[tailIndex] = tailByte;
        var rc = UserStruct.Accept(user, min, full, out var known, out _);
        var expected = size < min ? Errno.EINVAL
            : size > full && user.AsSpan(full).ContainsAnyExcept((byte)0) ? Errno.E2BIG : 0;
        return rc == expected && (rc != 0 || known.Length == full);
    }
}
