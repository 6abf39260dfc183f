using System.Collections.Immutable;
using Akka.Actor;
using Akka.TestKit;
using IommuActors.Ioasid.Pasid;

namespace IommuActors.Ioasid.Tests.Pasid;

/// <summary>
/// A bus probe that answers every event published with an id at once, as a bus with no subscriber does, and still
/// queues every publication for the spec to expect. FREE acknowledgements stay the spec's to send.
/// </summary>
public static class AnsweringBus
{
    public static TestProbe Answering(this TestProbe bus)
    {
        bus.SetAutoPilot(new DelegateAutoPilot((sender, msg) =>
        {
            if (msg is PublishIoasidEvent { Id: not 0 } p)
                sender.Tell(new PasidSetProtocol.EventApplied(p.Event.SetKey, p.Id, p.Event, ImmutableArray<string>.Empty));
            return AutoPilot.KeepRunning;
        }));
        return bus;
    }
}
