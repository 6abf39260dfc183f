using IommuActors.Uapi;
using IommuActors.Uapi.Structs;
using Xunit;

namespace IommuActors.Fd.Tests.TestOps;

/// <summary>
/// PASID_ATTACH, PASID_REPLACE, PASID_DETACH and PASID_CHECK_HWPT on a mock device made with
/// DEVICE_PASID, whose RID sits on a PASID-capable HWPT as the kernel's PASID tests arrange it.
/// </summary>
public sealed class TestOpMockPasidSpecs : TestOpSpec
{
    private readonly uint _ioas;
    private readonly (uint Stdev, uint Hwpt, uint Idev) _mock;
    private readonly uint _pasidHwpt;

    public TestOpMockPasidSpecs()
    {
        _ioas = NewIoas();
        _mock = MockDomain(_ioas, Selftest.DevicePasid);
        _pasidHwpt = AllocHwpt(_mock.Idev, _ioas, HwptAllocFlags.Pasid);
        Assert.Equal(0, Test(ReplaceCmd(_mock.Stdev, _pasidHwpt)).Errno);
    }

    private static IommuTestCmd PasidCmd(TestOp op, uint stdev, uint pasid, uint ptId) =>
        IommuTestCmd.Create(op, stdev).WithU32(TestCmdLayout.PasidAttach.Pasid, pasid).WithU32(TestCmdLayout.PasidAttach.PtId, ptId);

    private int Attach(uint pasid, uint ptId) => Test(PasidCmd(TestOp.PasidAttach, _mock.Stdev, pasid, ptId)).Errno;

    private int Replace(uint pasid, uint ptId) => Test(PasidCmd(TestOp.PasidReplace, _mock.Stdev, pasid, ptId)).Errno;

    private int Detach(uint pasid) => Test(IommuTestCmd.Create(TestOp.PasidDetach, _mock.Stdev).WithU32(TestCmdLayout.PasidDetach.Pasid, pasid)).Errno;

    private int Check(uint pasid, uint hwpt) =>
        Test(IommuTestCmd.Create(TestOp.PasidCheckHwpt, _mock.Stdev).WithU32(TestCmdLayout.PasidCheck.Pasid, pasid)
            .WithU32(TestCmdLayout.PasidCheck.HwptId, hwpt)).Errno;

    [Fact]
    public void PASID_ATTACH_answers_the_HWPT_in_pt_id_and_PASID_CHECK_HWPT_sees_it_until_PASID_DETACH()
    {
        var done = Test(PasidCmd(TestOp.PasidAttach, _mock.Stdev, 100, _pasidHwpt));
        Assert.Equal(UserStruct.Encode(PasidCmd(TestOp.PasidAttach, _mock.Stdev, 100, _pasidHwpt)), done.Writeback);
        Assert.Equal(0, Check(100, _pasidHwpt));
        Assert.Equal(Errno.EINVAL, Check(100, 0));
        Assert.Equal(0, Check(101, 0));
        Assert.Equal(Errno.EBUSY, Destroy(_pasidHwpt));

        Assert.Equal(0, Detach(100));
        Assert.Equal(0, Check(100, 0));
        Assert.Equal(Errno.EINVAL, Check(100, _pasidHwpt));
        Assert.Equal(0, Detach(100));
    }

    [Fact]
    public void PASID_ATTACH_of_an_attached_PASID_is_EBUSY_and_PASID_REPLACE_of_one_that_is_not_EINVAL()
    {
        Assert.Equal(Errno.EINVAL, Replace(200, _pasidHwpt));
        Assert.Equal(0, Attach(200, _pasidHwpt));
        Assert.Equal(Errno.EBUSY, Attach(200, _pasidHwpt));

        var other = AllocHwpt(_mock.Idev, _ioas, HwptAllocFlags.Pasid);
        Assert.Equal(0, Replace(200, other));
        Assert.Equal(0, Check(200, other));
        Assert.Equal(0, Replace(200, other));
    }

    [Fact]
    public void PASID_ATTACH_and_REPLACE_to_the_IOAS_are_EINVAL_and_the_PASID_keeps_its_HWPT()
    {
        // An automatic HWPT is allocated without ALLOC_PASID: it takes no PASID, existing or new.
        Assert.Equal(Errno.EINVAL, Attach(300, _ioas));
        Assert.Equal(0, Check(300, 0));

        var parent = AllocHwpt(_mock.Idev, _ioas, HwptAllocFlags.NestParent | HwptAllocFlags.Pasid);
        var nested = AllocNested(_mock.Idev, parent, Selftest.IotlbDefault, HwptAllocFlags.Pasid);
        Assert.Equal(0, Attach(300, nested));
        Assert.Equal(Errno.EINVAL, Replace(300, _ioas));
        Assert.Equal(0, Check(300, nested));
        Assert.Equal(0, Replace(300, _pasidHwpt));
        Assert.Equal(0, Check(300, _pasidHwpt));
    }

    [Fact]
    public void With_a_PASID_attached_the_RID_cannot_go_to_the_IOAS_and_stays_on_its_HWPT()
    {
        Assert.Equal(0, Attach(310, _pasidHwpt));
        Assert.Equal(Errno.EINVAL, Test(ReplaceCmd(_mock.Stdev, _ioas)).Errno);

        Assert.Equal(0, Detach(310));
        Assert.Equal(0, Test(ReplaceCmd(_mock.Stdev, _ioas)).Errno);
    }

    [Fact]
    public void A_HWPT_allocated_without_ALLOC_PASID_takes_no_PASID_and_a_device_without_DEVICE_PASID_none_at_all()
    {
        var plain = AllocHwpt(_mock.Idev, _ioas);
        Assert.Equal(Errno.EINVAL, Attach(400, plain));
        Assert.Equal(0, Check(400, 0));

        var noPasid = MockDomain(_ioas);
        Assert.Equal(Errno.EINVAL, Test(PasidCmd(TestOp.PasidAttach, noPasid.Stdev, 400, _pasidHwpt)).Errno);
        Assert.Equal(Errno.EINVAL, Attach(1u << 20, _pasidHwpt));
    }

    [Fact]
    public void PASID_1024_fails_every_second_attach_with_ENOMEM_and_the_old_attachment_stays()
    {
        var other = AllocHwpt(_mock.Idev, _ioas, HwptAllocFlags.Pasid);
        Assert.Equal(0, Attach(Selftest.PasidReserved, _pasidHwpt));
        Assert.Equal(Errno.ENOMEM, Replace(Selftest.PasidReserved, other));
        Assert.Equal(0, Check(Selftest.PasidReserved, _pasidHwpt));
        Assert.Equal(0, Replace(Selftest.PasidReserved, other));
        Assert.Equal(0, Check(Selftest.PasidReserved, other));

        // A detach resets it: the next attach succeeds.
        Assert.Equal(0, Detach(Selftest.PasidReserved));
        Assert.Equal(0, Attach(Selftest.PasidReserved, other));
    }

    [Fact]
    public void The_PASID_ops_want_a_stdev_and_PASID_CHECK_HWPT_a_page_table()
    {
        Assert.Equal(Errno.ENOENT, Test(PasidCmd(TestOp.PasidAttach, _mock.Idev, 100, _pasidHwpt)).Errno);
        Assert.Equal(Errno.ENOENT, Test(PasidCmd(TestOp.PasidReplace, 99, 100, _pasidHwpt)).Errno);
        Assert.Equal(Errno.ENOENT, Test(IommuTestCmd.Create(TestOp.PasidDetach, _ioas)).Errno);
        Assert.Equal(Errno.ENOENT, Test(IommuTestCmd.Create(TestOp.PasidCheckHwpt, _mock.Idev)).Errno);
        Assert.Equal(Errno.ENOENT, Check(100, 99));
        Assert.Equal(Errno.EINVAL, Check(100, _ioas));
    }

    [Fact]
    public void Destroying_the_stdev_detaches_its_PASIDs_too()
    {
        Assert.Equal(0, Attach(500, _pasidHwpt));
        Assert.Equal(0, Destroy(_mock.Stdev));
        Assert.Equal(0, Destroy(_pasidHwpt));
    }
}
