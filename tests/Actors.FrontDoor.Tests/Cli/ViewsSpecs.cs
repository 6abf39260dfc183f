using IommuActors.Cli;
using Xunit;

namespace IommuActors.FrontDoor.Tests.Cli;

public sealed class ViewsSpecs
{
    [Theory]
    [InlineData("0x40201000", "4K 2M 1G")]
    [InlineData("0x201000", "4K 2M")]
    [InlineData("0x1800", "2K 4K")]
    [InlineData("0x10000000000", "1T")]
    [InlineData("0x0", "0x0")]
    public void Page_sizes_read_as_sizes_smallest_first(string bitmap, string sizes)
    {
        Assert.Equal(sizes, Views.PageSizes(bitmap));
    }

    [Theory]
    [InlineData(3, "3s")]
    [InlineData(65, "1m 05s")]
    [InlineData(299.2, "4m 59s")]
    [InlineData(3700, "1h 01m")]
    public void A_time_left_reads_as_a_person_says_it(double seconds, string text)
    {
        Assert.Equal(text, Views.Duration(TimeSpan.FromSeconds(seconds)));
    }
}
