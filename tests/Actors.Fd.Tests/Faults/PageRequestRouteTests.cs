using System.Collections.Immutable;
using IommuActors.Fd.Faults;
using Xunit;

namespace IommuActors.Fd.Tests.Faults;

public sealed class PageRequestRouteTests
{
    private static readonly ImmutableDictionary<int, uint> RidNested = ImmutableDictionary<int, uint>.Empty.Add(-1, 7);
    private static bool Nested(uint id) => id == 7;

    [Fact]
    public void PASID_0_is_the_RID_and_an_attached_PASID_takes_its_own_requests()
    {
        Assert.Equal(-1, PageRequestRoute.AttachmentFor(0, RidNested, false, Nested));
        Assert.Equal(3, PageRequestRoute.AttachmentFor(3, RidNested.Add(3, 9), true, Nested));
    }

    [Fact]
    public void An_unattached_PASID_goes_to_a_nested_RID_only_with_a_user_PASID_table()
    {
        Assert.Equal(-1, PageRequestRoute.AttachmentFor(1, RidNested, true, Nested));
        Assert.Null(PageRequestRoute.AttachmentFor(1, RidNested, false, Nested));
        Assert.Null(PageRequestRoute.AttachmentFor(1, ImmutableDictionary<int, uint>.Empty.Add(-1, 8), true, Nested));
        Assert.Null(PageRequestRoute.AttachmentFor(1, ImmutableDictionary<int, uint>.Empty, true, Nested));
    }
}
