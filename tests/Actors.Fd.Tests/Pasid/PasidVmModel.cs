using IommuActors.Uapi;

namespace IommuActors.Fd.Tests.Pasid;

/// <summary>
/// What a host should hold for a few VMs driven through the PASID extension, and the answer
/// docs/pasid-extension.md promises for each ioctl in that state. Plain bookkeeping, no actors: the
/// randomized spec asks it for the expected answer, sends the ioctl, compares, then applies the step.
/// A VM's PASIDs are live (allocated, not freed) or pending (freed while a device is still attached at
/// them: FREE_PENDING, still counted by the set and leased by the space until the detach).
/// </summary>
public sealed class PasidVmModel(int spaceCapacity)
{
    public const int MaxPasid = (1 << 20) - 1;

    public sealed class Vm(int id, IReadOnlyList<string> devices, int quota)
    {
        public int Id { get; } = id;
        public IReadOnlyList<string> Devices { get; } = devices;
        public int Quota { get; set; } = quota;

        /// <summary>Live host PASIDs, each with its guest PASID (0 when not mapped).</summary>
        public SortedDictionary<int, int> Live { get; } = new();

        /// <summary>Freed PASIDs a device is still attached at.</summary>
        public SortedSet<int> Pending { get; } = new();

        /// <summary>KVM's table: guest PASID to host PASID.</summary>
        public SortedDictionary<int, int> GuestToHost { get; } = new();

        /// <summary>VDCM's work queues: queue number to host PASID.</summary>
        public SortedDictionary<int, int> Queues { get; } = new();

        /// <summary>Device PASID attachments (PCI address, host PASID), live or pending.</summary>
        public SortedSet<(string Pci, int Pasid)> Attached { get; } = new();

        /// <summary>How many PASIDs the set holds: live and FREE-pending (SET_INFO's used).</summary>
        public int Held => Live.Count + Pending.Count;

        public bool Holds(int pasid) => Live.ContainsKey(pasid) || Pending.Contains(pasid);
    }

    private readonly List<Vm> _vms = [];

    public int SpaceCapacity { get; } = spaceCapacity;
    public IReadOnlyList<Vm> Vms => _vms;

    /// <summary>PASIDs out of the space: every open VM's live and pending ones.</summary>
    public int InUse => _vms.Sum(v => v.Held);

    public Vm Open(int id, IReadOnlyList<string> devices, int quota)
    {
        var vm = new Vm(id, devices, quota);
        _vms.Add(vm);
        return vm;
    }

    /// <summary>Closing the iommufd (and the VM's devices): every PASID of the set goes back to the space.</summary>
    public void Close(Vm vm) => _vms.Remove(vm);

    public Vm? OwnerOf(int pasid) => _vms.FirstOrDefault(v => v.Holds(pasid));

    /// <summary>A PASID this VM does not hold: EACCES when another VM's set holds it, else ENOENT.</summary>
    private int NotMine(Vm vm, int pasid) => OwnerOf(pasid) is { } owner && owner != vm ? Errno.EACCES : Errno.ENOENT;

    private static bool Malformed(int pasid) => pasid <= 0 || pasid > MaxPasid;

    // ---- PASID_ALLOC ----

    public int Alloc(Vm vm) => vm.Held >= vm.Quota ? Errno.EDQUOT : InUse >= SpaceCapacity ? Errno.ENOSPC : 0;

    /// <summary>Records an allocation; the reason it must not have happened, or null.</summary>
    public string? Allocated(Vm vm, int pasid)
    {
        if (Malformed(pasid))
            return $"PASID {pasid} is outside the space";
        if (OwnerOf(pasid) is { } owner)
            return $"PASID {pasid} went to VM {vm.Id} while VM {owner.Id} holds it";
        vm.Live[pasid] = 0;
        return null;
    }

    // ---- PASID_MAP_GUEST ----

    public int MapGuest(Vm vm, int guest, int host)
    {
        if (Malformed(guest) || Malformed(host))
            return Errno.EINVAL;
        if (!vm.Live.TryGetValue(host, out var mapped))
            return vm.Pending.Contains(host) ? Errno.ENOENT : NotMine(vm, host);
        if (mapped == guest)
            return 0;
        if (vm.GuestToHost.ContainsKey(guest))
            return Errno.EEXIST;
        return mapped != 0 ? Errno.EBUSY : 0;
    }

    public void ApplyMapGuest(Vm vm, int guest, int host)
    {
        vm.Live[host] = guest;
        vm.GuestToHost[guest] = host;
    }

    // ---- PASID_FREE ----

    public int Free(Vm vm, int pasid)
    {
        if (Malformed(pasid))
            return Errno.EINVAL;
        return vm.Live.ContainsKey(pasid) ? 0 : vm.Pending.Contains(pasid) ? Errno.ENOENT : NotMine(vm, pasid);
    }

    /// <summary>
    /// The PASID leaves the set: KVM forgets its guest PASID, VDCM clears its queues, the driver tears its
    /// context entries down; it stays pending while a device is attached at it.
    /// </summary>
    public void ApplyFree(Vm vm, int pasid)
    {
        if (vm.Live.Remove(pasid, out var guest) && guest != 0)
            vm.GuestToHost.Remove(guest);
        foreach (var queue in vm.Queues.Where(q => q.Value == pasid).Select(q => q.Key).ToList())
            vm.Queues.Remove(queue);
        if (vm.Attached.Any(a => a.Pasid == pasid))
            vm.Pending.Add(pasid);
    }

    // ---- VDCM_PROGRAM and VDCM_CLEAR ----

    public (int Errno, int Host) Program(Vm vm, int queue, int guest) =>
        Malformed(guest) ? (Errno.EINVAL, 0)
        : vm.Queues.ContainsKey(queue) ? (Errno.EBUSY, 0)
        : vm.GuestToHost.TryGetValue(guest, out var host) ? (0, host) : (Errno.ENOENT, 0);

    public void ApplyProgram(Vm vm, int queue, int host) => vm.Queues[queue] = host;

    /// <summary>VDCM_CLEAR: 0 and the queue is free, or ENOENT when it holds no PASID.</summary>
    public int Clear(Vm vm, int queue) => vm.Queues.Remove(queue) ? 0 : Errno.ENOENT;

    // ---- KVM_TRANSLATE ----

    public (int Errno, int Host) Translate(Vm vm, int guest) =>
        Malformed(guest) ? (Errno.EINVAL, 0) : vm.GuestToHost.TryGetValue(guest, out var host) ? (0, host) : (Errno.ENOENT, 0);

    // ---- PASID_SET_QUOTA ----

    public int SetQuota(Vm vm, int quota) => quota < 1 || quota > MaxPasid || quota < vm.Held ? Errno.EINVAL : 0;

    // ---- a device's PASID attach and detach (VFIO_DEVICE_ATTACH/DETACH_IOMMUFD_PT with a PASID) ----

    /// <summary>The spec attaches only live PASIDs of the VM (a PASID of no set is not the set's business).</summary>
    public void ApplyAttach(Vm vm, string pci, int pasid) => vm.Attached.Add((pci, pasid));

    /// <summary>A detach always answers 0; the last detach of a pending PASID lets it go back to the space.</summary>
    public void ApplyDetach(Vm vm, string pci, int pasid)
    {
        vm.Attached.Remove((pci, pasid));
        if (vm.Pending.Contains(pasid) && !vm.Attached.Any(a => a.Pasid == pasid))
            vm.Pending.Remove(pasid);
    }

    /// <summary>The devices whose context entry for the PASID a unit should hold: attachments at live PASIDs only (a FREE tears the others down).</summary>
    public IReadOnlySet<string> ContextsOf(int pasid) =>
        _vms.Where(v => v.Live.ContainsKey(pasid)).SelectMany(v => v.Attached.Where(a => a.Pasid == pasid).Select(a => a.Pci)).ToHashSet();
}
