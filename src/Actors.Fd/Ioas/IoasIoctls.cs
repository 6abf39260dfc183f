using Akka.Actor;
using IommuActors.Domains.Ioas;
using IommuActors.Fd.Context;
using IommuActors.Fd.Objects;
using IommuActors.Uapi;
using IommuActors.Uapi.Structs;
using static IommuActors.Fd.Context.ContextProtocol;
using static IommuActors.Fd.Files.FileProtocol;
using Errno = IommuActors.Uapi.Errno;

namespace IommuActors.Fd.Ioases;

/// <summary>What the IOAS ioctls need of their iommufd context beyond the object table: its accounting mode and its IOAS actors.</summary>
internal interface IIoasHost : IContextHost
{
    /// <summary>IOMMU_OPTION_RLIMIT_MODE of the context.</summary>
    ulong RlimitMode { get; }

    /// <summary>Starts the actor of an IOAS the journal just recorded; its entry, with the actor.</summary>
    IoasEntry StartIoas(uint id);
}

/// <summary>
/// The IOAS ioctls (ioas.c): the context checks what the kernel checks before it looks into the
/// io_pagetable (<see cref="IoasRules"/>), the IOAS actor does the rest. MAP, UNMAP and COPY go
/// to the IOAS side by side; the others are served on the context's thread as its requests.
/// </summary>
internal sealed class IoasIoctls(IIoasHost host)
{
    private ServedRequest Request => host.Request;

    private void Done(int errno) => Request.Done(errno);

    public bool TryIoas(uint id, out IoasEntry entry)
    {
        entry = null!;
        return host.Table.Get(id, ObjectKind.Ioas).IsOk && host.Ioas.TryGetValue(id, out entry!);
    }

    public void Alloc(IommuIoasAlloc cmd, uint size)
    {
        if (cmd.Flags != 0)
        {
            Done(Errno.EOPNOTSUPP);
            return;
        }
        var id = host.Table.NextFreeId;
        if (id == 0)
        {
            Request.Fail(Errno.ENOSPC);
            return;
        }
        var key = host.NewKey("ioas");
        var caller = Request.Ioctl!.By;
        host.Save(new IoasCreated(id, key, new AccountKeys(caller.UserAccount, caller.ProcessAccount)), () =>
        {
            var entry = host.StartIoas(id);
            if (host.RlimitMode == 0)
            {
                Request.Respond(cmd with { OutIoasId = id }, size);
                return;
            }
            // The context's accounting mode applies to every IOAS it holds.
            entry.Ref.Tell(new IoasProtocol.SetOption(key, IoasProtocol.OptionRlimitMode, host.RlimitMode));
            Request.Await<IoasProtocol.OptionResult>(_ => Request.Respond(cmd with { OutIoasId = id }, size));
        });
    }

    public void IovaRanges(IommuIoasIovaRanges cmd, uint size)
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
        Request.Await<IoasProtocol.IovaRanges>(r =>
        {
            var (array, errno) = IoasRules.IovaRanges(r.Ranges, cmd.NumIovas);
            Request.WriteMemory(cmd.AllowedIovas, array, rc =>
            {
                if (rc != 0)
                {
                    Done(rc);
                    return;
                }
                var back = cmd with { NumIovas = (uint)r.Ranges.Length, OutIovaAlignment = r.Alignment };
                if (errno == 0)
                {
                    Request.Respond(back, size);
                    return;
                }
                // EMSGSIZE comes after the struct was copied out: the caller learns the count it needs.
                Request.WriteMemory(Request.Ioctl!.Arg, UserStruct.CopyBack(back, size), wrc => Done(wrc != 0 ? wrc : errno));
            });
        });
    }

    public void AllowIovas(IommuIoasAllowIovas cmd, uint size)
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
        if (cmd.NumIovas > IoasRules.MaxAllowedIovas)
        {
            Done(Errno.EFAULT);
            return;
        }
        Request.ReadMemory(cmd.AllowedIovas, cmd.NumIovas * 16, bytes =>
        {
            var (errno, ranges) = IoasRules.AllowedIovas(bytes, cmd.NumIovas);
            if (errno != 0)
            {
                Done(errno);
                return;
            }
            ioas.Ref.Tell(new IoasProtocol.AllowIovas(ioas.Key, [.. ranges]));
            Request.Await<IoasProtocol.AllowIovasResult>(res => Done(res.Errno));
        });
    }

    /// <summary>
    /// IOAS_MAP, IOAS_UNMAP and IOAS_COPY run side by side, as the kernel runs them under the
    /// io_pagetable's own locks with no fd-wide one: the context checks what it owns (the struct,
    /// the flags, that the id names an IOAS) and hands the command to the IOAS, which answers the
    /// client (replyTo) itself; the context takes the next request at once. The IOAS hears the
    /// commands of one fd in the order they were sent, so a MAP then an UNMAP of the same range
    /// sees the map. False for every other request, which is served one at a time.
    /// </summary>
    public bool SideBySide(Ioctl m, IActorRef replyTo)
    {
        if (m.Request is not (Ioctls.IOMMU_IOAS_MAP or Ioctls.IOMMU_IOAS_UNMAP or Ioctls.IOMMU_IOAS_COPY))
            return false;
        var fileId = host.FileId;
        var tag = m.Tag;
        void Answer(int errno) => replyTo.Tell(new IoctlDone(fileId, tag, errno, 0, []));
        object Answered<T>(int errno, T back, uint size) where T : IUapiStruct<T> =>
            new IoctlDone(fileId, tag, errno, 0, errno == 0 ? UserStruct.CopyBack(back, size) : []);
        switch (m.Request)
        {
            case Ioctls.IOMMU_IOAS_MAP:
            {
                if (UserStruct.TryDecode<IommuIoasMap>(m.Inline, out var cmd, out var size) is var rc and not 0
                    || (rc = IoasRules.MapFlagsErrno(cmd!.Flags, cmd.Reserved, cmd.Iova, cmd.Length)) != 0)
                {
                    Answer(rc);
                    return true;
                }
                if (!TryIoas(cmd.IoasId, out var ioas))
                {
                    Answer(Errno.ENOENT);
                    return true;
                }
                ioas.Ref.Tell(new IoasProtocol.MapRange(ioas.Key, cmd.UserVa, cmd.Length, IoasRules.ProtectionOf(cmd.Flags),
                    IoasRules.FixedIova(cmd.Flags), cmd.Iova, r => Answered(r.Errno, cmd with { Iova = r.Iova }, size), m.Client), replyTo);
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
                    || (rc = IoasRules.MapFlagsErrno(cmd!.Flags, 0, Math.Max(cmd.SrcIova, cmd.DstIova), cmd.Length)) != 0)
                {
                    Answer(rc);
                    return true;
                }
                // A missing destination is found after the source range was checked: served one at a time.
                if (!TryIoas(cmd.SrcIoasId, out var src) || !TryIoas(cmd.DstIoasId, out var dst))
                    return false;
                dst.Ref.Tell(new IoasProtocol.CopyRange(dst.Key, src.Ref, cmd.SrcIova, cmd.Length, IoasRules.ProtectionOf(cmd.Flags),
                    IoasRules.FixedIova(cmd.Flags), cmd.DstIova, r => Answered(r.Errno, cmd with { DstIova = r.DestinationIova }, size)), replyTo);
                return true;
            }
        }
    }

    public void Map(IommuIoasMap cmd, uint size)
    {
        if (IoasRules.MapFlagsErrno(cmd.Flags, cmd.Reserved, cmd.Iova, cmd.Length) is var rc and not 0)
        {
            Done(rc);
            return;
        }
        if (!TryIoas(cmd.IoasId, out var ioas))
        {
            Done(Errno.ENOENT);
            return;
        }
        ioas.Ref.Tell(new IoasProtocol.MapRange(ioas.Key, cmd.UserVa, cmd.Length, IoasRules.ProtectionOf(cmd.Flags),
            IoasRules.FixedIova(cmd.Flags), cmd.Iova, UserMemory: Request.Client));
        Request.Await<IoasProtocol.MapResult>(r =>
        {
            if (r.Errno != 0)
                Done(r.Errno);
            else
                Request.Respond(cmd with { Iova = r.Iova }, size);
        });
    }

    public void Unmap(IommuIoasUnmap cmd, uint size)
    {
        if (!TryIoas(cmd.IoasId, out var ioas))
        {
            Done(Errno.ENOENT);
            return;
        }
        ioas.Ref.Tell(new IoasProtocol.UnmapRange(ioas.Key, cmd.Iova, cmd.Length));
        Request.Await<IoasProtocol.UnmapResult>(r =>
        {
            if (r.Errno != 0)
                Done(r.Errno);
            else
                Request.Respond(cmd with { Length = r.Unmapped }, size);
        });
    }

    public void Copy(IommuIoasCopy cmd, uint size)
    {
        if (IoasRules.MapFlagsErrno(cmd.Flags, 0, Math.Max(cmd.SrcIova, cmd.DstIova), cmd.Length) is var rc and not 0)
        {
            Done(rc);
            return;
        }
        if (!TryIoas(cmd.SrcIoasId, out var src))
        {
            Done(Errno.ENOENT);
            return;
        }
        if (!TryIoas(cmd.DstIoasId, out var dst))
        {
            // The source range is checked before the destination is looked up.
            src.Ref.Tell(new IoasProtocol.GetPagesForCopy(src.Key, cmd.SrcIova, cmd.Length));
            Request.Await<IoasProtocol.PagesForCopy>(p => Done(p.Errno != 0 ? p.Errno : Errno.ENOENT));
            return;
        }
        dst.Ref.Tell(new IoasProtocol.CopyRange(dst.Key, src.Ref, cmd.SrcIova, cmd.Length, IoasRules.ProtectionOf(cmd.Flags),
            IoasRules.FixedIova(cmd.Flags), cmd.DstIova));
        Request.Await<IoasProtocol.CopyResult>(r =>
        {
            if (r.Errno != 0)
                Done(r.Errno);
            else
                Request.Respond(cmd with { DstIova = r.DestinationIova }, size);
        });
    }

    public void Option(IommuOption cmd, uint size)
    {
        if (cmd.Reserved != 0)
        {
            Done(Errno.EOPNOTSUPP);
            return;
        }
        switch (cmd.OptionId)
        {
            case IommuOptions.RlimitMode:
                RlimitOption(cmd, size);
                break;
            case IommuOptions.HugePages:
                HugePagesOption(cmd, size);
                break;
            default:
                Done(Errno.EOPNOTSUPP);
                break;
        }
    }

    private void RlimitOption(IommuOption cmd, uint size)
    {
        if (cmd.ObjectId != 0)
        {
            Done(Errno.EOPNOTSUPP);
            return;
        }
        if (cmd.Op == IommuOptions.OpGet)
        {
            Request.Respond(cmd with { Val64 = host.RlimitMode }, size);
            return;
        }
        if (cmd.Op != IommuOptions.OpSet)
        {
            Done(Errno.EOPNOTSUPP);
            return;
        }
        if (IoasRules.RlimitSetErrno(Request.Ioctl!.By.CapSysResource, host.Table.Count, cmd.Val64) is var rc and not 0)
        {
            Done(rc);
            return;
        }
        host.Save(new RlimitModeChanged(cmd.Val64), () => Request.Respond(cmd, size));
    }

    /// <summary>The IOAS keeps (and journals) its option; the context keeps no copy of it.</summary>
    private void HugePagesOption(IommuOption cmd, uint size)
    {
        if (!TryIoas(cmd.ObjectId, out var ioas))
        {
            Done(Errno.ENOENT);
            return;
        }
        if (cmd.Op == IommuOptions.OpGet)
        {
            ioas.Ref.Tell(new IoasProtocol.GetOption(ioas.Key, IoasProtocol.OptionHugePages));
            Request.Await<IoasProtocol.OptionValue>(v => v.IoasId == ioas.Key, v =>
            {
                if (v.Errno != 0)
                    Done(v.Errno);
                else
                    Request.Respond(cmd with { Val64 = v.Value }, size);
            });
            return;
        }
        if (cmd.Op != IommuOptions.OpSet)
        {
            Done(Errno.EOPNOTSUPP);
            return;
        }
        ioas.Ref.Tell(new IoasProtocol.SetOption(ioas.Key, IoasProtocol.OptionHugePages, cmd.Val64));
        Request.Await<IoasProtocol.OptionResult>(r => r.IoasId == ioas.Key, r =>
        {
            if (r.Errno != 0)
                Done(r.Errno);
            else
                Request.Respond(cmd, size);
        });
    }

    public void MapFile(IommuIoasMapFile cmd, uint size)
    {
        if (IoasRules.MapFlagsErrno(cmd.Flags, 0, cmd.Iova, cmd.Length) is var rc and not 0)
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
    public void ChangeProcess(IommuIoasChangeProcess cmd, uint size)
    {
        if (cmd.Reserved != 0)
        {
            Done(Errno.EOPNOTSUPP);
            return;
        }
        AnyArea([.. host.Ioas.OrderBy(i => i.Key).Select(i => i.Value)], 0, any => Done(any ? Errno.EINVAL : 0));
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
        Request.Await<IoasProtocol.Mappings>(m => m.IoasId == ioas.Key, m =>
        {
            if (m.Areas.Length > 0)
                then(true);
            else
                AnyArea(ioases, i + 1, then);
        });
    }
}
