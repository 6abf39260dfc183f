using IommuActors.Domains.Ioas;
using Xunit;
using static IommuActors.Domains.Pages.AccountProtocol;

namespace IommuActors.Domains.Tests.Ioas;

public sealed class MappingSummaryTests
{
    [Fact]
    public void Pages_held_by_overlapping_spans_of_one_object_count_once_and_other_objects_count_apart()
    {
        Assert.Equal(0ul, MappingSummary.DistinctPages([]));
        Assert.Equal(10ul, MappingSummary.DistinctPages([new PageSpan("p", 0, 9), new PageSpan("p", 2, 3), new PageSpan("p", 5, 9)]));
        Assert.Equal(12ul, MappingSummary.DistinctPages([new PageSpan("p", 4, 9), new PageSpan("p", 0, 5), new PageSpan("p", 10, 11)]));
        Assert.Equal(4ul, MappingSummary.DistinctPages([new PageSpan("p", 0, 1), new PageSpan("q", 0, 1)]));
        Assert.Equal(3ul, MappingSummary.DistinctPages([new PageSpan("p", 7, 7), new PageSpan("p", 0, 0), new PageSpan("p", 3, 3)]));
    }
}
