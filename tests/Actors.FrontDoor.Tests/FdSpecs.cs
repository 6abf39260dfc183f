using System.Buffers.Binary;
using System.Text;
using IommuActors.Client;
using IommuActors.Uapi;
using IommuActors.Uapi.Wire;
using Xunit;

namespace IommuActors.FrontDoor.Tests;

public sealed class FdSpecs(SharedHost shared) : IClassFixture<SharedHost>
{
    private TestHost Host => shared.Host;

    private static async Task<RawFrame> Reply(RawWire wire, ulong seq, FrameKind kind)
    {
        var frame = await wire.ReadAsync();
        Assert.Equal(((ushort)kind, FrameFlags.Reply, seq), (frame.Kind, frame.Flags, frame.Seq));
        return frame;
    }

    [Fact]
    public async Task Requests_on_an_fd_that_is_not_open_get_EBADF_with_the_exact_reply_bodies()
    {
        await using var wire = await Host.ConnectRawAsync();
        await wire.HelloAsync();
        await wire.SendAsync(2, new IoctlRequest(3, FakeIoctl.Echo, 0, [1, 2, 3, 4]));
        await wire.SendAsync(3, new ReadRequest(3, 16));
        await wire.SendAsync(4, new WriteRequest(3, [9]));
        await wire.SendAsync(5, new CloseRequest(3));
        await wire.SendAsync(6, new DupRequest(3, 4));

        Assert.Equal(new byte[] { 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 }, (await Reply(wire, 2, FrameKind.Ioctl)).Body);
        Assert.Equal(RawWire.Errno(Errno.EBADF), (await Reply(wire, 3, FrameKind.Read)).Body);
        Assert.Equal(new byte[] { 9, 0, 0, 0, 0, 0, 0, 0 }, (await Reply(wire, 4, FrameKind.Write)).Body);
        Assert.Equal(RawWire.Errno(Errno.EBADF), (await Reply(wire, 5, FrameKind.Close)).Body);
        Assert.Equal(RawWire.Errno(Errno.EBADF), (await Reply(wire, 6, FrameKind.Dup)).Body);
    }

    [Fact]
    public async Task OPEN_on_an_open_fd_and_DUP_onto_an_open_fd_get_EBADF()
    {
        await using var wire = await Host.ConnectRawAsync();
        await wire.HelloAsync();
        await wire.SendAsync(2, new OpenRequest(3, 2, "/dev/iommu"));
        await wire.SendAsync(3, new OpenRequest(4, 2, "/dev/iommu"));
        await wire.SendAsync(4, new OpenRequest(3, 2, "/dev/iommu"));
        await wire.SendAsync(5, new DupRequest(3, 4));
        await wire.SendAsync(6, new OpenRequest(-1, 2, "/dev/iommu"));

        var replies = new Dictionary<ulong, byte[]>();
        for (var i = 0; i < 5; i++) { var f = await wire.ReadAsync(); replies[f.Seq] = f.Body; }
        Assert.Equal(RawWire.Errno(0), replies[2]);
        Assert.Equal(RawWire.Errno(0), replies[3]);
        Assert.Equal(RawWire.Errno(Errno.EBADF), replies[4]);
        Assert.Equal(RawWire.Errno(Errno.EBADF), replies[5]);
        Assert.Equal(RawWire.Errno(Errno.EBADF), replies[6]);
    }

    [Fact]
    public async Task OPEN_passes_the_file_errno_through_and_leaves_the_fd_closed()
    {
        await using var client = await IommuClient.ConnectAsync(Host.SocketPath);
        var error = await Assert.ThrowsAsync<IommuException>(() => client.OpenAsync("/dev/nonesuch"));
        Assert.Equal(Errno.ENOENT, error.Errno);
        var fd = await client.OpenAsync("/dev/iommu");
        Assert.Equal(3, fd);
    }

    [Fact]
    public async Task IOCTL_carries_request_and_inline_bytes_to_the_file_and_its_writeback_and_retval_back()
    {
        await using var wire = await Host.ConnectRawAsync();
        await wire.HelloAsync();
        await wire.SendAsync(2, new OpenRequest(3, 2, "/dev/iommu"));
        Assert.Equal(RawWire.Errno(0), (await Reply(wire, 2, FrameKind.Open)).Body);
        await wire.SendAsync(3, new IoctlRequest(3, FakeIoctl.Echo, 0x7000, [0xde, 0xad, 0xbe, 0xef, 5]));
        await wire.SendAsync(4, new IoctlRequest(3, Ioctls.IOMMU_IOAS_ALLOC + 0x40, 0, new byte[12]));

        var echo = await Reply(wire, 3, FrameKind.Ioctl);
        Assert.Equal(new byte[] { 0, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 0xde, 0xad, 0xbe, 0xef, 5 }, echo.Body);
        var unknown = await Reply(wire, 4, FrameKind.Ioctl);
        Assert.Equal(new IoctlReply(Errno.ENOTTY, 0, []), IoctlReply.TryParse(unknown.Body, out var u) ? u : null);
    }

    [Fact]
    public async Task IOCTL_tells_the_file_the_uid_and_pid_the_socket_reports_for_the_client()
    {
        await using var client = await IommuClient.ConnectAsync(Host.SocketPath);
        var fd = await client.OpenAsync("/dev/iommu");

        var who = (await client.IoctlAsync(fd, FakeIoctl.WhoCalls, 0, [])).Writeback;

        Assert.Equal((ThisProcess.Euid(), ThisProcess.Pid, ThisProcess.Euid() == 0),
            (BinaryPrimitives.ReadUInt32LittleEndian(who), BinaryPrimitives.ReadUInt32LittleEndian(who.AsSpan(4)), who[8] == 1));
    }

    [Fact]
    public async Task READ_and_WRITE_map_onto_the_file()
    {
        await using var client = await IommuClient.ConnectAsync(Host.SocketPath);
        var fd = await client.OpenAsync("/dev/vfio/devices/vfio0");
        Assert.Equal("hel"u8.ToArray(), await client.ReadAsync(fd, 3));
        Assert.Equal(4u, await client.WriteAsync(fd, [1, 2, 3, 4]));
    }

    [Fact]
    public async Task A_dup_names_the_same_file_and_the_file_is_released_only_when_its_last_fd_closes()
    {
        await using var client = await IommuClient.ConnectAsync(Host.SocketPath);
        var fd = await client.OpenAsync("/dev/iommu");
        var copy = await client.DupAsync(fd);
        var file = Encoding.UTF8.GetString((await client.IoctlAsync(fd, FakeIoctl.WhoAmI, 0, [])).Writeback);
        Assert.Equal(file, Encoding.UTF8.GetString((await client.IoctlAsync(copy, FakeIoctl.WhoAmI, 0, [])).Writeback));

        await client.CloseAsync(fd);
        Assert.Equal(file, Encoding.UTF8.GetString((await client.IoctlAsync(copy, FakeIoctl.WhoAmI, 0, [])).Writeback));
        Assert.DoesNotContain($"release {file}", Host.Files.Lines);
        await client.CloseAsync(copy);
        await Host.Files.WaitFor($"release {file}");
        var again = await Assert.ThrowsAsync<IommuException>(() => client.IoctlAsync(copy, FakeIoctl.WhoAmI, 0, []));
        Assert.Equal(Errno.EBADF, again.Errno);
    }

    [Fact]
    public async Task CLOSE_of_a_files_last_fd_is_answered_once_the_file_is_released_as_close_returns_after_release()
    {
        await using var wire = await Host.ConnectRawAsync();
        var hello = await wire.HelloAsync();
        await wire.SendAsync(2, new OpenRequest(3, 2, "/dev/iommu"));
        Assert.Equal(RawWire.Errno(0), (await Reply(wire, 2, FrameKind.Open)).Body);
        await wire.SendAsync(3, new OpenRequest(4, 2, "/dev/iommu"));
        Assert.Equal(RawWire.Errno(0), (await Reply(wire, 3, FrameKind.Open)).Body);
        await wire.SendAsync(4, new IoctlRequest(3, FakeIoctl.WhoAmI, 0, []));
        Assert.True(IoctlReply.TryParse((await Reply(wire, 4, FrameKind.Ioctl)).Body, out var who));
        var held = Encoding.UTF8.GetString(who!.Writeback);
        await wire.SendAsync(5, new IoctlRequest(3, FakeIoctl.HoldRelease, 0, []));
        await Reply(wire, 5, FrameKind.Ioctl);

        await wire.SendAsync(6, new CloseRequest(3));
        await Host.Files.WaitFor($"release {held}");
        // Once the session directory says one fd is left, the CLOSE's unbind is recorded (and the
        // connection told so before anything sent from now on reaches it): only the release holds the reply.
        await using (var status = await IommuClient.ConnectAsync(Host.SocketPath))
        {
            var session = hello.SessionToken.ToString("x16");
            int? fds = null;
            for (var tries = 0; tries < 100 && fds != 1; tries++)
                fds = System.Text.Json.JsonDocument.Parse(await status.StatusJsonAsync()).RootElement.GetProperty("sessions").EnumerateArray()
                    .Single(s => s.GetProperty("token").GetString() == session).GetProperty("fds").GetInt32();
            Assert.Equal(1, fds);
        }
        await wire.SendAsync(7, new IoctlRequest(4, FakeIoctl.Echo, 0, [9]));
        Assert.Equal(7UL, (await Reply(wire, 7, FrameKind.Ioctl)).Seq);

        await wire.SendAsync(8, new IoctlRequest(4, FakeIoctl.OpenGate, 0, Encoding.UTF8.GetBytes(held)));
        var last = new[] { await wire.ReadAsync(), await wire.ReadAsync() };
        Assert.Equal([((ushort)FrameKind.Close, 6UL, 0), ((ushort)FrameKind.Ioctl, 8UL, 0)],
            last.Select(f => (f.Kind, f.Seq, BinaryPrimitives.ReadInt32LittleEndian(f.Body))).OrderBy(f => f.Seq));
    }

    [Fact]
    public async Task ResolveFd_answers_the_path_an_fd_was_opened_with_and_EBADF_for_a_closed_one()
    {
        await using var client = await IommuClient.ConnectAsync(Host.SocketPath);
        var iommufd = await client.OpenAsync("/dev/iommu");
        var device = await client.OpenAsync("/dev/vfio/devices/vfio0");
        var arg = new byte[4];
        BinaryPrimitives.WriteInt32LittleEndian(arg, iommufd);
        Assert.Equal("/dev/iommu"u8.ToArray(), (await client.IoctlAsync(device, FakeIoctl.Resolve, 0, arg)).Writeback);
        BinaryPrimitives.WriteInt32LittleEndian(arg, 99);
        Assert.Equal(Errno.EBADF, (await client.IoctlRawAsync(device, FakeIoctl.Resolve, 0, arg)).Errno);
    }

    [Fact]
    public async Task MEM_READ_and_MEM_WRITE_are_served_from_the_client_address_space_split_to_max_frame()
    {
        var memory = new ClientAddressSpace();
        var source = memory.Map(0x10_0000, 3 << 20);
        var target = memory.Map(0x100_0000, 3 << 20);
        new Random(7).NextBytes(source);
        await using var client = await IommuClient.ConnectAsync(Host.SocketPath, new IommuClientOptions { AddressSpace = memory });
        var fd = await client.OpenAsync("/dev/iommu");

        // 2.5 MiB does not fit one 1 MiB frame either way.
        var length = (5u << 20) / 2;
        var result = await client.IoctlRawAsync(fd, FakeIoctl.Copy, 0, FakeIoctl.CopyArgs(0x10_0000 + 3, 0x100_0000 + 5, length));

        Assert.Equal(0, result.Errno);
        Assert.Equal(source.AsSpan(3, (int)length).ToArray(), target.AsSpan(5, (int)length).ToArray());
        Assert.All(target.AsSpan(0, 5).ToArray(), b => Assert.Equal(0, b));
    }

    [Fact]
    public async Task A_memory_request_to_an_unmapped_address_fails_the_ioctl_with_EFAULT()
    {
        var memory = new ClientAddressSpace();
        var target = memory.Map(0x2000, 4096);
        memory.Map(0x1000, 16);
        await using var client = await IommuClient.ConnectAsync(Host.SocketPath, new IommuClientOptions { AddressSpace = memory });
        var fd = await client.OpenAsync("/dev/iommu");

        Assert.Equal(Errno.EFAULT, (await client.IoctlRawAsync(fd, FakeIoctl.Copy, 0, FakeIoctl.CopyArgs(0x9000, 0x2000, 8))).Errno);
        Assert.Equal(Errno.EFAULT, (await client.IoctlRawAsync(fd, FakeIoctl.Copy, 0, FakeIoctl.CopyArgs(0x1000, 0x2000, 17))).Errno);
        Assert.All(target, b => Assert.Equal(0, b));
    }

    [Fact]
    public async Task A_memory_request_left_unanswered_fails_the_ioctl_with_EFAULT_after_the_configured_time()
    {
        await using var wire = await Host.ConnectRawAsync();
        await wire.HelloAsync();
        await wire.SendAsync(2, new OpenRequest(3, 2, "/dev/iommu"));
        await Reply(wire, 2, FrameKind.Open);
        await wire.SendAsync(3, new IoctlRequest(3, FakeIoctl.Copy, 0, FakeIoctl.CopyArgs(0x1000, 0x2000, 64)));

        var ask = await wire.ReadAsync();
        Assert.Equal(((ushort)FrameKind.MemRead, FrameFlags.None), (ask.Kind, ask.Flags));
        Assert.Equal(new MemReadRequest(0x1000, 64), MemReadRequest.TryParse(ask.Body, out var m) ? m : null);
        // Not answered: the host's Iommu:MemoryTimeout (0.5 s in these specs) fails the ioctl.
        var reply = await Reply(wire, 3, FrameKind.Ioctl);
        Assert.Equal(new IoctlReply(Errno.EFAULT, 0, []), IoctlReply.TryParse(reply.Body, out var r) ? r : null);

        // A late answer changes nothing and the connection keeps serving.
        await wire.SendAsync(ask.Seq, new MemReadReply(0, new byte[64]));
        await wire.SendAsync(4, new IoctlRequest(3, FakeIoctl.Echo, 0, [1]));
        Assert.Equal(0, BinaryPrimitives.ReadInt32LittleEndian((await Reply(wire, 4, FrameKind.Ioctl)).Body));
    }

    [Fact]
    public async Task A_request_whose_files_actor_stops_unanswered_gets_ETIMEDOUT_at_once_and_the_fd_keeps_working()
    {
        await using var wire = await Host.ConnectRawAsync();
        await wire.HelloAsync();
        await wire.SendAsync(2, new OpenRequest(3, 2, FakeIoctl.NamedPath));
        Assert.Equal(RawWire.Errno(0), (await Reply(wire, 2, FrameKind.Open)).Body);
        await wire.SendAsync(3, new IoctlRequest(3, FakeIoctl.WhoAmI, 0, []));
        var first = IoctlReply.TryParse((await Reply(wire, 3, FrameKind.Ioctl)).Body, out var who) ? who!.Writeback : [];

        // The file's actor stops with the ioctl unanswered, as when the node running it dies; the
        // next ioctl on the fd is queued behind it. Both are answered well within the 30 s
        // Iommu:RequestTimeout of this host (RawWire gives up after 10 s): the second ETIMEDOUT too
        // when it reached the actor before the connection learnt of the stop, else by the new actor.
        await wire.SendAsync(4, new IoctlRequest(3, FakeIoctl.Vanish, 0, []));
        await wire.SendAsync(5, new IoctlRequest(3, FakeIoctl.Echo, 0, [7]));
        Assert.Equal(new IoctlReply(Errno.ETIMEDOUT, 0, []), IoctlReply.TryParse((await Reply(wire, 4, FrameKind.Ioctl)).Body, out var lost) ? lost : null);
        var behind = IoctlReply.TryParse((await Reply(wire, 5, FrameKind.Ioctl)).Body, out var b) ? b : null;
        Assert.Contains(behind, new[] { new IoctlReply(Errno.ETIMEDOUT, 0, []), new IoctlReply(0, 1, [7]) });

        // The file is served again (the region started it anew, as a shard does on a living node).
        await wire.SendAsync(6, new IoctlRequest(3, FakeIoctl.WhoAmI, 0, []));
        Assert.Equal(first, IoctlReply.TryParse((await Reply(wire, 6, FrameKind.Ioctl)).Body, out var again) ? again!.Writeback : null);
        await wire.SendAsync(7, new IoctlRequest(3, FakeIoctl.Echo, 0, [8]));
        Assert.Equal(new IoctlReply(0, 1, [8]), IoctlReply.TryParse((await Reply(wire, 7, FrameKind.Ioctl)).Body, out var echo) ? echo : null);
    }

    [Fact]
    public async Task A_request_left_unanswered_gets_ETIMEDOUT_after_the_request_timeout_and_later_ones_are_answered()
    {
        await using var host = await TestHost.StartAsync(null, null, "--Iommu:RequestTimeout", "1");
        await using var wire = await host.ConnectRawAsync();
        await wire.HelloAsync();
        await wire.SendAsync(2, new OpenRequest(3, 2, "/dev/iommu"));
        await Reply(wire, 2, FrameKind.Open);
        await wire.SendAsync(3, new IoctlRequest(3, FakeIoctl.Swallow, 0, []));
        await wire.SendAsync(4, new IoctlRequest(3, FakeIoctl.Echo, 0, [1, 2]));

        Assert.Equal(new IoctlReply(Errno.ETIMEDOUT, 0, []), IoctlReply.TryParse((await Reply(wire, 3, FrameKind.Ioctl)).Body, out var lost) ? lost : null);
        Assert.Equal(new IoctlReply(0, 2, [1, 2]), IoctlReply.TryParse((await Reply(wire, 4, FrameKind.Ioctl)).Body, out var echo) ? echo : null);
        await wire.SendAsync(5, new IoctlRequest(3, FakeIoctl.Echo, 0, [3]));
        Assert.Equal(new IoctlReply(0, 1, [3]), IoctlReply.TryParse((await Reply(wire, 5, FrameKind.Ioctl)).Body, out var next) ? next : null);
    }

    [Fact]
    public async Task An_ioctl_that_makes_a_queue_gets_an_fd_by_NEW_FD_and_FD_READY_tells_when_it_is_readable()
    {
        await using var client = await IommuClient.ConnectAsync(Host.SocketPath);
        var fd = await client.OpenAsync("/dev/iommu");
        var result = await client.IoctlAsync(fd, FakeIoctl.NewQueue, 0, []);
        var queue = (int)result.ReturnValue;
        Assert.Equal(4, queue);
        Assert.Equal([3, 4], client.OpenFds);

        var (empty, _) = await client.TryReadAsync(queue, 64);
        Assert.Equal(Errno.EAGAIN, empty);
        var ready = client.WaitReadyAsync(queue);
        await client.WriteAsync(queue, [7, 7]);
        Assert.Equal(1u, await ready.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(new byte[] { 7, 7 }, await client.ReadAsync(queue, 64));
    }

    [Fact]
    public async Task Requests_on_different_fds_run_concurrently_and_replies_on_one_fd_keep_request_order()
    {
        await using var wire = await Host.ConnectRawAsync();
        await wire.HelloAsync();
        await wire.SendAsync(2, new OpenRequest(3, 2, "/dev/iommu"));
        await wire.SendAsync(3, new OpenRequest(4, 2, "/dev/iommu"));
        // Different fds: the two OPEN replies may come in either order.
        var opens = new[] { await wire.ReadAsync(), await wire.ReadAsync() };
        Assert.Equal([2UL, 3UL], opens.Select(o => o.Seq).Order());
        Assert.All(opens, o => Assert.Equal(RawWire.Errno(0), o.Body));
        await wire.SendAsync(4, new IoctlRequest(3, FakeIoctl.WhoAmI, 0, []));
        var gated = Encoding.UTF8.GetString(IoctlReply.TryParse((await Reply(wire, 4, FrameKind.Ioctl)).Body, out var who) ? who!.Writeback : []);

        // fd 3 waits at the gate; its CLOSE and a later IOCTL must not overtake it.
        await wire.SendAsync(5, new IoctlRequest(3, FakeIoctl.Gate, 0, []));
        await wire.SendAsync(6, new CloseRequest(3));
        await wire.SendAsync(7, new IoctlRequest(3, FakeIoctl.Echo, 0, [1]));
        // fd 4 is served meanwhile, and opens the gate.
        await wire.SendAsync(8, new IoctlRequest(4, FakeIoctl.OpenGate, 0, Encoding.UTF8.GetBytes(gated)));

        Assert.Equal(8UL, (await Reply(wire, 8, FrameKind.Ioctl)).Seq);
        Assert.Equal(0, BinaryPrimitives.ReadInt32LittleEndian((await Reply(wire, 5, FrameKind.Ioctl)).Body));
        Assert.Equal(RawWire.Errno(0), (await Reply(wire, 6, FrameKind.Close)).Body);
        Assert.Equal(Errno.EBADF, BinaryPrimitives.ReadInt32LittleEndian((await Reply(wire, 7, FrameKind.Ioctl)).Body));
    }

    [Fact]
    public async Task Pipelined_requests_on_one_fd_come_back_in_request_order()
    {
        await using var wire = await Host.ConnectRawAsync();
        await wire.HelloAsync();
        // The OPEN is still in flight when the ioctls arrive: they wait for it, in order.
        await wire.SendAsync(2, new OpenRequest(3, 2, "/dev/iommu"));
        for (ulong i = 0; i < 200; i++)
            await wire.SendAsync(10 + i, new IoctlRequest(3, FakeIoctl.Echo, 0, BitConverter.GetBytes(i)));

        await Reply(wire, 2, FrameKind.Open);
        for (ulong i = 0; i < 200; i++)
        {
            var reply = await Reply(wire, 10 + i, FrameKind.Ioctl);
            Assert.Equal(BitConverter.GetBytes(i), reply.Body[16..]);
        }
    }

    [Fact]
    public async Task A_dropped_connection_releases_each_of_its_files_once()
    {
        var client = await IommuClient.ConnectAsync(Host.SocketPath);
        var a = await client.OpenAsync("/dev/iommu");
        var b = await client.OpenAsync("/dev/vfio/devices/vfio0");
        await client.DupAsync(a);
        var fileA = Encoding.UTF8.GetString((await client.IoctlAsync(a, FakeIoctl.WhoAmI, 0, [])).Writeback);
        var fileB = Encoding.UTF8.GetString((await client.IoctlAsync(b, FakeIoctl.WhoAmI, 0, [])).Writeback);

        await client.DisposeAsync();

        await Host.Files.WaitFor($"release {fileA}");
        await Host.Files.WaitFor($"release {fileB}");
        await using var probe = await IommuClient.ConnectAsync(Host.SocketPath);
        var status = System.Text.Json.JsonDocument.Parse(await probe.StatusJsonAsync()).RootElement;
        Assert.DoesNotContain(status.GetProperty("sessions").EnumerateArray(),
            s => s.GetProperty("token").GetString() == client.SessionToken.ToString("x16"));
        Assert.Single(Host.Files.Lines, $"release {fileA}");
    }
}
