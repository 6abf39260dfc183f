using System.Collections.Concurrent;
using System.Buffers.Binary;
using Akka.Actor;
using Akka.Configuration;
using Akka.TestKit.Xunit2;
using IommuActors.Domains.Pages;
using IommuActors.Fd.Devices;
using IommuActors.Fd.Files;
using IommuActors.Hardware;
using IommuActors.TestSupport;
using IommuActors.Uapi;
using IommuActors.Uapi.Structs;
using Xunit;
using static IommuActors.Fd.Files.FileProtocol;

namespace IommuActors.Fd.Tests.Support;

/// <summary>
/// A box with the default platform: units, the file region, the ownership registry, the
/// locked-memory accounts (RLIMIT_MEMLOCK of <c>lockedPages</c>, unlimited unless given), one client.
/// </summary>
public abstract class FdSpec : TestKit
{
    protected const ulong Mem = FakeClient.Base;
    protected readonly byte[] Memory = new byte[4 << 20];
    protected readonly ConcurrentQueue<FileReady> Ready = new();
    protected readonly IActorRef Units;
    protected readonly IActorRef Files;
    protected readonly IActorRef Ownership;
    protected readonly IActorRef Client;
    private readonly FdSettings _settings;
    private int _nextFd = 3;
    private int _accountsRun;
    private long _tag;
    private static int _run;
    private readonly string _prefix = $"s{Interlocked.Increment(ref _run)}";

    /// <summary>The box's locked-memory accounts, which every file region of the spec charges.</summary>
    protected IActorRef Accounts { get; private set; }

    protected FdSpec(Config? config = null, ulong? lockedPages = null) : base(config ?? SpecConfig.InMemory)
    {
        var platform = Platforms.Default;
        var unitProps = HardwareModule.UnitProps(platform);
        Units = Sys.ActorOf(Props.Create(() => new LocalRegion((id, _) => unitProps(id))), "units");
        Ownership = Sys.ActorOf(FdModule.OwnershipProps(), "ownership");
        _settings = FdSettings.Default with { ClientTimeout = TimeSpan.FromSeconds(3) };
        if (lockedPages is { } limit)
            _settings = _settings with { LockedPageLimit = limit };
        Accounts = Sys.ActorOf(FdModule.AccountsProps(_settings), "accounts");
        Files = StartFiles("files");
        var memory = Memory;
        var ready = Ready;
        Client = Sys.ActorOf(Props.Create(() => new FakeClient(memory, ready)), "client");
    }

    /// <summary>
    /// When set, Open, Ioctl and Release go over a real host's socket through this client instead
    /// of to the spec's own file region (the file id is then the fd); the spec's memory is the
    /// client's, so Poke and Peek still reach what the host reads and writes.
    /// </summary>
    protected Client.IommuClient? Wire { get; private set; }

    /// <summary>Runs the spec's ioctls over the socket of <paramref name="host"/> (see <see cref="Wire"/>).</summary>
    protected void UseSocket(SocketHost host) => Wire = host.Connect(Mem, Memory);

    /// <summary>Runs the spec's ioctls through <paramref name="client"/>, connected to some host with the spec's memory mapped at <see cref="Mem"/>.</summary>
    protected void UseSocket(Client.IommuClient client) => Wire = client;

    private readonly List<int> _wireFds = [];

    /// <summary>Closes what the spec left open, last opened first (CLOSE answers once the file is released), then the client.</summary>
    protected override void AfterAll()
    {
        if (Wire is { } wire)
        {
            for (var i = _wireFds.Count - 1; i >= 0; i--)
                wire.CloseAsync(_wireFds[i]).GetAwaiter().GetResult();
            wire.DisposeAsync().AsTask().GetAwaiter().GetResult();
        }
        base.AfterAll();
    }

    /// <summary>Opens a path as the client would and returns (file id, fd).</summary>
    protected (string FileId, int Fd) Open(string path, int expectErrno = 0)
    {
        if (Wire is { } wire)
        {
            try
            {
                var opened = wire.OpenAsync(path).GetAwaiter().GetResult();
                _wireFds.Add(opened);
                Assert.Equal(0, expectErrno);
                return (opened.ToString(), opened);
            }
            catch (Client.IommuException e)
            {
                Assert.Equal(expectErrno, e.Errno);
                return ("", -1);
            }
        }
        var fd = _nextFd++;
        var fileId = $"{_prefix}-f{fd}";
        Files.Tell(new Open(fileId, path, 2, Client), TestActor);
        ExpectOpened(fileId, expectErrno);
        if (expectErrno == 0)
            Client.Tell(new FakeClient.MapFd(fd, fileId, path));
        return (fileId, fd);
    }

    protected IoctlDone Ioctl(string fileId, uint request, byte[] inline, ulong arg = Mem, Caller? caller = null)
    {
        if (Wire is not { } wire)
            return Call(Files, fileId, request, inline, arg, caller);
        var r = wire.IoctlRawAsync(int.Parse(fileId), request, arg, inline).GetAwaiter().GetResult();
        return new IoctlDone(fileId, 0, r.Errno, r.ReturnValue, r.Writeback);
    }

    protected IoctlDone Ioctl<T>(string fileId, uint request, T cmd, ulong arg = Mem, Caller? caller = null) where T : IUapiStruct<T> =>
        Ioctl(fileId, request, UserStruct.Encode(cmd), arg, caller);

    protected static T Back<T>(IoctlDone done) where T : IUapiStruct<T>
    {
        Assert.Equal(0, done.Errno);
        var full = new byte[UserStruct.SizeOf<T>()];
        done.Writeback.CopyTo(full, 0);
        return T.Read(full);
    }

    /// <summary>A file region of the spec's own (its name), which a spec may stop and start again to recover its files.</summary>
    protected IActorRef StartFiles(string name, int? snapshotEvery = null)
    {
        var platform = Platforms.Default;
        var units = Units;
        var ownership = Ownership;
        var accounts = Accounts;
        var settings = snapshotEvery is { } every ? _settings with { SnapshotFloor = every } : _settings;
        return Sys.ActorOf(Props.Create(() => new LocalRegion((id, region) =>
            FdModule.FileProps(platform, units, () => region, ownership, settings, null, null, accounts)(id))), name);
    }

    /// <summary>Stops the locked-memory accounts, as a host going down would, and starts them again: they recover from their journal.</summary>
    protected void RestartAccounts()
    {
        Watch(Accounts);
        Sys.Stop(Accounts);
        ExpectTerminated(Accounts);
        Accounts = Sys.ActorOf(FdModule.AccountsProps(_settings), $"accounts-{++_accountsRun}");
    }

    /// <summary>What the locked-memory account of <paramref name="key"/> holds now.</summary>
    protected AccountProtocol.AccountView Account(string key)
    {
        Accounts.Tell(new AccountProtocol.GetAccount(key), TestActor);
        return ExpectMsg<AccountProtocol.AccountView>();
    }

    /// <summary>Stops a region started with <see cref="StartFiles"/>, as a host going down would, and starts it again under a new name: its files recover from their journals.</summary>
    protected IActorRef RestartFiles(IActorRef files, string name, int? snapshotEvery = null)
    {
        Watch(files);
        Sys.Stop(files);
        ExpectTerminated(files);
        return StartFiles(name, snapshotEvery);
    }

    /// <summary>OPEN's answer: the errno, and the actor serving the file exactly when it opened.</summary>
    private void ExpectOpened(string fileId, int errno)
    {
        var opened = ExpectMsg<Opened>();
        Assert.Equal((fileId, errno), (opened.FileId, opened.Errno));
        Assert.Equal(errno == 0, opened.File is not null);
    }

    /// <summary>Opens a path in a region started with <see cref="StartFiles"/> under a file id and fd of the spec's choosing.</summary>
    protected void OpenIn(IActorRef files, string fileId, string path, int fd)
    {
        files.Tell(new Open(fileId, path, 2, Client), TestActor);
        ExpectOpened(fileId, 0);
        Client.Tell(new FakeClient.MapFd(fd, fileId, path));
    }

    /// <summary>An ioctl on a file of a region started with <see cref="StartFiles"/>.</summary>
    protected IoctlDone Call(IActorRef files, string fileId, uint request, byte[] inline, ulong arg = Mem, Caller? caller = null)
    {
        var tag = ++_tag;
        files.Tell(new Ioctl(fileId, tag, request, arg, inline, Client, caller), TestActor);
        var done = ExpectMsg<IoctlDone>();
        Assert.Equal(tag, done.Tag);
        return done;
    }

    protected IoctlDone Call<T>(IActorRef files, string fileId, uint request, T cmd, Caller? caller = null) where T : IUapiStruct<T> =>
        Call(files, fileId, request, UserStruct.Encode(cmd), caller: caller);

    protected void Release(string fileId)
    {
        if (Wire is { } wire)
        {
            wire.CloseAsync(int.Parse(fileId)).GetAwaiter().GetResult();
            _wireFds.Remove(int.Parse(fileId));
            return;
        }
        Files.Tell(new Release(fileId, Client), TestActor);
        ExpectMsg(new Released(fileId));
    }

    protected void Poke(ulong address, ReadOnlySpan<byte> bytes) => bytes.CopyTo(Memory.AsSpan((int)(address - Mem)));

    protected byte[] Peek(ulong address, int length) => Memory.AsSpan((int)(address - Mem), length).ToArray();

    protected static ulong U64(byte[] b, int o) => BinaryPrimitives.ReadUInt64LittleEndian(b.AsSpan(o));

    // ---- the ioctls most specs make on the way ----

    protected uint NewIoas(string ctx) => Back<IommuIoasAlloc>(Ioctl(ctx, Ioctls.IOMMU_IOAS_ALLOC, new IommuIoasAlloc(12, 0, 0))).OutIoasId;

    protected int Destroy(string ctx, uint id) => Ioctl(ctx, Ioctls.IOMMU_DESTROY, new IommuDestroy(8, id)).Errno;

    /// <summary>VFIO_DEVICE_BIND_IOMMUFD with the 16 bytes up to out_devid.</summary>
    protected IoctlDone BindCall(string device, int iommufd, uint flags = 0, uint argsz = 16) =>
        Ioctl(device, Ioctls.VFIO_DEVICE_BIND_IOMMUFD, UserStruct.Encode(new VfioDeviceBindIommufd(argsz, flags, iommufd, 0, 0))[..16]);

    protected uint Bind(string device, int iommufd) => Back<VfioDeviceBindIommufd>(BindCall(device, iommufd)).OutDevid;

    protected IoctlDone Attach(string device, uint ptId, uint flags = 0, uint argsz = 12, uint pasid = 0) =>
        Ioctl(device, Ioctls.VFIO_DEVICE_ATTACH_IOMMUFD_PT, UserStruct.Encode(new VfioDeviceAttachIommufdPt(argsz, flags, ptId, pasid)));

    protected int Detach(string device) =>
        Ioctl(device, Ioctls.VFIO_DEVICE_DETACH_IOMMUFD_PT, UserStruct.Encode(new VfioDeviceDetachIommufdPt(8, 0, 0))[..8]).Errno;

    /// <summary>An emulated DMA of one page by a device, answered (DmaCompleted or DmaFaulted) to <paramref name="engine"/>.</summary>
    protected object Dma(Akka.TestKit.TestProbe engine, string unit, string pci, ulong iova, Hardware.Units.DmaDirection direction)
    {
        Units.Tell(new Hardware.Units.UnitProtocol.Dma(unit, pci, Hardware.Units.UnitProtocol.NoPasid, iova, 0x1000, direction), engine);
        return engine.ExpectMsg<object>(m => m is Hardware.Units.UnitProtocol.DmaCompleted or Hardware.Units.UnitProtocol.DmaFaulted);
    }
}
