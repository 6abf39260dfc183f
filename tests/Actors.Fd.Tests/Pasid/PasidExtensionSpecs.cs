using Akka.Actor;
using Akka.TestKit.Xunit2;
using IommuActors.Fd.Pasid;
using IommuActors.Ioasid.Pasid;
using IommuActors.Notifier.Bus;
using IommuActors.Notifier.Kvm;
using IommuActors.Notifier.Vdcm;
using IommuActors.Notifier.Vm;
using IommuActors.TestSupport;
using IommuActors.Uapi.Structs;
using IommuActors.Uapi;
using Xunit;
using static IommuActors.Fd.Files.FileProtocol;

namespace IommuActors.Fd.Tests.Pasid;

/// <summary>The emulator's PASID ioctls (type 0xE1) driven with raw struct bytes, against a real set, space, bus and subscribers.</summary>
public sealed class PasidExtensionSpecs() : TestKit(SpecConfig.InMemory)
{
    private const string File = "vm1";
    private const int Quota = 4;
    private long _tag;
    private IActorRef? _sets;

    private (IActorRef Extension, IActorRef Space, IActorRef Bus) Boot(int quota = Quota, double ackSeconds = 3)
    {
        var bus = Sys.ActorOf(NotifierBus.Props(TimeSpan.FromSeconds(ackSeconds), CreateTestProbe().Ref));
        var space = Sys.ActorOf(PasidSpaceActor.Props("ext", 100, 199, 100));
        var (extension, set) = BootVm(File, space, bus, quota);
        _sets = set;
        return (extension, space, bus);
    }

    // One VM: its set, the notifier's node actor for its KVM and VDCM, and its extension actor, once both subscribed.
    private (IActorRef Extension, IActorRef Set) BootVm(string file, IActorRef space, IActorRef bus, int quota = Quota)
    {
        var set = Sys.ActorOf(PasidSetActor.Props(PasidExtensionActor.SetKeyOf(file), quota, space, bus));
        var extension = Sys.ActorOf(PasidExtensionActor.Props(file, set, Sys.ActorOf(VmSubscribersActor.Props(set, bus))));
        var key = PasidExtensionActor.SetKeyOf(file);
        AwaitAssert(() =>
        {
            bus.Tell(new NotifierProtocol.GetSubscriptions());
            var names = ExpectMsg<NotifierProtocol.Subscriptions>().Names;
            Assert.Contains(KvmSubscriber.NameOf(key), names);
            Assert.Contains(VdcmSubscriber.NameOf(key), names);
        });
        return (extension, set);
    }

    private IoctlDone Call<T>(IActorRef extension, uint request, T cmd, string file = File) where T : IUapiStruct<T>
    {
        var tag = ++_tag;
        extension.Tell(new Ioctl(file, tag, request, 0x1000, UserStruct.Encode(cmd), TestActor));
        var done = ExpectMsg<IoctlDone>();
        Assert.Equal(tag, done.Tag);
        return done;
    }

    private static T Out<T>(IoctlDone done) where T : IUapiStruct<T> => T.Read(done.Writeback);

    [Fact]
    public void A_guest_PASID_mapped_to_an_allocated_host_PASID_is_translated_by_KVM_and_programmed_by_VDCM()
    {
        var (extension, _, _) = Boot();
        var alloc = Call(extension, EmulatorIoctls.PASID_ALLOC, new EmuPasidAlloc(12, 0, 0));
        Assert.Equal(0, alloc.Errno);
        var host = Out<EmuPasidAlloc>(alloc).OutPasid;
        Assert.InRange(host, 100u, 199u);

        Assert.Equal(0, Call(extension, EmulatorIoctls.PASID_MAP_GUEST, new EmuPasidMapGuest(16, 0, 7, host)).Errno);
        // MAP_GUEST answers once KVM applied the BIND: the very next translation knows it (a guest's ENQCMD right
        // after the bind does not fault).
        var translated = Call(extension, EmulatorIoctls.KVM_TRANSLATE, new EmuKvmTranslate(12, 7, 0));
        Assert.Equal(0, translated.Errno);
        Assert.Equal(new EmuKvmTranslate(12, 7, host), Out<EmuKvmTranslate>(translated));
        var programmed = Call(extension, EmulatorIoctls.VDCM_PROGRAM, new EmuVdcmProgram(16, 0, 7, 0));
        Assert.Equal(0, programmed.Errno);
        Assert.Equal(new EmuVdcmProgram(16, 0, 7, host), Out<EmuVdcmProgram>(programmed));

        var info = Call(extension, EmulatorIoctls.PASID_SET_INFO, new EmuPasidSetInfo(16, 0, 0, 0));
        Assert.Equal(new EmuPasidSetInfo(16, 0, Quota, 1), Out<EmuPasidSetInfo>(info));
    }

    [Fact]
    public void The_set_answers_EDQUOT_past_its_quota_ENOENT_for_a_PASID_it_does_not_hold_and_a_guest_PASID_nobody_mapped_is_ENOENT()
    {
        var (extension, _, _) = Boot();
        for (var i = 0; i < Quota; i++)
            Assert.Equal(0, Call(extension, EmulatorIoctls.PASID_ALLOC, new EmuPasidAlloc(12, 0, 0)).Errno);

        var over = Call(extension, EmulatorIoctls.PASID_ALLOC, new EmuPasidAlloc(12, 0, 0));
        Assert.Equal((Errno.EDQUOT, 0), (over.Errno, over.Writeback.Length));
        Assert.Equal(Errno.ENOENT, Call(extension, EmulatorIoctls.PASID_FREE, new EmuPasidFree(8, 199)).Errno);
        Assert.Equal(Errno.ENOENT, Call(extension, EmulatorIoctls.KVM_TRANSLATE, new EmuKvmTranslate(12, 42, 0)).Errno);
    }

    [Fact]
    public void Size_rules_and_unknown_flags_are_iommufds_and_an_unknown_number_of_the_range_is_ENOTTY()
    {
        var (extension, _, _) = Boot();
        extension.Tell(new Ioctl(File, 1, EmulatorIoctls.PASID_ALLOC, 0x1000, [8, 0, 0, 0, 0, 0, 0, 0], TestActor));
        ExpectMsg(new IoctlDone(File, 1, Errno.EINVAL, 0, []));
        extension.Tell(new Ioctl(File, 2, EmulatorIoctls.PASID_ALLOC, 0x1000, [16, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0], TestActor));
        ExpectMsg(new IoctlDone(File, 2, Errno.E2BIG, 0, []));
        _tag = 2;
        Assert.Equal(Errno.EOPNOTSUPP, Call(extension, EmulatorIoctls.PASID_ALLOC, new EmuPasidAlloc(12, 1, 0)).Errno);
        extension.Tell(new Ioctl(File, 9, 0xE1ff, 0x1000, [12, 0, 0, 0], TestActor));
        ExpectMsg(new IoctlDone(File, 9, Errno.ENOTTY, 0, []));
    }

    [Fact]
    public void Closing_the_context_frees_the_whole_set_and_every_PASID_returns_to_the_space()
    {
        var (extension, space, _) = Boot();
        var host = Out<EmuPasidAlloc>(Call(extension, EmulatorIoctls.PASID_ALLOC, new EmuPasidAlloc(12, 0, 0))).OutPasid;
        Assert.Equal(0, Call(extension, EmulatorIoctls.PASID_MAP_GUEST, new EmuPasidMapGuest(16, 0, 3, host)).Errno);

        extension.Tell(new Release(File, TestActor));
        ExpectMsg(new Released(File));
        AwaitAssert(() =>
        {
            space.Tell(new PasidSpaceProtocol.GetSpace());
            var state = ExpectMsg<PasidSpaceProtocol.SpaceState>();
            Assert.Equal(0, state.InUse);
            Assert.Empty(state.Quarantined);
        });
    }

    [Fact]
    public void A_device_PASID_attach_is_published_as_a_BIND_of_the_device_and_its_detach_as_the_UNBIND()
    {
        var (extension, _, _) = Boot();
        var host = (int)Out<EmuPasidAlloc>(Call(extension, EmulatorIoctls.PASID_ALLOC, new EmuPasidAlloc(12, 0, 0))).OutPasid;
        var key = PasidExtensionActor.SetKeyOf(File);

        extension.Tell(new PasidExtensionActor.DeviceBound(host, "0000:00:02.0"));
        ExpectMsg(new PasidExtensionActor.DeviceEventApplied(host, "0000:00:02.0", 0));
        Assert.Equal(1, BindsOf(key, host));
        extension.Tell(new PasidExtensionActor.DeviceUnbound(host, "0000:00:02.0"));
        ExpectMsg(new PasidExtensionActor.DeviceEventApplied(host, "0000:00:02.0", 0));
        Assert.Equal(0, BindsOf(key, host));
        // A PASID outside the VM's set is not the set's business: nothing published, answered 0.
        extension.Tell(new PasidExtensionActor.DeviceBound(150, "0000:00:02.0"));
        ExpectMsg(new PasidExtensionActor.DeviceEventApplied(150, "0000:00:02.0", 0));
    }

    // Issue 16's sequence, which on a cold host answered the second FREE with 0; the other VM's refusals are EACCES.
    [Fact]
    public void A_second_free_is_ENOENT_after_the_first_answered_and_another_VMs_map_and_free_of_the_pasid_are_EACCES()
    {
        var (a, space, bus) = Boot();
        var (b, _) = BootVm("vm2", space, bus);
        var p1 = Alloc(a);
        Alloc(a);
        Alloc(a);
        Assert.Equal(0, Call(a, EmulatorIoctls.PASID_MAP_GUEST, new EmuPasidMapGuest(16, 0, 9, p1)).Errno);
        Assert.Equal(Errno.EACCES, Call(b, EmulatorIoctls.PASID_MAP_GUEST, new EmuPasidMapGuest(16, 0, 9, p1), "vm2").Errno);
        Assert.Equal(Errno.EACCES, Call(b, EmulatorIoctls.PASID_FREE, new EmuPasidFree(8, p1), "vm2").Errno);
        Assert.Equal(0, Call(a, EmulatorIoctls.VDCM_PROGRAM, new EmuVdcmProgram(16, 0, 9, 0)).Errno);

        Assert.Equal(0, Call(a, EmulatorIoctls.PASID_FREE, new EmuPasidFree(8, p1)).Errno);
        Assert.Equal(Errno.ENOENT, Call(a, EmulatorIoctls.KVM_TRANSLATE, new EmuKvmTranslate(12, 9, 0)).Errno);
        Assert.Equal(Errno.ENOENT, Call(a, EmulatorIoctls.PASID_FREE, new EmuPasidFree(8, p1)).Errno);
        // FREE answered after every subscriber acknowledged: the PASID is back in the space (2 left, A's others).
        space.Tell(new PasidSpaceProtocol.GetSpaceUse());
        Assert.Equal(2, ExpectMsg<PasidSpaceProtocol.SpaceUse>().InUse);
    }

    [Fact]
    public void A_FREE_of_a_mapped_PASID_a_device_still_binds_takes_it_from_KVM_and_frees_its_guest_PASID_for_another()
    {
        var (extension, space, _) = Boot();
        var host = Alloc(extension);
        var other = Alloc(extension);
        extension.Tell(new PasidExtensionActor.DeviceBound((int)host, "0000:00:02.0"));
        ExpectMsg(new PasidExtensionActor.DeviceEventApplied((int)host, "0000:00:02.0", 0));
        Assert.Equal(0, Call(extension, EmulatorIoctls.PASID_MAP_GUEST, new EmuPasidMapGuest(16, 0, 5, host)).Errno);

        // The user's unbind is not the last (the device's bind stays), so no UNBIND goes round: the FREE itself
        // must take the translation from KVM before it answers.
        Assert.Equal(0, Call(extension, EmulatorIoctls.PASID_FREE, new EmuPasidFree(8, host)).Errno);
        Assert.Equal(Errno.ENOENT, Call(extension, EmulatorIoctls.KVM_TRANSLATE, new EmuKvmTranslate(12, 5, 0)).Errno);
        Assert.Equal(Errno.ENOENT, Call(extension, EmulatorIoctls.VDCM_PROGRAM, new EmuVdcmProgram(16, 0, 5, 0)).Errno);
        Assert.Equal(0, Call(extension, EmulatorIoctls.PASID_MAP_GUEST, new EmuPasidMapGuest(16, 0, 5, other)).Errno);
        Assert.Equal(new EmuKvmTranslate(12, 5, other), Out<EmuKvmTranslate>(Call(extension, EmulatorIoctls.KVM_TRANSLATE, new EmuKvmTranslate(12, 5, 0))));

        // The device's detach lets the freed PASID go back to the space, and leaves the new mapping alone.
        extension.Tell(new PasidExtensionActor.DeviceUnbound((int)host, "0000:00:02.0"));
        ExpectMsg(new PasidExtensionActor.DeviceEventApplied((int)host, "0000:00:02.0", 0));
        Assert.Equal(new EmuKvmTranslate(12, 5, other), Out<EmuKvmTranslate>(Call(extension, EmulatorIoctls.KVM_TRANSLATE, new EmuKvmTranslate(12, 5, 0))));
        AwaitAssert(() =>
        {
            space.Tell(new PasidSpaceProtocol.GetSpaceUse());
            Assert.Equal(1, ExpectMsg<PasidSpaceProtocol.SpaceUse>().InUse);
        });
    }

    [Fact]
    public void VDCM_CLEAR_frees_a_programmed_queue_for_another_guest_PASID_and_a_clear_queue_is_ENOENT()
    {
        var (extension, _, _) = Boot();
        var first = Alloc(extension);
        var second = Alloc(extension);
        Assert.Equal(0, Call(extension, EmulatorIoctls.PASID_MAP_GUEST, new EmuPasidMapGuest(16, 0, 1, first)).Errno);
        Assert.Equal(0, Call(extension, EmulatorIoctls.PASID_MAP_GUEST, new EmuPasidMapGuest(16, 0, 2, second)).Errno);
        Assert.Equal(0, Call(extension, EmulatorIoctls.VDCM_PROGRAM, new EmuVdcmProgram(16, 3, 1, 0)).Errno);
        Assert.Equal(Errno.EBUSY, Call(extension, EmulatorIoctls.VDCM_PROGRAM, new EmuVdcmProgram(16, 3, 2, 0)).Errno);

        var cleared = Call(extension, EmulatorIoctls.VDCM_CLEAR, new EmuVdcmClear(8, 3));
        Assert.Equal((0, new EmuVdcmClear(8, 3)), (cleared.Errno, Out<EmuVdcmClear>(cleared)));
        Assert.Equal(Errno.ENOENT, Call(extension, EmulatorIoctls.VDCM_CLEAR, new EmuVdcmClear(8, 3)).Errno);
        Assert.Equal(new EmuVdcmProgram(16, 3, 2, second), Out<EmuVdcmProgram>(Call(extension, EmulatorIoctls.VDCM_PROGRAM, new EmuVdcmProgram(16, 3, 2, 0))));
        // The queue's reference went with the clear: only the allocation's and the mapping's hold the first PASID.
        _sets!.Tell(new PasidSetProtocol.GetHolds(PasidExtensionActor.SetKeyOf(File), VdcmSubscriber.HolderPrefix));
        Assert.Equal(new[] { (second, "vdcm/wq3", 1) }, ExpectMsg<PasidSetProtocol.Holds>().Entries.Select(h => ((uint)h.Pasid, h.Holder, h.Refs)));
    }

    [Fact]
    public void The_same_MAP_GUEST_twice_answers_0_both_times_and_one_FREE_still_returns_the_PASID_to_the_space()
    {
        var (extension, space, _) = Boot();
        var host = Alloc(extension);
        Assert.Equal(0, Call(extension, EmulatorIoctls.PASID_MAP_GUEST, new EmuPasidMapGuest(16, 0, 3, host)).Errno);
        Assert.Equal(0, Call(extension, EmulatorIoctls.PASID_MAP_GUEST, new EmuPasidMapGuest(16, 0, 3, host)).Errno);

        Assert.Equal(0, Call(extension, EmulatorIoctls.PASID_FREE, new EmuPasidFree(8, host)).Errno);
        Assert.Equal(Errno.ENOENT, Call(extension, EmulatorIoctls.KVM_TRANSLATE, new EmuKvmTranslate(12, 3, 0)).Errno);
        AwaitAssert(() =>
        {
            space.Tell(new PasidSpaceProtocol.GetSpaceUse());
            Assert.Equal(0, ExpectMsg<PasidSpaceProtocol.SpaceUse>().InUse);
        });
    }

    [Theory]
    [InlineData(EmulatorIoctls.PASID_FREE)]
    [InlineData(EmulatorIoctls.PASID_MAP_GUEST)]
    [InlineData(EmulatorIoctls.VDCM_PROGRAM)]
    [InlineData(EmulatorIoctls.KVM_TRANSLATE)]
    public void A_PASID_argument_of_0_or_outside_the_20_bit_space_is_EINVAL(uint request)
    {
        var (extension, _, _) = Boot();
        var host = Alloc(extension);
        foreach (var bad in new[] { 0u, 1u << 20 })
        {
            var done = request switch
            {
                EmulatorIoctls.PASID_FREE => Call(extension, request, new EmuPasidFree(8, bad)),
                EmulatorIoctls.PASID_MAP_GUEST => Call(extension, request, new EmuPasidMapGuest(16, 0, bad, host)),
                EmulatorIoctls.VDCM_PROGRAM => Call(extension, request, new EmuVdcmProgram(16, 0, bad, 0)),
                _ => Call(extension, request, new EmuKvmTranslate(12, bad, 0)),
            };
            Assert.Equal((Errno.EINVAL, 0), (done.Errno, done.Writeback.Length));
        }
        Assert.Equal(Errno.EINVAL, Call(extension, EmulatorIoctls.PASID_MAP_GUEST, new EmuPasidMapGuest(16, 0, 3, 0)).Errno);
    }

    [Fact]
    public void A_subscriber_that_never_acknowledges_fails_MAP_GUEST_with_ETIMEDOUT_and_the_mapping_is_undone()
    {
        var (extension, _, bus) = Boot(ackSeconds: 0.5);
        var host = Alloc(extension);
        var stuck = CreateTestProbe();
        bus.Tell(new NotifierProtocol.Subscribe(stuck.Ref, "stuck", SubscriberPriority.Device, PasidExtensionActor.SetKeyOf(File)), stuck.Ref);
        stuck.ExpectMsg<NotifierProtocol.Subscribed>();

        Assert.Equal(Errno.ETIMEDOUT, Call(extension, EmulatorIoctls.PASID_MAP_GUEST, new EmuPasidMapGuest(16, 0, 4, host)).Errno);
        Assert.Equal(Errno.ENOENT, Call(extension, EmulatorIoctls.KVM_TRANSLATE, new EmuKvmTranslate(12, 4, 0)).Errno);
        Assert.Equal(0, BindsOf(PasidExtensionActor.SetKeyOf(File), (int)host, ""));
    }

    [Fact]
    public void A_MAP_GUEST_of_a_PASID_a_device_binds_that_a_subscriber_never_acknowledges_is_ETIMEDOUT_and_leaves_KVM_and_the_guest_PASID_as_before()
    {
        var (extension, _, bus) = Boot(ackSeconds: 0.5);
        var host = Alloc(extension);
        var key = PasidExtensionActor.SetKeyOf(File);
        extension.Tell(new PasidExtensionActor.DeviceBound((int)host, "0000:00:02.0"));
        ExpectMsg(new PasidExtensionActor.DeviceEventApplied((int)host, "0000:00:02.0", 0));
        var stuck = CreateTestProbe();
        bus.Tell(new NotifierProtocol.Subscribe(stuck.Ref, "stuck", SubscriberPriority.Device, key), stuck.Ref);
        stuck.ExpectMsg<NotifierProtocol.Subscribed>();

        // The map's bind is not the first (the device's is), but it attaches guest PASID 4: KVM applied it, the
        // stuck subscriber did not, so the guest PASID is detached again and KVM drops the translation it made.
        Assert.Equal(Errno.ETIMEDOUT, Call(extension, EmulatorIoctls.PASID_MAP_GUEST, new EmuPasidMapGuest(16, 0, 4, host)).Errno);
        Assert.Equal(Errno.ENOENT, Call(extension, EmulatorIoctls.KVM_TRANSLATE, new EmuKvmTranslate(12, 4, 0)).Errno);
        // Of every holder's binds, only the device's is left.
        Assert.Equal(1, BindsOf(key, (int)host, ""));
        Assert.Equal(1, BindsOf(key, (int)host, "device/"));
        _sets!.Tell(new PasidSetProtocol.FindBySpid(key, 4, false));
        ExpectMsg(new PasidSetProtocol.SpidFound(key, 4, 0, Errno.ENOENT));
    }

    private int BindsOf(string key, int pasid, string? holderPrefix = null)
    {
        _sets!.Tell(new PasidSetProtocol.GetHolds(key, holderPrefix ?? PasidExtensionActor.HolderOf("")));
        var holds = ExpectMsg<PasidSetProtocol.Holds>();
        return holds.Entries.Where(h => h.Pasid == pasid).Sum(h => h.Binds);
    }

    // PASID_SET_QUOTA (0xE107): raise, lower, refuse below use.

    private uint Alloc(IActorRef extension)
    {
        var done = Call(extension, EmulatorIoctls.PASID_ALLOC, new EmuPasidAlloc(12, 0, 0));
        Assert.Equal(0, done.Errno);
        return EmuPasidAlloc.Read(done.Writeback).OutPasid;
    }

    [Fact]
    public void Raising_the_quota_lets_the_VM_allocate_past_the_old_one_and_answers_the_use()
    {
        var (extension, _, _) = Boot(quota: 1);
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
        var (extension, _, _) = Boot(quota: 4);
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
    public void PASID_SET_QUOTA_unknown_flags_are_EOPNOTSUPP_and_a_short_struct_EINVAL()
    {
        var (extension, _, _) = Boot(quota: 4);
        Assert.Equal(Errno.EOPNOTSUPP, Call(extension, EmulatorIoctls.PASID_SET_QUOTA, new EmuPasidSetQuota(16, 1, 8, 0)).Errno);
        extension.Tell(new Ioctl(File, 99, EmulatorIoctls.PASID_SET_QUOTA, 0x1000, [12, 0, 0, 0, 0, 0, 0, 0, 8, 0, 0, 0], TestActor));
        ExpectMsg(new IoctlDone(File, 99, Errno.EINVAL, 0, []));
    }
}
