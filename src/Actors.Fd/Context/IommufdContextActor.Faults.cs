using Akka.Actor;
using IommuActors.Fd.Faults;
using IommuActors.Fd.Objects;
using IommuActors.Hardware.Units;
using IommuActors.Uapi.Structs;
using IommuActors.Uapi.Wire;
using static IommuActors.Fd.Context.ContextProtocol;
using static IommuActors.Fd.Files.FileProtocol;
using Errno = IommuActors.Uapi.Errno;
using Unit = IommuActors.Hardware.Units.UnitProtocol;
using HwAccess = IommuActors.Hardware.Units.Access;

namespace IommuActors.Fd.Context;

// FAULT objects and their queue file (eventq.c): I/O page faults from the units become
// iommu_hwpt_pgfault records; responses written back complete the DMA through the unit.
public sealed partial class IommufdContextActor
{
    /// <summary>EPOLLIN | EPOLLRDNORM.</summary>
    private const uint PollIn = 0x41;

    /// <summary>EPOLLOUT: a fault queue always takes responses.</summary>
    private const uint PollOut = 0x4;

    private const int RecordSize = 40, ResponseSize = 8;

    private sealed class FaultQueue
    {
        public List<FaultGroup> ToDeliver { get; } = [];
        public SortedDictionary<uint, FaultGroup> AwaitingResponse { get; } = [];
        public IActorRef Client { get; set; } = ActorRefs.Nobody;
    }

    private readonly Dictionary<uint, FaultQueue> _queues = new();

    private FaultQueue QueueOf(uint faultId) => _queues.TryGetValue(faultId, out var q) ? q : _queues[faultId] = new FaultQueue();

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
            QueueOf(id).Client = _request.Client;
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
        var q = QueueOf(faultId);
        q.ToDeliver.Add(new FaultGroup(dev.Key, f.Pasid, hwpt.Key, m.Unit, f.Cookie, f.Address, perm));
        q.Client.Tell(new FileReady(_faults[faultId].FileId, PollIn));
    }

    private void QueuePageRequest(uint faultId, FaultGroup group)
    {
        var q = QueueOf(faultId);
        q.ToDeliver.Add(group);
        q.Client.Tell(new FileReady(_faults[faultId].FileId, PollIn));
    }

    private void OnReadFaults(ReadFaults m)
    {
        var fileId = _faults.TryGetValue(m.FaultId, out var fe) ? fe.FileId : m.FileId;
        if (fe is null)
        {
            Sender.Tell(new ReadDone(fileId, m.Tag, Errno.EBADF, []));
            return;
        }
        if (m.Count % RecordSize != 0)
        {
            Sender.Tell(new ReadDone(fileId, m.Tag, Errno.ESPIPE, []));
            return;
        }
        var q = QueueOf(m.FaultId);
        q.Client = m.Client;
        var output = new List<byte>();
        // Whole groups only, in arrival order; read never blocks (an empty queue reads 0 bytes).
        while (q.ToDeliver.Count > 0 && output.Count + RecordSize <= m.Count)
        {
            var g = q.ToDeliver[0];
            q.ToDeliver.RemoveAt(0);
            var cookie = 1u;
            while (q.AwaitingResponse.ContainsKey(cookie))
                cookie++;
            q.AwaitingResponse[cookie] = g;
            var record = new byte[RecordSize];
            new IommuHwptPgfault(PageFault.FlagLastPage | (g.Pasid >= 0 ? PageFault.FlagPasidValid : 0), g.DevId,
                g.Pasid >= 0 ? (uint)g.Pasid : 0, g.Grpid, g.Perm, 0, g.Address, 0, cookie).Write(record);
            output.AddRange(record);
        }
        // poll: readable only while groups wait to be delivered; say so when the last one went.
        if (output.Count > 0 && q.ToDeliver.Count == 0)
            q.Client.Tell(new FileReady(fileId, PollOut));
        Sender.Tell(new ReadDone(fileId, m.Tag, 0, [.. output]));
    }

    private void OnWriteResponses(WriteResponses m)
    {
        var fileId = _faults.TryGetValue(m.FaultId, out var fe) ? fe.FileId : m.FileId;
        if (fe is null)
        {
            Sender.Tell(new WriteDone(fileId, m.Tag, Errno.EBADF, 0));
            return;
        }
        if (m.Data.Length % ResponseSize != 0)
        {
            Sender.Tell(new WriteDone(fileId, m.Tag, Errno.ESPIPE, 0));
            return;
        }
        var q = QueueOf(m.FaultId);
        var done = 0;
        var rc = 0;
        var answers = new List<object>();
        for (; done < m.Data.Length; done += ResponseSize)
        {
            var r = IommuHwptPageResponse.Read(m.Data.AsSpan(done));
            if (r.Code is not (PageFault.ResponseSuccess or PageFault.ResponseInvalid) || !q.AwaitingResponse.Remove(r.Cookie, out var g))
            {
                rc = Errno.EINVAL;
                break;
            }
            if (g.UnitCookie != 0)
                answers.Add(new Unit.PageResponse(g.Unit, g.UnitCookie, r.Code == PageFault.ResponseSuccess));
        }
        foreach (var a in answers)
            _with.Units.Tell(a, ActorRefs.NoSender);
        // Partial success hides the error, as for any write().
        Sender.Tell(done > 0 ? new WriteDone(fileId, m.Tag, 0, (uint)done) : new WriteDone(fileId, m.Tag, rc, 0));
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

    /// <summary>Destroying a FAULT answers every group it holds, delivered or not, INVALID.</summary>
    private void AnswerAllFaults(uint faultId, Action then)
    {
        if (_queues.Remove(faultId, out var q))
        {
            foreach (var g in q.ToDeliver.Concat(q.AwaitingResponse.Values).Where(g => g.UnitCookie != 0))
                _with.Units.Tell(new Unit.PageResponse(g.Unit, g.UnitCookie, false), ActorRefs.NoSender);
        }
        then();
    }

    private void AnswerInvalid(FaultGroup g)
    {
        if (g.UnitCookie != 0)
            _with.Units.Tell(new Unit.PageResponse(g.Unit, g.UnitCookie, false), ActorRefs.NoSender);
    }

    /// <summary>Detach: the groups that came through that attachment are answered INVALID and dropped.</summary>
    private void AnswerFaultsOf(uint devId, int pasid, uint hwptId, Action then)
    {
        var unitPasid = pasid == NoPasid ? Unit.NoPasid : pasid;
        foreach (var q in _queues.Values)
        {
            bool Match(FaultGroup g) => g.DevId == devId && g.HwptId == hwptId && g.Pasid == unitPasid;
            foreach (var g in q.ToDeliver.Where(Match).ToList())
            {
                q.ToDeliver.Remove(g);
                AnswerInvalid(g);
            }
            foreach (var (cookie, g) in q.AwaitingResponse.Where(kv => Match(kv.Value)).ToList())
            {
                q.AwaitingResponse.Remove(cookie);
                AnswerInvalid(g);
            }
        }
        then();
    }
}
