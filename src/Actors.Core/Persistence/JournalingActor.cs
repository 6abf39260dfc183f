using System.Diagnostics;
using Akka.Persistence;
using IommuActors.Core.Telemetry;

namespace IommuActors.Core.Persistence;

/// <summary>
/// A persistent entity whose journal writes are timed (iommu.journal.write.duration: from the persist
/// call to the handler of its last event, once per write) and whose live figures
/// (<see cref="LiveSum"/>) are withdrawn when it stops, whether it passivates, moves or is closed.
/// </summary>
public abstract class JournalingActor : ReceivePersistentActor
{
    private readonly string _entity;
    private List<LiveSum>? _live;

    protected JournalingActor()
    {
        var name = GetType().Name;
        _entity = name.EndsWith("Actor", StringComparison.Ordinal) ? name[..^"Actor".Length] : name;
    }

    /// <summary>Counts what this entity holds in <paramref name="sum"/> while it lives.</summary>
    protected void Live(LiveSum sum, Func<long> read)
    {
        sum.Watch(this, read);
        (_live ??= []).Add(sum);
    }

    /// <inheritdoc cref="Live(LiveSum, Func{long})"/>
    protected void Live(LiveSum sum, Func<IEnumerable<(string Tag, long Value)>> read)
    {
        sum.Watch(this, read);
        (_live ??= []).Add(sum);
    }

    protected override void PostStop()
    {
        if (_live is not null)
            foreach (var sum in _live) sum.Forget(this);
        base.PostStop();
    }

    public new void Persist<TEvent>(TEvent @event, Action<TEvent> handler)
    {
        var started = Stopwatch.GetTimestamp();
        base.Persist(@event, e => { IommuMetrics.JournalWritten(_entity, started); handler(e); });
    }

    public new void PersistAsync<TEvent>(TEvent @event, Action<TEvent> handler)
    {
        var started = Stopwatch.GetTimestamp();
        base.PersistAsync(@event, e => { IommuMetrics.JournalWritten(_entity, started); handler(e); });
    }

    public new void PersistAll<TEvent>(IEnumerable<TEvent> events, Action<TEvent> handler)
    {
        var list = events as IReadOnlyCollection<TEvent> ?? events.ToList();
        base.PersistAll(list, Timed(list.Count, handler));
    }

    public new void PersistAllAsync<TEvent>(IEnumerable<TEvent> events, Action<TEvent> handler)
    {
        var list = events as IReadOnlyCollection<TEvent> ?? events.ToList();
        base.PersistAllAsync(list, Timed(list.Count, handler));
    }

    /// <summary>The handler, recording the write's latency at its last event.</summary>
    private Action<TEvent> Timed<TEvent>(int count, Action<TEvent> handler)
    {
        var started = Stopwatch.GetTimestamp();
        var left = count;
        return e =>
        {
            if (--left == 0) IommuMetrics.JournalWritten(_entity, started);
            handler(e);
        };
    }
}
