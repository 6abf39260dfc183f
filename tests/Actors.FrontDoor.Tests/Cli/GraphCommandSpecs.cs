using IommuActors.TestSupport;
using IommuActors.Uapi;
using IommuActors.Uapi.Structs;
using Xunit;

namespace IommuActors.FrontDoor.Tests.Cli;

/// <summary>iommuctl graph through the socket of a real host: the DOT of a known sequence of ioctls.</summary>
public sealed class GraphCommandSpecs
{
    [Fact]
    public async Task The_graph_has_the_context_its_objects_the_device_and_unit_the_VM_set_and_its_subscribers()
    {
        await using var host = await TestHost.RealAsync();
        var vmm = await VmmSetup.StartAsync(host.SocketPath);
        var pasid = await vmm.Client.IoctlAsync(vmm.Iommufd, EmulatorIoctls.PASID_ALLOC, new EmuPasidAlloc(12, 0, 0));
        var f = vmm.ContextFile;
        var set = $"pasid-set-{f}";

        // The VM's KVM and VDCM subscribers subscribe once they have read their set: wait until the bus has them.
        IommuctlRun run;
        var tries = 0;
        do run = await IommuctlRun.RunAsync(host, "graph");
        while (!run.Output.Contains($"\"vdcm/{set}\" [shape=ellipse]") && ++tries < 100);

        Assert.Equal((0, ""), (run.Exit, run.Error));
        Assert.Equal(
            $$"""
            digraph iommu {
              rankdir=LR;
              node [shape=box, fontname="monospace"];
              subgraph "cluster_{{f}}" {
                label="iommufd-{{f}} (pid 4242, vmm-spec)";
                "iommufd-{{f}}" [shape=note, label="iommufd-{{f}}"];
                "ioas-{{f}}.ioas1" [label="1 Ioas\nioas-{{f}}.ioas1"];
                "{{f}}/2" [label="2 Device\n0000:00:02.0"];
                "{{f}}/3" [label="3 HwptPaging"];
              }
              "unit-dmar0" [shape=component, label="unit-dmar0\nIntelVtd"];
              "unit-dmar1" [shape=component, label="unit-dmar1\nIntelVtd"];
              "unit-mock0" [shape=component, label="unit-mock0\nMock"];
              "pci-0000:00:02.0" [shape=box3d, label="0000:00:02.0"];
              "{{set}}" [shape=folder, label="{{set}}\nquota 1024\nPASIDs {{pasid.OutPasid}} Idle"];
              "kvm/{{set}}" [shape=ellipse];
              "iommu-driver" [shape=ellipse];
              "vdcm/{{set}}" [shape=ellipse];
              "{{f}}/2" -> "{{f}}/3" [label="attached RID"];
              "{{f}}/2" -> "pci-0000:00:02.0" [label="is"];
              "{{f}}/3" -> "ioas-{{f}}.ioas1" [label="uses"];
              "{{f}}/3" -> "unit-dmar0" [label="domain in"];
              "iommufd-{{f}}" -> "{{set}}" [label="VM set"];
              "pci-0000:00:02.0" -> "unit-dmar0" [label="behind"];
              "{{set}}" -> "kvm/{{set}}" [style=dashed, label="notifies"];
              "{{set}}" -> "iommu-driver" [style=dashed, label="notifies"];
              "{{set}}" -> "vdcm/{{set}}" [style=dashed, label="notifies"];
            }

            """,
            run.Output);
        await vmm.Client.DisposeAsync();
    }

    [Fact]
    public async Task A_device_attached_by_RID_and_by_PASID_to_one_HWPT_shows_both_attachments_in_objects_and_graph()
    {
        await using var host = await TestHost.RealAsync();
        await using var client = await IommuActors.Client.IommuClient.ConnectAsync(host.SocketPath);
        var iommufd = await client.OpenAsync("/dev/iommu");
        var ioas = await client.IoctlAsync(iommufd, Ioctls.IOMMU_IOAS_ALLOC, new IommuIoasAlloc(12, 0, 0));
        var device = await client.OpenAsync("/dev/vfio/devices/vfio0");
        var bind = await client.IoctlAsync(device, Ioctls.VFIO_DEVICE_BIND_IOMMUFD, new VfioDeviceBindIommufd(16, 0, iommufd, 0, 0));
        var hwpt = await client.IoctlAsync(iommufd, Ioctls.IOMMU_HWPT_ALLOC,
            new IommuHwptAlloc(48, HwptAllocFlags.Pasid, bind.OutDevid, ioas.OutIoasId, 0, 0, HwptDataType.None, 0, 0, 0, 0));
        Assert.Equal((1u, 2u, 3u), (ioas.OutIoasId, bind.OutDevid, hwpt.OutHwptId));
        await client.IoctlAsync(device, Ioctls.VFIO_DEVICE_ATTACH_IOMMUFD_PT, new VfioDeviceAttachIommufdPt(16, 0, 3, 0));
        await client.IoctlAsync(device, Ioctls.VFIO_DEVICE_ATTACH_IOMMUFD_PT,
            new VfioDeviceAttachIommufdPt(16, VfioDeviceAttachIommufdPt.FlagPasid, 3, 5));
        var f = $"{client.SessionToken:x16}-1";

        var objects = await IommuctlRun.RunAsync(host, "objects");
        Assert.Equal($"│ {f} │ 2  │ Device     │ 3    │ 0000:00:02.0 │       │ RID -> 3, PASID 5 -> 3 │", objects.Lines[5]);
        var graph = await IommuctlRun.RunAsync(host, "graph");
        Assert.Contains($"  \"{f}/2\" -> \"{f}/3\" [label=\"attached RID, PASID 5\"];\n", graph.Output);
        Assert.Contains($"  \"{f}/3\" -> \"ioas-{f}.ioas1\" [label=\"uses\"];\n", graph.Output);
    }

    // --svg with and without Graphviz: tests/Actors.Scenarios.Tests/IommuctlProcessSpecs.cs, where iommuctl runs with a PATH of its own.
}
