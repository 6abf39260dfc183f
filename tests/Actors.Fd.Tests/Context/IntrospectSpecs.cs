using IommuActors.Fd.Tests.TestOps;
using Xunit;
using static IommuActors.Domains.Ioas.IoasProtocol;
using static IommuActors.Fd.Context.IntrospectProtocol;

namespace IommuActors.Fd.Tests.Context;

/// <summary>What iommuctl objects asks a context: its table, each HWPT's domain, and when asked what each IOAS maps.</summary>
public sealed class IntrospectSpecs : TestOpSpec
{
    [Fact]
    public void Asked_with_mappings_each_IOAS_answers_the_asker_its_mappings_pinned_pages_and_charge_beside_the_table()
    {
        var empty = NewIoas();
        var ioas = NewIoas();
        Assert.Equal(0, Map(ioas, MockIova, Buffer, 0x3000));
        Assert.Equal(0, Map(ioas, MockIova + 0x10000, Buffer + 0x4000, 0x1000));
        var (_, hwpt, _) = MockDomain(ioas);

        Files.Tell(new GetContextObjects(Ctx, WithMappings: true), TestActor);
        var answers = new[] { ExpectMsg<object>(), ExpectMsg<object>(), ExpectMsg<object>() };
        var objects = Assert.Single(answers.OfType<ContextObjects>());
        var keys = objects.Objects.Where(o => o.Id is var id && (id == empty || id == ioas)).ToDictionary(o => o.Id, o => o.Key);
        Assert.Equal(new[] { keys[empty], keys[ioas] }.Order(), objects.Summaries.Order());
        Assert.Equal(new[] { new Summary(keys[empty], 0, 0, 0, 0), new Summary(keys[ioas], 2, 0x4000, 4, 4) },
            answers.OfType<Summary>().OrderBy(s => s.Mappings));
        // The HWPT names its domain in the unit, as a DMA's fault does.
        Assert.NotEqual(0, objects.Objects.Single(o => o.Id == hwpt).Domain);
    }

    [Fact]
    public void Asked_without_mappings_only_the_table_comes_and_names_no_IOAS()
    {
        NewIoas();
        Files.Tell(new GetContextObjects(Ctx), TestActor);
        Assert.Empty(ExpectMsg<ContextObjects>().Summaries);
    }
}
