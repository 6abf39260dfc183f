using Akka.Actor;
using IommuActors.Fd.Faults;
using IommuActors.Fd.Objects;
using IommuActors.Uapi.Structs;
using IommuActors.Uapi.Wire;
using static IommuActors.Fd.Context.ContextProtocol;
using static IommuActors.Fd.Faults.FaultQueueProtocol;
using static IommuActors.Fd.Files.FileProtocol;
using Errno = IommuActors.Uapi.Errno;
using Unit = IommuActors.Hardware.Units.UnitProtocol;
using HwAccess = IommuActors.Hardware.Units.Access;

namespace IommuActors.Fd.Context;

// FAULT objects (eventq.c): the context keeps the object and routes the units' I/O page faults
// to the FAULT of the HWPT they came through; each FAULT's queue is a child FaultQueueActor,
// which serves its fd and answers the units.
public sealed partial class IommufdContextActor
{
    private readonly Dictionary<uint, IActorRef> _faultQueues = new();

    /// <summary>The FAULT's queue actor, started on first use (after a restart it starts empty, as the queue is volatile).</summary>
    private IActorRef FaultQueueOf(uint faultId, IActorRef? client = null) =>
        _faultQueues.TryGetValue(faultId, out var q) ? q
        : _faultQueues[faultId] = Context.ActorOf(FaultQueueActor.Props(faultId, _faults[faultId].FileId, _with.Units, client ?? ActorRefs.Nobody),
            "fault-" + Uri.EscapeDataString(_faults[faultId].FileId));

    private void OnFaultQueueAlloc(IommuFaultAlloc cmd, uint size)
    {
        if (cmd.Flags != 0)
        {
            Done(Errno.EOPNOTSUPP);
            return;
        }
        var id = _table.NextFreeId;
        var fileId = $"{_fileId}/fault{_keyCounter + 1}";
        Save(new ObjectCreated(id, ObjectKind.Fault, [], fileId, "", 0, false, 0), () =>
        {
            FaultQueueOf(id, _request.Client);
            _with.Files.Tell(new OpenFaultQueue(fileId, _fileId, id));
            Await<Opened>(o => o.FileId == fileId, _ =>
            {
                var tag = _request.NextTag();
                _request.Client.Tell(new InstallFd(tag, (uint)NewFdKind.FaultQueue, fileId));
                Await<FdInstalled>(f => f.Tag == tag, f =>
                {
                    if (f.Errno != 0)
                    {
                        // No fd: the object is aborted and its ID freed.
                        _with.Files.Tell(new Release(fileId, ActorRefs.Nobody));
                        Save(new FaultFdClosed(id), () => DestroyObject(id, () => Done(f.Errno)));
                        return;
                    }
                    Respond(cmd with { OutFaultId = id, OutFaultFd = (uint)f.Fd }, size);
                });
            });
        });
    }

    private void OnFaultRaised(Unit.FaultRaised m)
    {
        var f = m.Fault;
        // Only recoverable page requests (a cookie to answer) are reported to user space.
        if (f.Cookie == 0)
            return;
        var hwpt = _hwpts.FirstOrDefault(h => h.Value.Unit == m.Unit && h.Value.DomainId == f.DomainId);
        var faultId = hwpt.Key == 0 ? 0 : _table.Get(hwpt.Key).Value!.Uses.FirstOrDefault(u => _faults.ContainsKey(u));
        var dev = _devices.FirstOrDefault(d => d.Value.Pci == f.Pci);
        // A request that raced a detach finds the device no longer attached there: it fails at once.
        var attached = dev.Key != 0 && dev.Value.Attachments.TryGetValue(f.Pasid < 0 ? NoPasid : f.Pasid, out var at) && at == hwpt.Key;
        if (faultId == 0 || !attached)
        {
            _with.Units.Tell(new Unit.PageResponse(m.Unit, f.Cookie, false), ActorRefs.NoSender);
            return;
        }
        var perm = (f.Requested.HasFlag(HwAccess.Read) ? PageFault.PermRead : 0) | (f.Requested.HasFlag(HwAccess.Write) ? PageFault.PermWrite : 0);
        QueuePageRequest(faultId, new FaultGroup(dev.Key, f.Pasid, hwpt.Key, m.Unit, f.Cookie, f.Address, perm));
    }

    private void QueuePageRequest(uint faultId, FaultGroup group) => FaultQueueOf(faultId).Tell(new EnqueueGroup(group));

    private void OnReadFaults(ReadFaults m)
    {
        if (_faults.ContainsKey(m.FaultId))
            FaultQueueOf(m.FaultId).Forward(m);
        else
            Sender.Tell(new ReadDone(m.FileId, m.Tag, Errno.EBADF, []));
    }

    private void OnWriteResponses(WriteResponses m)
    {
        if (_faults.ContainsKey(m.FaultId))
            FaultQueueOf(m.FaultId).Forward(m);
        else
            Sender.Tell(new WriteDone(m.FileId, m.Tag, Errno.EBADF, 0));
    }

    private void OnFaultFileClosed(FaultFileClosed m)
    {
        if (_faults.TryGetValue(m.FaultId, out var f) && f.FdOpen)
            Persist(new FaultFdClosed(m.FaultId), e =>
            {
                Apply(e);
                CheckLastHolder();
            });
    }

    /// <summary>Destroying a FAULT answers every group it holds, delivered or not, INVALID, before the destroy does.</summary>
    private void ReleaseFaultQueue(uint faultId, Action then)
    {
        if (!_faultQueues.Remove(faultId, out var queue))
        {
            then();
            return;
        }
        queue.Tell(new ReleaseQueue());
        Await<QueueReleased>(r => r.FaultId == faultId, _ =>
        {
            Context.Stop(queue);
            then();
        });
    }

    /// <summary>Detach: the groups that came through that attachment are answered INVALID and dropped, before the detach answers.</summary>
    private void AnswerFaultsOf(uint devId, int pasid, uint hwptId, Action then)
    {
        var queues = _faultQueues.ToList();
        var unitPasid = pasid == NoPasid ? Unit.NoPasid : pasid;
        void Next(int i)
        {
            if (i == queues.Count)
            {
                then();
                return;
            }
            queues[i].Value.Tell(new FailAttachmentFaults(devId, unitPasid, hwptId));
            Await<AttachmentFaultsFailed>(r => r.FaultId == queues[i].Key, _ => Next(i + 1));
        }
        Next(0);
    }
}
