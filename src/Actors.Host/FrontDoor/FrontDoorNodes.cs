using System.Collections.Immutable;
using Akka.Actor;
using Akka.Cluster;

namespace IommuActors.Host.FrontDoor;

/// <summary>
/// The same front-door actor on every node of the cluster. Each node serves its own socket, so its
/// client sessions (and the ioctls they make) are known to that node only; iommuctl's answers
/// gather them from every node. Every member runs this host, so its front-door actors sit at the
/// same paths as ours: a member is reached by its address and that path, the one lookup Akka has
/// for a peer that was not introduced by a message.
/// </summary>
public static class FrontDoorNodes
{
    /// <summary>
    /// <paramref name="local"/> first, then its counterpart on each other member that is Up and
    /// reachable, in address order. In an actor system that is no cluster, <paramref name="local"/> alone.
    /// </summary>
    public static ImmutableArray<ICanTell> Everywhere(ActorSystem system, IActorRef local) =>
        [.. Nodes(system).Select(node => On(system, node, local))];

    /// <summary>This node's address first, then every other member that is Up and reachable, in address order.</summary>
    public static ImmutableArray<Address> Nodes(ActorSystem system)
    {
        var self = ((ExtendedActorSystem)system).Provider.DefaultAddress;
        if (((ExtendedActorSystem)system).Provider is not ClusterActorRefProvider) return [self];
        var state = Cluster.Get(system).State;
        var unreachable = state.Unreachable.Select(m => m.Address).ToHashSet();
        return
        [
            self,
            .. state.Members
                .Where(m => m.Status == MemberStatus.Up && m.Address != self && !unreachable.Contains(m.Address))
                .Select(m => m.Address)
                .OrderBy(a => a, Member.AddressOrdering),
        ];
    }

    /// <summary>The counterpart of <paramref name="local"/> on the node at <paramref name="node"/> (itself for this node).</summary>
    public static ICanTell On(ActorSystem system, Address node, IActorRef local) =>
        node == ((ExtendedActorSystem)system).Provider.DefaultAddress
            ? local
            : system.ActorSelection(new RootActorPath(node) / local.Path.Elements);
}
