using IommuActors.TestSupport;
using IommuActors.Client;
using IommuActors.Uapi;
using IommuActors.Uapi.Structs;
using Xunit;

namespace IommuActors.FrontDoor.Tests.Cli;

/// <summary>iommuctl trace through the socket of a real host: what another client does, as it happens.</summary>
public sealed class TraceCommandSpecs
{
    [Fact]
    public async Task Trace_shows_a_VMMs_ioctls_in_order_with_their_results_and_the_IOASID_event_of_its_PASID_alloc()
    {
        await using var host = await TestHost.RealAsync();
        var tracing = await IommuctlRun.StartAsync(host, CancellationToken.None, "trace", "--count", "6");

        var vmm = await VmmSetup.StartAsync(host.SocketPath);
        var pasid = await vmm.Client.IoctlAsync(vmm.Iommufd, EmulatorIoctls.PASID_ALLOC, new EmuPasidAlloc(12, 0, 0));
        var missing = await vmm.Client.IoctlRawAsync(vmm.Iommufd, Ioctls.IOMMU_DESTROY, 0, UserStruct.Encode(new IommuDestroy(8, 99)));
        Assert.Equal(Errno.ENOENT, missing.Errno);

        var run = await tracing.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal((0, $"tracing ioctls and IOASID events at {host.SocketPath}; Ctrl-C to stop\n"), (run.Exit, run.Error));
        Assert.Equal(
        [
            "ioctl   pid 4242 fd 3 IOMMU_IOAS_ALLOC = 0",
            "ioctl   pid 4242 fd 4 VFIO_DEVICE_BIND_IOMMUFD = 0",
            "ioctl   pid 4242 fd 4 VFIO_DEVICE_ATTACH_IOMMUFD_PT = 0",
            "ioctl   pid 4242 fd 3 PASID_ALLOC = 0",
            "ioctl   pid 4242 fd 3 IOMMU_DESTROY = -1 ENOENT",
        ], Untimed(run).Where(l => l.StartsWith("ioctl ", StringComparison.Ordinal)));
        // The IOASID event travels the notifier bus, beside the ioctl's reply: only its own place among events is fixed.
        Assert.Equal([$"ioasid  Alloc pasid-set-{vmm.ContextFile} pasid {pasid.OutPasid}"],
            Untimed(run).Where(l => l.StartsWith("ioasid ", StringComparison.Ordinal)));
        await vmm.Client.DisposeAsync();
    }

    [Fact]
    public async Task A_bind_refused_because_another_session_holds_the_device_says_in_the_trace_which_session_holds_it()
    {
        await using var host = await TestHost.RealAsync();
        var tracing = await IommuctlRun.StartAsync(host, CancellationToken.None, "trace", "--count", "4");

        var holder = await VmmSetup.StartAsync(host.SocketPath); // binds vfio0: three ioctls
        await using var late = await IommuClient.ConnectAsync(host.SocketPath, new IommuClientOptions { Pid = 99 });
        var iommufd = await late.OpenAsync("/dev/iommu");
        var device = await late.OpenAsync("/dev/vfio/devices/vfio0");
        var refused = await late.IoctlRawAsync(device, Ioctls.VFIO_DEVICE_BIND_IOMMUFD, 0, UserStruct.Encode(new VfioDeviceBindIommufd(16, 0, iommufd, 0, 0)));
        Assert.Equal(Errno.EINVAL, refused.Errno);

        var run = await tracing.WaitAsync(TimeSpan.FromSeconds(30));
        var session = holder.Client.SessionToken.ToString("x16");
        Assert.Equal($"ioctl   pid 99 fd {device} VFIO_DEVICE_BIND_IOMMUFD = -1 EINVAL (the device is held by session {session} " +
                     $"(device file {holder.DeviceFile}, iommufd {holder.ContextFile}))", Untimed(run).Last());
        await holder.Client.DisposeAsync();
    }

    [Fact]
    public async Task Trace_json_gives_each_ioctl_as_the_EXT_TRACE_EVENT_document()
    {
        await using var host = await TestHost.RealAsync();
        var tracing = await IommuctlRun.StartAsync(host, CancellationToken.None, "trace", "--json", "--count", "1");

        await using var client = await IommuClient.ConnectAsync(host.SocketPath, new IommuClientOptions { Pid = 77 });
        var iommufd = await client.OpenAsync("/dev/iommu");
        await client.IoctlAsync(iommufd, Ioctls.IOMMU_IOAS_ALLOC, new IommuIoasAlloc(12, 0, 0));

        var run = await tracing.WaitAsync(TimeSpan.FromSeconds(30));
        var session = client.SessionToken.ToString("x16");
        Assert.Equal(
            $$"""{"type":"ioctl","time":"{{TraceTime.Of(run.Output)}}","session":"{{session}}","pid":77,"fd":3,"file":"{{session}}-1","request":"0x{{Ioctls.IOMMU_IOAS_ALLOC:x}}","name":"IOMMU_IOAS_ALLOC","errno":0,"retval":0}""" + "\n",
            run.Output);
    }

    [Fact]
    public async Task Ctrl_C_ends_a_trace_with_exit_code_0_and_nothing_on_stdout()
    {
        await using var host = await TestHost.RealAsync();
        using var ctrlC = new CancellationTokenSource();
        var tracing = await IommuctlRun.StartAsync(host, ctrlC.Token, "trace");
        await ctrlC.CancelAsync();
        var run = await tracing.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal((0, ""), (run.Exit, run.Output));
    }

    /// <summary>Each line starts with the time the host saw it (HH:mm:ss.fff); the rest follows.</summary>
    private static IEnumerable<string> Untimed(IommuctlRun run) => run.Lines.Select(l =>
    {
        Assert.Matches(@"^\d\d:\d\d:\d\d\.\d\d\d ", l);
        return l[13..];
    });
}
