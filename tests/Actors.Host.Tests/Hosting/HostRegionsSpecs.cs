using System.Buffers.Binary;
using Akka.Actor;
using Akka.Hosting;
using IommuActors.Fd.Files;
using IommuActors.Ioasid.Pasid;
using IommuActors.Notifier.Vm;
using IommuActors.TestSupport;
using IommuActors.Uapi;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Xunit;

namespace IommuActors.Host.Tests.Hosting;

/// <summary>The regions and singletons the host wires answer through the registry, as the front door will reach them.</summary>
public sealed class HostRegionsSpecs : IAsyncLifetime
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);
    private IHost _host = null!;
    private ActorRegistry _registry = null!;

    public async Task InitializeAsync()
    {
        _host = IommuHost.Build(["--Iommu:WorkDir", TempFolder.Create("host-regions"), "--Iommu:Store", "memory"]);
        await _host.StartAsync();
        await _host.Services.GetRequiredService<HostStatus>().Ready.WaitAsync(Wait);
        _registry = _host.Services.GetRequiredService<ActorRegistry>();
    }

    public async Task DisposeAsync()
    {
        await _host.StopAsync();
        _host.Dispose();
    }

    [Fact]
    public async Task An_iommufd_opened_through_the_file_region_allocates_its_first_IOAS_with_ID_1()
    {
        var files = _registry.Get<FileRegion>();
        var opened = await files.Ask<FileProtocol.Opened>(new FileProtocol.Open("spec-1", "/dev/iommu", 2, ActorRefs.Nobody), Wait);
        Assert.Equal(("spec-1", 0), (opened.FileId, opened.Errno));
        Assert.NotNull(opened.File); // the actor the front door may send the file's requests to directly

        var alloc = new byte[12];
        BinaryPrimitives.WriteUInt32LittleEndian(alloc, 12);
        var done = await files.Ask<FileProtocol.IoctlDone>(
            new FileProtocol.Ioctl("spec-1", 7, Ioctls.IOMMU_IOAS_ALLOC, 0x1000, alloc, ActorRefs.Nobody), Wait);

        Assert.Equal((7L, 0, 0L), (done.Tag, done.Errno, done.ReturnValue));
        Assert.Equal(12, done.Writeback.Length);
        Assert.Equal(1u, BinaryPrimitives.ReadUInt32LittleEndian(done.Writeback.AsSpan(8)));
    }

    [Fact]
    public async Task A_path_the_emulator_does_not_have_is_ENOENT()
    {
        var opened = await _registry.Get<FileRegion>()
            .Ask<FileProtocol.Opened>(new FileProtocol.Open("spec-2", "/dev/vfio/devices/vfio99", 2, ActorRefs.Nobody), Wait);

        Assert.Equal(new FileProtocol.Opened("spec-2", Errno.ENOENT), opened);
    }

    [Fact]
    public async Task A_PASID_set_allocates_from_the_system_space_singleton()
    {
        var set = PasidSetProtocol.KeyOf("vm-spec");
        var allocated = await _registry.Get<PasidSetRegion>()
            .Ask<PasidSetProtocol.PasidAllocated>(new PasidSetProtocol.AllocPasid(set), Wait);
        Assert.Equal(0, allocated.Errno);

        var space = await _registry.Get<PasidSpaceKey>().Ask<PasidSpaceProtocol.SpaceState>(new PasidSpaceProtocol.GetSpace(), Wait);
        Assert.Equal(set, space.Owners[allocated.Pasid]);
    }

    [Fact]
    public async Task The_PASID_ioctls_of_an_iommufd_reach_its_VMs_set_and_closing_it_frees_the_set()
    {
        var files = _registry.Get<FileRegion>();
        await files.Ask<FileProtocol.Opened>(new FileProtocol.Open("spec-3", "/dev/iommu", 2, ActorRefs.Nobody), Wait);
        var alloc = new byte[12];
        BinaryPrimitives.WriteUInt32LittleEndian(alloc, 12);
        var done = await files.Ask<FileProtocol.IoctlDone>(
            new FileProtocol.Ioctl("spec-3", 1, Uapi.Structs.EmulatorIoctls.PASID_ALLOC, 0x1000, alloc, ActorRefs.Nobody), Wait);
        Assert.Equal(0, done.Errno);
        var pasid = (int)BinaryPrimitives.ReadUInt32LittleEndian(done.Writeback.AsSpan(8));

        var set = PasidSetProtocol.KeyOf("spec-3");
        var space = _registry.Get<PasidSpaceKey>();
        Assert.Equal(set, (await space.Ask<PasidSpaceProtocol.SpaceState>(new PasidSpaceProtocol.GetSpace(), Wait)).Owners[pasid]);

        // MAP_GUEST answers once the VM's KVM (started by the notifier's node actor) applied the BIND: the next
        // KVM_TRANSLATE knows the translation.
        var map = new byte[16];
        BinaryPrimitives.WriteUInt32LittleEndian(map, 16);
        BinaryPrimitives.WriteUInt32LittleEndian(map.AsSpan(8), 5);
        BinaryPrimitives.WriteUInt32LittleEndian(map.AsSpan(12), (uint)pasid);
        Assert.Equal(0, (await files.Ask<FileProtocol.IoctlDone>(
            new FileProtocol.Ioctl("spec-3", 2, Uapi.Structs.EmulatorIoctls.PASID_MAP_GUEST, 0x1000, map, ActorRefs.Nobody), Wait)).Errno);
        var translate = new byte[12];
        BinaryPrimitives.WriteUInt32LittleEndian(translate, 12);
        BinaryPrimitives.WriteUInt32LittleEndian(translate.AsSpan(4), 5);
        var translated = await files.Ask<FileProtocol.IoctlDone>(
            new FileProtocol.Ioctl("spec-3", 3, Uapi.Structs.EmulatorIoctls.KVM_TRANSLATE, 0x1000, translate, ActorRefs.Nobody), Wait);
        Assert.Equal((0, pasid), (translated.Errno, (int)BinaryPrimitives.ReadUInt32LittleEndian(translated.Writeback.AsSpan(8))));
        var vms = _registry.Get<VmSubscribersKey>();
        Assert.Contains(set, (await vms.Ask<VmSubscribersActor.Vms>(new VmSubscribersActor.GetVms(), Wait)).SetKeys);

        await files.Ask<FileProtocol.Released>(new FileProtocol.Release("spec-3", ActorRefs.Nobody), Wait);
        var deadline = DateTime.UtcNow + Wait;
        PasidSpaceProtocol.SpaceState state;
        do state = await space.Ask<PasidSpaceProtocol.SpaceState>(new PasidSpaceProtocol.GetSpace(), Wait);
        while (state.Owners.ContainsKey(pasid) && DateTime.UtcNow < deadline);
        Assert.False(state.Owners.ContainsKey(pasid), "the freed set's PASID is back in the space");
        Assert.DoesNotContain(set, (await vms.Ask<VmSubscribersActor.Vms>(new VmSubscribersActor.GetVms(), Wait)).SetKeys);
    }
}
