using System.Text;
using IommuActors.Client;
using IommuActors.TestSupport;
using IommuActors.Uapi;
using Xunit;

namespace IommuActors.FrontDoor.Tests;

/// <summary>Sessions across a host restart, on the default SQLite store in the working folder.</summary>
public sealed class SessionSpecs
{
    [Fact]
    public async Task After_a_host_restart_a_HELLO_with_the_resume_token_gets_its_fds_back_under_the_same_numbers()
    {
        var workDir = TempFolder.Create("frontdoor-resume");
        var files = new FileLog();
        ulong token;
        int iommufd, device, copy;
        string fileOfIommufd, fileOfDevice;
        await using (var first = await TestHost.StartAsync(workDir, files))
        {
            var client = await IommuClient.ConnectAsync(first.SocketPath);
            token = client.SessionToken;
            iommufd = await client.OpenAsync("/dev/iommu");
            device = await client.OpenAsync("/dev/vfio/devices/vfio0");
            copy = await client.DupAsync(iommufd);
            fileOfIommufd = Encoding.UTF8.GetString((await client.IoctlAsync(iommufd, FakeIoctl.WhoAmI, 0, [])).Writeback);
            fileOfDevice = Encoding.UTF8.GetString((await client.IoctlAsync(device, FakeIoctl.WhoAmI, 0, [])).Writeback);
            // The host goes down under the client: no drop, no release.
        }
        Assert.False(File.Exists(Path.Combine(workDir, "run", "iommufd.sock")), "the socket file is removed on shutdown");

        await using var second = await TestHost.StartAsync(workDir, files);
        await using var resumed = await IommuClient.ConnectAsync(second.SocketPath,
            new IommuClientOptions { ResumeToken = token, ResumedFds = [iommufd, device, copy] });

        Assert.Equal(token, resumed.SessionToken);
        Assert.Equal(fileOfIommufd, Encoding.UTF8.GetString((await resumed.IoctlAsync(iommufd, FakeIoctl.WhoAmI, 0, [])).Writeback));
        Assert.Equal(fileOfIommufd, Encoding.UTF8.GetString((await resumed.IoctlAsync(copy, FakeIoctl.WhoAmI, 0, [])).Writeback));
        Assert.Equal(fileOfDevice, Encoding.UTF8.GetString((await resumed.IoctlAsync(device, FakeIoctl.WhoAmI, 0, [])).Writeback));
        var fresh = await resumed.OpenAsync("/dev/iommu");
        var freshFile = Encoding.UTF8.GetString((await resumed.IoctlAsync(fresh, FakeIoctl.WhoAmI, 0, [])).Writeback);
        Assert.DoesNotContain(freshFile, new[] { fileOfIommufd, fileOfDevice });
        Assert.DoesNotContain(files.Lines, l => l.StartsWith("release", StringComparison.Ordinal));

        // A second HELLO with the same token while the session is held is refused.
        var busy = await Assert.ThrowsAsync<IommuException>(() => IommuClient.ConnectAsync(second.SocketPath,
            new IommuClientOptions { ResumeToken = token }));
        Assert.Equal(Errno.EBUSY, busy.Errno);
    }

    [Fact]
    public async Task A_session_nobody_resumes_within_the_grace_period_is_released_and_its_token_refused()
    {
        var workDir = TempFolder.Create("frontdoor-grace");
        var files = new FileLog();
        ulong token;
        string file;
        await using (var first = await TestHost.StartAsync(workDir, files, "--Iommu:SessionGracePeriod", "1"))
        {
            var client = await IommuClient.ConnectAsync(first.SocketPath);
            token = client.SessionToken;
            var fd = await client.OpenAsync("/dev/iommu");
            file = Encoding.UTF8.GetString((await client.IoctlAsync(fd, FakeIoctl.WhoAmI, 0, [])).Writeback);
        }

        await using var second = await TestHost.StartAsync(workDir, files, "--Iommu:SessionGracePeriod", "1");
        await files.WaitFor($"release {file}");
        var error = await Assert.ThrowsAsync<IommuException>(() => IommuClient.ConnectAsync(second.SocketPath,
            new IommuClientOptions { ResumeToken = token }));
        Assert.Equal(Errno.ENOENT, error.Errno);
    }

    [Fact]
    public async Task A_stale_socket_file_left_by_a_dead_host_is_replaced()
    {
        var workDir = TempFolder.Create("frontdoor-stale");
        Directory.CreateDirectory(Path.Combine(workDir, "run"));
        await File.WriteAllTextAsync(Path.Combine(workDir, "run", "iommufd.sock"), "left over");

        await using var host = await TestHost.StartAsync(workDir, null, "--Iommu:Store", "memory");
        await using var client = await IommuClient.ConnectAsync(host.SocketPath);
        Assert.NotEqual(0UL, client.SessionToken);
    }
}
