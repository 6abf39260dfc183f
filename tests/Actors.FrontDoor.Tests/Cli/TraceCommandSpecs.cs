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
    public async Task Trace_shows_a_VMMs_opens_ioctls_with_their_arguments_and_closes_in_order_and_the_IOASID_event_of_its_PASID_alloc()
    {
        await using var host = await TestHost.RealAsync();
        var tracing = await IommuctlRun.StartAsync(host, CancellationToken.None, "trace", "--count", "9");

        var vmm = await VmmSetup.StartAsync(host.SocketPath);
        var pasid = await vmm.Client.IoctlAsync(vmm.Iommufd, EmulatorIoctls.PASID_ALLOC, new EmuPasidAlloc(12, 0, 0));
        var missing = await vmm.Client.IoctlRawAsync(vmm.Iommufd, Ioctls.IOMMU_DESTROY, 0, UserStruct.Encode(new IommuDestroy(8, 99)));
        Assert.Equal(Errno.ENOENT, missing.Errno);
        await vmm.Client.CloseAsync(vmm.Device);

        var run = await tracing.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal((0, $"tracing opens, closes, ioctls and IOASID events at {host.SocketPath}; Ctrl-C to stop\n"), (run.Exit, run.Error));
        Assert.Equal(
        [
            "open    pid 4242 fd 3 /dev/iommu = 0",
            "ioctl   pid 4242 fd 3 IOMMU_IOAS_ALLOC {flags=0} => {out_ioas_id=1} = 0",
            "open    pid 4242 fd 4 /dev/vfio/devices/vfio0 = 0",
            "ioctl   pid 4242 fd 4 VFIO_DEVICE_BIND_IOMMUFD {flags=0, iommufd=3} => {out_devid=2} = 0",
            "ioctl   pid 4242 fd 4 VFIO_DEVICE_ATTACH_IOMMUFD_PT {flags=0, pt_id=1, pasid=0} => {pt_id=3} = 0",
            $"ioctl   pid 4242 fd 3 PASID_ALLOC {{flags=0}} => {{out_pasid={pasid.OutPasid}}} = 0",
            "ioctl   pid 4242 fd 3 IOMMU_DESTROY {id=99} = -1 ENOENT",
            "close   pid 4242 fd 4 /dev/vfio/devices/vfio0 = 0",
        ], Untimed(run).Where(l => !l.StartsWith("ioasid ", StringComparison.Ordinal)));
        // The IOASID event travels the notifier bus, beside the ioctl's reply: only its own place among events is fixed.
        Assert.Equal([$"ioasid  Alloc pasid-set-{vmm.ContextFile} pasid {pasid.OutPasid}"],
            Untimed(run).Where(l => l.StartsWith("ioasid ", StringComparison.Ordinal)));
        await vmm.Client.DisposeAsync();
    }

    [Fact]
    public async Task A_failed_open_and_a_close_of_an_fd_another_fd_shares_say_so()
    {
        await using var host = await TestHost.RealAsync();
        var tracing = await IommuctlRun.StartAsync(host, CancellationToken.None, "trace", "--count", "4");

        await using var client = await IommuClient.ConnectAsync(host.SocketPath, new IommuClientOptions { Pid = 31 });
        var missing = await Assert.ThrowsAsync<IommuException>(() => client.OpenAsync("/dev/vfio/devices/vfio99"));
        var iommufd = await client.OpenAsync("/dev/iommu");
        var copy = await client.DupAsync(iommufd);
        await client.CloseAsync(iommufd);
        await client.CloseAsync(copy);

        var run = await tracing.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(
        [
            $"open    pid 31 fd 3 /dev/vfio/devices/vfio99 = -1 {Errno.Name(missing.Errno)}",
            "open    pid 31 fd 3 /dev/iommu = 0",
            $"close   pid 31 fd 3 /dev/iommu = 0 (another fd still holds the file)",
            $"close   pid 31 fd {copy} /dev/iommu = 0",
        ], Untimed(run));
    }

    [Fact]
    public async Task A_bind_refused_because_another_session_holds_the_device_says_in_the_trace_which_session_holds_it()
    {
        await using var host = await TestHost.RealAsync();
        var tracing = await IommuctlRun.StartAsync(host, CancellationToken.None, "trace", "--count", "8");

        var holder = await VmmSetup.StartAsync(host.SocketPath); // binds vfio0: three ioctls
        await using var late = await IommuClient.ConnectAsync(host.SocketPath, new IommuClientOptions { Pid = 99 });
        var iommufd = await late.OpenAsync("/dev/iommu");
        var device = await late.OpenAsync("/dev/vfio/devices/vfio0");
        var refused = await late.IoctlRawAsync(device, Ioctls.VFIO_DEVICE_BIND_IOMMUFD, 0, UserStruct.Encode(new VfioDeviceBindIommufd(16, 0, iommufd, 0, 0)));
        Assert.Equal(Errno.EINVAL, refused.Errno);

        var run = await tracing.WaitAsync(TimeSpan.FromSeconds(30));
        var session = holder.Client.SessionToken.ToString("x16");
        Assert.Equal($"ioctl   pid 99 fd {device} VFIO_DEVICE_BIND_IOMMUFD {{flags=0, iommufd={iommufd}}} = -1 EINVAL (the device is held by session {session} " +
                     $"(device file {holder.DeviceFile}, iommufd {holder.ContextFile}))", Untimed(run).Last());
        await holder.Client.DisposeAsync();
    }

    [Fact]
    public async Task Trace_json_gives_each_open_and_ioctl_as_the_EXT_TRACE_EVENT_document()
    {
        await using var host = await TestHost.RealAsync();
        var tracing = await IommuctlRun.StartAsync(host, CancellationToken.None, "trace", "--json", "--count", "2");

        await using var client = await IommuClient.ConnectAsync(host.SocketPath, new IommuClientOptions { Pid = 77 });
        var iommufd = await client.OpenAsync("/dev/iommu");
        await client.IoctlAsync(iommufd, Ioctls.IOMMU_IOAS_ALLOC, new IommuIoasAlloc(12, 0, 0));

        var run = await tracing.WaitAsync(TimeSpan.FromSeconds(30));
        var session = client.SessionToken.ToString("x16");
        Assert.Equal(
        [
            $$"""{"type":"open","time":"{{TraceTime.Of(run.Lines[0])}}","session":"{{session}}","pid":77,"fd":3,"path":"/dev/iommu","file":"{{session}}-1","errno":0}""",
            $$"""{"type":"ioctl","time":"{{TraceTime.Of(run.Lines[1])}}","session":"{{session}}","pid":77,"fd":3,"file":"{{session}}-1","request":"0x{{Ioctls.IOMMU_IOAS_ALLOC:x}}","name":"IOMMU_IOAS_ALLOC","given":"{flags=0}","returned":"{out_ioas_id=1}","errno":0,"retval":0}""",
        ], run.Lines);
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
