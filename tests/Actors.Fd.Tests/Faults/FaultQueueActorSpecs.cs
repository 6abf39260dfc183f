using Akka.Actor;
using Akka.TestKit.Xunit2;
using IommuActors.Fd.Faults;
using IommuActors.Uapi.Structs;
using Xunit;
using static IommuActors.Fd.Context.ContextProtocol;
using static IommuActors.Fd.Faults.FaultQueueProtocol;
using static IommuActors.Fd.Files.FileProtocol;
using Unit = IommuActors.Hardware.Units.UnitProtocol;

namespace IommuActors.Fd.Tests.Faults;

public sealed class FaultQueueActorSpecs : TestKit
{
    private readonly Akka.TestKit.TestProbe _units;
    private readonly Akka.TestKit.TestProbe _client;
    private readonly IActorRef _queue;

    public FaultQueueActorSpecs()
    {
        _units = CreateTestProbe();
        _client = CreateTestProbe();
        _queue = Sys.ActorOf(FaultQueueActor.Props(4, "ctx/fault1", _units, _client));
    }

    private static FaultGroup Group(long cookie, ulong address, int pasid = -1) => new(2, pasid, 5, "dmar0", cookie, address, PageFault.PermWrite);

    /// <summary>Queues a group; the queue acknowledges it to the sender (TRIGGER_IOPF answers after that).</summary>
    private void Enqueue(FaultGroup group)
    {
        _queue.Tell(new EnqueueGroup(group));
        ExpectMsg(new GroupQueued(4));
    }

    [Fact]
    public void A_group_makes_the_fd_readable_and_reading_the_last_one_says_it_is_not_any_more()
    {
        Enqueue(Group(11, 0x1000));
        Assert.Equal(new FileReady("ctx/fault1", FaultQueueActor.PollIn), _client.ExpectMsg<FileReady>());
        _queue.Tell(new ReadFaults("ctx", 1, 4, 80, _client));
        var read = ExpectMsg<ReadDone>();
        Assert.Equal(("ctx/fault1", 1L, 0, 40), (read.FileId, read.Tag, read.Errno, read.Data.Length));
        Assert.Equal(new FileReady("ctx/fault1", FaultQueueActor.PollOut), _client.ExpectMsg<FileReady>());
    }

    [Fact]
    public void A_response_answers_the_units_request_and_a_software_groups_response_answers_nobody()
    {
        Enqueue(Group(11, 0x1000));
        Enqueue(Group(0, 0x2000));
        _queue.Tell(new ReadFaults("ctx", 1, 4, 80, _client));
        ExpectMsg<ReadDone>();
        var bytes = new byte[16];
        new IommuHwptPageResponse(2, PageFault.ResponseSuccess).Write(bytes);
        new IommuHwptPageResponse(1, PageFault.ResponseSuccess).Write(bytes.AsSpan(8));
        _queue.Tell(new WriteResponses("ctx", 2, 4, bytes, _client));
        Assert.Equal(new WriteDone("ctx/fault1", 2, 0, 16), ExpectMsg<WriteDone>());
        Assert.Equal(new Unit.PageResponse("dmar0", 11, true), _units.ExpectMsg<Unit.PageResponse>());
        _units.ExpectNoMsg(TimeSpan.FromMilliseconds(200));
    }

    [Fact]
    public void A_detach_answers_that_attachments_requests_INVALID_before_it_is_answered()
    {
        Enqueue(Group(11, 0x1000));
        Enqueue(Group(12, 0x2000, pasid: 3));
        _queue.Tell(new FailAttachmentFaults(2, -1, 5));
        Assert.Equal(new Unit.PageResponse("dmar0", 11, false), _units.ExpectMsg<Unit.PageResponse>());
        ExpectMsg(new AttachmentFaultsFailed(4));
        _units.ExpectNoMsg(TimeSpan.FromMilliseconds(200));
    }

    [Fact]
    public void Stopping_the_queue_answers_every_request_it_holds_INVALID_read_or_not()
    {
        Enqueue(Group(11, 0x1000));
        _queue.Tell(new ReadFaults("ctx", 1, 4, 40, _client));
        ExpectMsg<ReadDone>();
        Enqueue(Group(12, 0x2000));
        Watch(_queue);
        Sys.Stop(_queue);
        ExpectTerminated(_queue);
        var answers = new[] { _units.ExpectMsg<Unit.PageResponse>(), _units.ExpectMsg<Unit.PageResponse>() };
        Assert.Equal([11L, 12L], answers.Select(a => a.Cookie).Order());
        Assert.All(answers, a => Assert.False(a.Success));
    }

    [Fact]
    public void A_released_queue_has_nothing_left_to_answer_when_it_stops()
    {
        Enqueue(Group(11, 0x1000));
        _queue.Tell(new ReleaseQueue());
        Assert.Equal(new Unit.PageResponse("dmar0", 11, false), _units.ExpectMsg<Unit.PageResponse>());
        ExpectMsg(new QueueReleased(4));
        Watch(_queue);
        Sys.Stop(_queue);
        ExpectTerminated(_queue);
        _units.ExpectNoMsg(TimeSpan.FromMilliseconds(200));
    }
}
