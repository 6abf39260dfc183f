using Akka.Actor;
using IommuActors.Domains.Ioas;
using IommuActors.Fd.Context;
using IommuActors.Fd.Objects;
using IommuActors.Hardware.Platform;
using IommuActors.Uapi.Structs;
using Errno = IommuActors.Uapi.Errno;
using H = IommuActors.Domains.Hwpt.HwptProtocol;
using U = IommuActors.Hardware.Units.UnitProtocol;

namespace IommuActors.Fd.Selftests;

/// <summary>
/// The selftest's looks into the mock domains (MD_CHECK_MAP, MD_CHECK_IOTLB, MD_CHECK_REFS) and
/// its DIRTY op. A "physical page" here is the client's own page: a mock domain maps IOVAs to
/// user addresses, and a user page is checked for existence by reading it (MEM_READ), as the
/// kernel's get_user_pages_fast would fault on it.
/// </summary>
internal sealed class MockDomainChecks(ISelftestHost host)
{
    /// <summary>The largest piece of client memory read at once while pages are checked for existence.</summary>
    private const uint PageCheckChunk = 1 << 20;

    private ServedRequest Request => host.Request;

    /// <summary>get_md_pagetable: a paging HWPT (ENOENT) whose domain is the mock driver's (EINVAL).</summary>
    private int MockPaging(uint id, out UnitSpec unit)
    {
        unit = null!;
        if (!host.Table.Get(id, ObjectKind.HwptPaging).IsOk)
            return Errno.ENOENT;
        unit = host.With.Platform.Unit(host.Hwpts[id].Unit);
        return unit.Kind == UnitKind.Mock ? 0 : Errno.EINVAL;
    }

    /// <summary>What the HWPT's IOAS knows of it: its domain in the unit, dirty tracking, the mock IOTLB.</summary>
    private void ViewOf(uint hwptId, Action<H.HwptView> then)
    {
        var home = host.HomeOf(hwptId);
        home.Ref.Tell(new H.GetHwpts(home.Key));
        Request.Await<H.Hwpts>(h => h.IoasId == home.Key, h =>
        {
            if (h.Items.FirstOrDefault(v => v.HwptId == hwptId) is { } view)
                then(view);
            else
                Request.Fail(Errno.ENOENT);
        });
    }

    /// <summary>Reads the client pages [first, end) a piece at a time; false at the first one that cannot be read.</summary>
    private void PagesExist(ulong first, ulong end, Action<bool> then)
    {
        if (first >= end)
        {
            then(true);
            return;
        }
        var length = (uint)Math.Min(end - first, PageCheckChunk);
        Request.TryReadMemory(first, length, data =>
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
        var (first, end) = SelftestRules.PagesToFind(uptr, mismatchEnd, checkedEnd);
        PagesExist(first, end, exist => Request.Done(!exist ? Errno.EFAULT : mismatchEnd is null ? 0 : mismatchErrno));
    }

    /// <summary>
    /// iommufd_test_md_check_pa: in the mock domain of a paging HWPT, each IO page of [iova,
    /// iova+length) must map the user address uptr at the same offset; iova, length and uptr on the
    /// domain's smallest page (EINVAL), a mismatch or a hole EINVAL, a missing user page EFAULT.
    /// </summary>
    public void CheckMap(IommuTestCmd cmd)
    {
        var iova = cmd.U64(TestCmdLayout.CheckMap.Iova);
        var length = cmd.U64(TestCmdLayout.CheckMap.Length);
        var uptr = cmd.U64(TestCmdLayout.CheckMap.Uptr);
        var rc = MockPaging(cmd.Id, out var unit);
        if (rc == 0)
            rc = SelftestRules.CheckMapArgsErrno(iova, length, uptr, unit.MinPageSize);
        if (rc != 0 || length == 0)
        {
            Request.Done(rc);
            return;
        }
        ViewOf(cmd.Id, view => host.AskUnit<U.DomainMappings>(unit.Name, new U.GetDomainMappings(unit.Name, view.DomainId), (errno, mappings) =>
        {
            if (errno != 0)
            {
                Request.Done(errno);
                return;
            }
            var mismatchEnd = SelftestRules.FirstMapMismatch(mappings!.Mappings, iova, length, uptr, unit.MinPageSize);
            AnswerPageCheck(uptr, mismatchEnd, uptr + length, Errno.EINVAL);
        }));
    }

    /// <summary>
    /// iommufd_test_md_check_refs: each page of [uptr, uptr+length) must be pinned refs times (EIO
    /// otherwise; a missing page EFAULT); page-aligned arguments or EINVAL. A pin is a pinned pages
    /// object of an IOAS of this context (IOAS_MAP makes one, IOAS_COPY shares it), held while a
    /// domain or an access needs it, as the kernel pins an iopt_pages once however many use it.
    /// </summary>
    public void CheckRefs(IommuTestCmd cmd)
    {
        var length = cmd.U64(TestCmdLayout.CheckRefs.Length);
        var uptr = cmd.U64(TestCmdLayout.CheckRefs.Uptr);
        var refs = cmd.U32(TestCmdLayout.CheckRefs.Refs);
        var rc = SelftestRules.CheckRefsArgsErrno(length, uptr);
        if (rc != 0 || length == 0)
        {
            Request.Done(rc);
            return;
        }
        GatherPinned([.. host.Ioas.Values], 0, [], pinned =>
            AnswerPageCheck(uptr, SelftestRules.FirstRefsMismatch(pinned, uptr, length, refs), uptr + length, Errno.EIO));
    }

    private void GatherPinned(List<IoasEntry> ioases, int i, List<IoasProtocol.PinnedView> seen, Action<List<IoasProtocol.PinnedView>> then)
    {
        if (i == ioases.Count)
        {
            then(seen);
            return;
        }
        var ioas = ioases[i];
        ioas.Ref.Tell(new IoasProtocol.GetPinned(ioas.Key));
        Request.Await<IoasProtocol.Pinned>(p => p.IoasId == ioas.Key, p =>
        {
            seen.AddRange(p.Pages);
            GatherPinned(ioases, i + 1, seen, then);
        });
    }

    /// <summary>iommufd_test_md_check_iotlb: a nested HWPT (ENOENT) of the mock driver (EINVAL) whose IOTLB entry id holds iotlb (EINVAL otherwise).</summary>
    public void CheckIotlb(IommuTestCmd cmd)
    {
        if (!host.Table.Get(cmd.Id, ObjectKind.HwptNested).IsOk)
        {
            Request.Done(Errno.ENOENT);
            return;
        }
        if (host.With.Platform.Unit(host.Hwpts[cmd.Id].Unit).Kind != UnitKind.Mock)
        {
            Request.Done(Errno.EINVAL);
            return;
        }
        var index = cmd.U32(TestCmdLayout.CheckIotlb.Id);
        var expected = cmd.U32(TestCmdLayout.CheckIotlb.Iotlb);
        ViewOf(cmd.Id, view => Request.Done(SelftestRules.IotlbErrno(index, expected, view.MockIotlb)));
    }

    /// <summary>
    /// iommufd_test_dirty: for each bit set in the user bitmap at uptr, the IO page at iova + bit *
    /// page_size of the mock domain is marked dirty, as a device write would; out_nr_dirty counts
    /// those that were mapped. Arguments first (EINVAL), then the HWPT, then tracking must be on
    /// (EINVAL), then the bitmap is read (EFAULT).
    /// </summary>
    public void Dirty(IommuTestCmd cmd, uint size)
    {
        var iova = cmd.U64(TestCmdLayout.Dirty.Iova);
        var length = cmd.U64(TestCmdLayout.Dirty.Length);
        var pageSize = cmd.U64(TestCmdLayout.Dirty.PageSize);
        var uptr = cmd.U64(TestCmdLayout.Dirty.Uptr);
        var rc = SelftestRules.DirtyArgsErrno(iova, length, pageSize, uptr);
        UnitSpec unit = null!;
        if (rc == 0)
            rc = MockPaging(cmd.Id, out unit);
        if (rc != 0)
        {
            Request.Done(rc);
            return;
        }
        ViewOf(cmd.Id, view =>
        {
            if (!view.DirtyTracking)
            {
                Request.Done(Errno.EINVAL);
                return;
            }
            var bits = length / pageSize;
            // kvzalloc of the bitmap: past what one buffer can hold the allocation fails.
            if (bits > int.MaxValue)
            {
                Request.Done(Errno.ENOMEM);
                return;
            }
            Request.ReadMemory(uptr, (uint)((bits + 7) / 8), bitmap =>
            {
                var iovas = SelftestRules.DirtyIovas(bitmap, iova, bits, pageSize);
                host.AskUnit<U.DirtyMarked>(unit.Name, new U.MarkDirty(unit.Name, view.DomainId, iovas), (errno, marked) =>
                {
                    if (errno != 0)
                        Request.Done(errno);
                    else
                        Request.Respond(cmd.WithU64(TestCmdLayout.Dirty.OutNrDirty, (ulong)marked!.Marked), size);
                });
            });
        });
    }
}
