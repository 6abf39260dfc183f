using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace IommuActors.Core.Telemetry;

/// <summary>
/// The instruments of the emulator's entities (meter <see cref="MeterName"/>, the one the host's
/// exporters listen to): journal write latency, live objects and IOAS mappings, PASIDs per set,
/// notifier rounds and their acknowledgement latency. They cost next to nothing while nobody listens.
/// </summary>
public static class IommuMetrics
{
    public const string MeterName = "IommuActors";

    public static Meter Meter { get; } = new(MeterName);

    private static readonly double[] LatencyBuckets = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5];

    private static readonly Histogram<double> JournalWrite = Meter.CreateHistogram<double>("iommu.journal.write.duration", "s",
        "From an entity's persist call to its handler (the journal wrote the events), by entity kind",
        advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = LatencyBuckets });

    private static readonly Counter<long> NotifierRounds = Meter.CreateCounter<long>("iommu.notifier.rounds", "{round}",
        "IOASID events delivered to every subscriber of their set, by event kind and whether every subscriber acknowledged");

    private static readonly Histogram<double> NotifierAck = Meter.CreateHistogram<double>("iommu.notifier.ack.duration", "s",
        "From delivering an IOASID event to one subscriber to its acknowledgement, by event kind",
        advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = LatencyBuckets });

    private static readonly Counter<long> NotifierTimeouts = Meter.CreateCounter<long>("iommu.notifier.ack.timeouts", "{delivery}",
        "Deliveries a subscriber did not acknowledge in time (or stopped before it did), by event kind");

    /// <summary>Live objects of this node's iommufd contexts, by kind.</summary>
    public static LiveSum Objects { get; } = new("kind");

    /// <summary>Live IOAS mappings (areas) of this node's IOASes.</summary>
    public static LiveSum Mappings { get; } = new("");

    /// <summary>PASIDs held by each PASID set living on this node, by set.</summary>
    public static LiveSum PasidsPerSet { get; } = new("set");

    static IommuMetrics()
    {
        Meter.CreateObservableUpDownCounter("iommu.objects", Objects.Observe, "{object}", "Live objects of the iommufd contexts on this node, by kind");
        Meter.CreateObservableUpDownCounter("iommu.ioas.mappings", Mappings.Observe, "{mapping}", "Live mappings (areas) of the IOASes on this node");
        Meter.CreateObservableGauge("iommu.pasid_set.pasids", PasidsPerSet.Observe, "{pasid}", "PASIDs each PASID set on this node holds, by set");
    }

    public static void JournalWritten(string entity, long started) =>
        JournalWrite.Record(Stopwatch.GetElapsedTime(started).TotalSeconds, new KeyValuePair<string, object?>("entity", entity));

    public static void NotifierAcknowledged(string kind, long delivered) =>
        NotifierAck.Record(Stopwatch.GetElapsedTime(delivered).TotalSeconds, new KeyValuePair<string, object?>("event", kind));

    public static void NotifierAckMissed(string kind) => NotifierTimeouts.Add(1, new KeyValuePair<string, object?>("event", kind));

    public static void NotifierRoundDone(string kind, bool allAcknowledged) =>
        NotifierRounds.Add(1, new KeyValuePair<string, object?>("event", kind),
            new KeyValuePair<string, object?>("outcome", allAcknowledged ? "acknowledged" : "unanswered"));
}

/// <summary>
/// A figure that entities own and the exporter reads when it collects: each living owner registers a
/// reading (what it holds now, by tag value) and forgets it when it stops; a collection sums the
/// readings by tag value. A reading runs on the exporter's thread, so it must only read plain
/// counters (an int field), never walk a collection the owner changes.
/// </summary>
public sealed class LiveSum(string tagName)
{
    private readonly ConcurrentDictionary<object, Func<IEnumerable<(string Tag, long Value)>>> _owners = new(ReferenceEqualityComparer.Instance);

    public void Watch(object owner, Func<IEnumerable<(string Tag, long Value)>> read) => _owners[owner] = read;

    public void Watch(object owner, Func<long> read) => _owners[owner] = () => [("", read())];

    public void Forget(object owner) => _owners.TryRemove(owner, out _);

    /// <summary>The readings of every owner summed by tag value (what a collection reports).</summary>
    public IEnumerable<Measurement<long>> Observe()
    {
        var sums = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var read in _owners.Values)
            foreach (var (tag, value) in read())
                sums[tag] = sums.GetValueOrDefault(tag) + value;
        return sums.Select(s => tagName.Length == 0 ? new Measurement<long>(s.Value)
            : new Measurement<long>(s.Value, new KeyValuePair<string, object?>(tagName, s.Key)));
    }
}
