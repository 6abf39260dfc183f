namespace IommuActors.Notifier.Bus;

/// <summary>
/// How long a restarted subscriber waits before it re-synchronises: <see cref="Min"/> after a first crash, doubling
/// with each crash that follows within <see cref="ResetAfter"/> of the previous start, up to <see cref="Max"/>.
/// Keep <see cref="Max"/> below the bus's ack timeout, or a FREE delivered to a subscriber that keeps crashing is
/// quarantined rather than re-delivered (which is the safe outcome, not a lost PASID).
/// </summary>
public sealed record SubscriberBackoff(TimeSpan Min, TimeSpan Max, TimeSpan ResetAfter)
{
    public static SubscriberBackoff Default { get; } = new(TimeSpan.FromMilliseconds(100), TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(30));

    /// <summary>The wait before the re-synchronisation of the <paramref name="restarts"/>-th restart in a row (1 for the first).</summary>
    public TimeSpan DelayAfter(int restarts)
    {
        var doublings = Math.Clamp(restarts - 1, 0, 30);
        var ticks = Math.Min(Max.Ticks, Min.Ticks * (1L << Math.Min(doublings, 20)));
        return TimeSpan.FromTicks(Math.Max(0, ticks));
    }
}
