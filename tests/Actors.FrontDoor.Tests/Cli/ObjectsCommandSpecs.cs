using IommuActors.TestSupport;
using System.Text.Json;
using IommuActors.Uapi;
using IommuActors.Uapi.Structs;
using Xunit;

namespace IommuActors.FrontDoor.Tests.Cli;

/// <summary>iommuctl contexts and objects through the socket of a real host, after a known sequence of ioctls.</summary>
public sealed class ObjectsCommandSpecs
{
    [Fact]
    public async Task Objects_lists_the_IOAS_with_its_mappings_the_bound_device_and_its_automatic_HWPT_with_ids_uses_device_unit_and_domain()
    {
        await using var host = await TestHost.RealAsync();
        var vmm = await VmmSetup.StartAsync(host.SocketPath);
        var f = vmm.ContextFile;

        var json = await IommuctlRun.RunAsync(host, "objects", "--json");
        Assert.Equal((0, ""), (json.Exit, json.Error));
        Assert.Equal(
            $$"""{"objects":[{"context":"{{f}}","id":1,"kind":"Ioas","uses":[],"key":"{{f}}.ioas1","pci":"","unit":"","attachments":[],""" +
            "\"mappings\":{\"count\":0,\"bytes\":0,\"pinnedPages\":0,\"chargedPages\":0}}," +
            $$"""{"context":"{{f}}","id":2,"kind":"Device","uses":[3],"key":"{{vmm.DeviceFile}}","pci":"0000:00:02.0","unit":"","attachments":[{"pasid":-1,"pt":3}]},""" +
            $$"""{"context":"{{f}}","id":3,"kind":"HwptPaging","uses":[1],"key":"{{f}}.hwpt3","pci":"","unit":"dmar0","attachments":[],"domain":1}]}""" + "\n",
            json.Output);

        var table = await IommuctlRun.RunAsync(host, "objects", "--context", f);
        Assert.Equal((0, "Objects"), (table.Exit, table.Lines[0].Trim()));
        Assert.Equal(
        [
            "┌────────────────────┬────┬────────────┬──────┬──────────────┬───────┬─────────────┐",
            "│ context            │ id │ kind       │ uses │ device       │ unit  │ attachments │",
            "├────────────────────┼────┼────────────┼──────┼──────────────┼───────┼─────────────┤",
            $"│ {f} │ 1  │ Ioas       │      │              │       │             │",
            $"│ {f} │ 2  │ Device     │ 3    │ 0000:00:02.0 │       │ RID -> 3    │",
            $"│ {f} │ 3  │ HwptPaging │ 1    │              │ dmar0 │             │",
            "└────────────────────┴────┴────────────┴──────┴──────────────┴───────┴─────────────┘",
        ], table.Lines[1..8]);
        // What each IOAS maps: nothing yet.
        Assert.Equal(
        [
            "IOAS mappings",
            "┌────────────────────┬────┬──────────┬───────┬──────────────┬───────────────┐",
            "│ context            │ id │ mappings │ bytes │ pinned pages │ locked memory │",
            "├────────────────────┼────┼──────────┼───────┼──────────────┼───────────────┤",
            $"│ {f} │ 1  │ 0        │ 0     │ 0            │ 0             │",
            "└────────────────────┴────┴──────────┴───────┴──────────────┴───────────────┘",
        ], table.Lines[8..].Select(l => l.Trim()));
        await vmm.Client.DisposeAsync();
    }

    [Fact]
    public async Task Objects_follow_a_detach_and_a_destroy_and_an_unknown_context_is_ENOENT()
    {
        await using var host = await TestHost.RealAsync();
        var vmm = await VmmSetup.StartAsync(host.SocketPath);
        await vmm.Client.IoctlAsync(vmm.Device, Ioctls.VFIO_DEVICE_DETACH_IOMMUFD_PT, new VfioDeviceDetachIommufdPt(12, 0, 0));
        var second = await vmm.Client.IoctlAsync(vmm.Iommufd, Ioctls.IOMMU_IOAS_ALLOC, new IommuIoasAlloc(12, 0, 0));
        Assert.Equal(3u, second.OutIoasId);
        await vmm.Client.IoctlAsync(vmm.Iommufd, Ioctls.IOMMU_DESTROY, new IommuDestroy(8, 1));

        var run = await IommuctlRun.RunAsync(host, "objects", "--context", vmm.ContextFile, "--json");
        using var doc = JsonDocument.Parse(run.Output);
        Assert.Equal(new[] { (2u, "Device", ""), (3u, "Ioas", "") },
            doc.RootElement.GetProperty("objects").EnumerateArray().Select(o => (o.GetProperty("id").GetUInt32(), o.GetProperty("kind").GetString()!,
                string.Join(",", o.GetProperty("uses").EnumerateArray()))).ToArray());

        var unknown = await IommuctlRun.RunAsync(host, "objects", "--context", "no-such-file");
        Assert.Equal((1, "", "iommuctl: no context no-such-file on this host: `iommuctl contexts` lists them.\n"), (unknown.Exit, unknown.Output, unknown.Error));
        await vmm.Client.DisposeAsync();
    }

    [Fact]
    public async Task Contexts_shows_the_iommufd_its_session_pid_client_fds_and_object_counts_but_not_the_device_file()
    {
        await using var host = await TestHost.RealAsync();
        var vmm = await VmmSetup.StartAsync(host.SocketPath);
        var f = vmm.ContextFile;
        var session = vmm.Client.SessionToken.ToString("x16");

        var json = await IommuctlRun.RunAsync(host, "contexts", "--json");
        Assert.Equal(
            $$"""{"contexts":[{"file":"{{f}}","path":"/dev/iommu","session":"{{session}}","pid":4242,"client":"vmm-spec","fds":[3],"connected":true,""" +
            $$""" "objects":3,"kinds":{"Device":1,"HwptPaging":1,"Ioas":1},"pasidSet":"","node":"{{host.Node}}","runsOn":"{{host.Node}}"}]}"""[1..] + "\n",
            json.Output);

        var table = await IommuctlRun.RunAsync(host, "contexts");
        Assert.Equal(0, table.Exit);
        Assert.Equal(
            $"│ {f} │ {session} │ 4242 │ vmm-spec │ 3   │ 3       │ Device 1, HwptPaging 1, Ioas 1 │           │ {host.Node} │",
            table.Lines[4]);
        Assert.Equal(6, table.Lines.Length);

        // Closing the last fd of the iommufd ends the context.
        await vmm.Client.CloseAsync(vmm.Device);
        await vmm.Client.CloseAsync(vmm.Iommufd);
        Assert.Equal("""{"contexts":[]}""" + "\n", (await IommuctlRun.RunAsync(host, "contexts", "--json")).Output);
        await vmm.Client.DisposeAsync();
    }
}
