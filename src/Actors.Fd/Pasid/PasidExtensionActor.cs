using Akka.Actor;
using IommuActors.Ioasid.Pasid;
using IommuActors.Notifier.Kvm;
using IommuActors.Notifier.Vdcm;
using IommuActors.Notifier.Vm;
using IommuActors.Uapi;
using IommuActors.Uapi.Structs;
using static IommuActors.Fd.Files.FileProtocol;

namespace IommuActors.Fd.Pasid;

/// <summary>
/// The emulator's PASID ioctls of one iommufd context (docs/pasid-extension.md): the context's VM
/// owns one PASID set (<c>pasid-set-&lt;file id&gt;</c>) with its KVM and VDCM subscribers, which the
/// notifier's node actor (<see cref="VmSubscribersActor"/>) starts for it. The context hands every ioctl of
/// type 0xE1 over, and releases the VM (FREE_SET, then the subscribers stop) on close.
/// One request at a time: the set and subscribers answer without correlation ids, so while a
/// request waits for its answer the next is stashed, which also keeps replies in request order.
/// A request that publishes an event is answered by the set only once every subscriber acted on it.
/// </summary>
public sealed class PasidExtensionActor : ReceiveActor, IWithStash
{
    public IStash Stash { get; set; } = null!;

    private readonly string _set;
    private readonly IActorRef _sets;
    private readonly IActorRef _subscribers;
    private IActorRef _kvm = ActorRefs.Nobody;
    private IActorRef _vdcm = ActorRefs.Nobody;

    // The user's own binds (MAP_GUEST): host PASID to guest PASID. They are the user's to undo
    // before a FREE can reclaim the PASID, so FREE and close unbind them first.
    private readonly Dictionary<int, int> _mapped = new();

    public static string SetKeyOf(string fileId) => PasidSetProtocol.KeyOf(fileId);

    /// <summary>From the context: a device's PASID now points at a page table (publish BIND as the device's holder). Answered DeviceEventApplied.</summary>
    public sealed record DeviceBound(int Pasid, string Pci);

    /// <summary>From the context: the device's PASID no longer points anywhere (publish UNBIND). Answered DeviceEventApplied.</summary>
    public sealed record DeviceUnbound(int Pasid, string Pci);

    /// <summary>
    /// Every subscriber acted on the device's BIND or UNBIND: Errno 0, or ETIMEDOUT when one missed the ack
    /// timeout (a BIND is then undone in the set). A PASID outside the VM's set (user space picks PASIDs for
    /// iommufd) publishes nothing and answers 0.
    /// </summary>
    public sealed record DeviceEventApplied(int Pasid, string Pci, int Errno);

    public static string HolderOf(string pci) => $"device/{pci}";

    /// <param name="subscribers">The node's <see cref="VmSubscribersActor"/> (NotifierModule.VmSubscribers).</param>
    public static Props Props(string fileId, IActorRef sets, IActorRef subscribers) =>
        Akka.Actor.Props.Create(() => new PasidExtensionActor(fileId, sets, subscribers));

    public PasidExtensionActor(string fileId, IActorRef sets, IActorRef subscribers)
    {
        _set = SetKeyOf(fileId);
        _sets = sets;
        _subscribers = subscribers;
    }

    // Nothing is served before the VM's subscribers exist: requests wait in the stash.
    protected override void PreStart()
    {
        _subscribers.Tell(new VmSubscribersActor.StartVm(_set));
        Await<VmSubscribersActor.VmStarted>(v =>
        {
            _kvm = v.Kvm;
            _vdcm = v.Vdcm;
        });
    }

    private void Idle()
    {
        Receive<Ioctl>(OnIoctl);
        Receive<DeviceBound>(b => DeviceEvent(b.Pasid, b.Pci, new PasidSetProtocol.BindPasid(_set, b.Pasid, 0, HolderOf(b.Pci))));
        Receive<DeviceUnbound>(u => DeviceEvent(u.Pasid, u.Pci, new PasidSetProtocol.UnbindPasid(_set, u.Pasid, HolderOf(u.Pci))));
        Receive<Release>(r =>
        {
            var requester = Sender;
            UnbindThen([.. _mapped.Keys], () =>
            {
                // Answered once every subscriber acknowledged SET_FREED (or missed the timeout: then quarantined).
                _sets.Tell(new PasidSetProtocol.FreeSet(_set));
                Await<PasidSetProtocol.SetFreed>(_ =>
                {
                    _subscribers.Tell(new VmSubscribersActor.StopVm(_set));
                    Await<VmSubscribersActor.VmStopped>(_ => requester.Tell(new Released(r.FileId)));
                }, continues: true);
            });
        });
    }

    // Only a subscriber missing its ack is the device's business: another errno means the PASID is not this set's.
    private void DeviceEvent(int pasid, string pci, object request)
    {
        var requester = Sender;
        _sets.Tell(request);
        Await<PasidSetProtocol.PasidResult>(r =>
            requester.Tell(new DeviceEventApplied(pasid, pci, r.Errno == Errno.ETIMEDOUT ? Errno.ETIMEDOUT : 0)));
    }

    private void OnIoctl(Ioctl m)
    {
        var requester = Sender;
        void Reply(int errno, byte[] back) => requester.Tell(new IoctlDone(m.FileId, m.Tag, errno, 0, errno == 0 ? back : []));

        switch (m.Request)
        {
            case EmulatorIoctls.PASID_ALLOC when Decode<EmuPasidAlloc>(m, Reply) is { } d:
            {
                var (cmd, size) = d;
                if (cmd.Flags != 0) { Reply(Errno.EOPNOTSUPP, []); return; }
                _sets.Tell(new PasidSetProtocol.AllocPasid(_set));
                Await<PasidSetProtocol.PasidAllocated>(a =>
                    Reply(a.Errno, UserStruct.CopyBack(cmd with { OutPasid = (uint)a.Pasid }, size)));
                return;
            }
            case EmulatorIoctls.PASID_FREE when Decode<EmuPasidFree>(m, Reply) is { } d:
            {
                var (cmd, size) = d;
                if (PasidArguments.Check(cmd.Pasid) is not 0 and var invalid) { Reply(invalid, []); return; }
                UnbindThen(_mapped.ContainsKey((int)cmd.Pasid) ? [(int)cmd.Pasid] : [], () =>
                {
                    _sets.Tell(new PasidSetProtocol.FreePasid(_set, (int)cmd.Pasid));
                    Await<PasidSetProtocol.PasidResult>(r => Reply(r.Errno, UserStruct.CopyBack(cmd, size)));
                });
                return;
            }
            case EmulatorIoctls.PASID_SET_INFO when Decode<EmuPasidSetInfo>(m, Reply) is { } d:
            {
                var (cmd, size) = d;
                if (cmd.Flags != 0) { Reply(Errno.EOPNOTSUPP, []); return; }
                _sets.Tell(new PasidSetProtocol.GetSet(_set));
                Await<PasidSetProtocol.SetState>(s => Reply(0, UserStruct.CopyBack(
                    cmd with { OutQuota = (uint)s.Quota, OutUsed = (uint)s.Entries.Length }, size)));
                return;
            }
            case EmulatorIoctls.PASID_SET_QUOTA when Decode<EmuPasidSetQuota>(m, Reply) is { } d:
            {
                var (cmd, size) = d;
                if (cmd.Flags != 0) { Reply(Errno.EOPNOTSUPP, []); return; }
                // Above int range is as far outside the 20-bit space as 2^20 is: the set answers EINVAL.
                var quota = cmd.Quota > int.MaxValue ? int.MaxValue : (int)cmd.Quota;
                _sets.Tell(new PasidSetProtocol.AdjustQuota(_set, quota));
                Await<PasidSetProtocol.QuotaAdjusted>(q =>
                    Reply(q.Errno, UserStruct.CopyBack(cmd with { OutUsed = (uint)q.Used }, size)));
                return;
            }
            case EmulatorIoctls.PASID_MAP_GUEST when Decode<EmuPasidMapGuest>(m, Reply) is { } d:
            {
                var (cmd, size) = d;
                if (cmd.Flags != 0) { Reply(Errno.EOPNOTSUPP, []); return; }
                if (PasidArguments.Check(cmd.GuestPasid, cmd.HostPasid) is not 0 and var invalid) { Reply(invalid, []); return; }
                // The user's own mapping once more: it is in place, nothing to bind or publish (a second bind would
                // outlive the one unbind that FREE and close make for it, and the PASID would never be reclaimed).
                if (_mapped.TryGetValue((int)cmd.HostPasid, out var mapped) && mapped == (int)cmd.GuestPasid)
                {
                    Reply(0, UserStruct.CopyBack(cmd, size));
                    return;
                }
                // A BIND with the guest PASID as its SPID: the bus tells KVM, which learns the translation.
                _sets.Tell(new PasidSetProtocol.BindPasid(_set, (int)cmd.HostPasid, (int)cmd.GuestPasid));
                Await<PasidSetProtocol.PasidResult>(r =>
                {
                    if (r.Errno == 0) _mapped[(int)cmd.HostPasid] = (int)cmd.GuestPasid;
                    Reply(r.Errno, UserStruct.CopyBack(cmd, size));
                });
                return;
            }
            case EmulatorIoctls.VDCM_PROGRAM when Decode<EmuVdcmProgram>(m, Reply) is { } d:
            {
                var (cmd, size) = d;
                if (PasidArguments.Check(cmd.GuestPasid) is not 0 and var invalid) { Reply(invalid, []); return; }
                _vdcm.Tell(new VdcmProtocol.ProgramQueue($"wq{cmd.Queue}", (int)cmd.GuestPasid));
                Await<VdcmProtocol.QueueProgrammed>(q =>
                    Reply(q.Errno, UserStruct.CopyBack(cmd with { OutHostPasid = (uint)q.HostPasid }, size)));
                return;
            }
            case EmulatorIoctls.VDCM_CLEAR when Decode<EmuVdcmClear>(m, Reply) is { } d:
            {
                var (cmd, size) = d;
                _vdcm.Tell(new VdcmProtocol.ClearQueue($"wq{cmd.Queue}"));
                Await<VdcmProtocol.QueueCleared>(c => Reply(c.Errno, UserStruct.CopyBack(cmd, size)));
                return;
            }
            case EmulatorIoctls.KVM_TRANSLATE when Decode<EmuKvmTranslate>(m, Reply) is { } d:
            {
                var (cmd, size) = d;
                if (PasidArguments.Check(cmd.GuestPasid) is not 0 and var invalid) { Reply(invalid, []); return; }
                _kvm.Tell(new KvmProtocol.Translate((int)cmd.GuestPasid));
                Await<KvmProtocol.Translated>(t =>
                    Reply(t.Errno, UserStruct.CopyBack(cmd with { OutHostPasid = (uint)t.HostPasid }, size)));
                return;
            }
            case EmulatorIoctls.PASID_ALLOC or EmulatorIoctls.PASID_FREE or EmulatorIoctls.PASID_SET_INFO
                or EmulatorIoctls.PASID_MAP_GUEST or EmulatorIoctls.VDCM_PROGRAM or EmulatorIoctls.KVM_TRANSLATE
                or EmulatorIoctls.PASID_SET_QUOTA or EmulatorIoctls.VDCM_CLEAR:
                return; // the size rules refused it; Decode answered
            default:
                Reply(Errno.ENOTTY, []);
                return;
        }
    }

    /// <summary>iommufd's size rules on the argument; on failure the errno is answered and null returned.</summary>
    private static (T Cmd, uint Size)? Decode<T>(Ioctl m, Action<int, byte[]> reply) where T : class, IUapiStruct<T>
    {
        var rc = UserStruct.TryDecode<T>(m.Inline, out var cmd, out var size);
        if (rc == 0) return (cmd!, size);
        reply(rc, []);
        return null;
    }

    /// <summary>Undoes the user's binds of the given PASIDs one by one (UNBIND published for each), then continues.</summary>
    private void UnbindThen(IReadOnlyList<int> pasids, Action then)
    {
        if (pasids.Count == 0) { then(); return; }
        _sets.Tell(new PasidSetProtocol.UnbindPasid(_set, pasids[0]));
        Await<PasidSetProtocol.PasidResult>(_ =>
        {
            _mapped.Remove(pasids[0]);
            UnbindThen([.. pasids.Skip(1)], then);
        }, continues: true);
    }

    /// <summary>Waits for the answer of type T, stashing everything else, then serves the next request.</summary>
    /// With <paramref name="continues"/> the continuation starts the next wait itself.
    private void Await<T>(Action<T> answered, bool continues = false)
    {
        Become(() =>
        {
            Receive<T>(a =>
            {
                if (!continues)
                {
                    Stash.UnstashAll();
                    Become(Idle);
                }
                answered(a);
            });
            ReceiveAny(_ => Stash.Stash());
        });
    }
}
