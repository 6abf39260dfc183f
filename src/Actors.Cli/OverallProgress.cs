namespace IommuActors.Cli;

/// <summary>
/// iommuctl bench's overall progress: the steps it will run, each counted in its own units (calls,
/// mappings, events), and how much of all of them is done, from which the time left is estimated
/// at the pace so far. A step that reports no progress of its own counts as done when it ends.
/// </summary>
public sealed class OverallProgress
{
    private readonly Dictionary<string, (long Total, long Done)> _steps = new();

    /// <summary>A step of <paramref name="total"/> units; the same label again is the same step.</summary>
    public void Plan(string label, long total) => _steps[label] = (Math.Max(total, 1), 0);

    /// <summary>The step has done <paramref name="done"/> of its units (a count so far, not an increment).</summary>
    public void Report(string label, long done)
    {
        if (_steps.TryGetValue(label, out var step)) _steps[label] = step with { Done = Math.Clamp(done, 0, step.Total) };
    }

    public void Finish(string label)
    {
        if (_steps.TryGetValue(label, out var step)) _steps[label] = step with { Done = step.Total };
    }

    public long Total => _steps.Values.Sum(s => s.Total);

    public long Done => _steps.Values.Sum(s => s.Done);

    /// <summary>Done as a share of all, 0 to 1.</summary>
    public double Fraction => Total == 0 ? 0 : (double)Done / Total;

    /// <summary>The time the rest takes at the pace of the <paramref name="elapsed"/> time so far; null before anything is done.</summary>
    public TimeSpan? Left(TimeSpan elapsed) =>
        Done == 0 ? null : Fraction >= 1 ? TimeSpan.Zero : elapsed * ((1 - Fraction) / Fraction);

    /// <summary>The overall line of the progress display: "overall 42%, about 1m 05s left".</summary>
    public string Describe(TimeSpan elapsed) =>
        $"overall {Math.Floor(Fraction * 100):0}%" + (Left(elapsed) is { } left ? $", about {Views.Duration(left)} left" : ", estimating");
}
