using Akka.Actor;
using IommuActors.Client;
using IommuActors.Domains.Pages;
using IommuActors.Host;
using IommuActors.Uapi;
using IommuActors.Uapi.Structs;
using Xunit;

namespace IommuActors.FrontDoor.Tests;

/// <summary>Locked-memory accounting of the real host: its RLIMIT_MEMLOCK setting, charged to the process the socket reports.</summary>
public sealed class LockedMemorySpecs
{
    private const ulong Page = 4096;

    /// <summary>An iommufd of the client in RLIMIT_MODE 1 with an IOAS a mock domain pins: (fd, IOAS ID).</summary>
    private static async Task<(int Fd, uint Ioas)> PinningIoas(IommuClient client)
    {
        var fd = await client.OpenAsync("/dev/iommu");
        await client.IoctlAsync(fd, Ioctls.IOMMU_OPTION, new IommuOption(24, IommuOptions.RlimitMode, IommuOptions.OpSet, 0, 0, 1));
        var ioas = (await client.IoctlAsync(fd, Ioctls.IOMMU_IOAS_ALLOC, new IommuIoasAlloc(12, 0, 0))).OutIoasId;
        await client.IoctlAsync(fd, Ioctls.IOMMU_TEST_CMD, IommuTestCmd.Create(TestOp.MockDomain, ioas));
        return (fd, ioas);
    }

    private static IommuIoasMap Map(uint ioas, ulong pages, ulong atPage) => new(40,
        IoasMapFlags.Readable | IoasMapFlags.Writeable | IoasMapFlags.FixedIova, ioas, 0,
        0x7f00_0000_0000 + atPage * Page, pages * Page, Selftest.MockApertureStart + atPage * Page);

    [Fact]
    public async Task The_iommufds_of_one_client_process_share_the_hosts_limit_in_the_account_of_its_pid()
    {
        await using var host = await TestHost.RealAsync("--Iommu:LockedMemoryLimit", "64K",
            "--Iommu:CapSysResourceUids", $"{ThisProcess.Euid()}");
        await using var client = await IommuClient.ConnectAsync(host.SocketPath);
        // The pages the maps pin are there in the client (a map with a domain pins at once: EFAULT otherwise).
        client.Memory.Map(0x7f00_0000_0000, (int)(16 * Page));
        var (a, ioasA) = await PinningIoas(client);
        var (b, ioasB) = await PinningIoas(client);
        await client.IoctlAsync(a, Ioctls.IOMMU_IOAS_MAP, Map(ioasA, 12, 0));

        var past = await client.IoctlRawAsync(b, Ioctls.IOMMU_IOAS_MAP, 0, UserStruct.Encode(Map(ioasB, 5, 0)));

        Assert.Equal(Errno.ENOMEM, past.Errno);
        var account = await host.Registry.Get<AccountsKey>().Ask<AccountProtocol.AccountView>(
            new AccountProtocol.GetAccount($"process-{ThisProcess.Pid}"), TimeSpan.FromSeconds(30));
        Assert.Equal((12ul, 16ul), (account.ChargedPages, account.LimitPages));
    }
}
