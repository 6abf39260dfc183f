using Akka.Actor;
using System.Collections.Immutable;
using static IommuActors.Fd.Context.IntrospectProtocol;

namespace IommuActors.Fd.Context;

// Read-only questions about the context (its live object table) for iommuctl's contexts, objects
// and graph commands. They are answered in every state: they change nothing and wait for nothing.
public sealed partial class IommufdContextActor
{
    private void Introspection()
    {
        Command<GetContextObjects>(OnGetContextObjects);
    }

    /// <summary>The table, and when asked each started IOAS's summary, sent by the IOAS to the asker (no waiting here).</summary>
    private void OnGetContextObjects(GetContextObjects ask)
    {
        var asked = ImmutableArray<string>.Empty;
        if (ask.WithMappings)
        {
            var started = _ioas.Values.Where(e => !e.Ref.IsNobody()).ToList();
            foreach (var ioas in started) ioas.Ref.Tell(new Domains.Ioas.IoasProtocol.GetSummary(ioas.Key), Sender);
            asked = [.. started.Select(e => e.Key)];
        }
        Sender.Tell(new ContextObjects(_fileId, [.. _table.Objects.Select(Describe)],
            _pasids is null ? "" : Pasid.PasidExtensionActor.SetKeyOf(_fileId), asked));
    }

    private ObjectInfo Describe(Objects.ContextObject o)
    {
        var device = _devices.GetValueOrDefault(o.Id);
        var attachments = device is null ? ImmutableArray<ObjectAttachment>.Empty
            : [.. device.Attachments.OrderBy(a => a.Key).Select(a => new ObjectAttachment(a.Key, a.Value))];
        return new ObjectInfo(o.Id, o.Kind, [.. o.Uses], KeyOf(o), device?.Pci ?? _mocks.Of(o.Id)?.Pci ?? "",
            _hwpts.TryGetValue(o.Id, out var hwpt) ? hwpt.Unit : _viommu.UnitOf(o.Id) ?? "", attachments, hwpt?.DomainId ?? 0);
    }
}
