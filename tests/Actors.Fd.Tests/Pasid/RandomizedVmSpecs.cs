using Akka.Actor;
using IommuActors.Fd.Tests.Support;
using IommuActors.Hardware.Units;
using IommuActors.Ioasid.Pasid;
using IommuActors.Notifier.Driver;
using IommuActors.Notifier.Kvm;
using IommuActors.Notifier.Vdcm;
using IommuActors.Uapi;
using IommuActors.Uapi.Structs;
using Xunit;
using Xunit.Abstractions;
using static IommuActors.Fd.Tests.Pasid.PasidVmModel;

namespace IommuActors.Fd.Tests.Pasid;

/// <summary>
/// Issue 16 item 7: two or three VMs (each an iommufd context with its PASID set) driven through
/// interleaved PASID_ALLOC, PASID_MAP_GUEST, VDCM_PROGRAM and VDCM_CLEAR, a device's PASID attach and detach on the
/// default platform's real units (dmar0 and mock0), PASID_FREE, PASID_SET_QUOTA and closing a VM (then
/// opening a new one), over the socket of a real host whose PASID space is small, so freed PASIDs come
/// back within a few allocations. A plain model (<see cref="PasidVmModel"/>) predicts every answer as
/// docs/pasid-extension.md gives it, and after every step the spec checks that no PASID is held by two
/// VMs, that the space leases exactly the PASIDs the VMs hold (nothing back in the space while a set, a
/// subscriber or a device attachment still has it; nothing quarantined), that the units hold a context
/// entry exactly for each attachment at a live PASID, that KVM's table (KVM_TRANSLATE of every guest
/// PASID) is the set's guest mappings, and that a freshly allocated PASID is referenced by nobody.
/// A failure names the seed and the step.
/// </summary>
public sealed class RandomizedVmSpecs : FdSpec, IClassFixture<SmallSpaceHost>
{
    private const int Steps = 600;
    private const int Guests = 6;
    private const int QueueCount = 3;
    private const ulong Iova = 0x1000000;
    private const uint RW = IoasMapFlags.Readable | IoasMapFlags.Writeable | IoasMapFlags.FixedIova;
    private static readonly string[] UnitNames = ["dmar0", "mock0"];
    private static readonly TimeSpan AskTimeout = TimeSpan.FromSeconds(10);

    private readonly SmallSpaceHost _host;
    private readonly ITestOutputHelper _output;
    private readonly SortedDictionary<string, int> _tally = new(StringComparer.Ordinal);
    private readonly Dictionary<string, (string Cdev, string Unit)> _deviceOf;
    private readonly Dictionary<Vm, VmFiles> _files = new();
    private PasidVmModel _model = null!;
    private Random _random = null!;
    private int _nextVm;
    private string _op = "";

    /// <summary>What the spec opened for one VM: its iommufd, its IOAS, and per device the cdev, DEVICE and PASID-capable HWPT.</summary>
    private sealed class VmFiles(string ctx, uint ioas)
    {
        public string Ctx { get; } = ctx;
        public uint Ioas { get; } = ioas;
        public Dictionary<string, (string Dev, uint Hwpt)> Devices { get; } = new();
        public string? SetKey { get; set; }
    }

    public RandomizedVmSpecs(SmallSpaceHost host, ITestOutputHelper output)
    {
        _host = host;
        _output = output;
        UseSocket(host.Connect(Mem, Memory));
        _deviceOf = Platforms.Default.Devices.Where(d => d.PasidWidth > 0 && UnitNames.Contains(d.Unit))
            .ToDictionary(d => d.Pci, d => (d.Cdev!, d.Unit));
    }

    // The four PASID-capable devices of dmar0 and mock0, shared out among the VMs (a device binds to one iommufd).
    private static readonly string[][] TwoVms = [["0000:00:02.0", "0000:f0:00.0"], ["0000:01:00.0", "0000:f0:01.0"]];
    private static readonly string[][] ThreeVms = [["0000:00:02.0", "0000:f0:00.0"], ["0000:01:00.0"], ["0000:f0:01.0"]];

    [Theory]
    [InlineData(1, 2)]
    [InlineData(2, 3)]
    [InlineData(3, 3)]
    [InlineData(4, 2)]
    public void Interleaved_VMs_get_the_documented_answers_and_no_PASID_is_shared_or_reused_while_referenced(int seed, int vmCount)
    {
        _random = new Random(seed);
        _model = new PasidVmModel(SmallSpaceHost.LastPasid - SmallSpaceHost.FirstPasid + 1);
        var step = -1;
        try
        {
            _op = "start";
            // The previous run's VMs are closed: their PASIDs are back before this one starts.
            CheckSpace();
            foreach (var devices in vmCount == 2 ? TwoVms : ThreeVms)
                OpenVm(devices);
            for (step = 0; step < Steps; step++)
                Step(step);
            step = Steps;
            foreach (var vm in _model.Vms.ToList())
                CloseVm(vm);
            _op = "end";
            CheckSpace();
            // What the run covered, for whoever changes the weights: each ioctl with each answer it got.
            _output.WriteLine($"seed {seed}, {vmCount} VMs, {Steps} steps: {string.Join(", ", _tally.Select(t => $"{t.Key} x{t.Value}"))}");
        }
        catch (Exception e)
        {
            throw new Xunit.Sdk.XunitException($"seed {seed}, step {step} ({_op}): {e.Message}");
        }
    }

    private void Step(int step)
    {
        var vm = _model.Vms[_random.Next(_model.Vms.Count)];
        var touched = new HashSet<int>();
        var roll = _random.Next(100);
        if (roll < 16 || roll is >= 43 and < 56 && Attachable(vm).Count == 0)
            Alloc(vm, touched);
        else if (roll < 31)
            MapGuest(vm, touched);
        else if (roll < 36)
            Clear(vm);
        else if (roll < 43)
            Program(vm);
        else if (roll < 56)
            Attach(vm, Attachable(vm)[_random.Next(Attachable(vm).Count)], touched);
        else if (roll < 66)
            Detach(vm, touched);
        else if (roll < 82)
            Free(vm, touched);
        else if (roll < 86)
            SetQuota(vm);
        else if (roll < 99)
            Translate(vm);
        else
        {
            Reopen(vm);
            return;
        }
        CheckAfter(vm, touched, full: step % 10 == 0 || touched.Count > 0);
    }

    // ---- VMs ----

    private Vm OpenVm(IReadOnlyList<string> devices)
    {
        _op = $"open VM {_nextVm}";
        var (ctx, fd) = Open("/dev/iommu");
        var files = new VmFiles(ctx, NewIoas(ctx));
        Assert.Equal(0, Ioctl(ctx, Ioctls.IOMMU_IOAS_MAP, new IommuIoasMap(40, RW, files.Ioas, 0, Mem, 0x2000, Iova)).Errno);
        var quota = _random.Next(3, 9);
        var set = Ioctl(ctx, EmulatorIoctls.PASID_SET_QUOTA, new EmuPasidSetQuota(16, 0, (uint)quota, 0));
        Assert.Equal(new EmuPasidSetQuota(16, 0, (uint)quota, 0), Back<EmuPasidSetQuota>(set));
        foreach (var pci in devices)
        {
            var (dev, _) = Open($"/dev/vfio/devices/{_deviceOf[pci].Cdev}");
            var devId = Bind(dev, fd);
            var hwpt = Back<IommuHwptAlloc>(Ioctl(ctx, Ioctls.IOMMU_HWPT_ALLOC,
                new IommuHwptAlloc(48, HwptAllocFlags.Pasid, devId, files.Ioas, 0, 0, HwptDataType.None, 0, 0, 0, 0))).OutHwptId;
            files.Devices[pci] = (dev, hwpt);
        }
        var vm = _model.Open(_nextVm++, devices, quota);
        _files[vm] = files;
        return vm;
    }

    /// <summary>Closes the VM, its iommufd first or its devices first, then opens a new VM with the same devices.</summary>
    private void Reopen(Vm vm)
    {
        CloseVm(vm);
        var fresh = OpenVm(vm.Devices);
        CheckAfter(fresh, [], full: true);
    }

    private void CloseVm(Vm vm)
    {
        var files = _files[vm];
        var iommufdFirst = _random.Next(2) == 0;
        _op = $"close VM {vm.Id} ({(iommufdFirst ? "iommufd first" : "devices first")})";
        var pasids = vm.Live.Keys.Concat(vm.Pending).ToList();
        if (iommufdFirst)
            Release(files.Ctx);
        foreach (var (dev, _) in files.Devices.Values)
            Release(dev);
        if (!iommufdFirst)
            Release(files.Ctx);
        _model.Close(vm);
        _files.Remove(vm);
        Tally(iommufdFirst ? "CLOSE(iommufd first)" : "CLOSE(devices first)", 0);
        // The set is freed once the last holder of the context let go, which a device's close does not wait for.
        CheckSpace();
        AwaitAssert(() => CheckUnits(pasids), AskTimeout);
    }

    // ---- the operations ----

    private void Tally(string ioctl, int errno)
    {
        var key = $"{ioctl} {(errno == 0 ? "0" : Errno.Name(errno))}";
        _tally[key] = _tally.GetValueOrDefault(key) + 1;
    }

    private void Alloc(Vm vm, HashSet<int> touched)
    {
        _op = $"VM {vm.Id} PASID_ALLOC";
        var expected = _model.Alloc(vm);
        var done = Ioctl(_files[vm].Ctx, EmulatorIoctls.PASID_ALLOC, new EmuPasidAlloc(12, 0, 0));
        Assert.Equal(expected, done.Errno);
        Tally("ALLOC", expected);
        if (expected != 0)
            return;
        var pasid = (int)Back<EmuPasidAlloc>(done).OutPasid;
        _op += $" = {pasid}";
        NobodyRefersTo(pasid);
        if (_model.Allocated(vm, pasid) is { } wrong)
            Assert.Fail(wrong);
        var owner = _host.Space.Ask<PasidSpaceProtocol.PasidOwner>(new PasidSpaceProtocol.GetOwner(pasid), AskTimeout).Result.Owner;
        _files[vm].SetKey ??= owner;
        Assert.Equal(_files[vm].SetKey, owner);
        touched.Add(pasid);
    }

    private void MapGuest(Vm vm, HashSet<int> touched)
    {
        var guest = _random.Next(20) == 0 ? Malformed() : _random.Next(1, Guests + 1);
        var host = PickPasid(vm);
        _op = $"VM {vm.Id} PASID_MAP_GUEST({guest}, {host})";
        var expected = _model.MapGuest(vm, guest, host);
        var done = Ioctl(_files[vm].Ctx, EmulatorIoctls.PASID_MAP_GUEST, new EmuPasidMapGuest(16, 0, (uint)guest, (uint)host));
        Assert.Equal(expected, done.Errno);
        Tally("MAP_GUEST", expected);
        if (expected == 0)
        {
            Assert.Equal(new EmuPasidMapGuest(16, 0, (uint)guest, (uint)host), EmuPasidMapGuest.Read(done.Writeback));
            _model.ApplyMapGuest(vm, guest, host);
            // Answered once KVM applied the BIND: the very next translation knows it.
            Assert.Equal((0, host), TranslateOf(vm, guest));
        }
        touched.Add(host);
    }

    private void Program(Vm vm)
    {
        var queue = _random.Next(QueueCount);
        var guest = PickGuest(vm);
        _op = $"VM {vm.Id} VDCM_PROGRAM(wq{queue}, {guest})";
        var (errno, host) = _model.Program(vm, queue, guest);
        var done = Ioctl(_files[vm].Ctx, EmulatorIoctls.VDCM_PROGRAM, new EmuVdcmProgram(16, (uint)queue, (uint)guest, 0));
        Assert.Equal(errno, done.Errno);
        Tally("VDCM_PROGRAM", errno);
        if (errno != 0)
            return;
        Assert.Equal(new EmuVdcmProgram(16, (uint)queue, (uint)guest, (uint)host), EmuVdcmProgram.Read(done.Writeback));
        _model.ApplyProgram(vm, queue, host);
    }

    private void Clear(Vm vm)
    {
        var queue = vm.Queues.Count > 0 && _random.Next(4) != 0 ? vm.Queues.Keys.ElementAt(_random.Next(vm.Queues.Count)) : _random.Next(QueueCount);
        _op = $"VM {vm.Id} VDCM_CLEAR(wq{queue})";
        var done = Ioctl(_files[vm].Ctx, EmulatorIoctls.VDCM_CLEAR, new EmuVdcmClear(8, (uint)queue));
        var expected = _model.Clear(vm, queue);
        Assert.Equal(expected, done.Errno);
        Tally("VDCM_CLEAR", expected);
    }

    private List<(string Pci, int Pasid)> Attachable(Vm vm) =>
        vm.Devices.SelectMany(pci => vm.Live.Keys.Select(p => (pci, p))).Where(a => !vm.Attached.Contains(a)).ToList();

    private void Attach(Vm vm, (string Pci, int Pasid) at, HashSet<int> touched)
    {
        _op = $"VM {vm.Id} attach {at.Pci} at PASID {at.Pasid}";
        var (dev, hwpt) = _files[vm].Devices[at.Pci];
        Assert.Equal(0, Attach(dev, hwpt, VfioDeviceAttachIommufdPt.FlagPasid, 16, (uint)at.Pasid).Errno);
        _model.ApplyAttach(vm, at.Pci, at.Pasid);
        Tally("ATTACH", 0);
        // The device reaches memory through the PASID, which leaves IOTLB entries for a FREE or detach to drain.
        var dma = Wire!.DmaJsonAsync(at.Pci, at.Pasid, Iova, 0x1000, write: false).GetAwaiter().GetResult();
        Assert.DoesNotContain("fault", dma, StringComparison.OrdinalIgnoreCase);
        touched.Add(at.Pasid);
    }

    private void Detach(Vm vm, HashSet<int> touched)
    {
        // Mostly an attachment; sometimes a PASID the device is not attached at, which answers 0 and changes nothing.
        var at = vm.Attached.Count > 0 && _random.Next(6) != 0
            ? vm.Attached.ElementAt(_random.Next(vm.Attached.Count))
            : (vm.Devices[_random.Next(vm.Devices.Count)], _random.Next(SmallSpaceHost.FirstPasid, SmallSpaceHost.LastPasid + 1));
        _op = $"VM {vm.Id} detach {at.Item1} at PASID {at.Item2}";
        var dev = _files[vm].Devices[at.Item1].Dev;
        var done = Ioctl(dev, Ioctls.VFIO_DEVICE_DETACH_IOMMUFD_PT,
            new VfioDeviceDetachIommufdPt(12, VfioDeviceDetachIommufdPt.FlagPasid, (uint)at.Item2));
        Assert.Equal(0, done.Errno);
        Tally(vm.Attached.Contains(at) ? "DETACH" : "DETACH(unattached)", 0);
        _model.ApplyDetach(vm, at.Item1, at.Item2);
        touched.Add(at.Item2);
    }

    private void Free(Vm vm, HashSet<int> touched)
    {
        var pasid = PickPasid(vm);
        _op = $"VM {vm.Id} PASID_FREE({pasid})";
        var expected = _model.Free(vm, pasid);
        var guest = vm.Live.GetValueOrDefault(pasid);
        Assert.Equal(expected, Ioctl(_files[vm].Ctx, EmulatorIoctls.PASID_FREE, new EmuPasidFree(8, (uint)pasid)).Errno);
        Tally(vm.Pending.Contains(pasid) ? "FREE(pending)" : vm.Attached.Any(a => a.Pasid == pasid) ? "FREE(attached)" : "FREE", expected);
        if (expected != 0)
            return;
        _model.ApplyFree(vm, pasid);
        // Answered once KVM, the driver and VDCM acknowledged: the guest PASID is already gone from KVM's table.
        if (guest != 0)
            Assert.Equal((Errno.ENOENT, 0), TranslateOf(vm, guest));
        touched.Add(pasid);
    }

    private void SetQuota(Vm vm)
    {
        var quota = _random.Next(10) == 0 ? 0 : _random.Next(1, 10);
        _op = $"VM {vm.Id} PASID_SET_QUOTA({quota})";
        var expected = _model.SetQuota(vm, quota);
        var done = Ioctl(_files[vm].Ctx, EmulatorIoctls.PASID_SET_QUOTA, new EmuPasidSetQuota(16, 0, (uint)quota, 0));
        Assert.Equal(expected, done.Errno);
        Tally("SET_QUOTA", expected);
        if (expected != 0)
            return;
        Assert.Equal(new EmuPasidSetQuota(16, 0, (uint)quota, (uint)vm.Held), EmuPasidSetQuota.Read(done.Writeback));
        vm.Quota = quota;
    }

    private void Translate(Vm vm)
    {
        var guest = PickGuest(vm);
        _op = $"VM {vm.Id} KVM_TRANSLATE({guest})";
        var expected = _model.Translate(vm, guest);
        Assert.Equal(expected, TranslateOf(vm, guest));
        Tally("KVM_TRANSLATE", expected.Errno);
    }

    private (int Errno, int Host) TranslateOf(Vm vm, int guest)
    {
        var done = Ioctl(_files[vm].Ctx, EmulatorIoctls.KVM_TRANSLATE, new EmuKvmTranslate(12, (uint)guest, 0));
        return done.Errno != 0 ? (done.Errno, 0) : (0, (int)EmuKvmTranslate.Read(done.Writeback).OutHostPasid);
    }

    /// <summary>Mostly one of the VM's own live PASIDs; sometimes a pending one, another VM's, any of the space, or a malformed one.</summary>
    private int PickPasid(Vm vm)
    {
        var roll = _random.Next(100);
        var others = _model.Vms.Where(v => v != vm).SelectMany(v => v.Live.Keys.Concat(v.Pending)).ToList();
        if (roll < 65 && vm.Live.Count > 0)
            return vm.Live.Keys.ElementAt(_random.Next(vm.Live.Count));
        if (roll < 75 && vm.Pending.Count > 0)
            return vm.Pending.ElementAt(_random.Next(vm.Pending.Count));
        if (roll < 88 && others.Count > 0)
            return others[_random.Next(others.Count)];
        if (roll < 96)
            return _random.Next(SmallSpaceHost.FirstPasid, SmallSpaceHost.LastPasid + 1);
        return Malformed();
    }

    /// <summary>Mostly a guest PASID the VM mapped; sometimes any of the guest range, or a malformed one.</summary>
    private int PickGuest(Vm vm)
    {
        var roll = _random.Next(20);
        if (roll == 0)
            return Malformed();
        if (roll < 14 && vm.GuestToHost.Count > 0)
            return vm.GuestToHost.Keys.ElementAt(_random.Next(vm.GuestToHost.Count));
        return _random.Next(1, Guests + 1);
    }

    private int Malformed() => _random.Next(2) == 0 ? 0 : MaxPasid + 1;

    // ---- the checks ----

    /// <summary>
    /// After a step: the acting VM's SET_INFO and KVM table (every VM's on a full check), the space, and the
    /// units' contexts for the PASIDs the step touched.
    /// </summary>
    private void CheckAfter(Vm acting, HashSet<int> touched, bool full)
    {
        foreach (var vm in full ? _model.Vms : [acting])
        {
            var info = Back<EmuPasidSetInfo>(Ioctl(_files[vm].Ctx, EmulatorIoctls.PASID_SET_INFO, new EmuPasidSetInfo(16, 0, 0, 0)));
            Assert.True(info == new EmuPasidSetInfo(16, 0, (uint)vm.Quota, (uint)vm.Held),
                $"VM {vm.Id}'s SET_INFO is {info}, the model's quota {vm.Quota} and use {vm.Held}");
            for (var guest = 1; guest <= Guests; guest++)
            {
                var (errno, host) = TranslateOf(vm, guest);
                Assert.True((errno, host) == _model.Translate(vm, guest),
                    $"VM {vm.Id}'s KVM translates guest PASID {guest} to ({errno}, {host}), the set's mapping is {_model.Translate(vm, guest)}");
            }
        }
        CheckSpace();
        CheckUnits(touched);
    }

    /// <summary>The space leases exactly the PASIDs the open VMs hold, each to its VM's set, and quarantines none.</summary>
    private void CheckSpace() => AwaitAssert(() =>
    {
        var state = _host.Space.Ask<PasidSpaceProtocol.SpaceState>(new PasidSpaceProtocol.GetSpace(), AskTimeout).Result;
        Assert.True(state.Quarantined.IsEmpty, $"the space quarantined {string.Join(", ", state.Quarantined)}");
        var expected = _model.Vms.SelectMany(v => v.Live.Keys.Concat(v.Pending).Select(p => (p, _files[v].SetKey ?? $"VM {v.Id}")))
            .Order().ToList();
        var leased = state.Owners.Select(kv => (kv.Key, kv.Value)).Order().ToList();
        Assert.True(expected.SequenceEqual(leased),
            $"the space leases [{string.Join(", ", leased)}], the VMs hold [{string.Join(", ", expected)}]");
    }, AskTimeout);

    /// <summary>Each unit holds a context entry for a PASID exactly where a device is attached at a live PASID, and no IOTLB entry without one.</summary>
    private void CheckUnits(IEnumerable<int> pasids)
    {
        foreach (var pasid in pasids.Where(p => p is >= SmallSpaceHost.FirstPasid and <= SmallSpaceHost.LastPasid))
        {
            var attached = _model.ContextsOf(pasid);
            foreach (var unit in UnitNames)
            {
                var refs = _host.Units.Ask<UnitProtocol.PasidReferences>(new UnitProtocol.GetPasidReferences(unit, pasid), AskTimeout).Result;
                var expected = attached.Where(pci => _deviceOf[pci].Unit == unit).Order(StringComparer.Ordinal).ToList();
                var actual = refs.Contexts.Select(c => c.Pci).Order(StringComparer.Ordinal).ToList();
                Assert.True(expected.SequenceEqual(actual),
                    $"{unit} holds context entries for PASID {pasid} of [{string.Join(", ", actual)}], attached are [{string.Join(", ", expected)}]");
                if (expected.Count == 0)
                    Assert.True(refs.IotlbEntries == 0, $"{unit} holds {refs.IotlbEntries} IOTLB entries of PASID {pasid} without a context");
            }
        }
    }

    /// <summary>A PASID just handed out: no unit, KVM, VDCM or driver of any VM refers to it.</summary>
    private void NobodyRefersTo(int pasid)
    {
        foreach (var unit in UnitNames)
        {
            var refs = _host.Units.Ask<UnitProtocol.PasidReferences>(new UnitProtocol.GetPasidReferences(unit, pasid), AskTimeout).Result;
            Assert.True(refs.Contexts.IsEmpty && refs.IotlbEntries == 0,
                $"PASID {pasid} was handed out while {unit} holds {refs.Contexts.Length} context entries and {refs.IotlbEntries} IOTLB entries of it");
        }
        foreach (var key in _files.Values.Select(f => f.SetKey).OfType<string>())
        {
            var table = _host.VmSubscriber("kvm", key).Ask<KvmProtocol.TranslationTable>(new KvmProtocol.GetTranslationTable(), AskTimeout).Result;
            Assert.False(table.GuestToHost.Values.Contains(pasid), $"PASID {pasid} was handed out while KVM of {key} translates to it");
            var queues = _host.VmSubscriber("vdcm", key).Ask<VdcmProtocol.Queues>(new VdcmProtocol.GetQueues(), AskTimeout).Result;
            Assert.False(queues.HostPasidByDevice.Values.Contains(pasid), $"PASID {pasid} was handed out while VDCM of {key} has it in a queue");
        }
        var bindings = _host.Driver.Ask<IommuDriverProtocol.Bindings>(new IommuDriverProtocol.GetBindings(), AskTimeout).Result;
        Assert.False(bindings.DevicesByPasid.Keys.Any(k => k.EndsWith($"/{pasid}", StringComparison.Ordinal)),
            $"PASID {pasid} was handed out while the IOMMU driver binds it");
    }
}
