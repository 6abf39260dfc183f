using Akka.Actor;
using IommuActors.Core.Messaging;
using IommuActors.Domains.Ioas;
using IommuActors.Fd.Context;
using IommuActors.Fd.Objects;
using IommuActors.Uapi.Structs;
using static IommuActors.Fd.Accesses.AccessProtocol;
using static IommuActors.Fd.Context.ContextProtocol;
using static IommuActors.Fd.Files.FileProtocol;
using Errno = IommuActors.Uapi.Errno;

namespace IommuActors.Fd.Accesses;

/// <summary>An ACCESS object: the file id of its fd (also its name in the IOAS), and CREATE_ACCESS's flags.</summary>
internal sealed record AccessEntry(string FileId, uint Flags);

/// <summary>
/// The selftest's accesses (selftest.c's staccess over device.c's iommufd_access): an ACCESS
/// object on an IOAS, which the IOAS cannot be destroyed under and IOMMU_DESTROY cannot remove
/// (the driver holds it); its pinned items live in a child <see cref="AccessActor"/>, which answers
/// the IOAS's unmap callback while the context waits for the UNMAP; its fd is a file whose close
/// destroys it. The IOAS does not journal pins, so after a restart an access comes back without
/// items. Served on the context's thread as its requests; the rules are <see cref="AccessRules"/>.
/// </summary>
internal sealed class AccessObjects(IContextHost host)
{
    private readonly Dictionary<uint, AccessEntry> _objects = new();
    private readonly Dictionary<uint, IActorRef> _actors = new();

    private ServedRequest Request => host.Request;

    private void Done(int errno) => Request.Done(errno);

    /// <summary>How many accesses there are: each holds the context, as it holds the kernel's ictx.</summary>
    public int Count => _objects.Count;

    public string? KeyOf(uint id) => _objects.TryGetValue(id, out var a) ? a.FileId : null;

    public uint FlagsOf(uint id) => _objects.TryGetValue(id, out var a) ? a.Flags : 0;

    private uint IoasOf(uint accessId) => host.Table.Get(accessId).Value!.Uses.First();

    private bool TryIoas(uint ioasId, out IoasEntry entry)
    {
        entry = null!;
        return host.Table.Get(ioasId, ObjectKind.Ioas).IsOk && host.Ioas.TryGetValue(ioasId, out entry!);
    }

    /// <summary>The access's actor, started on first use (after a restart it starts with no items, as the IOAS has no pins).</summary>
    private IActorRef ActorOf(uint accessId)
    {
        if (_actors.TryGetValue(accessId, out var actor))
            return actor;
        var access = _objects[accessId];
        var ioas = host.Ioas[IoasOf(accessId)];
        return _actors[accessId] = host.Spawn(AccessActor.Props(access.FileId, ioas.Key, ioas.Ref),
            "access-" + Uri.EscapeDataString(access.FileId));
    }

    /// <summary>The journal's view of accesses; runs before the context's own Apply for every event.</summary>
    public void Apply(IPersistedEvent e)
    {
        switch (e)
        {
            case ObjectCreated { Kind: ObjectKind.Access } c:
                _objects[c.Id] = new AccessEntry(c.Key, c.Flags);
                break;
            case ObjectDestroyed d when _objects.Remove(d.Id):
                if (_actors.Remove(d.Id, out var actor))
                    host.StopChild(actor);
                break;
            case AccessIoasChanged x:
                host.Table.ChangeUses(x.AccessId, [x.IoasId]);
                break;
        }
    }

    /// <summary>The access ops of IOMMU_TEST_CMD.</summary>
    public void Serve(IommuTestCmd cmd, uint size)
    {
        switch ((TestOp)cmd.Op)
        {
            case TestOp.CreateAccess: Create(cmd, size); return;
            case TestOp.AccessPages: Pages(cmd, size); return;
            case TestOp.DestroyAccessPages: DestroyPages(cmd); return;
            case TestOp.AccessRw: ReadWrite(cmd); return;
            default: ReplaceIoas(cmd); return;
        }
    }

    // ---- CREATE_ACCESS ----

    /// <summary>
    /// iommufd_test_create_access: flags, then the IOAS (iommufd_access_attach: ENOENT, and an
    /// access that pins raises the IOAS's IOVA alignment to a page, EADDRINUSE over areas that
    /// break it), then the fd. No fd for the file is ENOMEM, as get_unused_fd_flags' failure is.
    /// </summary>
    private void Create(IommuTestCmd cmd, uint size)
    {
        var flags = cmd.U32(TestCmdLayout.CreateAccess.Flags);
        if (AccessRules.CreateFlagsErrno(flags) is var bad and not 0)
        {
            Done(bad);
            return;
        }
        var id = host.Table.NextFreeId;
        if (id == 0)
        {
            // xa_alloc with no free ID left.
            Done(Errno.EBUSY);
            return;
        }
        if (!TryIoas(cmd.Id, out var ioas))
        {
            Done(Errno.ENOENT);
            return;
        }
        var fileId = host.NewKey("access");
        var access = new AccessEntry(fileId, flags);
        RaiseAlignment(access, ioas, rc =>
        {
            if (rc != 0)
            {
                Done(rc);
                return;
            }
            host.Save(new ObjectCreated(id, ObjectKind.Access, [cmd.Id], fileId, "", flags, false, 0), () =>
            {
                host.With.Files.Tell(new OpenAccessFile(fileId, host.FileId, id));
                Request.Await<Opened>(o => o.FileId == fileId, o =>
                {
                    if (o.Errno != 0)
                    {
                        Destroy(id, () => Done(o.Errno));
                        return;
                    }
                    var tag = Request.NextTag();
                    Request.Client.Tell(new InstallFd(tag, AccessFileKind, fileId));
                    Request.Await<FdInstalled>(f => f.Tag == tag, f =>
                    {
                        if (f.Errno != 0)
                        {
                            // The access goes with its file, which no fd names.
                            host.With.Files.Tell(new Release(fileId, ActorRefs.Nobody));
                            Destroy(id, () => Done(Errno.ENOMEM));
                            return;
                        }
                        Request.Respond(cmd.WithU32(TestCmdLayout.CreateAccess.OutAccessFd, (uint)f.Fd), size);
                    });
                });
            });
        });
    }

    /// <summary>iopt_add_access: an access that pins needs page-aligned IOVAs in its IOAS.</summary>
    private void RaiseAlignment(AccessEntry access, IoasEntry ioas, Action<int> then)
    {
        if (!AccessRules.NeedsPinPages(access.Flags))
        {
            then(0);
            return;
        }
        ioas.Ref.Tell(new IoasProtocol.RaiseAlignment(ioas.Key, access.FileId, Selftest.AccessPageSize));
        Request.Await<IoasProtocol.AlignmentResult>(r => r.IoasId == ioas.Key, r => then(r.Errno));
    }

    private void DropAlignment(AccessEntry access, IoasEntry ioas, Action then)
    {
        if (!AccessRules.NeedsPinPages(access.Flags))
        {
            then();
            return;
        }
        ioas.Ref.Tell(new IoasProtocol.DropAlignment(ioas.Key, access.FileId));
        Request.Await<IoasProtocol.AlignmentResult>(r => r.IoasId == ioas.Key, _ => then());
    }

    // ---- the access fd ----

    /// <summary>iommufd_access_get: the fd must name an access file of this context, else EBADFD.</summary>
    private void WithAccess(uint fd, Action<uint, AccessEntry> then)
    {
        var tag = Request.NextTag();
        Request.Client.Tell(new ResolveFd(tag, unchecked((int)fd)));
        Request.Await<FdResolved>(r => r.Tag == tag, r =>
        {
            var found = r.Errno == 0 ? _objects.FirstOrDefault(a => a.Value.FileId == r.FileId) : default;
            if (found.Value is null)
            {
                Done(SelftestErrno.EBADFD);
                return;
            }
            then(found.Key, found.Value);
        });
    }

    /// <summary>The access fd closed (iommufd_test_staccess_release): its items are unpinned and the access destroyed.</summary>
    public void Close(CloseAccess m, Action then)
    {
        if (_objects.TryGetValue(m.AccessId, out var access) && access.FileId == m.AccessFileId)
            Destroy(m.AccessId, then, byItsFile: true);
        else
            then();
    }

    /// <summary>
    /// iommufd_access_destroy: unpin everything from the IOAS, leave it (its alignment goes too),
    /// and the object. Unless its file asked, the file learns that a close has nothing to wait for.
    /// </summary>
    public void Destroy(uint accessId, Action then, bool byItsFile = false)
    {
        var access = _objects[accessId];
        host.Ioas.TryGetValue(IoasOf(accessId), out var ioas);
        ActorOf(accessId).Tell(new SwitchIoas("", ActorRefs.Nobody));
        Request.Await<IoasSwitched>(_ =>
        {
            void Forget() => host.Save(new ObjectDestroyed(accessId), () =>
            {
                if (!byItsFile)
                    host.With.Files.Tell(new AccessGone(access.FileId), ActorRefs.NoSender);
                then();
            });
            if (ioas is null)
                Forget();
            else
                DropAlignment(access, ioas, Forget);
        });
    }

    // ---- ACCESS_REPLACE_IOAS ----

    /// <summary>
    /// iommufd_access_replace: the new IOAS (ENOENT), nothing to do when it is the current one;
    /// the new IOAS takes the access first (EADDRINUSE leaves everything as it was), then the
    /// items are unpinned from the old one, which the access leaves.
    /// </summary>
    private void ReplaceIoas(IommuTestCmd cmd) => WithAccess(cmd.Id, (id, access) =>
    {
        var to = cmd.U32(TestCmdLayout.AccessReplaceIoas.IoasId);
        if (!TryIoas(to, out var next))
        {
            Done(Errno.ENOENT);
            return;
        }
        var from = IoasOf(id);
        if (to == from)
        {
            Done(0);
            return;
        }
        var old = host.Ioas[from];
        RaiseAlignment(access, next, rc =>
        {
            if (rc != 0)
            {
                Done(rc);
                return;
            }
            ActorOf(id).Tell(new SwitchIoas(next.Key, next.Ref));
            Request.Await<IoasSwitched>(_ => DropAlignment(access, old, () => host.Save(new AccessIoasChanged(id, to), () => Done(0))));
        });
    });

    // ---- ACCESS_PAGES and DESTROY_ACCESS_PAGES ----

    /// <summary>
    /// iommufd_test_access_pages: length and flags before the fd, an access made without
    /// NEEDS_PIN_PAGES cannot pin (EOPNOTSUPP); iommufd_access_pin_pages' checks area by area;
    /// then, with a uptr, the pages pinned must be the pages at uptr (EBADE, or EFAULT where uptr
    /// is not mapped). The item's id is returned.
    /// </summary>
    private void Pages(IommuTestCmd cmd, uint size)
    {
        var flags = cmd.U32(TestCmdLayout.AccessPages.Flags);
        var length = cmd.U64(TestCmdLayout.AccessPages.Length);
        var uptr = cmd.U64(TestCmdLayout.AccessPages.Uptr);
        if (AccessRules.PagesArgsErrno(length, flags) is var bad and not 0)
        {
            Done(bad);
            return;
        }
        WithAccess(cmd.Id, (id, access) =>
        {
            if (!AccessRules.NeedsPinPages(access.Flags))
            {
                Done(Errno.EOPNOTSUPP);
                return;
            }
            var ioas = host.Ioas[IoasOf(id)];
            var write = (flags & Selftest.FlagsAccessWrite) != 0;
            SyzIova(ioas, flags, cmd.U64(TestCmdLayout.AccessPages.Iova), iova =>
            {
                if (AccessRules.RangeErrno(iova, length) is var rc and not 0)
                {
                    Done(rc);
                    return;
                }
                Walk(ioas, iova, length, (pieces, complete) =>
                {
                    if (AccessRules.PinErrno(pieces, complete, write) is var pin and not 0)
                    {
                        Done(pin);
                        return;
                    }
                    // A user page is known by its address in the client, so a mismatch is EBADE
                    // where uptr's page is mapped and EFAULT (the failed read) where it is not.
                    if (AccessRules.FirstMismatch(pieces, iova, length, uptr) is { } user)
                    {
                        Request.ReadMemory(user, 1, _ => Done(SelftestErrno.EBADE));
                        return;
                    }
                    ActorOf(id).Tell(new PinItem(iova, length, write));
                    Request.Await<ItemPinned>(p =>
                    {
                        if (p.Errno != 0)
                            Done(p.Errno);
                        else
                            Request.Respond(cmd.WithU32(TestCmdLayout.AccessPages.OutAccessPagesId, p.ItemId), size);
                    });
                });
            });
        });
    }

    /// <summary>iommufd_test_access_item_destroy: the item is unpinned, or ENOENT (an unmap may have taken it).</summary>
    private void DestroyPages(IommuTestCmd cmd) => WithAccess(cmd.Id, (id, _) =>
    {
        ActorOf(id).Tell(new UnpinItem(cmd.U32(TestCmdLayout.DestroyAccessPages.AccessPagesId)));
        Request.Await<ItemUnpinned>(r => Done(r.Errno));
    });

    // ---- ACCESS_RW ----

    /// <summary>
    /// iommufd_test_access_rw: length and flags before the fd; a write first copies the caller's
    /// buffer (EFAULT). iommufd_access_rw then moves data area by area: an area without the
    /// permission stops it (EPERM), a hole after the last area is ENOENT, and what was written
    /// before either stays written, as in the kernel. A read copies out only on success.
    /// </summary>
    private void ReadWrite(IommuTestCmd cmd)
    {
        var length = cmd.U64(TestCmdLayout.AccessRw.Length);
        var uptr = cmd.U64(TestCmdLayout.AccessRw.Uptr);
        var flags = cmd.U32(TestCmdLayout.AccessRw.Flags);
        if (AccessRules.RwArgsErrno(length, flags) is var bad and not 0)
        {
            Done(bad);
            return;
        }
        WithAccess(cmd.Id, (id, _) =>
        {
            var ioas = host.Ioas[IoasOf(id)];
            var write = (flags & Selftest.AccessRwWrite) != 0;
            if (write)
                Request.ReadMemory(uptr, (uint)length, Move);
            else
                Move(new byte[length]);

            void Move(byte[] data) => SyzIova(ioas, flags, cmd.U64(TestCmdLayout.AccessRw.Iova), iova =>
            {
                if (AccessRules.RangeErrno(iova, length) is var rc and not 0)
                {
                    Done(rc);
                    return;
                }
                Walk(ioas, iova, length, (pieces, complete) =>
                {
                    var (moved, errno) = AccessRules.RwPieces(pieces, complete, write);
                    MovePieces(moved, 0, iova, data, write, () =>
                    {
                        if (errno != 0)
                            Done(errno);
                        else if (write)
                            Done(0);
                        else
                            Request.WriteMemory(uptr, data, wrc => Done(wrc));
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
            Request.WriteMemory(p.UserVa, data.AsSpan(at, (int)p.Length).ToArray(), rc =>
            {
                if (rc != 0)
                    Done(Errno.EFAULT);
                else
                    MovePieces(pieces, i + 1, iova, data, write, then);
            });
            return;
        }
        Request.ReadMemory(p.UserVa, (uint)p.Length, bytes =>
        {
            bytes.CopyTo(data, at);
            MovePieces(pieces, i + 1, iova, data, write, then);
        });
    }

    // ---- walking the IOAS ----

    /// <summary>
    /// The pieces of [iova, iova+length) (<see cref="AccessRules.Walk"/>), each with the user memory
    /// behind it. The length is at most 16 MiB here (the ops' own limit).
    /// </summary>
    private void Walk(IoasEntry ioas, ulong iova, ulong length, Action<List<AccessPiece>, bool> then)
    {
        ioas.Ref.Tell(new IoasProtocol.GetMappings(ioas.Key));
        Request.Await<IoasProtocol.Mappings>(m => m.IoasId == ioas.Key, m =>
        {
            var (spans, complete) = AccessRules.Walk(m.Areas, iova, length);
            if (spans.Count == 0)
            {
                then([], false);
                return;
            }
            ioas.Ref.Tell(new IoasProtocol.GetPagesForCopy(ioas.Key, iova, spans[^1].Iova + spans[^1].Length - iova));
            Request.Await<IoasProtocol.PagesForCopy>(p => p.IoasId == ioas.Key, p =>
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

    /// <summary><see cref="AccessRules.SyzIova"/>, asking the IOAS for its areas only when the flag is set.</summary>
    private void SyzIova(IoasEntry ioas, uint flags, ulong iova, Action<ulong> then)
    {
        if ((flags & Selftest.FlagsAccessSyz) == 0)
        {
            then(iova);
            return;
        }
        ioas.Ref.Tell(new IoasProtocol.GetMappings(ioas.Key));
        Request.Await<IoasProtocol.Mappings>(m => m.IoasId == ioas.Key, m => then(AccessRules.SyzIova(flags, iova, m.Areas)));
    }
}
