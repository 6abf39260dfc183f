namespace IommuActors.Core.Messaging;

/// <summary>
/// The one answer an actor serving a request one step at a time waits for: it asks a neighbour by
/// message, names the reply it expects (<see cref="Await{T}(Func{T, bool}, Action{T})"/>), and
/// hands every message it receives meanwhile to <see cref="TryContinue"/>; the awaited reply runs
/// the continuation, anything else is the actor's to stash or serve. Plain, so that the actors
/// that serve requests this way (the iommufd context, a VFIO device file) share one copy.
/// </summary>
public sealed class AwaitedReply
{
    private Func<object, bool>? _next;

    /// <summary>A continuation is waiting for its reply.</summary>
    public bool Waiting => _next is not null;

    /// <summary>The next message of type T that <paramref name="match"/> accepts runs <paramref name="then"/> (once).</summary>
    public void Await<T>(Func<T, bool> match, Action<T> then) => _next = m =>
    {
        if (m is not T t || !match(t))
            return false;
        _next = null;
        then(t);
        return true;
    };

    public void Await<T>(Action<T> then) => Await<T>(_ => true, then);

    /// <summary>True when <paramref name="message"/> was the awaited reply and its continuation ran.</summary>
    public bool TryContinue(object message) => _next is { } next && next(message);

    /// <summary>The request ended (answered, failed or timed out): nothing is awaited any more.</summary>
    public void Clear() => _next = null;
}
