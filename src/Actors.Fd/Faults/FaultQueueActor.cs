using Akka.Actor;
using static IommuActors.Fd.Context.ContextProtocol;
using static IommuActors.Fd.Faults.FaultQueueProtocol;
using static IommuActors.Fd.Files.FileProtocol;
using Unit = IommuActors.Hardware.Units.UnitProtocol;

namespace IommuActors.Fd.Faults;

/// <summary>
/// One FAULT object's queue (eventq.c), a child of its iommufd context: it takes the page request
/// groups the context routes to it, serves the reads and writes of the queue's fd, and answers
/// the units' page requests with the responses written back. Whatever it still holds when it
/// stops (the FAULT destroyed, the context gone) is answered INVALID, as the kernel answers a
/// released fault queue's requests. Its groups are volatile: a restarted context starts it empty.
/// </summary>
public sealed class FaultQueueActor : ReceiveActor
{
    /// <summary>EPOLLIN | EPOLLRDNORM.</summary>
    public const uint PollIn = 0x41;

    /// <summary>EPOLLOUT: a fault queue always takes responses.</summary>
    public const uint PollOut = 0x4;

    private readonly FaultQueue _queue = new();
    private readonly uint _faultId;
    private readonly string _fileId;
    private readonly IActorRef _units;

    /// <summary>The client to tell when the fd becomes readable: the one that made or last read it.</summary>
    private IActorRef _client;

    public static Props Props(uint faultId, string fileId, IActorRef units, IActorRef client) =>
        Akka.Actor.Props.Create(() => new FaultQueueActor(faultId, fileId, units, client));

    public FaultQueueActor(uint faultId, string fileId, IActorRef units, IActorRef client)
    {
        _faultId = faultId;
        _fileId = fileId;
        _units = units;
        _client = client;
        Receive<EnqueueGroup>(e =>
        {
            _queue.Add(e.Group);
            _client.Tell(new FileReady(_fileId, PollIn));
            // TRIGGER_IOPF answers after this, so the fd reads as readable once the ioctl returned, as the kernel's does.
            Sender.Tell(new GroupQueued(_faultId));
        });
        Receive<ReadFaults>(OnRead);
        Receive<WriteResponses>(OnWrite);
        Receive<FailAttachmentFaults>(f =>
        {
            AnswerInvalid(_queue.TakeOf(f.DevId, f.Pasid, f.HwptId));
            Sender.Tell(new AttachmentFaultsFailed(_faultId));
        });
        Receive<ReleaseQueue>(_ =>
        {
            AnswerInvalid(_queue.TakeAll());
            Sender.Tell(new QueueReleased(_faultId));
        });
    }

    private void OnRead(ReadFaults m)
    {
        var read = _queue.Read(m.Count);
        if (read.Errno == 0)
            _client = m.Client;
        // poll: readable only while groups wait to be delivered; say so when the last one went.
        if (read.Drained)
            _client.Tell(new FileReady(_fileId, PollOut));
        Sender.Tell(new ReadDone(_fileId, m.Tag, read.Errno, read.Data));
    }

    private void OnWrite(WriteResponses m)
    {
        var written = _queue.Write(m.Data);
        foreach (var (g, success) in written.Answered.Where(a => a.Group.UnitCookie != 0))
            _units.Tell(new Unit.PageResponse(g.Unit, g.UnitCookie, success), ActorRefs.NoSender);
        Sender.Tell(new WriteDone(_fileId, m.Tag, written.Errno, written.Written));
    }

    /// <summary>Groups reported by software (TRIGGER_IOPF) have no DMA waiting on them.</summary>
    private void AnswerInvalid(IEnumerable<FaultGroup> groups)
    {
        foreach (var g in groups.Where(g => g.UnitCookie != 0))
            _units.Tell(new Unit.PageResponse(g.Unit, g.UnitCookie, false), ActorRefs.NoSender);
    }

    protected override void PostStop() => AnswerInvalid(_queue.TakeAll());
}
