using Akka.Actor;
using IommuActors.Core.Messaging;

namespace IommuActors.Hardware.Platform;

public static class PlatformProtocol
{
    public sealed record GetPlatform : IClusterMessage;
    public sealed record PlatformReply(PlatformSpec Platform) : IClusterMessage;
}

/// <summary>Answers what the machine is made of; the spec is fixed at start-up.</summary>
public sealed class PlatformActor : ReceiveActor
{
    public static Props Props(PlatformSpec platform) => Akka.Actor.Props.Create(() => new PlatformActor(platform));

    public PlatformActor(PlatformSpec platform)
    {
        Receive<PlatformProtocol.GetPlatform>(_ => Sender.Tell(new PlatformProtocol.PlatformReply(platform)));
    }
}
