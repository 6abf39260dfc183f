using IommuActors.TestSupport;
using IommuActors.Uapi;
using IommuActors.Uapi.Structs;
using Xunit;

namespace IommuActors.FrontDoor.Tests.Cli;

/// <summary>iommuctl graph through the socket of a real host: the DOT of a known sequence of ioctls.</summary>
public sealed class GraphCommandSpecs
{
    [Fact]
    public async Task The_graph_has_the_context_its_objects_every_device_behind_its_unit_the_VM_set_its_subscribers_and_a_legend()
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
        while (!run.Output.Contains($"\"vdcm/{set}\" [shape=ellipse") && ++tries < 100);

        Assert.Equal((0, ""), (run.Exit, run.Error));
        Assert.Equal(
            $$"""
            digraph iommu {
              rankdir=LR;
              node [shape=box, fontname="monospace"];
              subgraph "cluster_{{f}}" {
                label="iommufd {{f}}\npid 4242 vmm-spec";
                "iommufd-{{f}}" [shape=note, label="iommufd"];
                "ioas-{{f}}.ioas1" [label="IOAS 1"];
                "{{f}}/2" [label="DEVICE 2\n0000:00:02.0"];
                "{{f}}/3" [label="HWPT 3\npaging"];
              }
              "unit-dmar0" [shape=component, label="dmar0\nIntelVtd"];
              "unit-dmar1" [shape=component, label="dmar1\nIntelVtd"];
              "unit-mock0" [shape=component, label="mock0\nMock"];
              "pci-0000:00:02.0" [shape=box3d, label="0000:00:02.0"];
              "pci-0000:00:14.0" [shape=box3d, label="0000:00:14.0", style=dashed];
              "pci-0000:00:14.2" [shape=box3d, label="0000:00:14.2", style=dashed];
              "pci-0000:01:00.0" [shape=box3d, label="0000:01:00.0", style=dashed];
              "pci-0000:02:00.0" [shape=box3d, label="0000:02:00.0", style=dashed];
              "pci-0000:03:00.0" [shape=box3d, label="0000:03:00.0", style=dashed];
              "pci-0000:f0:00.0" [shape=box3d, label="0000:f0:00.0", style=dashed];
              "pci-0000:f0:01.0" [shape=box3d, label="0000:f0:01.0", style=dashed];
              "{{set}}" [shape=folder, label="PASID set\nquota 1024\nPASIDs {{pasid.OutPasid}} Idle"];
              "kvm/{{set}}" [shape=ellipse, label="kvm"];
              "iommu-driver" [shape=ellipse, label="iommu-driver"];
              "vdcm/{{set}}" [shape=ellipse, label="vdcm"];
              "{{f}}/2" -> "{{f}}/3" [label="attached RID"];
              "{{f}}/2" -> "pci-0000:00:02.0" [label="is"];
              "{{f}}/3" -> "ioas-{{f}}.ioas1" [label="uses"];
              "{{f}}/3" -> "unit-dmar0" [label="domain in"];
              "iommufd-{{f}}" -> "{{set}}" [label="VM set"];
              "pci-0000:00:02.0" -> "unit-dmar0" [label="behind"];
              "pci-0000:00:14.0" -> "unit-dmar0" [label="behind", style=dashed];
              "pci-0000:00:14.2" -> "unit-dmar0" [label="behind", style=dashed];
              "pci-0000:01:00.0" -> "unit-dmar0" [label="behind", style=dashed];
              "pci-0000:02:00.0" -> "unit-dmar1" [label="behind", style=dashed];
              "pci-0000:03:00.0" -> "unit-dmar1" [label="behind", style=dashed];
              "pci-0000:f0:00.0" -> "unit-mock0" [label="behind", style=dashed];
              "pci-0000:f0:01.0" -> "unit-mock0" [label="behind", style=dashed];
              "{{set}}" -> "kvm/{{set}}" [style=dashed, label="notifies"];
              "{{set}}" -> "iommu-driver" [style=dashed, label="notifies"];
              "{{set}}" -> "vdcm/{{set}}" [style=dashed, label="notifies"];
              subgraph "cluster_legend" {
                label="legend";
                fontname="monospace";
                node [fontname="monospace", fontsize=10];
                "legend-iommufd" [shape=note, label="iommufd context\n(cluster: file, pid, client)"];
                "legend-object" [label="object: kind ID\n(IOAS, DEVICE, HWPT, ...)"];
                "legend-unit" [shape=component, label="IOMMU unit"];
                "legend-device" [shape=box3d, label="PCI device\n(dashed: not bound)"];
                "legend-set" [shape=folder, label="PASID set of a VM"];
                "legend-subscriber" [shape=ellipse, label="notifier subscriber"];
                "legend-edges" [shape=plaintext, label="edges: uses, attached RID/PASID n,\lis (the device), domain in (unit),\lbehind (unit), VM set, notifies (dashed)\l"];
              }
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
