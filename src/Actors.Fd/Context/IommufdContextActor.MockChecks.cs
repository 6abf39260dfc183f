using Akka.Actor;
using IommuActors.Domains.Ioas;
using IommuActors.Fd.Objects;
using IommuActors.Hardware.Platform;
using IommuActors.Uapi.Structs;
using Errno = IommuActors.Uapi.Errno;
using H = IommuActors.Domains.Hwpt.HwptProtocol;
using U = IommuActors.Hardware.Units.UnitProtocol;

namespace IommuActors.Fd.Context;

// The selftest's looks into the mock domains (MD_CHECK_MAP, MD_CHECK_IOTLB, MD_CHECK_REFS) and
// its DIRTY op. A "physical page" here is the client's own page: a mock domain maps IOVAs to
// user addresses, and a user page is checked for existence by reading it (MEM_READ), as the
// kernel's get_user_pages_fast would fault on it.
public sealed partial class IommufdContextActor
{
    private const ulong CpuPage = 4096;

    /// <summary>The largest piece of client memory read at once while pages are checked for existence.</summary>
    private const uint PageCheckChunk = 1 << 20;

    /// <summary>get_md_pagetable: a paging HWPT (ENOENT) whose domain is the mock driver's (EINVAL).</summary>
    private int MockPaging(uint id, out HwptEntry hwpt, out UnitSpec unit)
    {
        hwpt = null!;
        unit = null!;
        if (!_table.Get(id, ObjectKind.HwptPaging).IsOk)
            return Errno.ENOENT;
        hwpt = _hwpts[id];
        unit = _with.Platform.Unit(hwpt.Unit);
        return unit.Kind == UnitKind.Mock ? 0 : Errno.EINVAL;
    }

    /// <summary>What the HWPT's IOAS knows of it: its domain in the unit, dirty tracking, the mock IOTLB.</summary>
    private void ViewOf(uint hwptId, Action<H.HwptView> then)
    {
        var home = HomeOf(hwptId);
        home.Ref.Tell(new H.GetHwpts(home.Key));
        Await<H.Hwpts>(h => h.IoasId == home.Key, h =>
        {
            if (h.Items.FirstOrDefault(v => v.HwptId == hwptId) is { } view)
                then(view);
            else
                Fail(Errno.ENOENT);
        });
    }

    /// <summary>
    /// Reads the client pages [first, end) a piece at a time; false at the first one that cannot
    /// be read. The kernel faults a page in before it compares it, so the pages up to and with a
    /// mismatch must exist for the mismatch to be the answer.
    /// </summary>
    private void PagesExist(ulong first, ulong end, Action<bool> then)
    {
        if (first >= end)
        {
            then(true);
            return;
        }
        var length = (uint)Math.Min(end - first, PageCheckChunk);
        TryReadMemory(first, length, data =>
        {
            if (data is null)
                then(false);
            else
                PagesExist(first + length, end, then);
        });
    }

    /// <summary>The answer of a page-by-page check: EFAULT if a page up to the first mismatch is missing, else the mismatch's errno or 0.</summary>
    private void AnswerPageCheck(ulong uptr, ulong? mismatchEnd, ulong checkedEnd, int mismatchErrno)
    {
        var first = uptr & ~(CpuPage - 1);
        var end = mismatchEnd ?? checkedEnd;
        if (end % CpuPage != 0)
            end = (end | (CpuPage - 1)) + 1;
        PagesExist(first, end, exist => Done(!exist ? Errno.EFAULT : mismatchEnd is null ? 0 : mismatchErrno));
    }

    // ---- MD_CHECK_MAP ----

    /// <summary>
    /// iommufd_test_md_check_pa: in the mock domain of a paging HWPT, each IO page of [iova,
    /// iova+length) must map the user address uptr at the same offset; iova, length and uptr on the
    /// domain's smallest page (EINVAL), a mismatch or a hole EINVAL, a missing user page EFAULT.
    /// </summary>
    private void TestMdCheckMap(IommuTestCmd cmd)
    {
        var iova = cmd.U64(TestCmdLayout.CheckMap.Iova);
        var length = cmd.U64(TestCmdLayout.CheckMap.Length);
        var uptr = cmd.U64(TestCmdLayout.CheckMap.Uptr);
        var rc = MockPaging(cmd.Id, out _, out var unit);
        if (rc != 0)
        {
            Done(rc);
            return;
        }
        var page = unit.MinPageSize;
        if (iova % page != 0 || length % page != 0 || uptr % page != 0 || uptr > ulong.MaxValue - length)
        {
            Done(Errno.EINVAL);
            return;
        }
        if (length == 0)
        {
            Done(0);
            return;
        }
        ViewOf(cmd.Id, view => AskUnit<U.DomainMappings>(unit.Name, new U.GetDomainMappings(unit.Name, view.DomainId), (errno, mappings) =>
        {
            if (errno != 0)
            {
                Done(errno);
                return;
            }
            var leaves = mappings!.Mappings.OrderBy(m => m.Iova).ToArray();
            var starts = leaves.Select(m => m.Iova).ToArray();
            ulong? mismatchEnd = null;
            for (ulong done = 0; done < length; done += page)
            {
                var at = unchecked(iova + done);
                var i = Array.BinarySearch(starts, at);
                if (i < 0)
                    i = ~i - 1;
                var mapped = i >= 0 && at - leaves[i].Iova < leaves[i].PageSize ? leaves[i].Address + (at - leaves[i].Iova) : (ulong?)null;
                if (mapped == uptr + done)
                    continue;
                mismatchEnd = uptr + done + page;
                break;
            }
            AnswerPageCheck(uptr, mismatchEnd, uptr + length, Errno.EINVAL);
        }));
    }

    // ---- MD_CHECK_REFS ----

    /// <summary>
    /// iommufd_test_md_check_refs: each page of [uptr, uptr+length) must be pinned refs times (EIO
    /// otherwise; a missing page EFAULT); page-aligned arguments or EINVAL. A pin is a pinned pages
    /// object of an IOAS of this context (IOAS_MAP makes one, IOAS_COPY shares it), held while a
    /// domain or an access needs it, as the kernel pins an iopt_pages once however many use it.
    /// </summary>
    private void TestMdCheckRefs(IommuTestCmd cmd)
    {
        var length = cmd.U64(TestCmdLayout.CheckRefs.Length);
        var uptr = cmd.U64(TestCmdLayout.CheckRefs.Uptr);
        var refs = cmd.U32(TestCmdLayout.CheckRefs.Refs);
        if (length % CpuPage != 0 || uptr % CpuPage != 0 || uptr > ulong.MaxValue - length)
        {
            Done(Errno.EINVAL);
            return;
        }
        if (length == 0)
        {
            Done(0);
            return;
        }
        GatherPinned([.. _ioas.Values], 0, [], pinned =>
        {
            ulong? mismatchEnd = null;
            for (ulong at = uptr; at - uptr < length; at += CpuPage)
            {
                // Once per pinned pages object holding the page, however many IOASes or spans share it.
                var count = pinned.Where(p => p.UserAddress < at + CpuPage && at < p.UserAddress + p.Length)
                    .Select(p => p.PagesId).Distinct().Count();
                if (count == refs)
                    continue;
                mismatchEnd = at + CpuPage;
                break;
            }
            AnswerPageCheck(uptr, mismatchEnd, uptr + length, Errno.EIO);
        });
    }

    private void GatherPinned(List<IoasEntry> ioases, int i, List<IoasProtocol.PinnedView> seen,
        Action<List<IoasProtocol.PinnedView>> then)
    {
        if (i == ioases.Count)
        {
            then(seen);
            return;
        }
        var ioas = ioases[i];
        ioas.Ref.Tell(new IoasProtocol.GetPinned(ioas.Key));
        Await<IoasProtocol.Pinned>(p => p.IoasId == ioas.Key, p =>
        {
            seen.AddRange(p.Pages);
            GatherPinned(ioases, i + 1, seen, then);
        });
    }

    // ---- MD_CHECK_IOTLB ----

    /// <summary>iommufd_test_md_check_iotlb: a nested HWPT (ENOENT) of the mock driver (EINVAL) whose IOTLB entry id holds iotlb (EINVAL otherwise).</summary>
    private void TestMdCheckIotlb(IommuTestCmd cmd)
    {
        if (!_table.Get(cmd.Id, ObjectKind.HwptNested).IsOk)
        {
            Done(Errno.ENOENT);
            return;
        }
        if (_with.Platform.Unit(_hwpts[cmd.Id].Unit).Kind != UnitKind.Mock)
        {
            Done(Errno.EINVAL);
            return;
        }
        var index = cmd.U32(TestCmdLayout.CheckIotlb.Id);
        var expected = cmd.U32(TestCmdLayout.CheckIotlb.Iotlb);
        ViewOf(cmd.Id, view =>
            Done(index <= Selftest.NestedDomainIotlbIdMax && index < view.MockIotlb.Length && view.MockIotlb[(int)index] == expected
                ? 0 : Errno.EINVAL));
    }

    // ---- DIRTY ----

    /// <summary>
    /// iommufd_test_dirty: for each bit set in the user bitmap at uptr, the IO page at iova + bit *
    /// page_size of the mock domain is marked dirty, as a device write would; out_nr_dirty counts
    /// those that were mapped. Arguments first (EINVAL), then the HWPT, then tracking must be on
    /// (EINVAL), then the bitmap is read (EFAULT).
    /// </summary>
    private void TestDirty(IommuTestCmd cmd, uint size)
    {
        var iova = cmd.U64(TestCmdLayout.Dirty.Iova);
        var length = cmd.U64(TestCmdLayout.Dirty.Length);
        var pageSize = cmd.U64(TestCmdLayout.Dirty.PageSize);
        var uptr = cmd.U64(TestCmdLayout.Dirty.Uptr);
        if (pageSize == 0 || length == 0 || iova % pageSize != 0 || length % pageSize != 0 || uptr == 0)
        {
            Done(Errno.EINVAL);
            return;
        }
        var rc = MockPaging(cmd.Id, out _, out var unit);
        if (rc != 0)
        {
            Done(rc);
            return;
        }
        ViewOf(cmd.Id, view =>
        {
            if (!view.DirtyTracking)
            {
                Done(Errno.EINVAL);
                return;
            }
            var bits = length / pageSize;
            // kvzalloc of the bitmap: past what one buffer can hold the allocation fails.
            if (bits > int.MaxValue)
            {
                Done(Errno.ENOMEM);
                return;
            }
            ReadMemory(uptr, (uint)((bits + 7) / 8), bitmap =>
            {
                var iovas = new List<ulong>();
                for (ulong bit = 0; bit < bits; bit++)
                    if ((bitmap[bit / 8] & (1 << (int)(bit % 8))) != 0)
                        iovas.Add(unchecked(iova + bit * pageSize));
                AskUnit<U.DirtyMarked>(unit.Name, new U.MarkDirty(unit.Name, view.DomainId, [.. iovas]), (errno, marked) =>
                {
                    if (errno != 0)
                        Done(errno);
                    else
                        Respond(cmd.WithU64(TestCmdLayout.Dirty.OutNrDirty, (ulong)marked!.Marked), size);
                });
            });
        });
    }
}
