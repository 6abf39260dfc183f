using IommuActors.Client;
using IommuActors.Uapi;
using IommuActors.Uapi.Structs;

namespace IommuActors.TestSupport;

/// <summary>
/// The VMM's first steps, the same in every spec that talks to a host's socket: an IOAS, the GPU
/// bound and attached (an automatic HWPT), IDs 1, 2, 3, as pid 4242 named vmm-spec.
/// </summary>
public sealed record VmmSetup(IommuClient Client, int Iommufd, int Device, string ContextFile, string DeviceFile)
{
    public const string Pci = "0000:00:02.0";

    public static async Task<VmmSetup> StartAsync(string socketPath)
    {
        var client = await IommuClient.ConnectAsync(socketPath, new IommuClientOptions { ClientName = "vmm-spec", Pid = 4242 });
        var iommufd = await client.OpenAsync("/dev/iommu");
        var ioas = await client.IoctlAsync(iommufd, Ioctls.IOMMU_IOAS_ALLOC, new IommuIoasAlloc(12, 0, 0));
        var device = await client.OpenAsync("/dev/vfio/devices/vfio0");
        var bind = await client.IoctlAsync(device, Ioctls.VFIO_DEVICE_BIND_IOMMUFD, new VfioDeviceBindIommufd(16, 0, iommufd, 0, 0));
        var attach = await client.IoctlAsync(device, Ioctls.VFIO_DEVICE_ATTACH_IOMMUFD_PT, new VfioDeviceAttachIommufdPt(16, 0, ioas.OutIoasId, 0));
        if ((ioas.OutIoasId, bind.OutDevid, attach.PtId) != (1u, 2u, 3u))
            throw new InvalidOperationException($"unexpected ids {ioas.OutIoasId} {bind.OutDevid} {attach.PtId}");
        var token = client.SessionToken.ToString("x16");
        return new VmmSetup(client, iommufd, device, $"{token}-1", $"{token}-2");
    }
}
