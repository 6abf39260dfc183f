using Akka.Actor;
using IommuActors.Core.Messaging;
using IommuActors.Fd.Context;
using IommuActors.Fd.Objects;
using IommuActors.Uapi.Structs;
using IommuActors.Uapi.Wire;
using static IommuActors.Fd.Context.ContextProtocol;
using static IommuActors.Fd.Faults.FaultQueueProtocol;
using static IommuActors.Fd.Files.FileProtocol;
using Errno = IommuActors.Uapi.Errno;
using Unit = IommuActors.Hardware.Units.UnitProtocol;
using HwAccess = IommuActors.Hardware.Units.Access;

namespace IommuActors.Fd.Faults;

/// <summary>A FAULT object: the file id of its queue file, and whether that fd is still open.</summary>
internal sealed record FaultEntry(string FileId, bool FdOpen);

/// <summary>
/// FAULT objects (eventq.c): the context keeps the object and routes the units' I/O page faults
/// to the FAULT of the HWPT they came through; each FAULT's queue is a child
/// <see cref="FaultQueueActor"/>, which serves its fd and answers the units. Runs on the
/// context's thread; the open queue fds hold the context (fdClosed: one of them closed).
/// </summary>
internal sealed class FaultObjects(IContextHost host, Action fdClosed)
{
    private readonly Dictionary<uint, FaultEntry> _faults = new();
    private readonly Dictionary<uint, IActorRef> _queues = new();

    private ServedRequest Request => host.Request;

    /// <summary>How many FAULTs still have their fd open: each holds the context.</summary>
    public int OpenFds => _faults.Values.Count(f => f.FdOpen);

    /// <summary>The FAULTs whose fd was closed (the snapshot's record of them).</summary>
    public IEnumerable<uint> ClosedFds => _faults.Where(f => !f.Value.FdOpen).Select(f => f.Key);

    /// <summary>An open fd holds its FAULT: IOMMU_DESTROY of it is EBUSY.</summary>
    public bool IsFdOpen(uint faultId) => _faults.TryGetValue(faultId, out var f) && f.FdOpen;

    public string? KeyOf(uint id) => _faults.TryGetValue(id, out var f) ? f.FileId : null;

    /// <summary>The journal's view of FAULTs; runs before the context's own Apply for every event.</summary>
    public void Apply(IPersistedEvent e)
    {
        switch (e)
        {
            case ObjectCreated { Kind: ObjectKind.Fault } c:
                _faults[c.Id] = new FaultEntry(c.Key, FdOpen: true);
                break;
            case ObjectDestroyed d:
                _faults.Remove(d.Id);
                break;
            case FaultFdClosed f:
                _faults[f.FaultId] = _faults[f.FaultId] with { FdOpen = false };
                break;
        }
    }

    /// <summary>The FAULT's queue actor, started on first use (after a restart it starts empty, as the queue is volatile).</summary>
    private IActorRef QueueOf(uint faultId, IActorRef? client = null) =>
        _queues.TryGetValue(faultId, out var q) ? q
        : _queues[faultId] = host.Spawn(FaultQueueActor.Props(faultId, _faults[faultId].FileId, host.With.Units, client ?? ActorRefs.Nobody),
            "fault-" + Uri.EscapeDataString(_faults[faultId].FileId));

    /// <summary>IOMMU_FAULT_QUEUE_ALLOC: the object, its queue, its file and the fd; no fd aborts the object and frees its ID.</summary>
    public void Alloc(IommuFaultAlloc cmd, uint size)
    {
        if (cmd.Flags != 0)
        {
            Request.Done(Errno.EOPNOTSUPP);
            return;
        }
        var id = host.Table.NextFreeId;
        var fileId = $"{host.FileId}/fault{host.NextKeyNumber}";
        host.Save(new ObjectCreated(id, ObjectKind.Fault, [], fileId, "", 0, false, 0), () =>
        {
            QueueOf(id, Request.Client);
            host.With.Files.Tell(new OpenFaultQueue(fileId, host.FileId, id));
            Request.Await<Opened>(o => o.FileId == fileId, _ =>
            {
                var tag = Request.NextTag();
                Request.Client.Tell(new InstallFd(tag, (uint)NewFdKind.FaultQueue, fileId));
                Request.Await<FdInstalled>(f => f.Tag == tag, f =>
                {
                    if (f.Errno != 0)
                    {
                        host.With.Files.Tell(new Release(fileId, ActorRefs.Nobody));
                        host.Save(new FaultFdClosed(id), () => Destroy(id, () => Request.Done(f.Errno)));
                        return;
                    }
                    Request.Respond(cmd with { OutFaultId = id, OutFaultFd = (uint)f.Fd }, size);
                });
            });
        });
    }

    /// <summary>
    /// A unit's I/O page fault: a recoverable page request (a cookie to answer) goes to the FAULT
    /// of the HWPT it came through; one with no FAULT, or that raced a detach and finds the device
    /// no longer attached there, fails at once.
    /// </summary>
    public void Raised(Unit.FaultRaised m)
    {
        var f = m.Fault;
        if (f.Cookie == 0)
            return;
        var hwpt = host.Hwpts.FirstOrDefault(h => h.Value.Unit == m.Unit && h.Value.DomainId == f.DomainId);
        var faultId = hwpt.Key == 0 ? 0 : host.Table.Get(hwpt.Key).Value!.Uses.FirstOrDefault(u => _faults.ContainsKey(u));
        var dev = host.Devices.FirstOrDefault(d => d.Value.Pci == f.Pci);
        var attached = dev.Key != 0 && dev.Value.Attachments.TryGetValue(f.Pasid < 0 ? NoPasid : f.Pasid, out var at) && at == hwpt.Key;
        if (faultId == 0 || !attached)
        {
            host.With.Units.Tell(new Unit.PageResponse(m.Unit, f.Cookie, false), ActorRefs.NoSender);
            return;
        }
        var perm = (f.Requested.HasFlag(HwAccess.Read) ? PageFault.PermRead : 0) | (f.Requested.HasFlag(HwAccess.Write) ? PageFault.PermWrite : 0);
        Queue(faultId, new FaultGroup(dev.Key, f.Pasid, hwpt.Key, m.Unit, f.Cookie, f.Address, perm));
    }

    /// <summary>A page request queued in the FAULT object faultId; the queue answers the context <see cref="GroupQueued"/>.</summary>
    public void Queue(uint faultId, FaultGroup group) => QueueOf(faultId).Tell(new EnqueueGroup(group), host.Self);

    /// <summary>A read of the queue fd, served by the queue (EBADF once the FAULT is gone).</summary>
    public void Read(ReadFaults m, IActorRef sender)
    {
        if (_faults.ContainsKey(m.FaultId))
            QueueOf(m.FaultId).Tell(m, sender);
        else
            sender.Tell(new ReadDone(m.FileId, m.Tag, Errno.EBADF, []));
    }

    /// <summary>A write of responses to the queue fd, served by the queue (EBADF once the FAULT is gone).</summary>
    public void Write(WriteResponses m, IActorRef sender)
    {
        if (_faults.ContainsKey(m.FaultId))
            QueueOf(m.FaultId).Tell(m, sender);
        else
            sender.Tell(new WriteDone(m.FileId, m.Tag, Errno.EBADF, 0));
    }

    /// <summary>
    /// The queue fd closed: the FAULT no longer holds the context (nor is held by its fd). The file
    /// is told once that is journaled, before the context may let go of itself.
    /// </summary>
    public void FileClosed(FaultFileClosed m, IActorRef file)
    {
        var done = new FaultFileClosedDone(m.FileId, m.FaultId);
        if (!IsFdOpen(m.FaultId))
        {
            file.Tell(done);
            return;
        }
        host.Save(new FaultFdClosed(m.FaultId), () =>
        {
            file.Tell(done);
            fdClosed();
        });
    }

    /// <summary>Destroying a FAULT answers every group it holds, delivered or not, INVALID, then the object goes.</summary>
    public void Destroy(uint faultId, Action then)
    {
        void Forget() => host.Save(new ObjectDestroyed(faultId), then);
        if (!_queues.Remove(faultId, out var queue))
        {
            Forget();
            return;
        }
        queue.Tell(new ReleaseQueue());
        Request.Await<QueueReleased>(r => r.FaultId == faultId, _ =>
        {
            host.StopChild(queue);
            Forget();
        });
    }

    /// <summary>Detach: the groups that came through that attachment are answered INVALID and dropped, before the detach answers.</summary>
    public void AnswerFaultsOf(uint devId, int pasid, uint hwptId, Action then)
    {
        var queues = _queues.ToList();
        var unitPasid = pasid == NoPasid ? Unit.NoPasid : pasid;
        void Next(int i)
        {
            if (i == queues.Count)
            {
                then();
                return;
            }
            queues[i].Value.Tell(new FailAttachmentFaults(devId, unitPasid, hwptId));
            Request.Await<AttachmentFaultsFailed>(r => r.FaultId == queues[i].Key, _ => Next(i + 1));
        }
        Next(0);
    }
}
