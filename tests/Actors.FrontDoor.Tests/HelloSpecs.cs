using System.Buffers.Binary;
using IommuActors.Client;
using IommuActors.Uapi;
using IommuActors.Uapi.Wire;
using Xunit;

namespace IommuActors.FrontDoor.Tests;

public sealed class SharedHost : IAsyncLifetime
{
    public TestHost Host { get; private set; } = null!;
    public async Task InitializeAsync() => Host = await TestHost.InMemoryAsync();
    public async Task DisposeAsync() => await Host.DisposeAsync();
}

public sealed class HelloSpecs(SharedHost shared) : IClassFixture<SharedHost>
{
    private TestHost Host => shared.Host;

    [Fact]
    public async Task HELLO_is_answered_with_errno_0_version_1_the_max_frame_and_a_session_token()
    {
        await using var wire = await Host.ConnectRawAsync();
        await wire.SendAsync(1, new HelloRequest(1, 4242, 0, "raw-spec"));
        var reply = await wire.ReadAsync();

        Assert.Equal((ushort)FrameKind.Hello, reply.Kind);
        Assert.Equal(FrameFlags.Reply, reply.Flags);
        Assert.Equal(1UL, reply.Seq);
        Assert.Equal(20 + "iommu-actors".Length, reply.Body.Length);
        Assert.Equal(0, BinaryPrimitives.ReadInt32LittleEndian(reply.Body));
        Assert.Equal(1u, BinaryPrimitives.ReadUInt32LittleEndian(reply.Body.AsSpan(4)));
        Assert.Equal((uint)WireFormat.DefaultMaxFrame, BinaryPrimitives.ReadUInt32LittleEndian(reply.Body.AsSpan(8)));
        Assert.NotEqual(0UL, BinaryPrimitives.ReadUInt64LittleEndian(reply.Body.AsSpan(12)));
        Assert.Equal("iommu-actors"u8.ToArray(), reply.Body[20..]);
    }

    [Fact]
    public async Task A_first_frame_that_is_not_HELLO_gets_EPROTO_and_the_connection_closes()
    {
        await using var wire = await Host.ConnectRawAsync();
        await wire.SendAsync(7, new OpenRequest(3, 2, "/dev/iommu"));
        var reply = await wire.ReadAsync();

        Assert.Equal(((ushort)FrameKind.Open, FrameFlags.Reply, 7UL), (reply.Kind, reply.Flags, reply.Seq));
        Assert.Equal(RawWire.Errno(Errno.EPROTO), reply.Body);
        await wire.AssertClosedAsync();
    }

    [Fact]
    public async Task HELLO_with_an_unsupported_version_gets_EPROTO_and_the_connection_closes()
    {
        await using var wire = await Host.ConnectRawAsync();
        await wire.SendAsync(1, new HelloRequest(2, 4242, 0, "from-the-future"));
        var reply = await wire.ReadAsync();

        Assert.True(HelloReply.TryParse(reply.Body, out var hello));
        Assert.Equal(Errno.EPROTO, hello!.Errno);
        Assert.Equal(0UL, hello.SessionToken);
        await wire.AssertClosedAsync();
    }

    [Fact]
    public async Task A_frame_with_unknown_flag_bits_gets_EPROTO_and_the_connection_closes()
    {
        await using var wire = await Host.ConnectRawAsync();
        await wire.HelloAsync();
        await wire.SendAsync((ushort)FrameKind.Close, 0x8, 9, RawWire.Errno(3));
        var reply = await wire.ReadAsync();

        Assert.Equal(((ushort)FrameKind.Close, FrameFlags.Reply, 9UL), (reply.Kind, reply.Flags, reply.Seq));
        Assert.Equal(RawWire.Errno(Errno.EPROTO), reply.Body);
        await wire.AssertClosedAsync();
    }

    [Fact]
    public async Task An_unknown_kind_or_a_malformed_body_gets_EINVAL_and_the_connection_stays_open()
    {
        await using var wire = await Host.ConnectRawAsync();
        await wire.HelloAsync();
        await wire.SendAsync(0x55, 0, 2, [1, 2, 3]);
        await wire.SendAsync((ushort)FrameKind.Close, 0, 3, [1, 2]);
        await wire.SendAsync((ushort)FrameKind.Hello, 0, 4, new byte[16]);

        var unknown = await wire.ReadAsync();
        var malformed = await wire.ReadAsync();
        var secondHello = await wire.ReadAsync();
        Assert.Equal((0x55, 2UL), (unknown.Kind, unknown.Seq));
        Assert.Equal(RawWire.Errno(Errno.EINVAL), unknown.Body);
        Assert.Equal(((ushort)FrameKind.Close, 3UL), (malformed.Kind, malformed.Seq));
        Assert.Equal(RawWire.Errno(Errno.EINVAL), malformed.Body);
        Assert.Equal(Errno.EINVAL, BinaryPrimitives.ReadInt32LittleEndian(secondHello.Body));

        await wire.SendAsync(5, new CloseRequest(3));
        var close = await wire.ReadAsync();
        Assert.Equal(RawWire.Errno(Errno.EBADF), close.Body);
    }

    [Fact]
    public async Task A_frame_over_max_frame_fails_that_request_with_EINVAL_only()
    {
        await using var wire = await Host.ConnectRawAsync();
        await wire.HelloAsync();
        await wire.SendAsync(2, new WriteRequest(3, new byte[WireFormat.DefaultMaxFrame]));
        await wire.SendAsync(3, new CloseRequest(3));

        var big = await wire.ReadAsync();
        Assert.Equal(((ushort)FrameKind.Write, 2UL), (big.Kind, big.Seq));
        Assert.Equal(new WriteReply(Errno.EINVAL, 0), WriteReply.TryParse(big.Body, out var w) ? w : null);
        var close = await wire.ReadAsync();
        Assert.Equal(3UL, close.Seq);
        Assert.Equal(RawWire.Errno(Errno.EBADF), close.Body);
    }

    [Fact]
    public async Task Resuming_a_token_the_host_does_not_know_gets_ENOENT()
    {
        var error = await Assert.ThrowsAsync<IommuException>(() => IommuClient.ConnectAsync(Host.SocketPath,
            new IommuClientOptions { ResumeToken = 0x1234_5678_9abc_def0 }));
        Assert.Equal(Errno.ENOENT, error.Errno);
    }

    [Fact]
    public async Task A_peer_uid_outside_the_allow_list_gets_EACCES_and_the_connection_closes()
    {
        await using var host = await TestHost.InMemoryAsync("--Iommu:AllowedUids", "4242424");
        await using var wire = await host.ConnectRawAsync();
        await wire.SendAsync(1, new HelloRequest(1, 1, 0, "stranger"));
        var reply = await wire.ReadAsync();

        Assert.True(HelloReply.TryParse(reply.Body, out var hello));
        Assert.Equal((Errno.EACCES, 0UL), (hello!.Errno, hello.SessionToken));
        await wire.AssertClosedAsync();
    }

    [Fact]
    public async Task Status_and_platform_extensions_answer_JSON_with_the_sessions_and_units()
    {
        await using var client = await IommuClient.ConnectAsync(Host.SocketPath, new IommuClientOptions { ClientName = "status-spec" });
        var status = System.Text.Json.JsonDocument.Parse(await client.StatusJsonAsync()).RootElement;
        var platform = System.Text.Json.JsonDocument.Parse(await client.PlatformJsonAsync()).RootElement;

        Assert.Equal("Up", status.GetProperty("cluster").GetProperty("status").GetString());
        Assert.Contains(status.GetProperty("sessions").EnumerateArray(),
            s => s.GetProperty("token").GetString() == client.SessionToken.ToString("x16")
                 && s.GetProperty("client").GetString() == "status-spec" && s.GetProperty("connected").GetBoolean());
        Assert.NotEmpty(platform.GetProperty("units").EnumerateArray());
        Assert.NotEmpty(platform.GetProperty("devices").EnumerateArray());
    }
}
