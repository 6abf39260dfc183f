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
/// translate the DMA, and answers the segments it reached or the fault it raised, as JSON.
/// EINVAL for a malformed request, ENODEV for a device the platform does not have, ETIMEDOUT
/// when nothing answers within 10 s (an IOPF the user never answers, for one).
/// </summary>
public sealed class DmaReporter : ReceiveActor
{
    private static readonly JsonSerializerOptions Json = new() { PropertyNamingPolicy = JsonNamingPolicy.CamelCase };

    public static Props Props(long tag, IActorRef replyTo, byte[] request, IActorRef? platform, IActorRef? units) =>
        Akka.Actor.Props.Create(() => new DmaReporter(tag, replyTo, request, platform, units));

    public DmaReporter(long tag, IActorRef replyTo, byte[] request, IActorRef? platform, IActorRef? units)
    {
        void Answer(int errno, object body)
        {
            replyTo.Tell(new StatusJson(tag, errno, JsonSerializer.Serialize(body, Json)));
            Context.Stop(Self);
        }

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
        Receive<UnitProtocol.DmaCompleted>(c => Answer(0, new
        {
            unit = c.Unit,
            pci = c.Pci,
            completed = true,
            segments = c.Segments.Select(s => new { iova = s.Iova, address = s.Address, length = s.Length }),
        }));
        Receive<UnitProtocol.DmaFaulted>(f => Answer(0, new
        {
            unit = f.Unit,
            pci = f.Fault.Pci,
            completed = false,
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
