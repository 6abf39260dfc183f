using Akka.Actor;
using Akka.Persistence;
using IommuActors.Core.Messaging;
using IommuActors.Hardware.Platform;
using IommuActors.Uapi;
using IommuActors.Uapi.Structs;
using static IommuActors.Fd.Context.ContextProtocol;
using static IommuActors.Fd.Devices.DmaOwnershipProtocol;
using static IommuActors.Fd.Files.FileProtocol;
using Errno = IommuActors.Uapi.Errno;

namespace IommuActors.Fd.Devices;

/// <summary>Journal of a device cdev file.</summary>
public static class DeviceFileProtocol
{
    public sealed record DeviceFileBound(string ContextFileId, uint DevId) : IPersistedEvent;
}

/// <summary>
/// One open /dev/vfio/devices/vfioN (drivers/vfio/device_cdev.c, vfio-pci's info ioctls). Until
/// BIND_IOMMUFD it answers every other ioctl EINVAL; after it, ATTACH/DETACH go to the iommufd
/// context, which owns the DEVICE object. One request at a time; answers it waits for are awaited
/// with the rest stashed.
/// </summary>
public sealed class DeviceFileActor : Core.Persistence.JournalingActor
{
    /// <summary>EBADFD: the fd is open but is not an iommufd.</summary>
    private const int EBADFD = 77;

    /// <summary>VFIO_PCI_NUM_REGIONS and VFIO_PCI_NUM_IRQS.</summary>
    private const uint NumRegions = 9, NumIrqs = 5, ConfigRegion = 7;

    private readonly string _fileId;
    private readonly DeviceSpec _device;
    private readonly FileCollaborators _with;
    private string? _context;
    private uint _devId;

    private Ioctl? _ioctl;
    private IActorRef _replyTo = ActorRefs.Nobody;
    private readonly AwaitedReply _await = new();
    private long _tag;

    public override string PersistenceId { get; }

    public static Props Props(string fileId, DeviceSpec device, FileCollaborators with) =>
        Akka.Actor.Props.Create(() => new DeviceFileActor(fileId, device, with));

    public DeviceFileActor(string fileId, DeviceSpec device, FileCollaborators with)
    {
        _fileId = fileId;
        _device = device;
        _with = with;
        PersistenceId = $"vfio-device-{fileId}";
        Recover<DeviceFileProtocol.DeviceFileBound>(b => (_context, _devId) = (b.ContextFileId, b.DevId));
        Idle();
    }

    private void Idle()
    {
        Command<Open>(o => Sender.Tell(new Opened(o.FileId, 0)));
        Command<Ioctl>(OnIoctl);
        Command<Release>(OnRelease);
        Command<Read>(r => Sender.Tell(new ReadDone(_fileId, r.Tag, Errno.EINVAL, [])));
        Command<Write>(w => Sender.Tell(new WriteDone(_fileId, w.Tag, Errno.EINVAL, 0)));
    }

    private void Busy() => CommandAny(m =>
    {
        if (!_await.TryContinue(m))
            Stash.Stash();
    });

    private void Await<T>(Func<T, bool> match, Action<T> then)
    {
        _await.Await(match, then);
        Become(Busy);
    }

    private void Done(int errno, byte[]? writeback = null, string note = "")
    {
        _replyTo.Tell(new IoctlDone(_fileId, _ioctl!.Tag, errno, 0, errno == 0 ? writeback ?? [] : [], note));
        _ioctl = null;
        _await.Clear();
        Become(Idle);
        Stash.UnstashAll();
    }

    private void OnIoctl(Ioctl m)
    {
        _ioctl = m;
        _replyTo = Sender;
        if (!Ioctls.Known(IoctlTarget.VfioDevice).ContainsKey(m.Request))
        {
            Done(Errno.ENOTTY);
            return;
        }
        // A cdev fd is unusable until it is bound to an iommufd.
        if (m.Request != Ioctls.VFIO_DEVICE_BIND_IOMMUFD && _context is null)
        {
            Done(Errno.EINVAL);
            return;
        }
        switch (m.Request)
        {
            case Ioctls.VFIO_DEVICE_BIND_IOMMUFD: OnBind(m); break;
            case Ioctls.VFIO_DEVICE_ATTACH_IOMMUFD_PT: OnAttach(m); break;
            case Ioctls.VFIO_DEVICE_DETACH_IOMMUFD_PT: OnDetach(m); break;
            case Ioctls.VFIO_DEVICE_GET_INFO: OnGetInfo(m); break;
            case Ioctls.VFIO_DEVICE_GET_REGION_INFO: OnRegionInfo(m); break;
            case Ioctls.VFIO_DEVICE_GET_IRQ_INFO: OnIrqInfo(m); break;
            case Ioctls.VFIO_DEVICE_RESET: Done(0); break;
            case Ioctls.VFIO_DEVICE_SET_IRQS: Done(m.Inline.Length < 4 ? Errno.EFAULT : Le32(m.Inline, 0) < 20 ? Errno.EINVAL : 0); break;
            // No hot-reset, migration or other device features are emulated.
            default: Done(Errno.ENOTTY); break;
        }
    }

    private void OnBind(Ioctl m)
    {
        var rc = UserStruct.TryDecodeArgsz<VfioDeviceBindIommufd>(m.Inline, out var cmd, out var argsz);
        if (rc == 0 && ((cmd!.Flags & ~VfioDeviceBindIommufd.FlagToken) != 0 || cmd.Iommufd < 0))
            rc = Errno.EINVAL;
        if (rc == 0 && _context is not null)
            rc = Errno.EINVAL;
        if (rc != 0)
        {
            Done(rc);
            return;
        }
        var tag = ++_tag;
        m.Client.Tell(new ResolveFd(tag, cmd!.Iommufd));
        Await<FdResolved>(r => r.Tag == tag, r =>
        {
            if (r.Errno != 0)
            {
                Done(Errno.EBADF);
                return;
            }
            if (r.Path is not ("/dev/iommu" or "/dev/vfio/vfio"))
            {
                Done(EBADFD);
                return;
            }
            // iommufd refuses a device whose IOMMU cannot enforce cache-coherent DMA.
            if (!_with.Platform.Unit(_device.Unit).EnforceCacheCoherency)
            {
                Done(Errno.EINVAL);
                return;
            }
            _with.Ownership.Tell(new ClaimDevice(_device.Pci, $"{_device.Unit}/{_device.Group}", _fileId, r.FileId));
            Await<OwnershipResult>(o => o.Pci == _device.Pci, o =>
            {
                if (o.Errno != 0)
                {
                    Done(o.Errno, note: o.Holder);
                    return;
                }
                _with.Files.Tell(new BindDevice(r.FileId, _fileId, _device.Pci));
                Await<DeviceBindResult>(_ => true, b =>
                {
                    if (b.Errno != 0)
                    {
                        _with.Ownership.Tell(new ReleaseDevice(_device.Pci, _fileId));
                        Await<OwnershipReleased>(_ => true, _ => Done(b.Errno));
                        return;
                    }
                    Persist(new DeviceFileProtocol.DeviceFileBound(r.FileId, b.DevId), e =>
                    {
                        (_context, _devId) = (e.ContextFileId, e.DevId);
                        Done(0, UserStruct.CopyBack(cmd with { OutDevid = b.DevId }, argsz));
                    });
                });
            });
        });
    }

    private void OnAttach(Ioctl m)
    {
        var rc = UserStruct.TryDecodeArgsz<VfioDeviceAttachIommufdPt>(m.Inline, out var cmd, out var argsz);
        if (rc == 0 && (cmd!.Flags & ~VfioDeviceAttachIommufdPt.FlagPasid) != 0)
            rc = Errno.EINVAL;
        var pasid = NoPasid;
        if (rc == 0 && (cmd!.Flags & VfioDeviceAttachIommufdPt.FlagPasid) != 0)
        {
            if (argsz < 16)
                rc = Errno.EINVAL;
            pasid = (int)cmd.Pasid;
        }
        if (rc != 0)
        {
            Done(rc);
            return;
        }
        _with.Files.Tell(new AttachDevice(_context!, _devId, cmd!.PtId, pasid));
        Await<AttachResult>(_ => true, a =>
        {
            if (a.Errno != 0)
                Done(a.Errno);
            else
                Done(0, UserStruct.CopyBack(cmd with { PtId = a.PtId }, argsz));
        });
    }

    private void OnDetach(Ioctl m)
    {
        var rc = UserStruct.TryDecodeArgsz<VfioDeviceDetachIommufdPt>(m.Inline, out var cmd, out var argsz);
        if (rc == 0 && (cmd!.Flags & ~VfioDeviceDetachIommufdPt.FlagPasid) != 0)
            rc = Errno.EINVAL;
        var pasid = NoPasid;
        if (rc == 0 && (cmd!.Flags & VfioDeviceDetachIommufdPt.FlagPasid) != 0)
        {
            if (argsz < 12)
                rc = Errno.EINVAL;
            pasid = (int)cmd.Pasid;
        }
        if (rc != 0)
        {
            Done(rc);
            return;
        }
        _with.Files.Tell(new DetachDevice(_context!, _devId, pasid));
        Await<DetachResult>(_ => true, d => Done(d.Errno));
    }

    private void OnGetInfo(Ioctl m)
    {
        var rc = UserStruct.TryDecodeArgsz<VfioDeviceInfo>(m.Inline, out var cmd, out var argsz);
        if (rc != 0)
        {
            Done(rc);
            return;
        }
        Done(0, UserStruct.CopyBack(cmd! with
        {
            Flags = VfioDeviceInfo.FlagPci | VfioDeviceInfo.FlagReset,
            NumRegions = NumRegions,
            NumIrqs = NumIrqs,
            CapOffset = 0,
        }, argsz));
    }

    /// <summary>struct vfio_region_info: argsz, flags, index, cap_offset, size, offset (min 16, full 32).</summary>
    private void OnRegionInfo(Ioctl m)
    {
        if (m.Inline.Length < 16)
        {
            Done(m.Inline.Length < 4 ? Errno.EFAULT : Le32(m.Inline, 0) < 16 ? Errno.EINVAL : Errno.EFAULT);
            return;
        }
        var argsz = Le32(m.Inline, 0);
        var index = Le32(m.Inline, 8);
        if (argsz < 16 || index >= NumRegions)
        {
            Done(Errno.EINVAL);
            return;
        }
        var back = new byte[32];
        m.Inline.AsSpan(0, Math.Min(32, m.Inline.Length)).CopyTo(back);
        // Only PCI config space is emulated (read/write, 256 bytes); BARs, ROM and VGA are absent (size 0).
        var config = index == ConfigRegion;
        Put32(back, 4, config ? 3u : 0u);
        Put32(back, 12, 0);
        Put64(back, 16, config ? 256ul : 0ul);
        Put64(back, 24, (ulong)index << 40);
        Done(0, back[..(int)Math.Min(32u, argsz)]);
    }

    /// <summary>struct vfio_irq_info: argsz, flags, index, count (16 bytes).</summary>
    private void OnIrqInfo(Ioctl m)
    {
        if (m.Inline.Length < 16)
        {
            Done(m.Inline.Length < 4 ? Errno.EFAULT : Le32(m.Inline, 0) < 16 ? Errno.EINVAL : Errno.EFAULT);
            return;
        }
        var argsz = Le32(m.Inline, 0);
        var index = Le32(m.Inline, 8);
        if (argsz < 16 || index >= NumIrqs)
        {
            Done(Errno.EINVAL);
            return;
        }
        var back = new byte[16];
        m.Inline.AsSpan(0, 16).CopyTo(back);
        // INTx, MSI, MSI-X, ERR, REQ: eventfd-signalled; INTx maskable and auto-masked.
        Put32(back, 4, index == 0 ? 1u | 2u | 4u : 1u | 8u);
        Put32(back, 12, index == 2 ? 2048u : 1u);
        Done(0, back);
    }

    private void OnRelease(Release m)
    {
        var replyTo = Sender;
        if (_context is null)
        {
            replyTo.Tell(new Released(_fileId));
            Context.Stop(Self);
            return;
        }
        _with.Files.Tell(new UnbindDevice(_context, _devId));
        Await<DeviceUnbound>(_ => true, _ =>
        {
            _with.Ownership.Tell(new ReleaseDevice(_device.Pci, _fileId));
            Await<OwnershipReleased>(_ => true, _ =>
            {
                DeleteMessages(long.MaxValue);
                replyTo.Tell(new Released(_fileId));
                Context.Stop(Self);
            });
        });
    }

    private static uint Le32(byte[] b, int o) => System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(o));

    private static void Put32(byte[] b, int o, uint v) => System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(o), v);

    private static void Put64(byte[] b, int o, ulong v) => System.Buffers.Binary.BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(o), v);
}
