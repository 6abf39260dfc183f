using System.Text;
using IommuActors.Client;
using IommuActors.Uapi;
using IommuActors.Uapi.Wire;
using Xunit;

namespace IommuActors.FrontDoor.Tests;

/// <summary>EXT_TRACE and EXT_TRACE_EVENT byte for byte (docs/wire-extensions.md), with the fake files behind the front door.</summary>
public sealed class TraceFrameSpecs(SharedHost shared) : IClassFixture<SharedHost>
{
    private TestHost Host => shared.Host;

    [Fact]
    public async Task EXT_TRACE_is_answered_errno_0_and_then_each_open_ioctl_and_close_comes_as_an_EXT_TRACE_EVENT_notification_with_the_servers_seq()
    {
        await using var tracer = await Host.ConnectRawAsync();
        await tracer.HelloAsync();
        await tracer.SendAsync(0x8007, 0, 2, []);
        var started = await tracer.ReadAsync();
        Assert.Equal(((ushort)0x8007, FrameFlags.Reply, 2UL), (started.Kind, started.Flags, started.Seq));
        Assert.Equal([.. RawWire.Errno(0), .. "{}"u8.ToArray()], started.Body);

        await using var client = await IommuClient.ConnectAsync(Host.SocketPath, new IommuClientOptions { Pid = 99 });
        var fd = await client.OpenAsync("/dev/iommu");
        await client.IoctlAsync(fd, FakeIoctl.Echo, 0, [1, 2, 3]);
        await client.IoctlRawAsync(fd, 0x3bff, 0, []);

        var session = client.SessionToken.ToString("x16");
        var open = await tracer.ReadAsync();
        Assert.Equal(((ushort)0x8008, FrameFlags.None, 1UL), (open.Kind, open.Flags, open.Seq));
        Assert.Equal(
            $$"""{"type":"open","time":"{{TraceTime.Of(open.Body)}}","session":"{{session}}","pid":99,"fd":3,"path":"/dev/iommu","file":"{{session}}-1","errno":0}""",
            Encoding.UTF8.GetString(open.Body));
        var first = await tracer.ReadAsync();
        Assert.Equal(((ushort)0x8008, FrameFlags.None, 2UL), (first.Kind, first.Flags, first.Seq));
        Assert.Equal(
            $$"""{"type":"ioctl","time":"{{TraceTime.Of(first.Body)}}","session":"{{session}}","pid":99,"fd":3,"file":"{{session}}-1","request":"0xe0","name":"ioctl 0xe0","errno":0,"retval":3}""",
            Encoding.UTF8.GetString(first.Body));
        var second = await tracer.ReadAsync();
        Assert.Equal(((ushort)0x8008, FrameFlags.None, 3UL), (second.Kind, second.Flags, second.Seq));
        Assert.Equal(
            $$"""{"type":"ioctl","time":"{{TraceTime.Of(second.Body)}}","session":"{{session}}","pid":99,"fd":3,"file":"{{session}}-1","request":"0x3bff","name":"ioctl 0x3bff","errno":{{Errno.ENOTTY}},"retval":0}""",
            Encoding.UTF8.GetString(second.Body));

        await client.CloseAsync(fd);
        var close = await tracer.ReadAsync();
        Assert.Equal(
            $$"""{"type":"close","time":"{{TraceTime.Of(close.Body)}}","session":"{{session}}","pid":99,"fd":3,"path":"/dev/iommu","file":"{{session}}-1","errno":0,"released":true}""",
            Encoding.UTF8.GetString(close.Body));
    }

    [Fact]
    public async Task A_second_EXT_TRACE_on_the_connection_is_EALREADY_and_a_client_sending_EXT_TRACE_EVENT_gets_EINVAL()
    {
        await using var tracer = await Host.ConnectRawAsync();
        await tracer.HelloAsync();
        await tracer.SendAsync(0x8007, 0, 2, []);
        Assert.Equal(2UL, (await tracer.ReadAsync()).Seq);
        await tracer.SendAsync(0x8007, 0, 3, []);
        var again = await tracer.ReadAsync();
        Assert.Equal(((ushort)0x8007, FrameFlags.Reply, 3UL), (again.Kind, again.Flags, again.Seq));
        Assert.Equal(RawWire.Errno(Errno.EALREADY), again.Body);
        await tracer.SendAsync(0x8008, 0, 4, []);
        var wrong = await tracer.ReadAsync();
        Assert.Equal(((ushort)0x8008, FrameFlags.Reply, 4UL), (wrong.Kind, wrong.Flags, wrong.Seq));
        Assert.Equal(RawWire.Errno(Errno.EINVAL), wrong.Body);
    }

}
