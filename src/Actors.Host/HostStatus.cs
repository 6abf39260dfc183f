using Akka.Actor;
using Akka.Cluster;

namespace IommuActors.Host;

/// <summary>What the host knows about itself once its actor system is up; completes when ready.</summary>
public sealed class HostStatus
{
    private readonly TaskCompletionSource<ActorSystem> _ready =
        new(TaskCreationOptions.RunContinuationsAsynchronously);

    public Task<ActorSystem> Ready => _ready.Task;

    internal void MarkReady(ActorSystem system) => _ready.TrySetResult(system);

    internal void MarkFailed(Exception error) => _ready.TrySetException(error);

    /// <summary>Why the host stopped itself after it was ready (it lost the store's cluster lease); null while it runs.</summary>
    public string? Lost { get; private set; }

    internal void MarkLost(string reason) => Lost ??= reason;

    public static bool IsUp(ActorSystem system) =>
        Cluster.Get(system).SelfMember.Status == MemberStatus.Up;
}
