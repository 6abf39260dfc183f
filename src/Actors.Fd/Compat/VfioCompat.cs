using Akka.Actor;
using IommuActors.Domains.Ioas;
using IommuActors.Fd.Context;
using IommuActors.Fd.Objects;
using IommuActors.Uapi;
using IommuActors.Uapi.Structs;
using static IommuActors.Fd.Context.ContextProtocol;
using static IommuActors.Fd.Files.FileProtocol;
using Errno = IommuActors.Uapi.Errno;

namespace IommuActors.Fd.Compat;

/// <summary>What VFIO compat needs of its iommufd context beyond the object table: the compat IOAS it journals.</summary>
internal interface ICompatHost : IContextHost
{
    /// <summary>The compat IOAS's object ID; 0 when none is set.</summary>
    uint CompatIoas { get; }
}

/// <summary>
/// vfio_compat.c: the VFIO type1 container ioctls on an iommufd, acting on the compat IOAS, and
/// IOMMU_VFIO_IOAS, which picks that IOAS. Served on the context's thread as its requests; the
/// rules are <see cref="Type1Rules"/>.
/// </summary>
internal sealed class VfioCompat(ICompatHost host)
{
    private ServedRequest Request => host.Request;

    private void Done(int errno, byte[]? writeback = null, long returnValue = 0) => Request.Done(errno, writeback, returnValue);

    /// <summary>An ioctl number outside iommufd's table: the type1 container ioctls, else ENOTTY.</summary>
    public void Serve(Ioctl m)
    {
        switch (m.Request)
        {
            case Ioctls.VFIO_GET_API_VERSION:
                Done(0, returnValue: Ioctls.VFIO_API_VERSION);
                break;
            case Ioctls.VFIO_CHECK_EXTENSION:
                var (errno, answer) = Type1Rules.CheckExtension(m.Arg, TryCompatIoas(out _) ? Coherent() : null);
                Done(errno, returnValue: answer);
                break;
            case Ioctls.VFIO_SET_IOMMU:
                SetIommu(m.Arg);
                break;
            case Ioctls.VFIO_IOMMU_GET_INFO:
                GetInfo(m);
                break;
            case Ioctls.VFIO_IOMMU_MAP_DMA:
                Map(m);
                break;
            case Ioctls.VFIO_IOMMU_UNMAP_DMA:
                Unmap(m);
                break;
            default:
                Done(Errno.ENOTTY);
                break;
        }
    }

    private bool TryIoas(uint id, out IoasEntry ioas)
    {
        ioas = null!;
        return host.Table.Get(id, ObjectKind.Ioas).IsOk && host.Ioas.TryGetValue(id, out ioas!);
    }

    private bool TryCompatIoas(out IoasEntry ioas)
    {
        ioas = null!;
        return host.CompatIoas != 0 && TryIoas(host.CompatIoas, out ioas);
    }

    /// <summary>The units of the compat IOAS's HWPTs.</summary>
    private IEnumerable<Hardware.Platform.UnitSpec?> CompatUnits() =>
        host.Hwpts.Values.Where(h => h.Parent == host.CompatIoas).Select(h => host.With.Platform.Units.FirstOrDefault(u => u.Name == h.Unit));

    private bool Coherent() => CompatUnits().All(u => u?.EnforceCacheCoherency ?? true);

    private void SetIommu(ulong model)
    {
        if (Type1Rules.SetIommuErrno(model) is var rc and not 0)
        {
            Done(rc);
            return;
        }
        if (!TryCompatIoas(out var ioas))
        {
            Done(Errno.ENODEV);
            return;
        }
        if (!Type1Rules.TurnsOffHugePages(model))
        {
            Done(0);
            return;
        }
        ioas.Ref.Tell(new IoasProtocol.SetOption(ioas.Key, IoasProtocol.OptionHugePages, 0));
        Request.Await<IoasProtocol.OptionResult>(r => r.IoasId == ioas.Key, r => Done(r.Errno));
    }

    private void Map(Ioctl m)
    {
        var rc = UserStruct.TryDecodeArgsz<VfioIommuType1DmaMap>(m.Inline, out var cmd, out _);
        if (rc == 0)
            rc = Type1Rules.MapFlagsErrno(cmd!.Flags);
        if (rc != 0)
        {
            Done(rc);
            return;
        }
        if (!TryCompatIoas(out var ioas))
        {
            Done(Errno.ENODEV);
            return;
        }
        if (Type1Rules.MapRangeErrno(cmd!.Iova, cmd.Size) is var overflow and not 0)
        {
            Done(overflow);
            return;
        }
        ioas.Ref.Tell(new IoasProtocol.MapRange(ioas.Key, cmd.Vaddr, cmd.Size, Type1Rules.ProtectionOf(cmd.Flags), true, cmd.Iova,
            UserMemory: Request.Client));
        Request.Await<IoasProtocol.MapResult>(r => Done(r.Errno));
    }

    private void Unmap(Ioctl m)
    {
        var rc = UserStruct.TryDecodeArgsz<VfioIommuType1DmaUnmap>(m.Inline, out var cmd, out var argsz);
        if (rc == 0)
            rc = Type1Rules.UnmapFlagsErrno(cmd!.Flags);
        if (rc != 0)
        {
            Done(rc);
            return;
        }
        if (!TryCompatIoas(out var ioas))
        {
            Done(Errno.ENODEV);
            return;
        }
        var (errno, iova, length) = Type1Rules.UnmapRange(cmd!);
        if (errno != 0)
        {
            Done(errno);
            return;
        }
        ioas.Ref.Tell(new IoasProtocol.UnmapRange(ioas.Key, iova, length, CutFirst: true));
        Request.Await<IoasProtocol.UnmapResult>(r =>
        {
            // The size unmapped is copied back even when the range was refused.
            var back = UserStruct.CopyBack(cmd! with { Size = r.Unmapped }, argsz);
            if (r.Errno == 0)
                Done(0, back);
            else
                Request.WriteMemory(m.Arg, back, wrc => Done(wrc != 0 ? wrc : r.Errno));
        });
    }

    private void GetInfo(Ioctl m)
    {
        var rc = UserStruct.TryDecodeArgsz<VfioIommuType1Info>(m.Inline, out var cmd, out var argsz);
        if (rc != 0)
        {
            Done(rc);
            return;
        }
        if (!TryCompatIoas(out var ioas))
        {
            Done(Errno.ENODEV);
            return;
        }
        ioas.Ref.Tell(new IoasProtocol.GetIovaRanges(ioas.Key));
        Request.Await<IoasProtocol.IovaRanges>(r =>
        {
            var pgsizes = Type1Rules.PageSizes(CompatUnits().Select(u => u?.PageSizes ?? ulong.MaxValue), r.Alignment);
            var caps = Type1Rules.Caps(r.Ranges, argsz);
            var back = cmd! with
            {
                Argsz = caps.Argsz,
                Flags = VfioIommuType1Info.FlagPgsizes | VfioIommuType1Info.FlagCaps,
                IovaPgsizes = pgsizes,
                CapOffset = caps.CapOffset,
            };
            Request.WriteMemory(m.Arg + Type1Rules.InfoHeader, caps.Caps, wrc =>
            {
                if (wrc != 0)
                    Done(wrc);
                else
                    Done(0, UserStruct.CopyBack(back, argsz));
            });
        });
    }

    /// <summary>IOMMU_VFIO_IOAS: get, set or clear the compat IOAS.</summary>
    public void VfioIoas(IommuVfioIoas cmd, uint size)
    {
        if (cmd.Reserved != 0)
        {
            Done(Errno.EOPNOTSUPP);
            return;
        }
        switch (cmd.Op)
        {
            case VfioIoasOps.Get:
                if (host.CompatIoas == 0 || !host.Table.Get(host.CompatIoas, ObjectKind.Ioas).IsOk)
                    Done(Errno.ENODEV);
                else
                    Request.Respond(cmd with { IoasId = host.CompatIoas }, size);
                break;
            case VfioIoasOps.Set:
                if (!TryIoas(cmd.IoasId, out _))
                    Done(Errno.ENOENT);
                else
                    host.Save(new CompatIoasChanged(cmd.IoasId), () => Done(0));
                break;
            case VfioIoasOps.Clear:
                host.Save(new CompatIoasChanged(0), () => Done(0));
                break;
            default:
                Done(Errno.EOPNOTSUPP);
                break;
        }
    }
}
