using System.Text.Json;
using IommuActors.Client;
using IommuActors.TestSupport;
using IommuActors.Uapi;
using IommuActors.Uapi.Structs;
using Xunit;

namespace IommuActors.Scenarios.Tests;

/// <summary>
/// What a user reaches: the host process, its socket, the .NET client and the real iommufd and
/// VFIO files behind them. The same sequence t_vmm.c runs through the C shim.
/// </summary>
public sealed class VmmOverSocketSpecs
{
    private const ulong GuestRam = 2 << 20;
    private const ulong RamAddress = 0x7f00_0000_0000;
    private const ulong Scratch = 0x6000_0000;

    private static Task<IommuIoasMap> MapRam(IommuClient client, int iommufd, uint ioas) =>
        client.IoctlAsync(iommufd, Ioctls.IOMMU_IOAS_MAP, new IommuIoasMap(40,
            IoasMapFlags.FixedIova | IoasMapFlags.Readable | IoasMapFlags.Writeable, ioas, 0, RamAddress, GuestRam, 0x100000));

    [Fact]
    public async Task A_VMM_binds_attaches_maps_and_reads_hardware_info_through_the_client()
    {
        var workDir = TempFolder.Create("scenario-vmm");
        await using var host = await HostProcess.StartAsync(workDir, "--Iommu:Store", "memory");
        await using var client = await IommuClient.ConnectAsync(host.SocketPath);
        client.Memory.Map(RamAddress, (int)GuestRam);
        var scratch = client.Memory.Map(Scratch, 4096);

        var iommufd = await client.OpenAsync("/dev/iommu");
        var ioas = await client.IoctlAsync(iommufd, Ioctls.IOMMU_IOAS_ALLOC, new IommuIoasAlloc(12, 0, 0));
        Assert.Equal(1u, ioas.OutIoasId);

        var device = await client.OpenAsync("/dev/vfio/devices/vfio0");
        var bind = await client.IoctlAsync(device, Ioctls.VFIO_DEVICE_BIND_IOMMUFD, new VfioDeviceBindIommufd(16, 0, iommufd, 0, 0));
        Assert.Equal(2u, bind.OutDevid);
        var attach = await client.IoctlAsync(device, Ioctls.VFIO_DEVICE_ATTACH_IOMMUFD_PT, new VfioDeviceAttachIommufdPt(16, 0, ioas.OutIoasId, 0));
        Assert.Equal(3u, attach.PtId);

        // The ranges array is written into the client's own memory through MEM_WRITE.
        var ranges = await client.IoctlAsync(iommufd, Ioctls.IOMMU_IOAS_IOVA_RANGES,
            new IommuIoasIovaRanges(32, ioas.OutIoasId, 2, 0, Scratch, 0));
        Assert.Equal((2u, 4096ul), (ranges.NumIovas, ranges.OutIovaAlignment));
        Assert.Equal(new IommuIovaRange(0, 0xfedfffff), IommuIovaRange.Read(scratch.AsSpan(0, 16)));
        Assert.Equal(new IommuIovaRange(0xfef00000, (1ul << 48) - 1), IommuIovaRange.Read(scratch.AsSpan(16, 16)));

        await MapRam(client, iommufd, ioas.OutIoasId);
        var again = await Assert.ThrowsAsync<IommuException>(() => MapRam(client, iommufd, ioas.OutIoasId));
        Assert.Equal(Errno.EEXIST, again.Errno);

        Array.Fill(scratch, (byte)0xff);
        var info = await client.IoctlAsync(iommufd, Ioctls.IOMMU_GET_HW_INFO, new IommuHwInfo(40, 0, bind.OutDevid, 32, Scratch, 0, 0, 0));
        Assert.Equal((HwInfo.TypeIntelVtd, 24u), (info.OutDataType, info.DataLen));
        Assert.Equal(Convert.FromHexString("000000000000000066e2c00bd0e83d000000000000000000"), scratch[..24]);
        Assert.All(scratch[24..32], b => Assert.Equal(0, b));

        await client.CloseAsync(device);
        await client.CloseAsync(iommufd);
    }

    [Fact]
    public async Task After_a_SIGKILL_and_a_restart_a_resuming_client_finds_its_IOAS_and_its_mapping()
    {
        var workDir = TempFolder.Create("scenario-crash");
        ulong token;
        int iommufd;
        await using (var first = await HostProcess.StartAsync(workDir))
        {
            var client = await IommuClient.ConnectAsync(first.SocketPath);
            client.Memory.Map(RamAddress, (int)GuestRam);
            token = client.SessionToken;
            iommufd = await client.OpenAsync("/dev/iommu");
            var ioas = await client.IoctlAsync(iommufd, Ioctls.IOMMU_IOAS_ALLOC, new IommuIoasAlloc(12, 0, 0));
            Assert.Equal(1u, ioas.OutIoasId);
            await MapRam(client, iommufd, ioas.OutIoasId);
            await first.KillAsync();
            await client.DisposeAsync();
        }

        await using var second = await HostProcess.StartAsync(workDir);
        await using var resumed = await IommuClient.ConnectAsync(second.SocketPath,
            new IommuClientOptions { ResumeToken = token, ResumedFds = [iommufd] });
        resumed.Memory.Map(RamAddress, (int)GuestRam);

        // The mapping came back with the IOAS: the same range is taken, and unmapping all returns it.
        var taken = await Assert.ThrowsAsync<IommuException>(() => MapRam(resumed, iommufd, 1));
        Assert.Equal(Errno.EEXIST, taken.Errno);
        var next = await resumed.IoctlAsync(iommufd, Ioctls.IOMMU_IOAS_ALLOC, new IommuIoasAlloc(12, 0, 0));
        Assert.Equal(2u, next.OutIoasId);
        var unmapped = await resumed.IoctlAsync(iommufd, Ioctls.IOMMU_IOAS_UNMAP, new IommuIoasUnmap(24, 1, 0, ulong.MaxValue));
        Assert.Equal(GuestRam, unmapped.Length);
    }

    [Fact]
    public async Task An_emulated_DMA_through_an_attached_device_reaches_the_mapped_user_address_and_faults_past_the_mapping()
    {
        var workDir = TempFolder.Create("scenario-dma");
        await using var host = await HostProcess.StartAsync(workDir, "--Iommu:Store", "memory");
        await using var client = await IommuClient.ConnectAsync(host.SocketPath);
        var iommufd = await client.OpenAsync("/dev/iommu");
        var ioas = await client.IoctlAsync(iommufd, Ioctls.IOMMU_IOAS_ALLOC, new IommuIoasAlloc(12, 0, 0));
        var device = await client.OpenAsync("/dev/vfio/devices/vfio0");
        await client.IoctlAsync(device, Ioctls.VFIO_DEVICE_BIND_IOMMUFD, new VfioDeviceBindIommufd(16, 0, iommufd, 0, 0));
        await client.IoctlAsync(device, Ioctls.VFIO_DEVICE_ATTACH_IOMMUFD_PT, new VfioDeviceAttachIommufdPt(16, 0, ioas.OutIoasId, 0));
        // A device is attached, so the map pins the guest RAM at once: it must be mapped in the client (else EFAULT).
        client.Memory.Map(RamAddress, (int)GuestRam);
        await MapRam(client, iommufd, ioas.OutIoasId);

        using var reached = JsonDocument.Parse(await client.DmaJsonAsync("0000:00:02.0", -1, 0x100000 + 0x1800, 0x1000, write: true));
        Assert.True(reached.RootElement.GetProperty("completed").GetBoolean());
        var segments = reached.RootElement.GetProperty("segments").EnumerateArray()
            .Select(s => (s.GetProperty("iova").GetUInt64(), s.GetProperty("address").GetUInt64(), s.GetProperty("length").GetUInt64())).ToArray();
        Assert.Equal(RamAddress + 0x1800, segments[0].Item2);
        Assert.Equal(0x1000ul, segments.Aggregate(0ul, (sum, s) => sum + s.Item3));

        using var fault = JsonDocument.Parse(await client.DmaJsonAsync("0000:00:02.0", -1, 0x100000 + GuestRam, 8, write: false));
        Assert.False(fault.RootElement.GetProperty("completed").GetBoolean());
        Assert.Equal("NotPresent", fault.RootElement.GetProperty("fault").GetProperty("kind").GetString());
        Assert.Equal(0x100000 + GuestRam, fault.RootElement.GetProperty("fault").GetProperty("address").GetUInt64());

        var unknown = await Assert.ThrowsAsync<IommuException>(() => client.DmaJsonAsync("0000:99:00.0", -1, 0, 8, false));
        Assert.Equal(Errno.ENODEV, unknown.Errno);
    }
}
