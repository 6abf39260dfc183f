using Akka.Actor;
using Akka.TestKit.Xunit2;
using IommuActors.Domains.Ioas;
using IommuActors.TestSupport;
using static IommuActors.Domains.Ioas.IoasProtocol;

namespace IommuActors.Domains.Tests.Ioas;

/// <summary>
/// Pinned pages remember whether the map that created them asked for WRITEABLE (iopt_pages
/// writable); a writeable copy over pages pinned read-only is EPERM (iopt_insert_area), whatever
/// IOAS the copy takes them from.
/// </summary>
public sealed class IoasCopyWritabilitySpecs() : TestKit(SpecConfig.InMemory)
{
    private const ulong Page = 4096;
    private const Protection RW = Protection.Read | Protection.Write;

    private IActorRef NewIoas(string id) => Sys.ActorOf(IoasActor.Props(id, 1 << 20), id);

    private void Map(IActorRef ioas, string id, ulong iova, Protection protection)
    {
        ioas.Tell(new MapRange(id, 0x7f0000000000 + iova, 2 * Page, protection, true, iova));
        ExpectMsg<MapResult>(r => r.Errno == 0 && r.Iova == iova);
    }

    private CopyResult Copy(IActorRef source, ulong sourceIova, IActorRef destination, Protection protection, ulong destinationIova)
    {
        destination.Tell(new CopyRange(destination.Path.Name, source, sourceIova, 2 * Page, protection, true, destinationIova));
        return ExpectMsg<CopyResult>();
    }

    private MappingView[] Areas(IActorRef ioas)
    {
        ioas.Tell(new GetMappings(ioas.Path.Name));
        return [.. ExpectMsg<Mappings>().Areas];
    }

    [Fact]
    public void Writeable_copy_of_pages_pinned_read_only_fails_with_EPERM_and_leaves_the_destination_unchanged()
    {
        var source = NewIoas("w1s");
        var destination = NewIoas("w1d");
        Map(source, "w1s", 0x10000, Protection.Read);
        Map(destination, "w1d", 0x200000, RW);
        var before = Areas(destination);

        Assert.Equal(new CopyResult("w1d", Errno.EPERM, 0), Copy(source, 0x10000, destination, RW, 0x80000));

        Assert.Equal(before, Areas(destination));
        Assert.Equal(new CopyResult("w1d", 0, 0x80000), Copy(source, 0x10000, destination, Protection.Read, 0x80000));
    }

    [Theory]
    [InlineData("w2", Protection.Read, Protection.Read)]
    [InlineData("w3", RW, RW)]
    [InlineData("w4", RW, Protection.Read)]
    public void Copy_that_does_not_ask_to_write_pages_pinned_read_only_maps_them_as_asked(string id, Protection pinned, Protection copied)
    {
        var source = NewIoas($"{id}s");
        var destination = NewIoas($"{id}d");
        Map(source, $"{id}s", 0x10000, pinned);

        Assert.Equal(new CopyResult($"{id}d", 0, 0x80000), Copy(source, 0x10000, destination, copied, 0x80000));

        Assert.Equal([new MappingView(0x80000, 2 * Page, copied, $"{id}s/0", 0)], Areas(destination));
    }

    [Fact]
    public void Writeable_copy_of_a_read_only_copy_of_writable_pages_maps_them_as_the_pages_not_the_area_decide()
    {
        var source = NewIoas("w5s");
        var middle = NewIoas("w5m");
        var destination = NewIoas("w5d");
        Map(source, "w5s", 0x10000, RW);
        Assert.Equal(0, Copy(source, 0x10000, middle, Protection.Read, 0x40000).Errno);

        Assert.Equal(new CopyResult("w5d", 0, 0x80000), Copy(middle, 0x40000, destination, RW, 0x80000));
    }

    [Fact]
    public void Writeable_copy_of_a_copy_of_pages_pinned_read_only_fails_with_EPERM()
    {
        var source = NewIoas("w6s");
        var middle = NewIoas("w6m");
        var destination = NewIoas("w6d");
        Map(source, "w6s", 0x10000, Protection.Read);
        Assert.Equal(0, Copy(source, 0x10000, middle, Protection.Read, 0x40000).Errno);

        Assert.Equal(new CopyResult("w6d", Errno.EPERM, 0), Copy(middle, 0x40000, destination, RW, 0x80000));

        Assert.Empty(Areas(destination));
    }

    [Fact]
    public void Writeable_copy_onto_a_mapped_iova_fails_with_EEXIST_before_the_pages_are_checked()
    {
        var source = NewIoas("w7s");
        var destination = NewIoas("w7d");
        Map(source, "w7s", 0x10000, Protection.Read);
        Map(destination, "w7d", 0x80000, RW);

        Assert.Equal(new CopyResult("w7d", Errno.EEXIST, 0), Copy(source, 0x10000, destination, RW, 0x80000));
    }
}
