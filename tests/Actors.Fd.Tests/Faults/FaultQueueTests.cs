using IommuActors.Fd.Faults;
using IommuActors.Uapi.Structs;
using Xunit;
using Errno = IommuActors.Uapi.Errno;

namespace IommuActors.Fd.Tests.Faults;

public sealed class FaultQueueTests
{
    private static FaultGroup Group(uint dev, int pasid, ulong address, long cookie = 7, uint hwpt = 5) =>
        new(dev, pasid, hwpt, "dmar0", cookie, address, PageFault.PermRead, Grpid: 3);

    private static IommuHwptPgfault[] Records(byte[] data) => [.. data.Chunk(FaultQueue.RecordSize).Select(c => IommuHwptPgfault.Read(c))];

    private static byte[] Responses(params (uint Cookie, uint Code)[] responses)
    {
        var bytes = new byte[FaultQueue.ResponseSize * responses.Length];
        for (var i = 0; i < responses.Length; i++)
            new IommuHwptPageResponse(responses[i].Cookie, responses[i].Code).Write(bytes.AsSpan(i * FaultQueue.ResponseSize));
        return bytes;
    }

    [Fact]
    public void A_read_takes_as_many_records_as_fit_in_arrival_order_each_under_the_lowest_free_cookie()
    {
        var q = new FaultQueue();
        q.Add(Group(1, -1, 0x1000));
        q.Add(Group(2, 9, 0x2000));
        q.Add(Group(3, -1, 0x3000));
        var first = q.Read(2 * FaultQueue.RecordSize);
        Assert.Equal((0, false), (first.Errno, first.Drained));
        var records = Records(first.Data);
        Assert.Equal([(1u, 0x1000ul, 1u), (2u, 0x2000ul, 2u)], records.Select(r => (r.DevId, r.Addr, r.Cookie)));
        Assert.Equal(PageFault.FlagLastPage, records[0].Flags);
        Assert.Equal((PageFault.FlagLastPage | PageFault.FlagPasidValid, 9u, 3u), (records[1].Flags, records[1].Pasid, records[1].Grpid));
        var rest = q.Read(FaultQueue.RecordSize);
        Assert.True(rest.Drained);
        Assert.Equal(3u, Records(rest.Data).Single().Cookie);
        Assert.Equal((0, 3), (q.Undelivered, q.AwaitingResponse));
    }

    [Fact]
    public void A_read_of_no_whole_number_of_records_is_ESPIPE_and_an_empty_queue_reads_nothing()
    {
        var q = new FaultQueue();
        Assert.Equal((0, 0, false), (q.Read(40).Errno, q.Read(40).Data.Length, q.Read(40).Drained));
        q.Add(Group(1, -1, 0x1000));
        Assert.Equal(Errno.ESPIPE, q.Read(41).Errno);
        Assert.Equal(1, q.Undelivered);
    }

    [Fact]
    public void A_response_completes_its_group_and_frees_its_cookie_for_the_next_read()
    {
        var q = new FaultQueue();
        q.Add(Group(1, -1, 0x1000));
        q.Add(Group(2, -1, 0x2000));
        q.Read(80);
        var written = q.Write(Responses((1, PageFault.ResponseSuccess)));
        Assert.Equal((0, 8u), (written.Errno, written.Written));
        Assert.Equal([(0x1000ul, true)], written.Answered.Select(a => (a.Group.Address, a.Success)));
        q.Add(Group(3, -1, 0x3000));
        Assert.Equal(1u, Records(q.Read(40).Data).Single().Cookie);
    }

    [Fact]
    public void A_bad_response_stops_the_write_and_is_EINVAL_only_when_it_comes_first()
    {
        var q = new FaultQueue();
        q.Add(Group(1, -1, 0x1000));
        q.Add(Group(2, -1, 0x2000));
        q.Read(80);
        Assert.Equal(Errno.EINVAL, q.Write(Responses((9, PageFault.ResponseSuccess))).Errno);
        Assert.Equal(Errno.EINVAL, q.Write(Responses((1, 2))).Errno);
        var partial = q.Write(Responses((2, PageFault.ResponseInvalid), (2, PageFault.ResponseSuccess)));
        Assert.Equal((0, 8u), (partial.Errno, partial.Written));
        Assert.Equal([(0x2000ul, false)], partial.Answered.Select(a => (a.Group.Address, a.Success)));
        Assert.Equal(Errno.ESPIPE, q.Write(new byte[7]).Errno);
        Assert.Equal((0, 0u), (q.Write([]).Errno, q.Write([]).Written));
    }

    [Fact]
    public void A_detach_takes_the_groups_of_that_attachment_read_or_not_and_leaves_the_rest()
    {
        var q = new FaultQueue();
        q.Add(Group(1, -1, 0x1000));
        q.Add(Group(1, 4, 0x2000));
        q.Read(40);
        q.Add(Group(1, -1, 0x3000));
        q.Add(Group(1, -1, 0x4000, hwpt: 6));
        Assert.Equal([0x1000ul, 0x3000], q.TakeOf(1, -1, 5).Select(g => g.Address).Order().ToArray());
        Assert.Equal((2, 0), (q.Undelivered, q.AwaitingResponse));
        Assert.Equal([0x2000ul, 0x4000], q.TakeAll().Select(g => g.Address).Order().ToArray());
        Assert.Equal((0, 0), (q.Undelivered, q.AwaitingResponse));
    }
}
