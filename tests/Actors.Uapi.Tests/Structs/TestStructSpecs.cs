using IommuActors.Uapi.Structs;
using Xunit;

namespace IommuActors.Uapi.Tests.Structs;

public sealed class TestStructSpecs
{
    [Fact]
    public void The_test_command_is_72_bytes_and_the_kernel_asks_for_the_68_up_to_the_end_of_last()
    {
        Assert.Equal(68, UserStruct.MinSizeOf<IommuTestCmd>());
        Assert.Equal(72, UserStruct.SizeOf<IommuTestCmd>());
        Assert.Equal(64, IommuTestCmd.LastOffset);
    }

    [Fact]
    public void Test_ops_are_numbered_from_one_in_the_kernels_order()
    {
        Assert.Equal(1u, (uint)TestOp.AddReserved);
        Assert.Equal(12u, (uint)TestOp.MockDomainFlags);
        Assert.Equal(15u, (uint)TestOp.TriggerIopf);
        Assert.Equal(21u, (uint)TestOp.PasidCheckHwpt);
        Assert.Equal(21, Enum.GetValues<TestOp>().Length);
    }

    [Fact]
    public void Each_field_lands_at_the_offset_the_kernels_layout_gives_it()
    {
        // The largest view (dirty) fills the union: flags, pad, then five aligned u64 up to byte 64.
        var dirty = IommuTestCmd.Create(TestOp.Dirty, 7)
            .WithU32(TestCmdLayout.Dirty.Flags, 0x11)
            .WithU64(TestCmdLayout.Dirty.Iova, 0x0102030405060708)
            .WithU64(TestCmdLayout.Dirty.OutNrDirty, 0xa1a2a3a4a5a6a7a8);
        var bytes = new byte[72];
        dirty.Write(bytes);

        Assert.Equal([72, 0, 0, 0, 13, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 0x11, 0, 0, 0, 0, 0, 0, 0], bytes[..24]);
        Assert.Equal([8, 7, 6, 5, 4, 3, 2, 1], bytes[24..32]);
        Assert.Equal([0xa8, 0xa7, 0xa6, 0xa5, 0xa4, 0xa3, 0xa2, 0xa1], bytes[56..64]);
        Assert.Equal(64, TestCmdLayout.Dirty.OutNrDirty + 8);
        Assert.Equal(32, TestCmdLayout.TriggerIopf.Addr);
        Assert.Equal(40, TestCmdLayout.AccessPages.Uptr);
        Assert.Equal(40, TestCmdLayout.AccessRw.Flags);
        Assert.Equal(32, TestCmdLayout.CheckRefs.Refs);
    }

    [Fact]
    public void A_test_command_round_trips_and_compares_by_its_bytes()
    {
        var cmd = IommuTestCmd.Create(TestOp.MockDomainFlags, 3).WithU32(TestCmdLayout.MockDomain.DevFlags, Selftest.DevicePasid);
        var bytes = new byte[72];
        cmd.Write(bytes);
        var back = IommuTestCmd.Read(bytes);

        Assert.Equal(cmd, back);
        Assert.Equal(Selftest.DevicePasid, back.U32(TestCmdLayout.MockDomain.DevFlags));
        Assert.NotEqual(cmd, back.WithU32(TestCmdLayout.MockDomain.OutHwptId, 1));
    }

    [Fact]
    public void An_older_caller_that_stops_at_last_is_accepted_and_one_shorter_is_EINVAL()
    {
        var bytes = new byte[72];
        IommuTestCmd.Create(TestOp.AddReserved, 1).Write(bytes);
        bytes[0] = 68;
        Assert.Equal(0, UserStruct.Accept(bytes.AsSpan(0, 68), IommuTestCmd.MinSize, 72, out _, out _));
        bytes[0] = 64;
        Assert.Equal(Errno.EINVAL, UserStruct.Accept(bytes.AsSpan(0, 64), IommuTestCmd.MinSize, 72, out _, out _));
    }
}
