using System.Net.Sockets;
using IommuActors.Cli;
using IommuActors.TestSupport;
using Xunit;

namespace IommuActors.FrontDoor.Tests.Cli;

/// <summary>
/// Issue 17 point 3: iommuctl's errors name the problem in the user's terms and the next step, as
/// one line on stderr of the process; exit code 1 for a failure, 2 for a bad argument, 3 for a DMA
/// that faulted.
/// </summary>
public sealed class IommuctlErrorSpecs
{
    private const string StartHost =
        "Start one with `iommuctl serve` (or `dotnet run --project src/Actors.Host`) in the folder whose run/iommufd.sock you want, " +
        "or point --socket or $IOMMUFD_SOCKET at a running host's socket.";

    [Fact]
    public async Task Without_a_host_it_says_the_socket_does_not_exist_and_how_to_start_one()
    {
        var folder = TempFolder.Create("iommuctl-nohost");
        var run = await IommuctlProcess.RunAsync(folder, "status");

        Assert.Equal(Problems.Failed, run.Exit);
        Assert.Equal([$"iommuctl: no host is running at {Path.Combine(folder, "run", "iommufd.sock")}: that socket does not exist. {StartHost}"], run.Stderr);
        Assert.Empty(run.Stdout);
    }

    [Fact]
    public async Task A_socket_left_by_a_host_that_died_is_told_apart_from_a_missing_one()
    {
        var folder = TempFolder.Create("iommuctl-stale");
        var path = Path.Combine(folder, "stale.sock");
        // Bound, never listening: the file is there and connect gets ECONNREFUSED, as after a host that was killed.
        using var left = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        left.Bind(new UnixDomainSocketEndPoint(path));

        var run = await IommuctlProcess.RunAsync(folder, "contexts", "--socket", path);

        Assert.Equal(Problems.Failed, run.Exit);
        Assert.Equal([$"iommuctl: no host answers at {path}: the socket is left from a host that stopped. {StartHost}"], run.Stderr);
    }

    [Theory]
    [InlineData("--iova", "zz", "iommuctl: --iova is \"zz\": give a number, decimal (4096) or hex with 0x (0x1000).")]
    [InlineData("--length", "0x", "iommuctl: --length is \"0x\": give a number, decimal (4096) or hex with 0x (0x1000).")]
    [InlineData("--pci", "0000:00:02", "iommuctl: --pci is \"0000:00:02\": give a PCI address as domain:bus:device.function, e.g. 0000:00:02.0 (`iommuctl platform` lists the devices).")]
    [InlineData("--pci", "vfio0", "iommuctl: --pci is \"vfio0\": give a PCI address as domain:bus:device.function, e.g. 0000:00:02.0 (`iommuctl platform` lists the devices).")]
    public async Task A_bad_dma_argument_is_one_line_and_exit_code_2_before_any_host_is_asked(string option, string value, string line)
    {
        var folder = TempFolder.Create("iommuctl-badarg");
        string[] args = ["dma", "--pci", "0000:00:02.0", "--iova", "0x1000", "--length", "4096"];
        args[Array.IndexOf(args, option) + 1] = value;

        var run = await IommuctlProcess.RunAsync(folder, args);

        Assert.Equal(Problems.BadArgument, run.Exit);
        Assert.Equal([line], run.Stderr);
    }

    [Fact]
    public async Task A_missing_option_or_unknown_command_is_exit_code_2_with_where_to_look()
    {
        var folder = TempFolder.Create("iommuctl-usage");
        var run = await IommuctlProcess.RunAsync(folder, "dma", "--iova", "1");

        Assert.Equal(Problems.BadArgument, run.Exit);
        Assert.Equal(["iommuctl: Option '--pci' is required.", "iommuctl: `iommuctl dma --help` shows what it takes."], run.Stderr);
    }

    [Theory]
    [InlineData("00:02.0", "0000:00:02.0")]
    [InlineData("0000:F0:01.0", "0000:f0:01.0")]
    [InlineData("0000:00:20.0", null)]
    [InlineData("0000:00:02.8", null)]
    public void A_PCI_address_is_checked_as_one(string text, string? canonical)
    {
        Assert.Equal(canonical, Problems.PciAddress(text));
    }

    [Fact]
    public async Task A_device_the_platform_lacks_is_named_and_a_fault_exits_3()
    {
        await using var host = await TestHost.RealAsync();

        var missing = await IommuctlProcess.RunAsync(host.WorkDir, "dma", "--pci", "0000:00:1f.0", "--iova", "0x1000", "--socket", host.SocketPath);
        Assert.Equal(Problems.Failed, missing.Exit);
        Assert.Equal(["iommuctl: this host's platform has no device 0000:00:1f.0: `iommuctl platform` lists its devices."], missing.Stderr);

        // Nothing is attached to 00:02.0, so its unit has no context entry for it.
        var fault = await IommuctlProcess.RunAsync(host.WorkDir, "dma", "--pci", "00:02.0", "--iova", "0x1000", "--socket", host.SocketPath);
        Assert.Equal(Problems.DmaFaulted, fault.Exit);
        Assert.StartsWith("fault NoContext at 0x1000 (device 0000:00:02.0", Assert.Single(fault.Stdout));

        var json = await IommuctlProcess.RunAsync(host.WorkDir, "dma", "--pci", "00:02.0", "--iova", "0x1000", "--json", "--socket", host.SocketPath);
        Assert.Equal(Problems.DmaFaulted, json.Exit);
        Assert.Contains("\"completed\":false", Assert.Single(json.Stdout));
    }
}
