using System.Text;
using System.Text.Json;
using Akka.Actor;
using IommuActors.Hardware.Platform;
using IommuActors.Hardware.Units;
using Errno = IommuActors.Uapi.Errno;

namespace IommuActors.Host.FrontDoor;

/// <summary>The EXT_DMA request: a device (PCI address) issues a DMA at an IOVA, with a PASID or none (-1).</summary>
public sealed record DmaRequest(string Pci, int Pasid, ulong Iova, ulong Length, bool Write);

/// <summary>
/// Serves one EXT_DMA (iommuctl dma): finds the device's unit on the platform, has the unit
/// translate the DMA, and answers the segments it reached or the fault it raised, as JSON, with
/// the HWPT whose domain the DMA went through named as iommuctl objects names it (its context,
/// ID and kind; left out when no context's HWPT has that domain). EINVAL for a malformed request,
/// ENODEV for a device the platform does not have, ETIMEDOUT when nothing answers within 10 s (an
/// IOPF the user never answers, for one).
/// </summary>
public sealed class DmaReporter : ReceiveActor
{
    private static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull,
    };

    private readonly long _tag;
    private readonly IActorRef _replyTo;
    private readonly IntrospectSources? _introspect;

    public static Props Props(long tag, IActorRef replyTo, byte[] request, IActorRef? platform, IActorRef? units, IntrospectSources? introspect = null) =>
        Akka.Actor.Props.Create(() => new DmaReporter(tag, replyTo, request, platform, units, introspect));

    public DmaReporter(long tag, IActorRef replyTo, byte[] request, IActorRef? platform, IActorRef? units, IntrospectSources? introspect)
    {
        _tag = tag;
        _replyTo = replyTo;
        _introspect = introspect;
        var dma = Parse(request);
        if (dma is null || dma.Length == 0 || string.IsNullOrEmpty(dma.Pci))
        {
            Answer(Errno.EINVAL, new { });
            return;
        }
        if (platform is null || units is null)
        {
            Answer(Errno.ENODEV, new { });
            return;
        }
        Context.SetReceiveTimeout(TimeSpan.FromSeconds(10));
        Receive<ReceiveTimeout>(_ => Answer(Errno.ETIMEDOUT, new { }));
        Receive<PlatformProtocol.PlatformReply>(p =>
        {
            if (p.Platform.Device(dma.Pci) is not { } device)
            {
                Answer(Errno.ENODEV, new { });
                return;
            }
            units.Tell(new UnitProtocol.Dma(device.Unit, dma.Pci, dma.Pasid < 0 ? UnitProtocol.NoPasid : dma.Pasid,
                dma.Iova, dma.Length, dma.Write ? DmaDirection.Write : DmaDirection.Read));
        });
        Receive<UnitProtocol.DmaCompleted>(c => Named(c.Unit, c.DomainId, hwpt => new
        {
            unit = c.Unit,
            pci = c.Pci,
            completed = true,
            hwpt,
            segments = c.Segments.Select(s => new { iova = s.Iova, address = s.Address, length = s.Length }),
        }));
        Receive<UnitProtocol.DmaFaulted>(f => Named(f.Unit, f.Fault.DomainId, hwpt => new
        {
            unit = f.Unit,
            pci = f.Fault.Pci,
            completed = false,
            hwpt,
            fault = new
            {
                kind = f.Fault.Kind.ToString(),
                address = f.Fault.Address,
                pasid = f.Fault.Pasid,
                domain = f.Fault.DomainId,
                requested = f.Fault.Requested.ToString(),
            },
        }));
        Receive<UnitProtocol.Failed>(f => Answer(f.Errno, new { }));
        platform.Tell(new PlatformProtocol.GetPlatform());
    }

    /// <summary>The HWPT of the domain, as iommuctl objects shows it, once the contexts have told their objects.</summary>
    private sealed record NamedHwpt(string Context, uint Id, string Kind);

    /// <summary>
    /// Answers <paramref name="body"/> with the HWPT whose domain in <paramref name="unit"/> is
    /// <paramref name="domain"/>: asks every context's objects first (none when there is no domain).
    /// </summary>
    private void Named(string unit, int domain, Func<NamedHwpt?, object> body)
    {
        if (domain == 0 || _introspect is null)
        {
            Answer(0, body(null));
            return;
        }
        Become(() =>
        {
            Receive<ReceiveTimeout>(_ => Answer(0, body(null)));
            Receive<ObjectsGathered>(g => Answer(0, body(g.Contexts
                .SelectMany(c => c.Objects.Where(o => o.Unit == unit && o.Domain == domain).Select(o => new NamedHwpt(c.FileId, o.Id, o.Kind.ToString())))
                .FirstOrDefault())));
            // The contexts did not all answer: the DMA's answer without the name.
            Receive<StatusJson>(_ => Answer(0, body(null)));
        });
        Context.ActorOf(IntrospectReporter.Gather(_tag, Self, _introspect), "objects");
    }

    private void Answer(int errno, object body)
    {
        _replyTo.Tell(new StatusJson(_tag, errno, JsonSerializer.Serialize(body, Json)));
        Context.Stop(Self);
    }

    private static DmaRequest? Parse(byte[] request)
    {
        try
        {
            return JsonSerializer.Deserialize<DmaRequest>(Encoding.UTF8.GetString(request), Json);
        }
        catch (Exception error) when (error is JsonException or ArgumentException or DecoderFallbackException)
        {
            return null;
        }
    }
}
