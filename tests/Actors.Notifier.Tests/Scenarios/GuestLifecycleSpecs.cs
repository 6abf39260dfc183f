using Akka.Actor;
using Akka.TestKit.Xunit2;
using Akka.TestKit;
using IommuActors.Hardware.Units;
using IommuActors.Ioasid.Pasid;
using IommuActors.Notifier.Bus;
using IommuActors.Notifier.Driver;
using IommuActors.Notifier.Kvm;
using IommuActors.Notifier.Vdcm;
using IommuActors.TestSupport;
using IommuActors.Uapi;
using Xunit;
using static IommuActors.Ioasid.Pasid.PasidSetProtocol;
using static IommuActors.Ioasid.Pasid.PasidSpaceProtocol;
using static IommuActors.Notifier.Bus.NotifierProtocol;

namespace IommuActors.Notifier.Tests.Scenarios;

/// <summary>The VT-d guest life cycle of reference/ioasid.md with real subscribers and a probe for the IOMMU units.</summary>
public sealed class GuestLifecycleSpecs() : TestKit(SpecConfig.InMemory)
{
    private const string Key = "pasid-set-vm1";

    private VmRig Boot() => VmRig.Boot(this, Key, "life", TimeSpan.FromSeconds(3));

    private int BootGuestUsingOnePasid(VmRig rig)
    {
        rig.Set.Tell(new AllocPasid(Key));
        var pasid = ExpectMsg<PasidAllocated>(m => m.Errno == 0).Pasid;
        rig.Driver.Tell(new IommuDriverProtocol.BindDevice(Key, pasid, 101, "dev0"));
        ExpectMsg(new IommuDriverProtocol.DeviceBindResult(Key, pasid, "dev0", 0));
        AwaitAssert(() =>
        {
            rig.Kvm.Tell(new KvmProtocol.Translate(101));
            ExpectMsg(new KvmProtocol.Translated(101, pasid, 0));
        });
        rig.Vdcm.Tell(new VdcmProtocol.ProgramQueue("wq0", 101));
        ExpectMsg(new VdcmProtocol.QueueProgrammed("wq0", 101, pasid, 0));
        rig.Set.Tell(new GetSet(Key));
        ExpectMsg<SetState>(s => s.Entries.Single().Refs == 4);
        return pasid;
    }

    private void AssertEverythingReleased(VmRig rig)
    {
        AwaitAssert(() =>
        {
            rig.Space.Tell(new GetSpace());
            var space = ExpectMsg<SpaceState>();
            Assert.Equal(0, space.InUse);
            Assert.Empty(space.Quarantined);
        });
        rig.Kvm.Tell(new KvmProtocol.GetTranslationTable());
        Assert.Empty(ExpectMsg<KvmProtocol.TranslationTable>().GuestToHost);
        rig.Vdcm.Tell(new VdcmProtocol.GetQueues());
        Assert.Empty(ExpectMsg<VdcmProtocol.Queues>().HostPasidByDevice);
        rig.Driver.Tell(new IommuDriverProtocol.GetBindings());
        Assert.Empty(ExpectMsg<IommuDriverProtocol.Bindings>().DevicesByPasid);
    }

    [Fact]
    public void The_normal_teardown_drops_every_reference_and_reclaims_the_pasid()
    {
        var rig = Boot();
        var pasid = BootGuestUsingOnePasid(rig);
        rig.Vdcm.Tell(new VdcmProtocol.ClearQueue("wq0"));
        ExpectMsg(new VdcmProtocol.QueueCleared("wq0", 0));
        rig.Driver.Tell(new IommuDriverProtocol.UnbindDevice(Key, pasid, "dev0"));
        ExpectMsg(new IommuDriverProtocol.DeviceBindResult(Key, pasid, "dev0", 0));
        AwaitAssert(() =>
        {
            rig.Set.Tell(new GetSet(Key));
            Assert.Equal(1, ExpectMsg<SetState>().Entries.Single().Refs);
        });
        rig.Set.Tell(new FreePasid(Key, pasid));
        ExpectMsg(new PasidResult(Key, "free", pasid, 0));
        // The driver detached dev0 before unbinding it, tore it down again on the UNBIND that unbind published,
        // and still drains the unit for the PASID on FREE.
        rig.Units.ExpectMsg<UnitProtocol.DetachPasid>(d => d.Unit == "u0" && d.Pasid == pasid && d.Devices.SequenceEqual(["dev0"]));
        rig.Units.ExpectMsg<UnitProtocol.DetachPasid>(d => d.Unit == "u0" && d.Pasid == pasid && d.Devices.SequenceEqual(["dev0"]));
        rig.Units.ExpectMsg<UnitProtocol.DetachPasid>(d => d.Unit == "u0" && d.Pasid == pasid && d.Devices.IsEmpty);
        AssertEverythingReleased(rig);
        rig.Units.ExpectNoMsg(TimeSpan.FromMilliseconds(100));
    }

    [Fact]
    public void Free_of_a_bound_pasid_during_dma_tears_down_unbinds_and_then_reclaims()
    {
        var rig = Boot();
        var pasid = BootGuestUsingOnePasid(rig);
        rig.Set.Tell(new FreePasid(Key, pasid));
        ExpectMsg(new PasidResult(Key, "free", pasid, 0));
        rig.Units.ExpectMsg<UnitProtocol.DetachPasid>(d => d.Unit == "u0" && d.Pasid == pasid && d.Devices.IsEmpty);
        AssertEverythingReleased(rig);
    }

    [Fact]
    public void Alloc_then_free_reclaims_at_once_after_the_acknowledgements()
    {
        var rig = Boot();
        rig.Set.Tell(new AllocPasid(Key));
        var pasid = ExpectMsg<PasidAllocated>().Pasid;
        rig.Set.Tell(new FreePasid(Key, pasid));
        ExpectMsg(new PasidResult(Key, "free", pasid, 0));
        AssertEverythingReleased(rig);
    }

    [Fact]
    public void A_vm_exit_while_kvm_vdcm_and_a_device_hold_the_same_pasids_releases_them_all()
    {
        var rig = Boot();
        var pasid = BootGuestUsingOnePasid(rig);
        rig.Set.Tell(new AllocPasid(Key));
        var second = ExpectMsg<PasidAllocated>().Pasid;
        rig.Driver.Tell(new IommuDriverProtocol.BindDevice(Key, second, 102, "dev1"));
        ExpectMsg<IommuDriverProtocol.DeviceBindResult>(r => r.Errno == 0);
        rig.Vdcm.Tell(new VdcmProtocol.ProgramQueue("wq1", 102));
        ExpectMsg(new VdcmProtocol.QueueProgrammed("wq1", 102, second, 0));

        rig.Set.Tell(new FreeSet(Key));
        ExpectMsg<SetFreed>(f => f.Freed.SequenceEqual(new[] { pasid, second }));
        AssertEverythingReleased(rig);
    }
}
