using System.Collections.Immutable;
using Akka.Actor;
using IommuActors.Domains.Ioas;
using IommuActors.Fd.Objects;
using IommuActors.Uapi;
using IommuActors.Uapi.Structs;
using static IommuActors.Fd.Files.FileProtocol;
using static IommuActors.Fd.Context.ContextProtocol;
using Errno = IommuActors.Uapi.Errno;

namespace IommuActors.Fd.Context;

// The IOAS ioctls (ioas.c): the context checks what the kernel checks before it looks into the
// io_pagetable, the IOAS actor does the rest.
public sealed partial class IommufdContextActor
{
    /// <summary>
    /// The IOAS actor, charging the box's accounts under the keys it was created with. The kernel
    /// charges the user (or mm) of the process that maps; the emulator charges the caller that
    /// created the IOAS, which is the same process unless an fd is handed to another one.
    /// </summary>
    private IActorRef StartIoas(string key, AccountKeys? accounts)
    {
        var binding = _with.Accounts is { } book && accounts is not null
            ? new AccountBinding(book, accounts.User, accounts.Process, (Domains.Pages.RlimitMode)_rlimitMode)
            : null;
        return Context.ActorOf(IoasActor.Props(key, _with.Settings.LockedPageLimit, units: _with.Units, account: binding),
            "ioas-" + Uri.EscapeDataString(key));
    }

    private bool TryIoas(uint id, out IoasEntry entry)
    {
        entry = null!;
        if (!_table.Get(id, ObjectKind.Ioas).IsOk)
            return false;
        entry = _ioas[id];
        return true;
    }

    private void OnIoasAlloc(IommuIoasAlloc cmd, uint size)
    {
        if (cmd.Flags != 0)
        {
            Done(Errno.EOPNOTSUPP);
            return;
        }
        CreateIoas(id => Respond(cmd with { OutIoasId = id }, size));
    }

    private void CreateIoas(Action<uint> then)
    {
        var id = _table.NextFreeId;
        if (id == 0)
        {
            Fail(Errno.ENOSPC);
            return;
        }
        var key = NewKey("ioas");
        var caller = _ioctl!.By;
        Save(new IoasCreated(id, key, new AccountKeys(caller.UserAccount, caller.ProcessAccount)), () =>
        {
            var entry = _ioas[id] = _ioas[id] with { Ref = StartIoas(key, _ioas[id].Accounts) };
            if (_rlimitMode == 0)
            {
                then(id);
                return;
            }
            // The context's accounting mode applies to every IOAS it holds.
            entry.Ref.Tell(new IoasProtocol.SetOption(key, IoasProtocol.OptionRlimitMode, _rlimitMode));
            Await<IoasProtocol.OptionResult>(_ => then(id));
        });
    }

    private void OnIovaRanges(IommuIoasIovaRanges cmd, uint size)
    {
        if (cmd.Reserved != 0)
        {
            Done(Errno.EOPNOTSUPP);
            return;
        }
        if (!TryIoas(cmd.IoasId, out var ioas))
        {
            Done(Errno.ENOENT);
            return;
        }
        ioas.Ref.Tell(new IoasProtocol.GetIovaRanges(ioas.Key));
        Await<IoasProtocol.IovaRanges>(r =>
        {
            var total = (uint)r.Ranges.Length;
            var fits = Math.Min(total, cmd.NumIovas);
            var array = new byte[fits * 16];
            for (var i = 0; i < fits; i++)
                new IommuIovaRange(r.Ranges[i].Start, r.Ranges[i].Last).Write(array.AsSpan(i * 16));
            WriteMemory(cmd.AllowedIovas, array, rc =>
            {
                if (rc != 0)
                {
                    Done(rc);
                    return;
                }
                var back = cmd with { NumIovas = total, OutIovaAlignment = r.Alignment };
                if (total <= cmd.NumIovas)
                {
                    Respond(back, size);
                    return;
                }
                // EMSGSIZE comes after the struct was copied out: the caller learns the count it needs.
                WriteMemory(_ioctl!.Arg, UserStruct.CopyBack(back, size), wrc => Done(wrc != 0 ? wrc : Errno.EMSGSIZE));
            });
        });
    }

    private void OnAllowIovas(IommuIoasAllowIovas cmd, uint size)
    {
        if (cmd.Reserved != 0)
        {
            Done(Errno.EOPNOTSUPP);
            return;
        }
        if (!TryIoas(cmd.IoasId, out var ioas))
        {
            Done(Errno.ENOENT);
            return;
        }
        if (cmd.NumIovas > int.MaxValue / 16)
        {
            Done(Errno.EFAULT);
            return;
        }
        ReadMemory(cmd.AllowedIovas, cmd.NumIovas * 16, bytes =>
        {
            var ranges = new List<IoasProtocol.IovaSpan>();
            for (var i = 0; i < cmd.NumIovas; i++)
            {
                var r = IommuIovaRange.Read(bytes.AsSpan(i * 16));
                // ioas.c refuses an empty or single-byte range and a range overlapping an earlier one.
                if (r.Start >= r.Last || ranges.Any(x => x.Start <= r.Last && r.Start <= x.Last))
                {
                    Done(Errno.EINVAL);
                    return;
                }
                ranges.Add(new IoasProtocol.IovaSpan(r.Start, r.Last));
            }
            ioas.Ref.Tell(new IoasProtocol.AllowIovas(ioas.Key, [.. ranges]));
            Await<IoasProtocol.AllowIovasResult>(res => Done(res.Errno));
        });
    }

    private static Protection ProtectionOf(uint flags) =>
        ((flags & IoasMapFlags.Readable) != 0 ? Protection.Read : Protection.None)
        | ((flags & IoasMapFlags.Writeable) != 0 ? Protection.Write : Protection.None);

    /// <summary>
    /// IOAS_MAP, IOAS_UNMAP and IOAS_COPY run side by side, as the kernel runs them under the
    /// io_pagetable's own locks with no fd-wide one: the context checks what it owns (the struct,
    /// the flags, that the id names an IOAS) and hands the command to the IOAS, which answers the
    /// client itself; the context takes the next request at once. The IOAS hears the commands of one
    /// fd in the order they were sent, so a MAP then an UNMAP of the same range sees the map. False
    /// for every other request, which is served one at a time.
    /// </summary>
    private bool SideBySide(Ioctl m)
    {
        if (m.Request is not (Ioctls.IOMMU_IOAS_MAP or Ioctls.IOMMU_IOAS_UNMAP or Ioctls.IOMMU_IOAS_COPY))
            return false;
        var replyTo = Sender;
        var fileId = _fileId;
        var tag = m.Tag;
        void Answer(int errno) => replyTo.Tell(new IoctlDone(fileId, tag, errno, 0, []));
        object Answered<T>(int errno, T back, uint size) where T : IUapiStruct<T> =>
            new IoctlDone(fileId, tag, errno, 0, errno == 0 ? UserStruct.CopyBack(back, size) : []);
        switch (m.Request)
        {
            case Ioctls.IOMMU_IOAS_MAP:
            {
                if (UserStruct.TryDecode<IommuIoasMap>(m.Inline, out var cmd, out var size) is var rc and not 0
                    || (rc = MapFlagsErrno(cmd!.Flags, cmd.Reserved, cmd.Iova, cmd.Length)) != 0)
                {
                    Answer(rc);
                    return true;
                }
                if (!TryIoas(cmd.IoasId, out var ioas))
                {
                    Answer(Errno.ENOENT);
                    return true;
                }
                var fixedIova = (cmd.Flags & IoasMapFlags.FixedIova) != 0;
                ioas.Ref.Tell(new IoasProtocol.MapRange(ioas.Key, cmd.UserVa, cmd.Length, ProtectionOf(cmd.Flags), fixedIova, cmd.Iova,
                    r => Answered(r.Errno, cmd with { Iova = r.Iova }, size), m.Client), replyTo);
                return true;
            }
            case Ioctls.IOMMU_IOAS_UNMAP:
            {
                if (UserStruct.TryDecode<IommuIoasUnmap>(m.Inline, out var cmd, out var size) is var rc and not 0)
                {
                    Answer(rc);
                    return true;
                }
                if (!TryIoas(cmd!.IoasId, out var ioas))
                {
                    Answer(Errno.ENOENT);
                    return true;
                }
                ioas.Ref.Tell(new IoasProtocol.UnmapRange(ioas.Key, cmd.Iova, cmd.Length,
                    r => Answered(r.Errno, cmd with { Length = r.Unmapped }, size)), replyTo);
                return true;
            }
            default:
            {
                if (UserStruct.TryDecode<IommuIoasCopy>(m.Inline, out var cmd, out var size) is var rc and not 0
                    || (rc = MapFlagsErrno(cmd!.Flags, 0, Math.Max(cmd.SrcIova, cmd.DstIova), cmd.Length)) != 0)
                {
                    Answer(rc);
                    return true;
                }
                // A missing destination is found after the source range was checked: served one at a time.
                if (!TryIoas(cmd.SrcIoasId, out var src) || !TryIoas(cmd.DstIoasId, out var dst))
                    return false;
                var fixedIova = (cmd.Flags & IoasMapFlags.FixedIova) != 0;
                dst.Ref.Tell(new IoasProtocol.CopyRange(dst.Key, src.Ref, cmd.SrcIova, cmd.Length, ProtectionOf(cmd.Flags), fixedIova, cmd.DstIova,
                    r => Answered(r.Errno, cmd with { DstIova = r.DestinationIova }, size)), replyTo);
                return true;
            }
        }
    }

    private void OnMap(IommuIoasMap cmd, uint size)
    {
        if (MapFlagsErrno(cmd.Flags, cmd.Reserved, cmd.Iova, cmd.Length) is var rc and not 0)
        {
            Done(rc);
            return;
        }
        if (!TryIoas(cmd.IoasId, out var ioas))
        {
            Done(Errno.ENOENT);
            return;
        }
        var fixedIova = (cmd.Flags & IoasMapFlags.FixedIova) != 0;
        ioas.Ref.Tell(new IoasProtocol.MapRange(ioas.Key, cmd.UserVa, cmd.Length, ProtectionOf(cmd.Flags), fixedIova, cmd.Iova, UserMemory: _client));
        Await<IoasProtocol.MapResult>(r =>
        {
            if (r.Errno != 0)
                Done(r.Errno);
            else
                Respond(cmd with { Iova = r.Iova }, size);
        });
    }

    private void OnUnmap(IommuIoasUnmap cmd, uint size)
    {
        if (!TryIoas(cmd.IoasId, out var ioas))
        {
            Done(Errno.ENOENT);
            return;
        }
        ioas.Ref.Tell(new IoasProtocol.UnmapRange(ioas.Key, cmd.Iova, cmd.Length));
        Await<IoasProtocol.UnmapResult>(r =>
        {
            if (r.Errno != 0)
                Done(r.Errno);
            else
                Respond(cmd with { Length = r.Unmapped }, size);
        });
    }

    private void OnCopy(IommuIoasCopy cmd, uint size)
    {
        if (MapFlagsErrno(cmd.Flags, 0, Math.Max(cmd.SrcIova, cmd.DstIova), cmd.Length) is var rc and not 0)
        {
            Done(rc);
            return;
        }
        if (!TryIoas(cmd.SrcIoasId, out var src))
        {
            Done(Errno.ENOENT);
            return;
        }
        var fixedIova = (cmd.Flags & IoasMapFlags.FixedIova) != 0;
        if (!TryIoas(cmd.DstIoasId, out var dst))
        {
            // The source range is checked before the destination is looked up.
            src.Ref.Tell(new IoasProtocol.GetPagesForCopy(src.Key, cmd.SrcIova, cmd.Length));
            Await<IoasProtocol.PagesForCopy>(p => Done(p.Errno != 0 ? p.Errno : Errno.ENOENT));
            return;
        }
        dst.Ref.Tell(new IoasProtocol.CopyRange(dst.Key, src.Ref, cmd.SrcIova, cmd.Length, ProtectionOf(cmd.Flags), fixedIova, cmd.DstIova));
        Await<IoasProtocol.CopyResult>(r =>
        {
            if (r.Errno != 0)
                Done(r.Errno);
            else
                Respond(cmd with { DstIova = r.DestinationIova }, size);
        });
    }

    private void OnOption(IommuOption cmd, uint size)
    {
        if (cmd.Reserved != 0)
        {
            Done(Errno.EOPNOTSUPP);
            return;
        }
        switch (cmd.OptionId)
        {
            case IommuOptions.RlimitMode:
                OnRlimitOption(cmd, size);
                break;
            case IommuOptions.HugePages:
                OnHugePagesOption(cmd, size);
                break;
            default:
                Done(Errno.EOPNOTSUPP);
                break;
        }
    }

    private void OnRlimitOption(IommuOption cmd, uint size)
    {
        if (cmd.ObjectId != 0)
        {
            Done(Errno.EOPNOTSUPP);
            return;
        }
        if (cmd.Op == IommuOptions.OpGet)
        {
            Respond(cmd with { Val64 = _rlimitMode }, size);
            return;
        }
        if (cmd.Op != IommuOptions.OpSet)
        {
            Done(Errno.EOPNOTSUPP);
            return;
        }
        if (!_ioctl!.By.CapSysResource)
        {
            Done(Errno.EPERM);
            return;
        }
        // The mode is fixed once any object exists.
        if (_table.Count > 0)
        {
            Done(Errno.EBUSY);
            return;
        }
        if (cmd.Val64 > 1)
        {
            Done(Errno.EINVAL);
            return;
        }
        Save(new RlimitModeChanged(cmd.Val64), () => Respond(cmd, size));
    }

    private void OnHugePagesOption(IommuOption cmd, uint size)
    {
        if (!TryIoas(cmd.ObjectId, out var ioas))
        {
            Done(Errno.ENOENT);
            return;
        }
        if (cmd.Op == IommuOptions.OpGet)
        {
            ioas.Ref.Tell(new IoasProtocol.GetOption(ioas.Key, IoasProtocol.OptionHugePages));
            Await<IoasProtocol.OptionValue>(v => v.IoasId == ioas.Key, v =>
            {
                if (v.Errno != 0)
                    Done(v.Errno);
                else
                    Respond(cmd with { Val64 = v.Value }, size);
            });
            return;
        }
        if (cmd.Op != IommuOptions.OpSet)
        {
            Done(Errno.EOPNOTSUPP);
            return;
        }
        SetHugePages(ioas, cmd.Val64, rc =>
        {
            if (rc != 0)
                Done(rc);
            else
                Respond(cmd, size);
        });
    }

    /// <summary>The IOAS keeps (and journals) its option; the context keeps no copy of it.</summary>
    private void SetHugePages(IoasEntry ioas, ulong value, Action<int> then)
    {
        ioas.Ref.Tell(new IoasProtocol.SetOption(ioas.Key, IoasProtocol.OptionHugePages, value));
        Await<IoasProtocol.OptionResult>(r => r.IoasId == ioas.Key, r => then(r.Errno));
    }

    private void OnVfioIoas(IommuVfioIoas cmd, uint size)
    {
        if (cmd.Reserved != 0)
        {
            Done(Errno.EOPNOTSUPP);
            return;
        }
        switch (cmd.Op)
        {
            case VfioIoasOps.Get:
                if (_compatIoas == 0 || !_table.Get(_compatIoas, ObjectKind.Ioas).IsOk)
                    Done(Errno.ENODEV);
                else
                    Respond(cmd with { IoasId = _compatIoas }, size);
                break;
            case VfioIoasOps.Set:
                if (!TryIoas(cmd.IoasId, out _))
                    Done(Errno.ENOENT);
                else
                    Save(new CompatIoasChanged(cmd.IoasId), () => Done(0));
                break;
            case VfioIoasOps.Clear:
                Save(new CompatIoasChanged(0), () => Done(0));
                break;
            default:
                Done(Errno.EOPNOTSUPP);
                break;
        }
    }

    /// <summary>
    /// The checks MAP, MAP_FILE and COPY share, in the kernel's order: unknown flags or reserved
    /// bits EOPNOTSUPP, an IOVA or length of U64_MAX EOVERFLOW, neither readable nor writeable EINVAL.
    /// </summary>
    private static int MapFlagsErrno(uint flags, uint reserved, ulong iova, ulong length) =>
        (flags & ~IoasMapFlags.All) != 0 || reserved != 0 ? Errno.EOPNOTSUPP
        : iova >= ulong.MaxValue || length >= ulong.MaxValue ? Errno.EOVERFLOW
        : (flags & (IoasMapFlags.Readable | IoasMapFlags.Writeable)) == 0 ? Errno.EINVAL
        : 0;

    private void OnMapFile(IommuIoasMapFile cmd, uint size)
    {
        if (MapFlagsErrno(cmd.Flags, 0, cmd.Iova, cmd.Length) is var rc and not 0)
        {
            Done(rc);
            return;
        }
        if (!TryIoas(cmd.IoasId, out _))
        {
            Done(Errno.ENOENT);
            return;
        }
        // No fd of the client names a memfd the emulator can pin: fget fails as for a closed fd.
        Done(Errno.EBADF);
    }

    /// <summary>
    /// iommufd_ioas_change_process moves the accounting of file-backed pages only; every area here
    /// maps user memory, so any area in any IOAS of the context makes it EINVAL, and with none
    /// there is nothing to move.
    /// </summary>
    private void OnChangeProcess(IommuIoasChangeProcess cmd, uint size)
    {
        if (cmd.Reserved != 0)
        {
            Done(Errno.EOPNOTSUPP);
            return;
        }
        AnyArea([.. _ioas.OrderBy(i => i.Key).Select(i => i.Value)], 0, any => Done(any ? Errno.EINVAL : 0));
    }

    private void AnyArea(List<IoasEntry> ioases, int i, Action<bool> then)
    {
        if (i == ioases.Count)
        {
            then(false);
            return;
        }
        var ioas = ioases[i];
        ioas.Ref.Tell(new IoasProtocol.GetMappings(ioas.Key));
        Await<IoasProtocol.Mappings>(m => m.IoasId == ioas.Key, m =>
        {
            if (m.Areas.Length > 0)
                then(true);
            else
                AnyArea(ioases, i + 1, then);
        });
    }

    private static ImmutableArray<T> Arr<T>(IEnumerable<T> items) => [.. items];
}
