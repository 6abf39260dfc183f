using Akka.Actor;
using Akka.Cluster.Sharding;
using Akka.Cluster.Tools.Singleton;
using Akka.Cluster;
using Akka.Configuration;
using Akka.TestKit.Xunit2;
using IommuActors.Core.Configuration;
using IommuActors.Core.Persistence;
using IommuActors.Core.Sharding;
using IommuActors.Ioasid.Pasid;
using IommuActors.TestSupport;
using IommuActors.Uapi;
using Xunit;
using IommuActors.Ioasid.Tests.Pasid;
using static IommuActors.Ioasid.Pasid.PasidSetProtocol;
using static IommuActors.Ioasid.Pasid.PasidSpaceProtocol;

namespace IommuActors.Ioasid.Tests.Module;

/// <summary>The module as the host wires it: the space a cluster singleton, the sets a shard region, on a cluster of one.</summary>
public sealed class IoasidModuleSpecs() : TestKit(SpecConfig.With(StoreOptions.InMemory, HoconFiles.Load(HoconFiles.Cluster)))
{
    [Fact]
    public void Settings_come_from_hocon_ioasid_conf_and_a_given_key_overrides_only_itself()
    {
        var defaults = IoasidModule.LoadSettings(Config.Empty);
        Assert.Equal(new IoasidSettings(1, 1048575, 1048575, 1024, TimeSpan.FromSeconds(5), 1000), defaults);
        var tuned = IoasidModule.LoadSettings(ConfigurationFactory.ParseString("iommu-actors.ioasid.default-set-quota = 8"));
        Assert.Equal(defaults with { DefaultSetQuota = 8 }, tuned);
    }

    [Fact]
    public void A_set_entity_leases_from_the_space_singleton_through_the_shard_region()
    {
        var settings = IoasidModule.LoadSettings(ConfigurationFactory.ParseString("""
            iommu-actors.ioasid { capacity = 3, default-set-quota = 2 }
            """));
        var cluster = Cluster.Get(Sys);
        cluster.Join(cluster.SelfAddress);
        AwaitCondition(() => cluster.SelfMember.Status == MemberStatus.Up, TimeSpan.FromSeconds(10));

        Sys.ActorOf(ClusterSingletonManager.Props(IoasidModule.SpaceProps(settings), PoisonPill.Instance,
            ClusterSingletonManagerSettings.Create(Sys)), IoasidModule.SpaceSingleton);
        var space = Sys.ActorOf(ClusterSingletonProxy.Props($"/user/{IoasidModule.SpaceSingleton}",
            ClusterSingletonProxySettings.Create(Sys)), IoasidModule.SpaceSingleton + "-proxy");
        var bus = CreateTestProbe().Answering();
        var sets = ClusterSharding.Get(Sys).Start(IoasidModule.SetShardRegion,
            IoasidModule.SetProps(settings, space, bus.Ref), ClusterShardingSettings.Create(Sys), new EntityMessageExtractor());

        var vm1 = KeyOf("vm1");
        var vm2 = KeyOf("vm2");
        sets.Tell(new AllocPasid(vm1));
        ExpectMsg(new PasidAllocated(vm1, 1, 0), TimeSpan.FromSeconds(10));
        sets.Tell(new AllocPasid(vm2));
        ExpectMsg(new PasidAllocated(vm2, 2, 0));
        sets.Tell(new AllocPasid(vm1));
        ExpectMsg(new PasidAllocated(vm1, 3, 0));
        sets.Tell(new AllocPasid(vm1));
        ExpectMsg(new PasidAllocated(vm1, 0, Errno.EDQUOT));
        sets.Tell(new AllocPasid(vm2));
        ExpectMsg(new PasidAllocated(vm2, 0, Errno.ENOSPC));

        space.Tell(new GetSpace());
        var state = ExpectMsg<SpaceState>();
        Assert.Equal(new Dictionary<int, string> { [1] = vm1, [2] = vm2, [3] = vm1 }, state.Owners);
    }
}
