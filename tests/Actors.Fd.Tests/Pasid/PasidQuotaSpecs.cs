using Akka.Actor;
using Akka.TestKit.Xunit2;
using IommuActors.Fd.Pasid;
using IommuActors.Ioasid.Pasid;
using IommuActors.Notifier.Bus;
using IommuActors.TestSupport;
using IommuActors.Uapi;
using IommuActors.Uapi.Structs;
using Xunit;
using static IommuActors.Fd.Files.FileProtocol;

namespace IommuActors.Fd.Tests.Pasid;

/// <summary>PASID_SET_QUOTA (0xE107) driven with raw struct bytes against a real set: raise, lower, refuse below use.</summary>
public sealed class PasidQuotaSpecs() : TestKit(SpecConfig.InMemory)
{
    private const string File = "vmq";
    private long _tag;

    private IActorRef Boot(int quota)
    {
        var bus = Sys.ActorOf(NotifierBus.Props(TimeSpan.FromSeconds(3), CreateTestProbe().Ref));
        var space = Sys.ActorOf(PasidSpaceActor.Props("quota", 100, 199, 100));
        var set = Sys.ActorOf(PasidSetActor.Props(PasidExtensionActor.SetKeyOf(File), quota, space, bus));
        return Sys.ActorOf(PasidExtensionActor.Props(File, set, bus));
    }

    private IoctlDone Call<T>(IActorRef extension, uint request, T cmd) where T : IUapiStruct<T>
    {
        var tag = ++_tag;
        extension.Tell(new Ioctl(File, tag, request, 0x1000, UserStruct.Encode(cmd), TestActor));
        var done = ExpectMsg<IoctlDone>();
        Assert.Equal(tag, done.Tag);
        return done;
    }

    private uint Alloc(IActorRef extension)
    {
        var done = Call(extension, EmulatorIoctls.PASID_ALLOC, new EmuPasidAlloc(12, 0, 0));
        Assert.Equal(0, done.Errno);
        return EmuPasidAlloc.Read(done.Writeback).OutPasid;
    }

    [Fact]
    public void Raising_the_quota_lets_the_VM_allocate_past_the_old_one_and_answers_the_use()
    {
        var extension = Boot(quota: 1);
        Alloc(extension);
        Assert.Equal(Errno.EDQUOT, Call(extension, EmulatorIoctls.PASID_ALLOC, new EmuPasidAlloc(12, 0, 0)).Errno);

        var raised = Call(extension, EmulatorIoctls.PASID_SET_QUOTA, new EmuPasidSetQuota(16, 0, 2, 0));
        Assert.Equal(0, raised.Errno);
        Assert.Equal(new EmuPasidSetQuota(16, 0, 2, 1), EmuPasidSetQuota.Read(raised.Writeback));
        Alloc(extension);
        var info = Call(extension, EmulatorIoctls.PASID_SET_INFO, new EmuPasidSetInfo(16, 0, 0, 0));
        Assert.Equal(new EmuPasidSetInfo(16, 0, 2, 2), EmuPasidSetInfo.Read(info.Writeback));
    }

    [Fact]
    public void Lowering_below_the_use_or_to_zero_is_EINVAL_with_nothing_copied_back_and_the_quota_unchanged()
    {
        var extension = Boot(quota: 4);
        Alloc(extension);
        var freed = Alloc(extension);
        Assert.Equal(0, Call(extension, EmulatorIoctls.PASID_FREE, new EmuPasidFree(8, freed)).Errno);
        Alloc(extension);
        // The freed PASID counts until the VM's KVM and VDCM acknowledged its FREE and it was reclaimed.
        AwaitAssert(() =>
        {
            var held = Call(extension, EmulatorIoctls.PASID_SET_INFO, new EmuPasidSetInfo(16, 0, 0, 0));
            Assert.Equal(2u, EmuPasidSetInfo.Read(held.Writeback).OutUsed);
        });

        var below = Call(extension, EmulatorIoctls.PASID_SET_QUOTA, new EmuPasidSetQuota(16, 0, 1, 0));
        Assert.Equal(Errno.EINVAL, below.Errno);
        Assert.Empty(below.Writeback);
        Assert.Equal(Errno.EINVAL, Call(extension, EmulatorIoctls.PASID_SET_QUOTA, new EmuPasidSetQuota(16, 0, 0, 0)).Errno);
        Assert.Equal(Errno.EINVAL, Call(extension, EmulatorIoctls.PASID_SET_QUOTA, new EmuPasidSetQuota(16, 0, 1u << 20, 0)).Errno);
        var info = Call(extension, EmulatorIoctls.PASID_SET_INFO, new EmuPasidSetInfo(16, 0, 0, 0));
        Assert.Equal(new EmuPasidSetInfo(16, 0, 4, 2), EmuPasidSetInfo.Read(info.Writeback));

        // Down to exactly the use is allowed: the VM keeps its PASIDs and gets no new one.
        var exact = Call(extension, EmulatorIoctls.PASID_SET_QUOTA, new EmuPasidSetQuota(16, 0, 2, 0));
        Assert.Equal(new EmuPasidSetQuota(16, 0, 2, 2), EmuPasidSetQuota.Read(exact.Writeback));
        Assert.Equal(Errno.EDQUOT, Call(extension, EmulatorIoctls.PASID_ALLOC, new EmuPasidAlloc(12, 0, 0)).Errno);
    }

    [Fact]
    public void Unknown_flags_are_EOPNOTSUPP_and_a_short_struct_EINVAL()
    {
        var extension = Boot(quota: 4);
        Assert.Equal(Errno.EOPNOTSUPP, Call(extension, EmulatorIoctls.PASID_SET_QUOTA, new EmuPasidSetQuota(16, 1, 8, 0)).Errno);
        extension.Tell(new Ioctl(File, 99, EmulatorIoctls.PASID_SET_QUOTA, 0x1000, [12, 0, 0, 0, 0, 0, 0, 0, 8, 0, 0, 0], TestActor));
        ExpectMsg(new IoctlDone(File, 99, Errno.EINVAL, 0, []));
    }
}
