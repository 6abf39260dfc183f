using Akka.TestKit.Xunit2;
using IommuActors.Fd.Devices;
using IommuActors.TestSupport;
using IommuActors.Uapi;
using Xunit;
using static IommuActors.Fd.Devices.DmaOwnershipProtocol;

namespace IommuActors.Fd.Tests.Devices;

/// <summary>
/// Issue 17 point 1: a bind refused because another session holds the device (or its group) is one
/// warning naming both sessions and the holder's files, and the refusal tells the binder who holds it.
/// </summary>
public sealed class DmaOwnershipSpecs() : TestKit(SpecConfig.InMemory)
{
    private const string Held = "0000:00:02.0";

    [Fact]
    public void A_bind_of_a_device_another_session_holds_is_EINVAL_with_one_warning_naming_the_holder_session()
    {
        var ownership = Sys.ActorOf(DmaOwnershipActor.Props());
        ownership.Tell(new ClaimDevice(Held, "dmar0/1", "00000000000000aa-2", "00000000000000aa-1"), TestActor);
        Assert.Equal(new OwnershipResult(Held, 0), ExpectMsg<OwnershipResult>());

        EventFilter.Warning(
            "VFIO_DEVICE_BIND_IOMMUFD of 0000:00:02.0 by session 00000000000000bb (device file 00000000000000bb-2, iommufd 00000000000000bb-1) " +
            "refused with EINVAL: the device is held by session 00000000000000aa (device file 00000000000000aa-2, iommufd 00000000000000aa-1)")
            .ExpectOne(() => ownership.Tell(new ClaimDevice(Held, "dmar0/1", "00000000000000bb-2", "00000000000000bb-1"), TestActor));

        Assert.Equal(new OwnershipResult(Held, Errno.EINVAL,
            "the device is held by session 00000000000000aa (device file 00000000000000aa-2, iommufd 00000000000000aa-1)"), ExpectMsg<OwnershipResult>());
    }

    [Fact]
    public void A_bind_into_a_group_another_context_holds_is_EBUSY_naming_the_device_it_holds_the_group_through()
    {
        var ownership = Sys.ActorOf(DmaOwnershipActor.Props());
        ownership.Tell(new ClaimDevice(Held, "dmar0/1", "00000000000000aa-2", "00000000000000aa-1"), TestActor);
        ExpectMsg<OwnershipResult>();

        EventFilter.Warning(contains: "refused with EBUSY: its IOMMU group (through 0000:00:02.0) is held by session 00000000000000aa")
            .ExpectOne(() => ownership.Tell(new ClaimDevice("0000:00:02.1", "dmar0/1", "00000000000000bb-2", "00000000000000bb-1"), TestActor));

        Assert.Equal(Errno.EBUSY, ExpectMsg<OwnershipResult>().Errno);
    }

    [Fact]
    public void The_same_files_claiming_again_is_no_refusal()
    {
        var ownership = Sys.ActorOf(DmaOwnershipActor.Props());
        ownership.Tell(new ClaimDevice(Held, "dmar0/1", "00000000000000aa-2", "00000000000000aa-1"), TestActor);
        ExpectMsg<OwnershipResult>();
        EventFilter.Warning().Expect(0, () => ownership.Tell(new ClaimDevice(Held, "dmar0/1", "00000000000000aa-2", "00000000000000aa-1"), TestActor));
        Assert.Equal(new OwnershipResult(Held, 0), ExpectMsg<OwnershipResult>());
    }
}
