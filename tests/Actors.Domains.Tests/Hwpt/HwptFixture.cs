using System.Collections.Immutable;
using Akka.Actor;
using IommuActors.Core.Messaging;
using IommuActors.Hardware.Platform;
using IommuActors.Hardware.Units;
using static IommuActors.Domains.Hwpt.HwptProtocol;
using static IommuActors.Domains.Ioas.IoasProtocol;

namespace IommuActors.Domains.Tests.Hwpt;

/// <summary>Stands in for the unit shard region: forwards each unit message to the actor of its unit.</summary>
public sealed class UnitRouter : ReceiveActor
{
    public UnitRouter(IReadOnlyDictionary<string, IActorRef> units) =>
        Receive<IEntityMessage>(m => units[m.EntityId].Forward(m));
}

/// <summary>A unit that accepts everything except maps, which it refuses with EINVAL (a domain that cannot take the range).</summary>
public sealed class RefusingUnit : ReceiveActor
{
    public RefusingUnit()
    {
        var next = 100;
        Receive<UnitProtocol.AllocateDomain>(m => Sender.Tell(new UnitProtocol.DomainAllocatedReply(m.Unit, next++)));
        Receive<UnitProtocol.MapRange>(m => Sender.Tell(new UnitProtocol.Failed(m.Unit, Errno.EINVAL)));
        Receive<IEntityMessage>(m => Sender.Tell(new UnitProtocol.Done(m.EntityId)));
    }
}

/// <summary>A real unit behind a door that refuses FreeDomain with EBUSY: a commit that frees a domain fails at that step.</summary>
public sealed class FreeRefusingUnit : ReceiveActor
{
    public FreeRefusingUnit(IActorRef unit)
    {
        Receive<UnitProtocol.FreeDomain>(m => Sender.Tell(new UnitProtocol.Failed(m.Unit, Errno.EBUSY)));
        Receive<IEntityMessage>(m => unit.Forward(m));
    }
}

public static class Platform
{
    public const ulong Page = 4096;
    public const ulong Msi = 0xfee00000;

    public static UnitSpec Vtd(string name, int addressWidth = 48) => new(name, UnitKind.IntelVtd, 0x1000 | 0x200000 | 0x40000000,
        addressWidth, 20, true, "vtd-s1", true, true, true, [new ReservedRegion(Msi, Msi + 0xfffff, ReservedKind.Msi)], HwInfoTypes.IntelVtd, []);

    public static UnitSpec Mock(string name) => new(name, UnitKind.Mock, 0x800 | 0x1000, 48, 20, true, "selftest", true, true, false,
        [], HwInfoTypes.Selftest, []);

    public static DeviceSpec Device(string pci, string unit, int group) => new(pci, 0x8086, 0x1000, unit, group, 20, false, false, "vfio-" + pci);

    public static DeviceRef Ref(DeviceSpec d, UnitSpec u) => new(d.Pci, u.Name, d.Group,
        [.. u.ReservedRegions.Select(r => new IovaSpan(r.Start, r.Last))]);
}
