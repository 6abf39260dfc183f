using IommuActors.Fd.Tests.Support;
using IommuActors.Uapi;
using IommuActors.Uapi.Structs;
using Xunit;

namespace IommuActors.Fd.Tests.Context;

/// <summary>
/// IOAS_MAP pins the user pages when its IOAS has a domain (and only then): a range that is not all
/// there in the client is EFAULT and leaves nothing behind. The client's memory is the spec's 4 MiB
/// at <see cref="FdSpec.Memory"/>; run in process and through a real host's socket, where the
/// client answers one EXT_MEM_CHECK per map.
/// </summary>
public abstract class PinAtMapRules : FdSpec
{
    private const uint Fixed = IoasMapFlags.Readable | IoasMapFlags.Writeable | IoasMapFlags.FixedIova;
    private const ulong Iova = 0x100000;

    private ulong MemoryEnd => Mem + (ulong)Memory.Length;

    private int Map(string ctx, uint ioas, ulong user, ulong length, ulong iova = Iova) =>
        Ioctl(ctx, Ioctls.IOMMU_IOAS_MAP, new IommuIoasMap(40, Fixed, ioas, 0, user, length, iova)).Errno;

    private (string Ctx, uint Ioas) IoasWithDomain()
    {
        var (ctx, fd) = Open("/dev/iommu");
        var ioas = NewIoas(ctx);
        var (dev, _) = Open("/dev/vfio/devices/vfio0");
        Bind(dev, fd);
        Assert.Equal(0, Attach(dev, ioas).Errno);
        return (ctx, ioas);
    }

    [Fact]
    public void Without_a_domain_a_map_of_memory_not_all_there_succeeds_because_nothing_is_pinned_yet()
    {
        var (ctx, _) = Open("/dev/iommu");
        var ioas = NewIoas(ctx);
        Assert.Equal(0, Map(ctx, ioas, MemoryEnd - 0x1000, 0x2000));
    }

    [Fact]
    public void With_a_domain_a_range_running_past_the_client_memory_is_EFAULT_and_leaves_no_area()
    {
        var (ctx, ioas) = IoasWithDomain();
        Assert.Equal(Errno.EFAULT, Map(ctx, ioas, MemoryEnd - 0x1000, 0x2000));
        // The IOVA is free again: the same fixed IOVA maps memory that is there.
        Assert.Equal(0, Map(ctx, ioas, MemoryEnd - 0x2000, 0x2000));
    }

    [Fact]
    public void With_a_domain_a_range_whose_first_page_is_missing_is_EFAULT()
    {
        var (ctx, ioas) = IoasWithDomain();
        Assert.Equal(Errno.EFAULT, Map(ctx, ioas, Mem - 0x1000, 0x2000));
        Assert.Equal(0, Map(ctx, ioas, Mem, 0x2000));
    }

    [Fact]
    public void With_a_domain_memory_that_is_all_there_maps_up_to_its_last_page()
    {
        var (ctx, ioas) = IoasWithDomain();
        Assert.Equal(0, Map(ctx, ioas, Mem, (ulong)Memory.Length));
    }

    [Fact]
    public void VFIO_compat_MAP_DMA_pins_as_IOAS_MAP_does()
    {
        var (ctx, fd) = Open("/dev/iommu");
        var ioas = NewIoas(ctx);
        Assert.Equal(0, Ioctl(ctx, Ioctls.IOMMU_VFIO_IOAS, new IommuVfioIoas(12, ioas, VfioIoasOps.Set, 0)).Errno);
        var (dev, _) = Open("/dev/vfio/devices/vfio0");
        Bind(dev, fd);
        Assert.Equal(0, Attach(dev, ioas).Errno);
        var map = new VfioIommuType1DmaMap(32, VfioIommuType1DmaMap.FlagRead | VfioIommuType1DmaMap.FlagWrite, MemoryEnd - 0x1000, 0x200000, 0x2000);
        Assert.Equal(Errno.EFAULT, Ioctl(ctx, Ioctls.VFIO_IOMMU_MAP_DMA, map).Errno);
        Assert.Equal(0, Ioctl(ctx, Ioctls.VFIO_IOMMU_MAP_DMA, map with { Vaddr = Mem }).Errno);
    }
}

public sealed class PinAtMapSpecs : PinAtMapRules;

public sealed class PinAtMapOverSocketSpecs : PinAtMapRules, IClassFixture<SocketHost>
{
    public PinAtMapOverSocketSpecs(SocketHost host) => UseSocket(host);
}
