using IommuActors.TestSupport;
using IommuActors.Uapi;
using IommuActors.Uapi.Structs;
using Xunit;

namespace IommuActors.FrontDoor.Tests.Cli;

/// <summary>iommuctl dma and objects through the socket of a real host, after the VMM mapped guest memory.</summary>
public sealed class DmaCommandSpecs
{
    private const ulong Ram = 0x7f00_0000_0000;

    [Fact]
    public async Task A_DMA_and_its_fault_name_the_HWPT_they_went_through_as_objects_does_and_objects_shows_what_the_IOAS_maps()
    {
        await using var host = await TestHost.RealAsync();
        var vmm = await VmmSetup.StartAsync(host.SocketPath);
        var f = vmm.ContextFile;
        vmm.Client.Memory.Map(Ram, 0x6000);
        await vmm.Client.IoctlAsync(vmm.Iommufd, Ioctls.IOMMU_IOAS_MAP,
            new IommuIoasMap(40, IoasMapFlags.FixedIova | IoasMapFlags.Readable | IoasMapFlags.Writeable, 1, 0, Ram, 0x4000, 0x100000));
        await vmm.Client.IoctlAsync(vmm.Iommufd, Ioctls.IOMMU_IOAS_MAP,
            new IommuIoasMap(40, IoasMapFlags.FixedIova | IoasMapFlags.Readable, 1, 0, Ram + 0x2000, 0x4000, 0x200000));

        var reached = await IommuctlRun.RunAsync(host, "dma", "--pci", VmmSetup.Pci, "--iova", "0x100800", "--length", "16");
        Assert.Equal((0, ""), (reached.Exit, reached.Error));
        Assert.Equal($"DMA by {VmmSetup.Pci} through dmar0, HwptPaging 3 of context {f}", reached.Lines[0].Trim());
        Assert.Equal("│ 0x100800 │ 0x7f0000000800 │ 16    │", reached.Lines[4]);

        var fault = await IommuctlRun.RunAsync(host, "dma", "--pci", VmmSetup.Pci, "--iova", "0x300000");
        Assert.Equal(3, fault.Exit);
        Assert.Matches($@"^fault NotPresent at 0x300000 \(device {VmmSetup.Pci}, RID, HwptPaging 3 of context {f} \(domain \d+\), Read\)$",
            Assert.Single(fault.Lines));

        // Two maps of 16 KiB over 24 KiB of user memory: each map pins its own pages (the kernel's iopt_pages), the 8 KiB both map twice.
        var objects = await IommuctlRun.RunAsync(host, "objects", "--context", f);
        Assert.Equal((0, ""), (objects.Exit, objects.Error));
        var mappings = objects.Lines.SkipWhile(l => l.Trim() != "IOAS mappings").ToArray();
        Assert.Equal(
        [
            "IOAS mappings",
            "┌────────────────────┬────┬──────────┬────────┬──────────────┬───────────────┐",
            "│ context            │ id │ mappings │ bytes  │ pinned pages │ locked memory │",
            "├────────────────────┼────┼──────────┼────────┼──────────────┼───────────────┤",
            $"│ {f} │ 1  │ 2        │ 32 KiB │ 8            │ 32 KiB        │",
            "└────────────────────┴────┴──────────┴────────┴──────────────┴───────────────┘",
        ], mappings.Select(l => l.Trim()));
        await vmm.Client.DisposeAsync();
    }
}
