using System.Collections.Immutable;
using IommuActors.Uapi.Structs;
using Errno = IommuActors.Uapi.Errno;

namespace IommuActors.Fd.Faults;

/// <summary>
/// The page request groups of one FAULT object (eventq.c's iommufd_fault): those waiting to be
/// read, and those read and waiting for the response written back, each under the cookie its
/// record carried. No Akka: the queue's actor turns reads, writes and detaches into calls here.
/// </summary>
public sealed class FaultQueue
{
    /// <summary>sizeof(struct iommu_hwpt_pgfault) and sizeof(struct iommu_hwpt_page_response).</summary>
    public const int RecordSize = 40, ResponseSize = 8;

    private readonly List<FaultGroup> _toDeliver = [];
    private readonly SortedDictionary<uint, FaultGroup> _awaitingResponse = [];

    public int Undelivered => _toDeliver.Count;

    public int AwaitingResponse => _awaitingResponse.Count;

    public void Add(FaultGroup group) => _toDeliver.Add(group);

    /// <param name="Errno">ESPIPE for a count that is no whole number of records.</param>
    /// <param name="Drained">Groups were read and none is left to read: the fd is no longer readable.</param>
    public sealed record ReadResult(int Errno, byte[] Data, bool Drained);

    /// <summary>
    /// read(): whole groups in arrival order, as many records as count holds; each group read
    /// waits for its response under the lowest free cookie. An empty queue reads 0 bytes (the read
    /// never blocks).
    /// </summary>
    public ReadResult Read(uint count)
    {
        if (count % RecordSize != 0)
            return new ReadResult(Errno.ESPIPE, [], false);
        var output = new List<byte>();
        while (_toDeliver.Count > 0 && output.Count + RecordSize <= count)
        {
            var g = _toDeliver[0];
            _toDeliver.RemoveAt(0);
            var cookie = 1u;
            while (_awaitingResponse.ContainsKey(cookie))
                cookie++;
            _awaitingResponse[cookie] = g;
            var record = new byte[RecordSize];
            new IommuHwptPgfault(PageFault.FlagLastPage | (g.Pasid >= 0 ? PageFault.FlagPasidValid : 0), g.DevId,
                g.Pasid >= 0 ? (uint)g.Pasid : 0, g.Grpid, g.Perm, 0, g.Address, 0, cookie).Write(record);
            output.AddRange(record);
        }
        return new ReadResult(0, [.. output], output.Count > 0 && _toDeliver.Count == 0);
    }

    /// <param name="Errno">ESPIPE for data that is no whole number of responses; EINVAL when the first response is bad (names no waiting cookie, or a code that is neither SUCCESS nor INVALID).</param>
    /// <param name="Written">Bytes taken: the responses before the first bad one.</param>
    /// <param name="Answered">The groups those responses completed, and whether each succeeded.</param>
    public sealed record WriteResult(int Errno, uint Written, ImmutableArray<(FaultGroup Group, bool Success)> Answered);

    /// <summary>
    /// write(): responses in order, each naming a cookie waiting for one and a SUCCESS or INVALID
    /// code; the first that does not stops the write. Partial success hides the error, as for any write().
    /// </summary>
    public WriteResult Write(ReadOnlySpan<byte> data)
    {
        if (data.Length % ResponseSize != 0)
            return new WriteResult(Errno.ESPIPE, 0, []);
        var answered = ImmutableArray.CreateBuilder<(FaultGroup, bool)>();
        var done = 0;
        var rc = 0;
        for (; done < data.Length; done += ResponseSize)
        {
            var r = IommuHwptPageResponse.Read(data[done..]);
            if (r.Code is not (PageFault.ResponseSuccess or PageFault.ResponseInvalid) || !_awaitingResponse.Remove(r.Cookie, out var g))
            {
                rc = Errno.EINVAL;
                break;
            }
            answered.Add((g, r.Code == PageFault.ResponseSuccess));
        }
        return done > 0 ? new WriteResult(0, (uint)done, answered.ToImmutable()) : new WriteResult(rc, 0, []);
    }

    /// <summary>
    /// A detach (iommufd_auto_response_faults): the groups that came through that attachment,
    /// read or not, leave the queue; their requests are answered INVALID.
    /// </summary>
    public ImmutableArray<FaultGroup> TakeOf(uint devId, int pasid, uint hwptId)
    {
        bool Match(FaultGroup g) => g.DevId == devId && g.HwptId == hwptId && g.Pasid == pasid;
        var taken = ImmutableArray.CreateBuilder<FaultGroup>();
        taken.AddRange(_toDeliver.Where(Match));
        _toDeliver.RemoveAll(Match);
        foreach (var (cookie, g) in _awaitingResponse.Where(kv => Match(kv.Value)).ToList())
        {
            _awaitingResponse.Remove(cookie);
            taken.Add(g);
        }
        return taken.ToImmutable();
    }

    /// <summary>The FAULT goes (iommufd_fault_destroy): every group it holds, read or not, to be answered INVALID.</summary>
    public ImmutableArray<FaultGroup> TakeAll()
    {
        ImmutableArray<FaultGroup> all = [.. _toDeliver, .. _awaitingResponse.Values];
        _toDeliver.Clear();
        _awaitingResponse.Clear();
        return all;
    }
}
