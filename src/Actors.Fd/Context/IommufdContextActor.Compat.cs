using Akka.Actor;
using System.Buffers.Binary;
using IommuActors.Domains.Ioas;
using IommuActors.Fd.Objects;
using IommuActors.Uapi;
using IommuActors.Uapi.Structs;
using static IommuActors.Fd.Files.FileProtocol;
using Errno = IommuActors.Uapi.Errno;

namespace IommuActors.Fd.Context;

// vfio_compat.c: the VFIO type1 container ioctls on an iommufd, acting on the compat IOAS.
public sealed partial class IommufdContextActor
{
    private const ulong PageSize = 4096;
    private const ushort CapIovaRange = 1, CapDmaAvail = 3;

    private void OnVfioCompat(Ioctl m)
    {
        switch (m.Request)
        {
            case Ioctls.VFIO_GET_API_VERSION:
                Done(0, returnValue: Ioctls.VFIO_API_VERSION);
                break;
            case Ioctls.VFIO_CHECK_EXTENSION:
                OnCheckExtension(m.Arg);
                break;
            case Ioctls.VFIO_SET_IOMMU:
                OnSetIommu(m.Arg);
                break;
            case Ioctls.VFIO_IOMMU_GET_INFO:
                OnCompatGetInfo(m);
                break;
            case Ioctls.VFIO_IOMMU_MAP_DMA:
                OnCompatMap(m);
                break;
            case Ioctls.VFIO_IOMMU_UNMAP_DMA:
                OnCompatUnmap(m);
                break;
            default:
                Done(Errno.ENOTTY);
                break;
        }
    }

    private bool TryCompatIoas(out IoasEntry ioas)
    {
        ioas = null!;
        return _compatIoas != 0 && TryIoas(_compatIoas, out ioas);
    }

    private void OnCheckExtension(ulong arg)
    {
        switch ((uint)arg)
        {
            case Ioctls.VFIO_TYPE1_IOMMU or Ioctls.VFIO_TYPE1v2_IOMMU or Ioctls.VFIO_UNMAP_ALL:
                Done(0, returnValue: 1);
                break;
            case Ioctls.VFIO_DMA_CC_IOMMU:
                if (!TryCompatIoas(out _))
                {
                    Done(Errno.ENODEV);
                    return;
                }
                var coherent = _hwpts.Values.Where(h => h.Parent == _compatIoas)
                    .All(h => _with.Platform.Units.FirstOrDefault(u => u.Name == h.Unit)?.EnforceCacheCoherency ?? true);
                Done(0, returnValue: coherent ? 1 : 0);
                break;
            default:
                Done(0, returnValue: 0);
                break;
        }
    }

    private void OnSetIommu(ulong arg)
    {
        if (arg != Ioctls.VFIO_TYPE1_IOMMU && arg != Ioctls.VFIO_TYPE1v2_IOMMU)
        {
            Done(Errno.EINVAL);
            return;
        }
        if (!TryCompatIoas(out var ioas))
        {
            Done(Errno.ENODEV);
            return;
        }
        // Plain TYPE1 lets an unmap cut inside a mapping, which only works without large pages.
        if (arg == Ioctls.VFIO_TYPE1_IOMMU)
            SetHugePages(ioas, 0, rc => Done(rc));
        else
            Done(0);
    }

    private void OnCompatMap(Ioctl m)
    {
        var rc = UserStruct.TryDecodeArgsz<VfioIommuType1DmaMap>(m.Inline, out var cmd, out _);
        if (rc == 0 && (cmd!.Flags & ~(VfioIommuType1DmaMap.FlagRead | VfioIommuType1DmaMap.FlagWrite)) != 0)
            rc = Errno.EINVAL;
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
        var prot = ((cmd!.Flags & VfioIommuType1DmaMap.FlagRead) != 0 ? Protection.Read : Protection.None)
            | ((cmd.Flags & VfioIommuType1DmaMap.FlagWrite) != 0 ? Protection.Write : Protection.None);
        if (cmd.Iova >= ulong.MaxValue || cmd.Size >= ulong.MaxValue)
        {
            Done(Errno.EOVERFLOW);
            return;
        }
        ioas.Ref.Tell(new IoasProtocol.MapRange(ioas.Key, cmd.Vaddr, cmd.Size, prot, true, cmd.Iova, UserMemory: _client));
        Await<IoasProtocol.MapResult>(r =>
        {
            if (r.Errno != 0)
                Done(r.Errno);
            else
                Done(0);
        });
    }

    private void OnCompatUnmap(Ioctl m)
    {
        var rc = UserStruct.TryDecodeArgsz<VfioIommuType1DmaUnmap>(m.Inline, out var cmd, out var argsz);
        if (rc == 0 && (cmd!.Flags & ~VfioIommuType1DmaUnmap.FlagAll) != 0)
            rc = Errno.EINVAL;
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
        var all = (cmd!.Flags & VfioIommuType1DmaUnmap.FlagAll) != 0;
        if (all && (cmd.Iova != 0 || cmd.Size != 0))
        {
            Done(Errno.EINVAL);
            return;
        }
        ioas.Ref.Tell(new IoasProtocol.UnmapRange(ioas.Key, all ? 0 : cmd.Iova, all ? ulong.MaxValue : cmd.Size, CutFirst: true));
        Await<IoasProtocol.UnmapResult>(r =>
        {
            // The size unmapped is copied back even when the range was refused.
            var back = UserStruct.CopyBack(cmd with { Size = r.Unmapped }, argsz);
            if (r.Errno == 0)
                Done(0, back);
            else
                WriteMemory(_ioctl!.Arg, back, wrc => Done(wrc != 0 ? wrc : r.Errno));
        });
    }

    private void OnCompatGetInfo(Ioctl m)
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
        Await<IoasProtocol.IovaRanges>(r =>
        {
            var pgsizes = _hwpts.Values.Where(h => h.Parent == _compatIoas)
                .Select(h => _with.Platform.Units.FirstOrDefault(u => u.Name == h.Unit)?.PageSizes ?? ulong.MaxValue)
                .Aggregate(ulong.MaxValue, (a, b) => a & b);
            if ((pgsizes & (PageSize - 1)) != 0)
                pgsizes = (pgsizes & ~(PageSize - 1)) | PageSize;
            pgsizes = Math.Max(pgsizes, r.Alignment);

            // Caps after the 24-byte header: DMA_AVAIL, then IOVA_RANGE; each piece only if it fits in argsz.
            const int header = 24;
            var total = header + 12 + 16 + 16 * r.Ranges.Length;
            var caps = new byte[total - header];
            PutCapHeader(caps, 0, CapDmaAvail, next: header + 12);
            BinaryPrimitives.WriteUInt32LittleEndian(caps.AsSpan(8), uint.MaxValue);
            PutCapHeader(caps, 12, CapIovaRange, next: 0);
            BinaryPrimitives.WriteUInt32LittleEndian(caps.AsSpan(20), (uint)r.Ranges.Length);
            for (var i = 0; i < r.Ranges.Length; i++)
            {
                BinaryPrimitives.WriteUInt64LittleEndian(caps.AsSpan(28 + 16 * i), r.Ranges[i].Start);
                BinaryPrimitives.WriteUInt64LittleEndian(caps.AsSpan(36 + 16 * i), r.Ranges[i].Last);
            }
            var boundaries = new List<int> { header, header + 12, header + 28 };
            boundaries.AddRange(Enumerable.Range(1, r.Ranges.Length).Select(i => header + 28 + 16 * i));
            var fits = boundaries.Where(b => b <= argsz).DefaultIfEmpty(header).Max();
            var everything = fits == total;
            var back = cmd! with
            {
                Argsz = (uint)total,
                Flags = VfioIommuType1Info.FlagPgsizes | VfioIommuType1Info.FlagCaps,
                IovaPgsizes = pgsizes,
                CapOffset = everything ? (uint)header : 0,
            };
            WriteMemory(_ioctl!.Arg + header, caps[..Math.Max(0, fits - header)], wrc =>
            {
                if (wrc != 0)
                    Done(wrc);
                else
                    Done(0, UserStruct.CopyBack(back, argsz));
            });
        });
    }

    private static void PutCapHeader(byte[] caps, int at, ushort id, int next)
    {
        BinaryPrimitives.WriteUInt16LittleEndian(caps.AsSpan(at), id);
        BinaryPrimitives.WriteUInt16LittleEndian(caps.AsSpan(at + 2), 1);
        BinaryPrimitives.WriteUInt32LittleEndian(caps.AsSpan(at + 4), (uint)next);
    }

    private bool IsIoas(uint id) => _table.Get(id, ObjectKind.Ioas).IsOk;
}
