using IommuActors.Cli;
using Xunit;

namespace IommuActors.FrontDoor.Tests.Cli;

/// <summary>iommuctl bench's overall progress and the time it estimates is left.</summary>
public sealed class OverallProgressTests
{
    [Fact]
    public void Steps_add_up_in_their_own_units_and_the_time_left_follows_the_pace_so_far()
    {
        var progress = new OverallProgress();
        progress.Plan("echo", 100);
        progress.Plan("maps", 300);
        Assert.Null(progress.Left(TimeSpan.FromSeconds(5)));
        Assert.Equal("overall 0%, estimating", progress.Describe(TimeSpan.FromSeconds(5)));

        progress.Report("echo", 60);
        progress.Report("echo", 100);
        Assert.Equal((400L, 100L, 0.25), (progress.Total, progress.Done, progress.Fraction));
        // A quarter done in 10 s: three quarters take 30 s more.
        Assert.Equal(TimeSpan.FromSeconds(30), progress.Left(TimeSpan.FromSeconds(10)));
        Assert.Equal("overall 25%, about 30s left", progress.Describe(TimeSpan.FromSeconds(10)));

        progress.Report("maps", 1000); // no more than the step has
        Assert.Equal(TimeSpan.Zero, progress.Left(TimeSpan.FromSeconds(20)));
        Assert.Equal("overall 100%, about 0s left", progress.Describe(TimeSpan.FromSeconds(20)));
    }

    [Fact]
    public void A_step_without_progress_of_its_own_counts_when_it_finishes()
    {
        var progress = new OverallProgress();
        progress.Plan("ceiling", 2000);
        progress.Plan("pairs", 2000);
        progress.Report("pairs", 2000);
        Assert.Equal(0.5, progress.Fraction);
        progress.Finish("ceiling");
        Assert.Equal(1.0, progress.Fraction);
        Assert.Equal("overall 100%, about 0s left", progress.Describe(TimeSpan.FromMinutes(1)));
    }
}
