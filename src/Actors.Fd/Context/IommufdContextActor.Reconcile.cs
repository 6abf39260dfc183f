using Akka.Actor;
using IommuActors.Fd.Objects;
using static IommuActors.Fd.Context.ContextProtocol;
using static IommuActors.Fd.Files.FileProtocol;
using H = IommuActors.Domains.Hwpt.HwptProtocol;

namespace IommuActors.Fd.Context;

// After a crash: the context's journal and each IOAS's journal are written one after the other
// (the IOAS commits, then the context records the object), so a crash between the two leaves an
// IOAS with a HWPT or an attachment the context never recorded, or the context with one the IOAS
// already dropped. Before it serves anything the recovered context compares the two and repairs:
// what only the IOAS holds is detached and destroyed (the ioctl that made it never answered), what
// only the context holds is forgotten.
public sealed partial class IommufdContextActor
{
    private void Reconcile()
    {
        if (_released || _ioas.Count == 0)
            return;
        Begin(ActorRefs.Nobody, ActorRefs.Nobody, null);
        _request.FailWith = _ => new Released(_fileId);
        ReconcileIoas([.. _ioas.OrderBy(i => i.Key)], 0);
    }

    private void ReconcileIoas(List<KeyValuePair<uint, IoasEntry>> ioases, int i)
    {
        if (i == ioases.Count)
        {
            End();
            return;
        }
        var (ioasId, entry) = ioases[i];
        entry.Ref.Tell(new H.GetHwpts(entry.Key));
        Await<H.Hwpts>(h => h.IoasId == entry.Key, h =>
            RunSteps(RepairSteps(ioasId, entry, h.Items), 0, () => ReconcileIoas(ioases, i + 1)));
    }

    private void RunSteps(List<Action<Action>> steps, int i, Action then)
    {
        if (i == steps.Count)
            then();
        else
            steps[i](() => RunSteps(steps, i + 1, then));
    }

    private bool Records(uint ioasId, uint hwptId) =>
        _table.Get(hwptId).IsOk && _hwpts.TryGetValue(hwptId, out var h) && ((IContextHost)this).IoasOf(h) == ioasId;

    private List<Action<Action>> RepairSteps(uint ioasId, IoasEntry entry, IReadOnlyList<H.HwptView> views)
    {
        var steps = new List<Action<Action>>();
        // The IOAS side, children before parents: attachments and HWPTs the context never recorded.
        foreach (var v in views.OrderByDescending(v => v.Kind == H.HwptKind.Nested))
        {
            var known = Records(ioasId, v.HwptId);
            foreach (var a in v.Devices)
            {
                var recorded = known && _devices.Values.Any(d => d.Pci == a.Pci && d.Attachments.GetValueOrDefault(a.Pasid) == v.HwptId);
                if (recorded)
                    continue;
                steps.Add(next =>
                {
                    entry.Ref.Tell(new H.DetachDevice(entry.Key, a.Pci, a.Pasid));
                    Await<H.DetachResult>(r => r.Pci == a.Pci && r.Pasid == a.Pasid, _ => next());
                });
            }
            if (!known && !(v.Auto && v.Devices.Length > 0))
                steps.Add(next =>
                {
                    entry.Ref.Tell(new H.DestroyHwpt(entry.Key, v.HwptId));
                    Await<H.HwptDestroyResult>(r => r.HwptId == v.HwptId, _ => next());
                });
        }
        // The context side: attachments and HWPTs of this IOAS that the IOAS no longer holds.
        var held = views.ToDictionary(v => v.HwptId, v => v.Devices.Select(a => (a.Pci, a.Pasid)).ToHashSet());
        foreach (var (devId, dev) in _devices.ToList())
            foreach (var (pasid, hwptId) in dev.Attachments)
            {
                if (!Records(ioasId, hwptId) || held.TryGetValue(hwptId, out var devices) && devices.Contains((dev.Pci, pasid)))
                    continue;
                steps.Add(next => Save(new AttachmentsChanged(devId, _devices[devId].Attachments.Remove(pasid)), next));
            }
        foreach (var hwptId in _hwpts.Keys.Where(id => Records(ioasId, id) && !held.ContainsKey(id)).OrderByDescending(id => _hwpts[id].Nested))
            steps.Add(next =>
            {
                if (_table.Get(hwptId).IsOk && _table.UsersOf(hwptId) == 0)
                    Save(new ObjectDestroyed(hwptId), next);
                else
                    next();
            });
        return steps;
    }
}
