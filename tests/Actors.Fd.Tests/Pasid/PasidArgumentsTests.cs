using IommuActors.Fd.Pasid;
using IommuActors.Uapi;
using Xunit;

namespace IommuActors.Fd.Tests.Pasid;

public sealed class PasidArgumentsTests
{
    [Theory]
    [InlineData(0u)]
    [InlineData(1u << 20)]
    [InlineData(uint.MaxValue)]
    public void A_PASID_of_0_or_outside_the_20_bit_space_is_EINVAL(uint pasid)
    {
        Assert.Equal(Errno.EINVAL, PasidArguments.Check(pasid));
        Assert.Equal(Errno.EINVAL, PasidArguments.Check(5, pasid));
        Assert.Equal(Errno.EINVAL, PasidArguments.Check(pasid, 5));
    }

    [Theory]
    [InlineData(1u)]
    [InlineData(4242u)]
    [InlineData((1u << 20) - 1)]
    public void A_PASID_in_1_to_2_to_the_20_minus_1_is_well_formed(uint pasid)
    {
        Assert.Equal(0, PasidArguments.Check(pasid));
        Assert.Equal(0, PasidArguments.Check(pasid, 1));
    }
}
