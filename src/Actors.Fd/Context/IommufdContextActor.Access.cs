using Akka.Actor;
using IommuActors.Core.Messaging;
using IommuActors.Domains.Ioas;
using IommuActors.Fd.Accesses;
using IommuActors.Fd.Objects;
using IommuActors.Uapi.Structs;
using static IommuActors.Fd.Accesses.AccessProtocol;
using static IommuActors.Fd.Context.ContextProtocol;
using static IommuActors.Fd.Files.FileProtocol;
using Errno = IommuActors.Uapi.Errno;

namespace IommuActors.Fd.Context;

// The selftest's accesses (selftest.c's staccess over device.c's iommufd_access): an ACCESS object
// on an IOAS, which the IOAS cannot be destroyed under and IOMMU_DESTROY cannot remove (the driver
// holds it); its pinned items live in a child AccessActor, which answers the IOAS's unmap callback
// while this context waits for the UNMAP; its fd is a file whose close destroys it. The IOAS does
// not journal pins, so after a restart an access comes back without items.
public sealed partial class IommufdContextActor
{
    private readonly Dictionary<uint, AccessEntry> _accessObjects = new();
    private readonly Dictionary<uint, IActorRef> _accessActors = new();

    private static bool NeedsPinPages(AccessEntry a) => (a.Flags & Selftest.FlagsAccessCreateNeedsPinPages) != 0;

    private uint IoasOfAccess(uint accessId) => _table.Get(accessId).Value!.Uses.First();

    private bool TryAccessIoas(uint ioasId, out IoasEntry entry)
    {
        entry = null!;
        return _table.Get(ioasId, ObjectKind.Ioas).IsOk && _ioas.TryGetValue(ioasId, out entry!);
    }

    /// <summary>The access's actor, started on first use (after a restart it starts with no items, as the IOAS has no pins).</summary>
    private IActorRef AccessActorOf(uint accessId)
    {
        if (_accessActors.TryGetValue(accessId, out var actor))
            return actor;
        var access = _accessObjects[accessId];
        var ioas = _ioas[IoasOfAccess(accessId)];
        return _accessActors[accessId] = Context.ActorOf(AccessActor.Props(access.FileId, ioas.Key, ioas.Ref),
            "access-" + Uri.EscapeDataString(access.FileId));
    }

    /// <summary>The journal's view of accesses; runs before the context's own Apply for every event.</summary>
    private void ApplyAccess(IPersistedEvent e)
    {
        switch (e)
        {
            case ObjectCreated { Kind: ObjectKind.Access } c:
                _accessObjects[c.Id] = new AccessEntry(c.Key, c.Flags);
                break;
            case ObjectDestroyed d when _accessObjects.Remove(d.Id):
                if (_accessActors.Remove(d.Id, out var actor))
                    Context.Stop(actor);
                break;
            case AccessIoasChanged x:
                _table.ChangeUses(x.AccessId, [x.IoasId]);
                break;
        }
    }

    private string? AccessKeyOf(uint id) => _accessObjects.TryGetValue(id, out var a) ? a.FileId : null;

    private uint AccessFlagsOf(uint id) => _accessObjects.TryGetValue(id, out var a) ? a.Flags : 0;

    private void ServeAccessOp(IommuTestCmd cmd, uint size)
    {
        switch ((TestOp)cmd.Op)
        {
            case TestOp.CreateAccess: TestCreateAccess(cmd, size); return;
            case TestOp.AccessPages: TestAccessPages(cmd, size); return;
            case TestOp.DestroyAccessPages: TestDestroyAccessPages(cmd); return;
            case TestOp.AccessRw: TestAccessRw(cmd); return;
            default: TestAccessReplaceIoas(cmd); return;
        }
    }

    // ---- CREATE_ACCESS ----

    /// <summary>
    /// iommufd_test_create_access: flags, then the IOAS (iommufd_access_attach: ENOENT, and an
    /// access that pins raises the IOAS's IOVA alignment to a page, EADDRINUSE over areas that
    /// break it), then the fd. No fd for the file is ENOMEM, as get_unused_fd_flags' failure is.
    /// </summary>
    private void TestCreateAccess(IommuTestCmd cmd, uint size)
    {
        var flags = cmd.U32(TestCmdLayout.CreateAccess.Flags);
        if ((flags & ~Selftest.FlagsAccessCreateNeedsPinPages) != 0)
        {
            Done(Errno.EOPNOTSUPP);
            return;
        }
        var id = _table.NextFreeId;
        if (id == 0)
        {
            // xa_alloc with no free ID left.
            Done(Errno.EBUSY);
            return;
        }
        if (!TryAccessIoas(cmd.Id, out var ioas))
        {
            Done(Errno.ENOENT);
            return;
        }
        var fileId = NewKey("access");
        var access = new AccessEntry(fileId, flags);
        RaiseAccessAlignment(access, ioas, rc =>
        {
            if (rc != 0)
            {
                Done(rc);
                return;
            }
            Save(new ObjectCreated(id, ObjectKind.Access, [cmd.Id], fileId, "", flags, false, 0), () =>
            {
                _with.Files.Tell(new OpenAccessFile(fileId, _fileId, id));
                Await<Opened>(o => o.FileId == fileId, o =>
                {
                    if (o.Errno != 0)
                    {
                        DestroyAccess(id, () => Done(o.Errno));
                        return;
                    }
                    var tag = _request.NextTag();
                    _request.Client.Tell(new InstallFd(tag, AccessFileKind, fileId));
                    Await<FdInstalled>(f => f.Tag == tag, f =>
                    {
                        if (f.Errno != 0)
                        {
                            // The access goes with its file, which no fd names.
                            _with.Files.Tell(new Release(fileId, ActorRefs.Nobody));
                            DestroyAccess(id, () => Done(Errno.ENOMEM));
                            return;
                        }
                        Respond(cmd.WithU32(TestCmdLayout.CreateAccess.OutAccessFd, (uint)f.Fd), size);
                    });
                });
            });
        });
    }

    /// <summary>iopt_add_access: an access that pins needs page-aligned IOVAs in its IOAS.</summary>
    private void RaiseAccessAlignment(AccessEntry access, IoasEntry ioas, Action<int> then)
    {
        if (!NeedsPinPages(access))
        {
            then(0);
            return;
        }
        ioas.Ref.Tell(new IoasProtocol.RaiseAlignment(ioas.Key, access.FileId, Selftest.AccessPageSize));
        Await<IoasProtocol.AlignmentResult>(r => r.IoasId == ioas.Key, r => then(r.Errno));
    }

    private void DropAccessAlignment(AccessEntry access, IoasEntry ioas, Action then)
    {
        if (!NeedsPinPages(access))
        {
            then();
            return;
        }
        ioas.Ref.Tell(new IoasProtocol.DropAlignment(ioas.Key, access.FileId));
        Await<IoasProtocol.AlignmentResult>(r => r.IoasId == ioas.Key, _ => then());
    }

    // ---- the access fd ----

    /// <summary>iommufd_access_get: the fd must name an access file of this context, else EBADFD.</summary>
    private void WithAccess(uint fd, Action<uint, AccessEntry> then)
    {
        var tag = _request.NextTag();
        _request.Client.Tell(new ResolveFd(tag, unchecked((int)fd)));
        Await<FdResolved>(r => r.Tag == tag, r =>
        {
            var found = r.Errno == 0 ? _accessObjects.FirstOrDefault(a => a.Value.FileId == r.FileId) : default;
            if (found.Value is null)
            {
                Done(SelftestErrno.EBADFD);
                return;
            }
            then(found.Key, found.Value);
        });
    }

    /// <summary>The access fd closed (iommufd_test_staccess_release): its items are unpinned and the access destroyed.</summary>
    private void OnCloseAccess(CloseAccess m)
    {
        Begin(Sender, ActorRefs.Nobody, null);
        _request.FailWith = _ => new AccessClosed(_fileId, m.AccessId);
        if (_accessObjects.TryGetValue(m.AccessId, out var access) && access.FileId == m.AccessFileId)
            DestroyAccess(m.AccessId, () => Reply(new AccessClosed(_fileId, m.AccessId)), byItsFile: true);
        else
            Reply(new AccessClosed(_fileId, m.AccessId));
    }

    /// <summary>
    /// iommufd_access_destroy: unpin everything from the IOAS, leave it (its alignment goes too),
    /// and the object. Unless its file asked, the file learns that a close has nothing to wait for.
    /// </summary>
    private void DestroyAccess(uint accessId, Action then, bool byItsFile = false)
    {
        var access = _accessObjects[accessId];
        _ioas.TryGetValue(IoasOfAccess(accessId), out var ioas);
        AccessActorOf(accessId).Tell(new SwitchIoas("", ActorRefs.Nobody));
        Await<IoasSwitched>(_ =>
        {
            void Forget() => Save(new ObjectDestroyed(accessId), () =>
            {
                if (!byItsFile)
                    _with.Files.Tell(new AccessGone(access.FileId), ActorRefs.NoSender);
                then();
            });
            if (ioas is null)
                Forget();
            else
                DropAccessAlignment(access, ioas, Forget);
        });
    }

    // ---- ACCESS_REPLACE_IOAS ----

    /// <summary>
    /// iommufd_access_replace: the new IOAS (ENOENT), nothing to do when it is the current one;
    /// the new IOAS takes the access first (EADDRINUSE leaves everything as it was), then the
    /// items are unpinned from the old one, which the access leaves.
    /// </summary>
    private void TestAccessReplaceIoas(IommuTestCmd cmd) => WithAccess(cmd.Id, (id, access) =>
    {
        var to = cmd.U32(TestCmdLayout.AccessReplaceIoas.IoasId);
        if (!TryAccessIoas(to, out var next))
        {
            Done(Errno.ENOENT);
            return;
        }
        var from = IoasOfAccess(id);
        if (to == from)
        {
            Done(0);
            return;
        }
        var old = _ioas[from];
        RaiseAccessAlignment(access, next, rc =>
        {
            if (rc != 0)
            {
                Done(rc);
                return;
            }
            AccessActorOf(id).Tell(new SwitchIoas(next.Key, next.Ref));
            Await<IoasSwitched>(_ => DropAccessAlignment(access, old, () => Save(new AccessIoasChanged(id, to), () => Done(0))));
        });
    });

    // ---- ACCESS_PAGES and DESTROY_ACCESS_PAGES ----

    /// <summary>
    /// iommufd_test_access_pages: length (ENOMEM) and flags (EOPNOTSUPP) before the fd, an access
    /// made without NEEDS_PIN_PAGES cannot pin (EOPNOTSUPP); iommufd_access_pin_pages' checks
    /// area by area; then, with a uptr, the pages pinned must be the pages at uptr (EBADE, or
    /// EFAULT where uptr is not mapped). The item's id is returned.
    /// </summary>
    private void TestAccessPages(IommuTestCmd cmd, uint size)
    {
        var flags = cmd.U32(TestCmdLayout.AccessPages.Flags);
        var length = cmd.U64(TestCmdLayout.AccessPages.Length);
        var uptr = cmd.U64(TestCmdLayout.AccessPages.Uptr);
        if (length > Selftest.AccessMaxLength)
        {
            Done(Errno.ENOMEM);
            return;
        }
        if ((flags & ~(Selftest.FlagsAccessWrite | Selftest.FlagsAccessSyz)) != 0)
        {
            Done(Errno.EOPNOTSUPP);
            return;
        }
        WithAccess(cmd.Id, (id, access) =>
        {
            if (!NeedsPinPages(access))
            {
                Done(Errno.EOPNOTSUPP);
                return;
            }
            var ioas = _ioas[IoasOfAccess(id)];
            var write = (flags & Selftest.FlagsAccessWrite) != 0;
            SyzIova(ioas, flags, cmd.U64(TestCmdLayout.AccessPages.Iova), iova =>
            {
                if (RangeErrno(iova, length) is var rc and not 0)
                {
                    Done(rc);
                    return;
                }
                WalkAccessRange(ioas, iova, length, (pieces, complete) =>
                {
                    if (PinErrno(pieces, complete, write) is var pin and not 0)
                    {
                        Done(pin);
                        return;
                    }
                    CheckPages(pieces, iova, length, uptr, () =>
                    {
                        AccessActorOf(id).Tell(new PinItem(iova, length, write));
                        Await<ItemPinned>(p =>
                        {
                            if (p.Errno != 0)
                                Done(p.Errno);
                            else
                                Respond(cmd.WithU32(TestCmdLayout.AccessPages.OutAccessPagesId, p.ItemId), size);
                        });
                    });
                });
            });
        });
    }

    /// <summary>iommufd_test_access_item_destroy: the item is unpinned, or ENOENT (an unmap may have taken it).</summary>
    private void TestDestroyAccessPages(IommuTestCmd cmd) => WithAccess(cmd.Id, (id, _) =>
    {
        AccessActorOf(id).Tell(new UnpinItem(cmd.U32(TestCmdLayout.DestroyAccessPages.AccessPagesId)));
        Await<ItemUnpinned>(r => Done(r.Errno));
    });

    /// <summary>Zero length is EINVAL, a range past the top of the IOVA space EOVERFLOW.</summary>
    private static int RangeErrno(ulong iova, ulong length) =>
        length == 0 ? Errno.EINVAL : iova > ulong.MaxValue - (length - 1) ? Errno.EOVERFLOW : 0;

    /// <summary>
    /// iommufd_access_pin_pages per area: the piece must start on a page of the user memory behind
    /// it and, unless it ends the range, end on one (EINVAL); the area must allow the access (EPERM);
    /// then the areas must cover the range (ENOENT).
    /// </summary>
    private static int PinErrno(List<AccessPiece> pieces, bool complete, bool write)
    {
        const ulong page = Selftest.AccessPageSize;
        for (var i = 0; i < pieces.Count; i++)
        {
            var p = pieces[i];
            var endsRange = complete && i == pieces.Count - 1;
            if (p.UserVa % page != 0 || (!endsRange && (p.UserVa + p.Length) % page != 0))
                return Errno.EINVAL;
            if (!p.Protection.HasFlag(write ? Protection.Write : Protection.Read))
                return Errno.EPERM;
        }
        return complete ? 0 : Errno.ENOENT;
    }

    /// <summary>
    /// iommufd_test_check_pages: page k of the pin must be the page at uptr (moved back to the
    /// IOVA's page start) plus k pages. A user page is known by its address in the client, so a
    /// mismatch is EBADE where uptr's page is mapped and EFAULT where it is not.
    /// </summary>
    private void CheckPages(List<AccessPiece> pieces, ulong iova, ulong length, ulong uptr, Action then)
    {
        if (uptr == 0)
        {
            // The selftest lets syzkaller skip the check with a NULL uptr.
            then();
            return;
        }
        const ulong page = Selftest.AccessPageSize;
        var first = iova & ~(page - 1);
        var count = (((iova + length - 1) & ~(page - 1)) - first) / page + 1;
        var userStart = unchecked(uptr - (iova - first));
        for (ulong k = 0; k < count; k++)
        {
            var user = unchecked(userStart + k * page) & ~(page - 1);
            var pinned = UserVaAt(pieces, iova + k * page);
            if (pinned is { } va && (va & ~(page - 1)) == user)
                continue;
            ReadMemory(user, 1, _ => Done(SelftestErrno.EBADE));
            return;
        }
        then();
    }

    private static ulong? UserVaAt(List<AccessPiece> pieces, ulong iova)
    {
        foreach (var p in pieces)
        {
            if (iova >= p.Iova && iova - p.Iova < p.Length)
                return p.UserVa + (iova - p.Iova);
        }
        return null;
    }

    // ---- ACCESS_RW ----

    /// <summary>
    /// iommufd_test_access_rw: length (ENOMEM) and flags (EOPNOTSUPP) before the fd; a write first
    /// copies the caller's buffer (EFAULT). iommufd_access_rw then moves data area by area: an
    /// area without the permission stops it (EPERM), a hole after the last area is ENOENT, and what
    /// was written before either stays written, as in the kernel. A read copies out only on success.
    /// </summary>
    private void TestAccessRw(IommuTestCmd cmd)
    {
        var length = cmd.U64(TestCmdLayout.AccessRw.Length);
        var uptr = cmd.U64(TestCmdLayout.AccessRw.Uptr);
        var flags = cmd.U32(TestCmdLayout.AccessRw.Flags);
        if (length > Selftest.AccessMaxLength)
        {
            Done(Errno.ENOMEM);
            return;
        }
        if ((flags & ~(Selftest.AccessRwWrite | Selftest.AccessRwSlowPath | Selftest.FlagsAccessSyz)) != 0)
        {
            Done(Errno.EOPNOTSUPP);
            return;
        }
        WithAccess(cmd.Id, (id, _) =>
        {
            var ioas = _ioas[IoasOfAccess(id)];
            var write = (flags & Selftest.AccessRwWrite) != 0;
            if (write)
                ReadMemory(uptr, (uint)length, Move);
            else
                Move(new byte[length]);

            void Move(byte[] data) => SyzIova(ioas, flags, cmd.U64(TestCmdLayout.AccessRw.Iova), iova =>
            {
                if (RangeErrno(iova, length) is var rc and not 0)
                {
                    Done(rc);
                    return;
                }
                WalkAccessRange(ioas, iova, length, (pieces, complete) =>
                {
                    var allowed = pieces.TakeWhile(p => p.Protection.HasFlag(write ? Protection.Write : Protection.Read)).ToList();
                    var errno = allowed.Count < pieces.Count ? Errno.EPERM : complete ? 0 : Errno.ENOENT;
                    MovePieces(allowed, 0, iova, data, write, () =>
                    {
                        if (errno != 0)
                            Done(errno);
                        else if (write)
                            Done(0);
                        else
                            WriteMemory(uptr, data, wrc => Done(wrc));
                    });
                });
            });
        });
    }

    /// <summary>iopt_pages_rw_access for each piece in turn: the user memory behind the IOVA, to or from the buffer.</summary>
    private void MovePieces(List<AccessPiece> pieces, int i, ulong iova, byte[] data, bool write, Action then)
    {
        if (i == pieces.Count)
        {
            then();
            return;
        }
        var p = pieces[i];
        var at = (int)(p.Iova - iova);
        if (write)
        {
            WriteMemory(p.UserVa, data.AsSpan(at, (int)p.Length).ToArray(), rc =>
            {
                if (rc != 0)
                    Done(Errno.EFAULT);
                else
                    MovePieces(pieces, i + 1, iova, data, write, then);
            });
            return;
        }
        ReadMemory(p.UserVa, (uint)p.Length, bytes =>
        {
            bytes.CopyTo(data, at);
            MovePieces(pieces, i + 1, iova, data, write, then);
        });
    }

    // ---- walking the IOAS ----

    /// <summary>One area's share of an access range: its IOVA piece, the area's permission, the user address behind the piece's start.</summary>
    private sealed record AccessPiece(ulong Iova, ulong Length, Protection Protection, ulong UserVa);

    /// <summary>
    /// iopt_for_each_contig_area over [iova, iova+length): the areas in IOVA order for as long as
    /// they follow each other without a hole, each with the user memory behind it; complete when
    /// they cover the whole range. The length is at most 16 MiB here (the ops' own limit).
    /// </summary>
    private void WalkAccessRange(IoasEntry ioas, ulong iova, ulong length, Action<List<AccessPiece>, bool> then)
    {
        var last = iova + length - 1;
        ioas.Ref.Tell(new IoasProtocol.GetMappings(ioas.Key));
        Await<IoasProtocol.Mappings>(m => m.IoasId == ioas.Key, m =>
        {
            var spans = new List<(ulong Iova, ulong Length, Protection Protection)>();
            var cursor = iova;
            var complete = false;
            foreach (var a in m.Areas)
            {
                var areaLast = a.Iova + a.Length - 1;
                if (areaLast < cursor)
                    continue;
                if (a.Iova > cursor)
                    break;
                var end = Math.Min(areaLast, last);
                spans.Add((cursor, end - cursor + 1, a.Protection));
                if (end == last)
                {
                    complete = true;
                    break;
                }
                cursor = end + 1;
            }
            if (spans.Count == 0)
            {
                then([], false);
                return;
            }
            ioas.Ref.Tell(new IoasProtocol.GetPagesForCopy(ioas.Key, iova, spans[^1].Iova + spans[^1].Length - iova));
            Await<IoasProtocol.PagesForCopy>(p => p.IoasId == ioas.Key, p =>
            {
                // The same areas, one slice each: only a change between the two answers could differ.
                if (p.Errno != 0 || p.Slices.Length != spans.Count)
                {
                    Done(Errno.EFAULT);
                    return;
                }
                then([.. spans.Select((s, i) => new AccessPiece(s.Iova, s.Length, s.Protection,
                    p.Slices[i].UserAddress + p.Slices[i].Offset))], complete);
            });
        });
    }

    /// <summary>
    /// MOCK_FLAGS_ACCESS_SYZ: the u64 IOVA is read as {u32 nth area, u32 offset}, and becomes that
    /// area's IOVA plus the offset (0 when there are fewer areas).
    /// </summary>
    private void SyzIova(IoasEntry ioas, uint flags, ulong iova, Action<ulong> then)
    {
        if ((flags & Selftest.FlagsAccessSyz) == 0)
        {
            then(iova);
            return;
        }
        var nth = (uint)iova;
        var offset = (uint)(iova >> 32);
        ioas.Ref.Tell(new IoasProtocol.GetMappings(ioas.Key));
        Await<IoasProtocol.Mappings>(m => m.IoasId == ioas.Key, m =>
            then(nth < m.Areas.Length ? m.Areas[(int)nth].Iova + offset : 0));
    }
}

/// <summary>An ACCESS object: the file id of its fd (also its name in the IOAS), and CREATE_ACCESS's flags.</summary>
internal sealed record AccessEntry(string FileId, uint Flags);
