using System.Collections.Immutable;
using Akka.Actor;
using Akka.Persistence;
using IommuActors.Core.Messaging;
using IommuActors.Core.Persistence;
using IommuActors.Fd.Accesses;
using IommuActors.Fd.Compat;
using IommuActors.Fd.Devices;
using IommuActors.Fd.Faults;
using IommuActors.Fd.Hwpts;
using IommuActors.Fd.Ioases;
using IommuActors.Fd.Objects;
using IommuActors.Fd.Selftests;
using IommuActors.Fd.Viommus;
using IommuActors.Hardware.Platform;
using IommuActors.Uapi;
using IommuActors.Uapi.Structs;
using static IommuActors.Fd.Context.ContextProtocol;
using static IommuActors.Fd.Files.FileProtocol;
using Errno = IommuActors.Uapi.Errno;

namespace IommuActors.Fd.Context;

/// <summary>
/// One open /dev/iommu: the object table, its journal, the kernel's lifetime rules (DESTROY,
/// EBUSY, holders, release) and the dispatch of every iommufd ioctl to the part of iommufd that
/// serves it, each in a folder of its own as the kernel splits iommufd (Ioas, Hwpt, Devices,
/// Faults, Compat, Selftest, Access). Objects with state of their own live in their own actors
/// (an IOAS is a child <see cref="Domains.Ioas.IoasActor"/>). IOAS_MAP, UNMAP and COPY go to the
/// IOAS side by side; any other request is served one at a time: while it waits for an answer
/// (client memory, an IOAS, a unit) every other request is stashed, so it is atomic as seen by
/// the client.
/// </summary>
public sealed partial class IommufdContextActor : SnapshottingActor, IWithTimers, ISelftestHost, ICompatHost, IIoasHost
{
    public ITimerScheduler Timers { get; set; } = null!;

    private readonly string _fileId;
    private readonly FileCollaborators _with;
    private readonly ObjectTable _table = new();
    private readonly Dictionary<uint, IoasEntry> _ioas = new();
    private readonly Dictionary<uint, DeviceEntry> _devices = new();
    private readonly Dictionary<uint, HwptEntry> _hwpts = new();
    private readonly MockDevices _mocks;
    private readonly SelftestDriver _selftest;
    private readonly VfioCompat _compat;
    private readonly AccessObjects _accesses;
    private readonly FaultObjects _faults;
    private readonly DeviceObjects _deviceObjects;
    private readonly IoasIoctls _ioasIoctls;
    private readonly HwptIoctls _hwptIoctls;
    private readonly ViommuObjects _viommu;
    private uint _compatIoas;
    private ulong _rlimitMode;
    private long _keyCounter;
    private bool _released;
    private bool _closed;
    private bool _finishing;

    private readonly ServedRequest _request;

    public override string PersistenceId { get; }

    /// <param name="vfioContainer">Opened as /dev/vfio/vfio: the context starts in RLIMIT_MODE 1, as VFIO accounts (iommufd_fops_open).</param>
    public static Props Props(string fileId, FileCollaborators with, bool vfioContainer = false) =>
        Akka.Actor.Props.Create(() => new IommufdContextActor(fileId, with, vfioContainer));

    public IommufdContextActor(string fileId, FileCollaborators with, bool vfioContainer) : base(with.Settings.SnapshotFloor)
    {
        _fileId = fileId;
        _with = with;
        _rlimitMode = vfioContainer ? 1ul : 0ul;
        PersistenceId = $"iommufd-{fileId}";
        _request = new ServedRequest(fileId, End);
        _mocks = new MockDevices(with.Platform.Units.FirstOrDefault(u => u.Kind == UnitKind.Mock)?.Name);
        _selftest = new SelftestDriver(this, _mocks);
        _compat = new VfioCompat(this);
        _accesses = new AccessObjects(this);
        _faults = new FaultObjects(this, CheckLastHolder);
        _viommu = new ViommuObjects(this);
        _deviceObjects = new DeviceObjects(this, _faults, _viommu, Pasids);
        _ioasIoctls = new IoasIoctls(this);
        _hwptIoctls = new HwptIoctls(this) { ViommuInvalidate = _viommu.Invalidate };
        Live(Core.Telemetry.IommuMetrics.Objects, _table.CountsByKind);
        Recovering();
        Active();
    }

    private sealed record OpTimedOut(long Op);

    /// <summary>The fd is closed and the last holder let go: time to release.</summary>
    private sealed record LastHolderGone;

    private void Recovering()
    {
        Recover<SnapshotOffer>(o =>
        {
            if (o.Snapshot is ContextSnapshot s)
                RestoreSnapshot(s);
            SnapshotOffered(o.Metadata, SnapshotEntries);
        });
        Recover<IPersistedEvent>(Apply);
        Recover<RecoveryCompleted>(_ =>
        {
            RecoveredForSnapshots();
            foreach (var (id, entry) in _ioas)
                _ioas[id] = entry with { Ref = StartIoas(entry.Key, entry.Accounts) };
            Reconcile();
            // A crash after the last holder let go and before the release finished.
            CheckLastHolder();
        });
    }

    private void Active()
    {
        Command<Open>(o => Sender.Tell(new Opened(o.FileId, 0)));
        Command<Ioctl>(OnIoctl);
        Command<Release>(OnRelease);
        Command<BindDevice>(OnBindDevice);
        Command<AttachDevice>(OnAttachDevice);
        Command<DetachDevice>(OnDetachDevice);
        Command<UnbindDevice>(OnUnbindDevice);
        Command<ReadFaults>(m => _faults.Read(m, Sender));
        Command<WriteResponses>(m => _faults.Write(m, Sender));
        Command<FaultFileClosed>(m => _faults.FileClosed(m, Sender));
        Command<AccessProtocol.CloseAccess>(OnCloseAccess);
        Command<Hardware.Units.UnitProtocol.FaultRaised>(_faults.Raised);
        Command<Read>(r => Sender.Tell(new ReadDone(r.FileId, r.Tag, Errno.EINVAL, [])));
        Command<Write>(w => Sender.Tell(new WriteDone(w.FileId, w.Tag, Errno.EINVAL, 0)));
        Command<OpTimedOut>(_ => { });
        // A fault queue's acknowledgement that only TRIGGER_IOPF waits for (a unit's page request does not).
        Command<Faults.FaultQueueProtocol.GroupQueued>(_ => { });
        Command<LastHolderGone>(_ => TearDown(ActorRefs.Nobody, ActorRefs.Nobody));
        Introspection();
        Housekeeping();
    }

    /// <summary>Serving one request: the awaited answer continues it, everything else waits.</summary>
    private void Busy()
    {
        Command<OpTimedOut>(t =>
        {
            if (t.Op == _request.Op)
                Fail(Errno.EFAULT);
        });
        Command<Hardware.Units.UnitProtocol.FaultRaised>(_faults.Raised);
        Introspection();
        Housekeeping();
        CommandAny(m =>
        {
            if (!_request.TryContinue(m))
                Stash.Stash();
        });
    }

    private void Housekeeping()
    {
        SnapshotReplies();
    }

    // ---- serving a request ----

    private void Begin(IActorRef replyTo, IActorRef client, Ioctl? ioctl)
    {
        _request.Begin(replyTo, client, ioctl);
        Timers.StartSingleTimer("op", new OpTimedOut(_request.Op), _with.Settings.ClientTimeout);
        Become(Busy);
    }

    private void End()
    {
        _request.Finish();
        Timers.Cancel("op");
        Become(Active);
        Stash.UnstashAll();
        CheckLastHolder();
    }

    private void Reply(object reply) => _request.Reply(reply);
    private void Done(int errno, byte[]? writeback = null, long returnValue = 0) => _request.Done(errno, writeback, returnValue);
    private void Fail(int errno) => _request.Fail(errno);
    private void Respond<T>(T cmd, uint size) where T : IUapiStruct<T> => _request.Respond(cmd, size);
    private void Await<T>(Func<T, bool> match, Action<T> then) => _request.Await(match, then);
    private void Await<T>(Action<T> then) => _request.Await(then);
    private void ReadMemory(ulong address, uint length, Action<byte[]> then) => _request.ReadMemory(address, length, then);
    private void TryReadMemory(ulong address, uint? length, Action<byte[]?> then) => _request.TryReadMemory(address, length, then);
    private void WriteMemory(ulong address, byte[] data, Action<int> then) => _request.WriteMemory(address, data, then);

    private void Save(IPersistedEvent e, Action then)
    {
        Persist(e, evt =>
        {
            Apply(evt);
            then();
            // Persist (not async): the write is done, so the table equals the journal here.
            SnapshotIfDue(SnapshotEntries, TakeSnapshot);
        });
    }

    // ---- dispatch ----

    private void OnIoctl(Ioctl m)
    {
        // The emulator's PASID ioctls go to the VM's PASID actor, which answers the requester itself
        // (the front door keeps replies of one fd in request order).
        if (EmulatorIoctls.IsEmulator(m.Request))
        {
            if (Pasids() is { } pasids)
                pasids.Forward(m);
            else
                Sender.Tell(new IoctlDone(_fileId, m.Tag, Errno.ENOTTY, 0, []));
            return;
        }
        if (_ioasIoctls.SideBySide(m, Sender))
            return;
        Begin(Sender, m.Client, m);
        var nr = m.Request & 0xff;
        // main.c: numbers outside the iommufd table go to the VFIO compatibility handler.
        // The selftest's TEST_CMD sits past the table's end, as in a kernel built with IOMMUFD_TEST.
        if ((nr < Ioctls.IommufdCmdBase || nr > (Ioctls.IOMMU_HW_QUEUE_ALLOC & 0xff)) && m.Request != Ioctls.IOMMU_TEST_CMD)
        {
            _compat.Serve(m);
            return;
        }
        // The size is read before the number is checked, so a bad pointer is EFAULT even for a wrong number.
        if (m.Inline.Length < 4)
        {
            Done(Errno.EFAULT);
            return;
        }
        if (!Ioctls.Known(IoctlTarget.Iommufd).ContainsKey(m.Request))
        {
            Done(Errno.ENOTTY);
            return;
        }
        switch (m.Request)
        {
            case Ioctls.IOMMU_DESTROY: With<IommuDestroy>(m, OnDestroy); break;
            case Ioctls.IOMMU_IOAS_ALLOC: With<IommuIoasAlloc>(m, _ioasIoctls.Alloc); break;
            case Ioctls.IOMMU_IOAS_ALLOW_IOVAS: With<IommuIoasAllowIovas>(m, _ioasIoctls.AllowIovas); break;
            case Ioctls.IOMMU_IOAS_COPY: With<IommuIoasCopy>(m, _ioasIoctls.Copy); break;
            case Ioctls.IOMMU_IOAS_IOVA_RANGES: With<IommuIoasIovaRanges>(m, _ioasIoctls.IovaRanges); break;
            case Ioctls.IOMMU_IOAS_MAP: With<IommuIoasMap>(m, _ioasIoctls.Map); break;
            case Ioctls.IOMMU_IOAS_UNMAP: With<IommuIoasUnmap>(m, _ioasIoctls.Unmap); break;
            case Ioctls.IOMMU_OPTION: With<IommuOption>(m, _ioasIoctls.Option); break;
            case Ioctls.IOMMU_VFIO_IOAS: With<IommuVfioIoas>(m, _compat.VfioIoas); break;
            case Ioctls.IOMMU_HWPT_ALLOC: With<IommuHwptAlloc>(m, _hwptIoctls.Alloc); break;
            case Ioctls.IOMMU_GET_HW_INFO: With<IommuHwInfo>(m, _deviceObjects.GetHwInfo); break;
            case Ioctls.IOMMU_HWPT_SET_DIRTY_TRACKING: With<IommuHwptSetDirtyTracking>(m, _hwptIoctls.SetDirtyTracking); break;
            case Ioctls.IOMMU_HWPT_GET_DIRTY_BITMAP: With<IommuHwptGetDirtyBitmap>(m, _hwptIoctls.GetDirtyBitmap); break;
            case Ioctls.IOMMU_HWPT_INVALIDATE: With<IommuHwptInvalidate>(m, _hwptIoctls.Invalidate); break;
            case Ioctls.IOMMU_FAULT_QUEUE_ALLOC: With<IommuFaultAlloc>(m, _faults.Alloc); break;
            case Ioctls.IOMMU_IOAS_MAP_FILE: With<IommuIoasMapFile>(m, _ioasIoctls.MapFile); break;
            case Ioctls.IOMMU_VIOMMU_ALLOC: With<IommuViommuAlloc>(m, _viommu.Alloc); break;
            case Ioctls.IOMMU_VDEVICE_ALLOC: With<IommuVdeviceAlloc>(m, _viommu.VdeviceAlloc); break;
            case Ioctls.IOMMU_IOAS_CHANGE_PROCESS: With<IommuIoasChangeProcess>(m, _ioasIoctls.ChangeProcess); break;
            case Ioctls.IOMMU_VEVENTQ_ALLOC: With<IommuVeventqAlloc>(m, _viommu.VeventqAlloc); break;
            case Ioctls.IOMMU_HW_QUEUE_ALLOC: With<IommuHwQueueAlloc>(m, _viommu.HwQueueAlloc); break;
            case Ioctls.IOMMU_TEST_CMD: With<IommuTestCmd>(m, _selftest.Serve); break;
            default: Done(Errno.ENOTTY); break;
        }
    }

    /// <summary>copy_struct_from_user and the minimum size of the kernel's ioctl table, then the handler.</summary>
    private void With<T>(Ioctl m, Action<T, uint> handler) where T : IUapiStruct<T>
    {
        var rc = UserStruct.TryDecode<T>(m.Inline, out var cmd, out var size);
        if (rc != 0)
        {
            Done(rc);
            return;
        }
        handler(cmd!, size);
    }

    // ---- DESTROY ----

    private void OnDestroy(IommuDestroy cmd, uint size)
    {
        var found = _table.Get(cmd.Id);
        if (!found.IsOk)
        {
            Done(Errno.ENOENT);
            return;
        }
        var rc = _table.CheckRemovable(cmd.Id);
        // The binding driver holds a DEVICE for as long as it is bound (the selftest an ACCESS); an open fd holds its FAULT.
        if (rc == 0 && (found.Value!.Kind is ObjectKind.Device or ObjectKind.Access
                        || (found.Value.Kind == ObjectKind.Fault && _faults.IsFdOpen(cmd.Id))))
            rc = Errno.EBUSY;
        if (rc != 0)
        {
            Done(rc);
            return;
        }
        if (found.Value!.Kind == ObjectKind.Ioas)
        {
            // An IOAS ioctl still in flight holds the IOAS (iommufd_get_object): EBUSY, as a racing DESTROY gets.
            var ioas = _ioas[cmd.Id];
            ioas.Ref.Tell(new Domains.Ioas.IoasProtocol.Retire(ioas.Key, Wait: false));
            Await<Domains.Ioas.IoasProtocol.RetireResult>(r => r.IoasId == ioas.Key, r =>
            {
                if (r.Errno != 0)
                    Done(r.Errno);
                else
                    StopIoas(cmd.Id, () => Done(0));
            });
            return;
        }
        DestroyObject(cmd.Id, () => Done(0));
    }

    /// <summary>Removes an unused object and undoes what it held: a HWPT its domain, an IOAS its actor, a FAULT its pending faults.</summary>
    private void DestroyObject(uint id, Action then)
    {
        var kind = _table.Get(id).Value!.Kind;
        switch (kind)
        {
            case ObjectKind.HwptPaging or ObjectKind.HwptNested:
                _hwptIoctls.FreeDomain(id, () => Save(new ObjectDestroyed(id), then));
                return;
            case ObjectKind.Fault:
                _faults.Destroy(id, then);
                return;
            case ObjectKind.Access:
                _accesses.Destroy(id, then);
                return;
            case ObjectKind.Selftest:
                _selftest.DestroyMockDevice(id, then);
                return;
            case ObjectKind.Ioas:
                // The release waits for the IOAS's ioctls in flight to be answered before it goes.
                var ioas = _ioas[id];
                ioas.Ref.Tell(new Domains.Ioas.IoasProtocol.Retire(ioas.Key, Wait: true));
                Await<Domains.Ioas.IoasProtocol.RetireResult>(r => r.IoasId == ioas.Key, _ => StopIoas(id, then));
                return;
            default:
                Save(new ObjectDestroyed(id), then);
                return;
        }
    }

    /// <summary>
    /// The IOAS actor, charging the box's accounts under the keys it was created with. The kernel
    /// charges the user (or mm) of the process that maps; the emulator charges the caller that
    /// created the IOAS, which is the same process unless an fd is handed to another one.
    /// </summary>
    private IActorRef StartIoas(string key, AccountKeys? accounts)
    {
        var binding = _with.Accounts is { } book && accounts is not null
            ? new Domains.Ioas.AccountBinding(book, accounts.User, accounts.Process, (Domains.Pages.RlimitMode)_rlimitMode)
            : null;
        return Context.ActorOf(Domains.Ioas.IoasActor.Props(key, _with.Settings.LockedPageLimit, units: _with.Units, account: binding),
            "ioas-" + Uri.EscapeDataString(key));
    }

    private void StopIoas(uint id, Action then)
    {
        var ioas = _ioas[id];
        Save(new ObjectDestroyed(id), () =>
        {
            Context.Stop(ioas.Ref);
            then();
        });
    }

    /// <summary>The access fd closed (iommufd_test_staccess_release): its items are unpinned and the access destroyed.</summary>
    private void OnCloseAccess(AccessProtocol.CloseAccess m)
    {
        Begin(Sender, ActorRefs.Nobody, null);
        _request.FailWith = _ => new AccessProtocol.AccessClosed(_fileId, m.AccessId);
        _accesses.Close(m, () => Reply(new AccessProtocol.AccessClosed(_fileId, m.AccessId)));
    }

    // ---- release ----

    /// <summary>
    /// Closing the fd. Bound devices, open fault queue fds and accesses hold the context as they
    /// hold the kernel's ictx, so with any of them left the fd just goes (the close succeeds) and
    /// the context serves them on until the last lets go; otherwise it is released now.
    /// </summary>
    private void OnRelease(Release m)
    {
        if (_closed)
        {
            Sender.Tell(new Released(_fileId));
            return;
        }
        if (Holders > 0)
        {
            var sender = Sender;
            Persist(new ContextClosed(), e =>
            {
                Apply(e);
                sender.Tell(new Released(_fileId));
            });
            return;
        }
        TearDown(Sender, m.Client);
    }

    /// <summary>
    /// What holds the context besides its fd: bound devices, open fault queue fds, accesses. The
    /// selftest's mock devices do not (iommufd_device_bind takes no ictx reference for them).
    /// </summary>
    private int Holders => _devices.Values.Count(d => !_mocks.IsMock(d.Pci)) + _faults.OpenFds + _accesses.Count;

    private void CheckLastHolder()
    {
        if (_closed && !_released && !_finishing && Holders == 0)
        {
            _finishing = true;
            Self.Tell(new LastHolderGone());
        }
    }

    /// <summary>iommufd_fops_release: destroy leaves first until the table is empty, then forget the context.</summary>
    private void TearDown(IActorRef replyTo, IActorRef client)
    {
        Begin(replyTo, client, null);
        _finishing = true;
        _request.FailWith = _ => new Released(_fileId);
        var order = _table.TeardownOrder().ToList();
        // Devices first: their attachments hold the HWPTs.
        var devices = order.Where(o => o.Kind == ObjectKind.Device).Select(o => o.Id).ToList();
        TearDownDevices(devices, 0, () => TearDownRest(0));
    }

    private void TearDownDevices(List<uint> devices, int i, Action then)
    {
        if (i == devices.Count)
        {
            then();
            return;
        }
        _deviceObjects.Unbind(devices[i], () => TearDownDevices(devices, i + 1, then));
    }

    private void TearDownRest(int guard)
    {
        var next = _table.TeardownOrder().FirstOrDefault();
        if (next is null || guard > 100_000)
        {
            ReleasePasids(() => Save(new ContextReleased(), () =>
            {
                _released = true;
                Reply(new Released(_fileId));
                DeleteMessages(long.MaxValue);
                Context.Stop(Self);
            }));
            return;
        }
        DestroyObject(next.Id, () => TearDownRest(guard + 1));
    }

    private IActorRef? _pasids;

    /// <summary>The VM's PASID actor, started on the first PASID ioctl; null when the host wired no PASID sets.</summary>
    private IActorRef? Pasids() =>
        _pasids ??= _with is { Sets: { } sets, Subscribers: { } subscribers }
            ? Context.ActorOf(Pasid.PasidExtensionActor.Props(_fileId, sets, subscribers), "pasids")
            : null;

    /// <summary>Closing the iommufd ends the VM: its PASID set is freed (SET_FREED) before the context goes.</summary>
    private void ReleasePasids(Action then)
    {
        if (_pasids is null)
        {
            then();
            return;
        }
        _pasids.Tell(new Release(_fileId, Self));
        Await<Released>(_ => then());
    }

    // ---- journal ----

    private void Apply(IPersistedEvent e)
    {
        if (e is ObjectTombstoned t)
        {
            Apply(new ObjectDestroyed(t.Id));
            _table.KeepTaken(t.Id);
            return;
        }
        _accesses.Apply(e);
        _faults.Apply(e);
        _viommu.Apply(e);
        switch (e)
        {
            case ObjectCreated { Kind: ObjectKind.Selftest } c:
                _mocks.Add(c.Id, c.Key, c.Pci, c.Flags);
                break;
            case ObjectDestroyed d when _mocks.Remove(d.Id):
                break;
        }
        switch (e)
        {
            case ObjectCreated c:
                _table.Restore(new ContextObject(c.Id, c.Kind, [.. c.Uses]));
                _keyCounter++;
                switch (c.Kind)
                {
                    case ObjectKind.Ioas:
                        _ioas[c.Id] = new IoasEntry(c.Key, ActorRefs.Nobody);
                        break;
                    case ObjectKind.Device:
                        _devices[c.Id] = new DeviceEntry(c.Key, c.Pci, ImmutableDictionary<int, uint>.Empty);
                        break;
                    case ObjectKind.HwptPaging or ObjectKind.HwptNested:
                        _hwpts[c.Id] = new HwptEntry(c.Key, c.Pci, c.Flags, c.Auto, c.Uses.FirstOrDefault(), c.DomainId, c.Kind == ObjectKind.HwptNested);
                        break;
                }
                break;
            case VdeviceCreated v:
                Apply(new ObjectCreated(v.Id, ObjectKind.Vdevice, [v.ViommuId], v.Key, "", 0, false, 0));
                break;
            case IoasCreated c:
                Apply(new ObjectCreated(c.Id, ObjectKind.Ioas, [], c.Key, "", 0, false, 0));
                _ioas[c.Id] = _ioas[c.Id] with { Accounts = c.Accounts };
                break;
            case ObjectDestroyed d:
                _table.Remove(d.Id);
                _ioas.Remove(d.Id);
                _devices.Remove(d.Id);
                _hwpts.Remove(d.Id);
                if (_compatIoas == d.Id)
                    _compatIoas = 0;
                break;
            case AttachmentsChanged a:
                _devices[a.DevId] = _devices[a.DevId] with { Attachments = a.Attachments };
                _table.ChangeUses(a.DevId, [.. a.Attachments.Values]);
                break;
            case CompatIoasChanged c:
                _compatIoas = c.IoasId;
                break;
            case RlimitModeChanged r:
                _rlimitMode = r.Mode;
                break;
            // The IOAS journals its options and its HWPTs' dirty tracking; contexts of older builds
            // journaled copies of both, which replay as nothing.
            case HugePagesChanged or DirtyTrackingChanged:
                break;
            case ContextReleased:
                _released = true;
                break;
            case ContextClosed:
                _closed = true;
                break;
        }
    }

    /// <summary>The size of a snapshot, for the snapshot policy: the objects and the context's own row.</summary>
    private long SnapshotEntries => _table.Count + 1;

    private ContextSnapshot TakeSnapshot() => new(
        [.. _table.Objects.Select(o => new SnapshotObject(o.Id, o.Kind, [.. o.Uses], KeyOf(o), PciOf(o),
            _hwpts.TryGetValue(o.Id, out var h) ? h.Flags : _viommu.FlagsOf(o.Id) is { } v ? v : _mocks.Of(o.Id) is { } m ? m.Flags : _accesses.FlagsOf(o.Id),
            h?.Auto ?? false, h?.DomainId ?? 0))],
        _devices.ToImmutableDictionary(d => d.Key, d => d.Value.Attachments),
        [],
        [],
        [.. _faults.ClosedFds],
        _compatIoas, _rlimitMode, _keyCounter, _closed,
        _ioas.Where(i => i.Value.Accounts is not null).ToImmutableDictionary(i => i.Key, i => i.Value.Accounts!),
        _viommu.VdeviceRecords,
        [.. _table.Tombstones]);

    private string KeyOf(ContextObject o) =>
        _ioas.TryGetValue(o.Id, out var i) ? i.Key : _devices.TryGetValue(o.Id, out var d) ? d.DeviceFileId
        : _hwpts.TryGetValue(o.Id, out var h) ? h.Key : _faults.KeyOf(o.Id) is { } f ? f
        : _viommu.KeyOf(o.Id) is { } v ? v
        : _mocks.Of(o.Id) is { } m ? m.Key : _accesses.KeyOf(o.Id) ?? "";

    private string PciOf(ContextObject o) =>
        _devices.TryGetValue(o.Id, out var d) ? d.Pci : _hwpts.TryGetValue(o.Id, out var h) ? h.Unit
        : _viommu.UnitOf(o.Id) is { } v ? v
        : _mocks.Of(o.Id) is { } m ? m.Pci : "";

    private void RestoreSnapshot(ContextSnapshot s)
    {
        foreach (var id in s.Tombstones.IsDefault ? [] : s.Tombstones)
            _table.KeepTaken(id);
        foreach (var o in s.Objects.OrderBy(o => o.Id))
            Apply(new ObjectCreated(o.Id, o.Kind, o.Uses, o.Key, o.Pci, o.Flags, o.Auto, o.DomainId));
        foreach (var (dev, attachments) in s.Attachments)
            _devices[dev] = _devices[dev] with { Attachments = attachments };
        _viommu.Restore(s.Vdevices);
        foreach (var (id, accounts) in s.IoasAccounts ?? ImmutableDictionary<uint, AccountKeys>.Empty)
            _ioas[id] = _ioas[id] with { Accounts = accounts };
        foreach (var id in s.FaultFdsClosed)
            _faults.Apply(new FaultFdClosed(id));
        _compatIoas = s.CompatIoas;
        _rlimitMode = s.RlimitMode;
        _keyCounter = s.KeyCounter;
        _closed = s.Closed;
    }

    protected override void OnPersistRejected(Exception cause, object @event, long sequenceNr)
    {
        // The journal refused the write: the request fails and nothing changed.
        Fail(Errno.EIO);
    }

    private string NewKey(string kind) => $"{_fileId}.{kind}{_keyCounter + 1}";

    string IContextHost.FileId => _fileId;
    FileCollaborators IContextHost.With => _with;
    ServedRequest IContextHost.Request => _request;
    ObjectTable IContextHost.Table => _table;
    IReadOnlyDictionary<uint, IoasEntry> IContextHost.Ioas => _ioas;
    IReadOnlyDictionary<uint, DeviceEntry> IContextHost.Devices => _devices;
    IReadOnlyDictionary<uint, HwptEntry> IContextHost.Hwpts => _hwpts;
    IReadOnlyDictionary<uint, ViommuEntry> IContextHost.Viommus => _viommu.Viommus;
    void IContextHost.Save(IPersistedEvent e, Action then) => Save(e, then);
    string IContextHost.NewKey(string kind) => NewKey(kind);
    MockDevices IContextHost.Mocks => _mocks;
    long IContextHost.NextKeyNumber => _keyCounter + 1;
    IActorRef IContextHost.Self => Self;
    uint ICompatHost.CompatIoas => _compatIoas;
    ulong IIoasHost.RlimitMode => _rlimitMode;
    IoasEntry IIoasHost.StartIoas(uint id) => _ioas[id] = _ioas[id] with { Ref = StartIoas(_ioas[id].Key, _ioas[id].Accounts) };
    void ISelftestHost.AttachTo(AttachDevice m, Action<int, uint> then) => _deviceObjects.AttachTo(m, then);
    void ISelftestHost.Detach(uint devId, int pasid, Action then) => _deviceObjects.Detach(devId, pasid, then);
    void ISelftestHost.Unbind(uint devId, Action then) => _deviceObjects.Unbind(devId, then);
    void ISelftestHost.QueuePageRequest(uint faultId, FaultGroup group) => _faults.Queue(faultId, group);
    void ISelftestHost.ServeAccessOp(IommuTestCmd cmd, uint size) => _accesses.Serve(cmd, size);
    IActorRef IContextHost.Spawn(Props props, string name) => Context.ActorOf(props, name);
    void IContextHost.StopChild(IActorRef child) => Context.Stop(child);
}

/// <summary>
/// An IOAS object: the key of its actor (journal identity), the actor, and the locked-memory
/// accounts it charges (null for an IOAS recorded before they were kept: it keeps its own ledger).
/// </summary>
internal sealed record IoasEntry(string Key, IActorRef Ref, AccountKeys? Accounts = null);

/// <summary>A DEVICE object: the device file that bound it, its PCI address, and where it is attached (PASID or NoPasid -> HWPT).</summary>
internal sealed record DeviceEntry(string DeviceFileId, string Pci, ImmutableDictionary<int, uint> Attachments);

/// <summary>A HWPT object: its key, its unit, HWPT_ALLOC flags, whether automatic, the IOAS (or parent HWPT) it uses, its domain in the unit.</summary>
internal sealed record HwptEntry(string Key, string Unit, uint Flags, bool Auto, uint Parent, int DomainId, bool Nested);

