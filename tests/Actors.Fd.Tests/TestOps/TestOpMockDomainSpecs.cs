using IommuActors.Fd.Objects;
using IommuActors.Uapi;
using IommuActors.Uapi.Structs;
using Xunit;
using U = IommuActors.Hardware.Units.UnitProtocol;

namespace IommuActors.Fd.Tests.TestOps;

/// <summary>
/// MOCK_DOMAIN, MOCK_DOMAIN_FLAGS and MOCK_DOMAIN_REPLACE: a mock device hot-plugged behind the
/// mock unit, bound and attached; the SELFTEST object that stands for it, and its destruction.
/// </summary>
public sealed class TestOpMockDomainSpecs : TestOpSpec
{
    [Fact]
    public void MOCK_DOMAIN_on_an_IOAS_answers_the_stdev_then_the_DEVICE_then_the_automatic_HWPT_in_the_kernels_layout()
    {
        var ioas = NewIoas();
        var done = Test(MockDomainCmd(ioas));
        Assert.Equal(0, done.Errno);
        var expected = MockDomainCmd(ioas)
            .WithU32(TestCmdLayout.MockDomain.OutStdevId, ioas + 1)
            .WithU32(TestCmdLayout.MockDomain.OutIdevId, ioas + 2)
            .WithU32(TestCmdLayout.MockDomain.OutHwptId, ioas + 3);
        Assert.Equal(UserStruct.Encode(expected), done.Writeback);

        Assert.Equal((ObjectKind.Selftest, ObjectKind.Device, ObjectKind.HwptPaging),
            (ObjectOf(ioas + 1).Kind, ObjectOf(ioas + 2).Kind, ObjectOf(ioas + 3).Kind));
        Assert.Equal([new IommuActors.Fd.Context.IntrospectProtocol.ObjectAttachment(-1, ioas + 3)], ObjectOf(ioas + 2).Attachments.ToArray());
        Assert.Equal(MockUnit, ObjectOf(ioas + 3).Unit);
    }

    [Fact]
    public void A_second_mock_device_on_the_IOAS_shares_its_automatic_HWPT_and_one_on_a_HWPT_answers_that_HWPT()
    {
        var ioas = NewIoas();
        var first = MockDomain(ioas);
        var second = MockDomain(ioas);
        Assert.Equal(first.Hwpt, second.Hwpt);
        Assert.NotEqual(ObjectOf(first.Stdev).Pci, ObjectOf(second.Stdev).Pci);

        var manual = AllocHwpt(first.Idev, ioas);
        var third = MockDomain(manual);
        Assert.Equal(manual, third.Hwpt);
        Assert.Equal(Errno.EBUSY, Destroy(manual));
    }

    [Fact]
    public void MOCK_DOMAIN_on_an_ID_that_does_not_exist_is_ENOENT_on_one_that_is_no_page_table_EINVAL_and_neither_leaves_anything()
    {
        var ioas = NewIoas();
        Assert.Equal(Errno.ENOENT, Test(MockDomainCmd(ioas + 40)).Errno);
        var first = MockDomain(ioas);
        Assert.Equal(Errno.EINVAL, Test(MockDomainCmd(first.Stdev)).Errno);

        // The IDs the failures took are free again and their devices left the unit (a device is
        // named by the key its stdev got: the context's file id and its object counter).
        var next = MockDomain(ioas);
        Assert.Equal((first.Hwpt + 1, first.Hwpt + 2, first.Hwpt), (next.Stdev, next.Idev, next.Hwpt));
        Assert.Equal($"iommufd_mock/{Ctx}.mock4", ObjectOf(first.Stdev).Pci);
        Assert.Equal(new U.Failed(MockUnit, Errno.ENOENT), UnplugFromUnit($"iommufd_mock/{Ctx}.mock2"));
        Assert.Equal(new U.Failed(MockUnit, Errno.EBUSY), UnplugFromUnit(ObjectOf(next.Stdev).Pci));
    }

    [Fact]
    public void MOCK_DOMAIN_FLAGS_with_a_flag_the_mock_driver_does_not_know_is_EINVAL_and_MOCK_DOMAIN_ignores_dev_flags()
    {
        var ioas = NewIoas();
        Assert.Equal(Errno.EINVAL, Test(MockDomainCmd(ioas, 1u << 3)).Errno);
        var plain = IommuTestCmd.Create(TestOp.MockDomain, ioas).WithU32(TestCmdLayout.MockDomain.DevFlags, 0xff);
        Assert.Equal(0, Test(plain).Errno);
        var flagged = MockDomain(ioas, Selftest.DeviceNoDirty | Selftest.DeviceHugeIova | Selftest.DevicePasid);
        Assert.Equal(ObjectKind.Selftest, ObjectOf(flagged.Stdev).Kind);
    }

    [Fact]
    public void The_stdev_is_destroyed_with_IOMMU_DESTROY_taking_the_DEVICE_its_automatic_HWPT_and_the_device_with_it()
    {
        var ioas = NewIoas();
        var mock = MockDomain(ioas);
        var pci = ObjectOf(mock.Stdev).Pci;
        Assert.Equal(Errno.EBUSY, Destroy(mock.Idev));
        Assert.Equal(Errno.EBUSY, Destroy(mock.Hwpt));
        Assert.Equal(Errno.EBUSY, Destroy(ioas));

        Assert.Equal(0, Destroy(mock.Stdev));
        Assert.Equal(Errno.ENOENT, Destroy(mock.Idev));
        Assert.Equal(Errno.ENOENT, Destroy(mock.Hwpt));
        Assert.Equal(Errno.ENOENT, Destroy(mock.Stdev));
        Assert.Equal(new U.Failed(MockUnit, Errno.ENOENT), UnplugFromUnit(pci));
        Assert.Equal(0, Destroy(ioas));
    }

    [Fact]
    public void Closing_the_iommufd_unplugs_its_mock_devices_from_the_unit()
    {
        var ioas = NewIoas();
        var pci = ObjectOf(MockDomain(ioas).Stdev).Pci;
        Release(Ctx);
        Assert.Equal(new U.Failed(MockUnit, Errno.ENOENT), UnplugFromUnit(pci));
    }

    [Fact]
    public void A_NO_DIRTY_device_reports_no_dirty_tracking_cannot_allocate_a_tracking_HWPT_nor_attach_to_one()
    {
        var ioas = NewIoas();
        var plain = MockDomain(ioas);
        var noDirty = MockDomain(ioas, Selftest.DeviceNoDirty);
        ulong Caps(uint idev) => Back<IommuHwInfo>(Ioctl(Ctx, Ioctls.IOMMU_GET_HW_INFO, new IommuHwInfo(40, 0, idev, 0, 0, 0, 0, 0))).OutCapabilities;
        Assert.Equal(HwInfo.CapDirtyTracking, Caps(plain.Idev) & HwInfo.CapDirtyTracking);
        Assert.Equal(0ul, Caps(noDirty.Idev) & HwInfo.CapDirtyTracking);

        Assert.Equal(Errno.EOPNOTSUPP, Ioctl(Ctx, Ioctls.IOMMU_HWPT_ALLOC,
            new IommuHwptAlloc(44, HwptAllocFlags.DirtyTracking, noDirty.Idev, ioas, 0, 0, 0, 0, 0, 0, 0)).Errno);
        var tracking = AllocHwpt(plain.Idev, ioas, HwptAllocFlags.DirtyTracking);
        Assert.Equal(Errno.EINVAL, Test(MockDomainCmd(tracking, Selftest.DeviceNoDirty)).Errno);
        Assert.Equal(Errno.EINVAL, Test(ReplaceCmd(noDirty.Stdev, tracking)).Errno);
        Assert.Equal(tracking, MockDomain(tracking).Hwpt);
    }

    [Fact]
    public void A_device_made_with_DEVICE_PASID_reports_the_mock_PASID_width_and_one_without_none()
    {
        var ioas = NewIoas();
        byte Width(uint idev) => Back<IommuHwInfo>(Ioctl(Ctx, Ioctls.IOMMU_GET_HW_INFO, new IommuHwInfo(40, 0, idev, 0, 0, 0, 0, 0))).OutMaxPasidLog2;
        Assert.Equal((byte)Selftest.MockPasidWidth, Width(MockDomain(ioas, Selftest.DevicePasid).Idev));
        Assert.Equal((byte)0, Width(MockDomain(ioas).Idev));
    }

    [Fact]
    public void GET_HW_INFO_of_a_mock_device_is_the_selftests_struct_of_8_bytes_with_flags_0_and_test_reg_0xdeadbeef()
    {
        var mock = MockDomain(NewIoas());
        IommuHwInfo Info(uint dataLen) =>
            Back<IommuHwInfo>(Ioctl(Ctx, Ioctls.IOMMU_GET_HW_INFO, new IommuHwInfo(40, 0, mock.Idev, dataLen, Mem + 0x1000, 0, 0, 0)));

        // A buffer larger than the struct: the struct, then zeros; data_len says the kernel's 8.
        Poke(Mem + 0x1000, Enumerable.Repeat((byte)0xaa, 16).ToArray());
        var info = Info(16);
        Assert.Equal((Selftest.HwInfoType, 8u), (info.OutDataType, info.DataLen));
        Assert.Equal(new IommuTestHwInfo(0, Selftest.HwInfoRegval), IommuTestHwInfo.Read(Peek(Mem + 0x1000, 8)));
        Assert.Equal(new byte[8], Peek(Mem + 0x1008, 8));

        // A shorter one gets what fits (flags) and still learns the length; none at all too.
        Poke(Mem + 0x1000, Enumerable.Repeat((byte)0xaa, 8).ToArray());
        Assert.Equal(8u, Info(4).DataLen);
        Assert.Equal(new byte[] { 0, 0, 0, 0, 0xaa, 0xaa, 0xaa, 0xaa }, Peek(Mem + 0x1000, 8));
        Assert.Equal((Selftest.HwInfoType, 8u), (Info(0).OutDataType, Info(0).DataLen));
    }

    // ---- MOCK_DOMAIN_REPLACE ----

    [Fact]
    public void MOCK_DOMAIN_REPLACE_answers_the_HWPT_now_used_and_the_automatic_HWPT_left_without_devices_is_gone()
    {
        var ioas = NewIoas();
        var mock = MockDomain(ioas);
        var manual = AllocHwpt(mock.Idev, ioas);
        var done = Test(ReplaceCmd(mock.Stdev, manual));
        Assert.Equal(UserStruct.Encode(ReplaceCmd(mock.Stdev, manual)), done.Writeback);
        Assert.Equal(Errno.ENOENT, Destroy(mock.Hwpt));

        // Back to the IOAS: a new automatic HWPT, under the lowest free ID.
        var back = Back<IommuTestCmd>(Test(ReplaceCmd(mock.Stdev, ioas))).U32(TestCmdLayout.MockDomainReplace.PtId);
        Assert.Equal(mock.Hwpt, back);
        Assert.Equal(0, Destroy(manual));
    }

    [Fact]
    public void MOCK_DOMAIN_REPLACE_onto_a_NEST_PARENT_paging_HWPT_attaches_it_like_any_paging_HWPT()
    {
        var ioas = NewIoas();
        var mock = MockDomain(ioas);
        var parent = AllocHwpt(mock.Idev, ioas, HwptAllocFlags.NestParent);
        Assert.Equal(UserStruct.Encode(ReplaceCmd(mock.Stdev, parent)), Test(ReplaceCmd(mock.Stdev, parent)).Writeback);
        Assert.Equal([new IommuActors.Fd.Context.IntrospectProtocol.ObjectAttachment(-1, parent)], ObjectOf(mock.Idev).Attachments.ToArray());
        Assert.Equal(Errno.EBUSY, Destroy(parent));
        Assert.Equal(0, Test(ReplaceCmd(mock.Stdev, ioas)).Errno);
        Assert.Equal(0, Destroy(parent));
    }

    [Fact]
    public void MOCK_DOMAIN_REPLACE_across_IOASes_moves_the_device_and_an_ID_that_is_no_stdev_is_ENOENT()
    {
        var first = NewIoas();
        var second = NewIoas();
        var mock = MockDomain(first);
        var moved = Back<IommuTestCmd>(Test(ReplaceCmd(mock.Stdev, second))).U32(TestCmdLayout.MockDomainReplace.PtId);
        Assert.Equal(0, Destroy(first));
        Assert.Equal(Errno.EBUSY, Destroy(second));
        Assert.Equal(Errno.EBUSY, Destroy(moved));

        Assert.Equal(Errno.ENOENT, Test(ReplaceCmd(mock.Idev, second)).Errno);
        Assert.Equal(Errno.ENOENT, Test(ReplaceCmd(mock.Stdev, 99)).Errno);
    }
}
