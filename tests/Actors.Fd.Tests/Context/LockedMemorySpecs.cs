using Akka.Actor;
using IommuActors.Fd.Tests.Support;
using IommuActors.Uapi;
using IommuActors.Uapi.Structs;
using Xunit;
using static IommuActors.Fd.Files.FileProtocol;

namespace IommuActors.Fd.Tests.Context;

/// <summary>
/// Locked-memory accounting across iommufd contexts: every IOAS charges the box's accounts under
/// the user (RLIMIT_MODE 0) or the process (RLIMIT_MODE 1) that created it, against one
/// RLIMIT_MEMLOCK of <see cref="Limit"/> pages, for the pages it pins (a domain attached).
/// </summary>
public sealed class LockedMemorySpecs() : FdSpec(lockedPages: Limit)
{
    private const ulong Limit = 16;
    private const ulong Page = 4096;
    private const uint RW = IoasMapFlags.Readable | IoasMapFlags.Writeable | IoasMapFlags.FixedIova;
    private const ulong Iova = Selftest.MockApertureStart;

    private static readonly Caller Alice = new(1000, 4242, CapSysResource: true);
    private static readonly Caller AliceAgain = new(1000, 4343, CapSysResource: true);
    private static readonly Caller Bob = new(1001, 5000, CapSysResource: true);

    /// <summary>The file region the helpers talk to: the spec's own until a restart starts another.</summary>
    private IActorRef? _files;

    private IActorRef In => _files ?? Files;

    private uint NewIoas(string ctx, Caller by) =>
        Back<IommuIoasAlloc>(Call(In, ctx, Ioctls.IOMMU_IOAS_ALLOC, new IommuIoasAlloc(12, 0, 0), by)).OutIoasId;

    private int MockDomain(string ctx, uint ioas, Caller by) =>
        Call(In, ctx, Ioctls.IOMMU_TEST_CMD, IommuTestCmd.Create(TestOp.MockDomain, ioas), by).Errno;

    private string NewContext(string path = "/dev/iommu")
    {
        var fd = ++_fd;
        var ctx = $"accounts-{fd}";
        OpenIn(In, ctx, path, fd);
        return ctx;
    }

    private int _fd = 50;

    /// <summary>A context and an IOAS of <paramref name="by"/> with a mock domain attached, so what it maps is pinned.</summary>
    private (string Ctx, uint Ioas) PinningIoas(Caller by, bool perProcess = false)
    {
        var ctx = NewContext();
        if (perProcess)
            Assert.Equal(0, SetRlimitMode(ctx, 1, by));
        var ioas = NewIoas(ctx, by);
        Assert.Equal(0, MockDomain(ctx, ioas, by));
        return (ctx, ioas);
    }

    private int SetRlimitMode(string ctx, ulong mode, Caller by) =>
        Call(In, ctx, Ioctls.IOMMU_OPTION, new IommuOption(24, IommuOptions.RlimitMode, IommuOptions.OpSet, 0, 0, mode), by).Errno;

    private int Map(string ctx, uint ioas, ulong pages, Caller by, ulong atPage = 0) =>
        Call(In, ctx, Ioctls.IOMMU_IOAS_MAP, new IommuIoasMap(40, RW, ioas, 0, Mem + atPage * Page, pages * Page, Iova + atPage * Page), by).Errno;

    private int Unmap(string ctx, uint ioas, ulong pages, Caller by, ulong atPage = 0) =>
        Call(In, ctx, Ioctls.IOMMU_IOAS_UNMAP, new IommuIoasUnmap(24, ioas, Iova + atPage * Page, pages * Page), by).Errno;

    private ulong Charged(string account) => Account(account).ChargedPages;

    [Fact]
    public void Two_contexts_of_one_user_share_the_limit_and_a_map_past_it_in_the_second_is_ENOMEM_and_changes_nothing()
    {
        var (a, ioasA) = PinningIoas(Alice);
        var (b, ioasB) = PinningIoas(AliceAgain);
        Assert.Equal(0, Map(a, ioasA, 12, Alice));

        Assert.Equal(Errno.ENOMEM, Map(b, ioasB, 5, AliceAgain));

        Assert.Equal(12ul, Charged("user-1000"));
        // The refused range stayed free: the four pages left under the limit map there.
        Assert.Equal(0, Map(b, ioasB, 4, AliceAgain));
        Assert.Equal(Limit, Charged("user-1000"));
    }

    [Fact]
    public void Unmapping_gives_the_charge_back_so_another_context_of_the_user_can_map_it()
    {
        var (a, ioasA) = PinningIoas(Alice);
        var (b, ioasB) = PinningIoas(AliceAgain);
        Assert.Equal(0, Map(a, ioasA, Limit, Alice));
        Assert.Equal(Errno.ENOMEM, Map(b, ioasB, 1, AliceAgain));

        Assert.Equal(0, Unmap(a, ioasA, Limit, Alice));

        Assert.Equal(0ul, Charged("user-1000"));
        Assert.Equal(0, Map(b, ioasB, Limit, AliceAgain));
        Assert.Equal(Limit, Charged("user-1000"));
    }

    [Fact]
    public void Pages_are_charged_when_pinned_so_the_first_domain_of_an_IOAS_past_the_limit_is_ENOMEM()
    {
        var a = NewContext();
        var ioasA = NewIoas(a, Alice);
        Assert.Equal(0, Map(a, ioasA, 8, Alice));
        Assert.Equal(0ul, Charged("user-1000"));
        var (b, ioasB) = PinningIoas(AliceAgain);
        Assert.Equal(0, Map(b, ioasB, 12, AliceAgain));

        Assert.Equal(Errno.ENOMEM, MockDomain(a, ioasA, Alice));

        Assert.Equal(12ul, Charged("user-1000"));
        Assert.Equal(0, Unmap(b, ioasB, 12, AliceAgain));
        Assert.Equal(0, MockDomain(a, ioasA, Alice));
        Assert.Equal(8ul, Charged("user-1000"));
    }

    [Fact]
    public void Each_user_has_the_whole_limit()
    {
        var (a, ioasA) = PinningIoas(Alice);
        var (b, ioasB) = PinningIoas(Bob);

        Assert.Equal(0, Map(a, ioasA, Limit, Alice));
        Assert.Equal(0, Map(b, ioasB, Limit, Bob));

        Assert.Equal((Limit, Limit), (Charged("user-1000"), Charged("user-1001")));
    }

    [Fact]
    public void In_RLIMIT_MODE_1_each_process_of_a_user_has_the_whole_limit_and_the_user_is_not_charged()
    {
        var (a, ioasA) = PinningIoas(Alice, perProcess: true);
        var (b, ioasB) = PinningIoas(AliceAgain, perProcess: true);

        Assert.Equal(0, Map(a, ioasA, Limit, Alice));
        Assert.Equal(0, Map(b, ioasB, Limit, AliceAgain));

        Assert.Equal((Limit, Limit, 0ul), (Charged("process-4242"), Charged("process-4343"), Charged("user-1000")));
    }

    [Fact]
    public void In_RLIMIT_MODE_1_the_contexts_of_one_process_share_its_limit()
    {
        var (a, ioasA) = PinningIoas(Alice, perProcess: true);
        var (b, ioasB) = PinningIoas(Alice, perProcess: true);
        Assert.Equal(0, Map(a, ioasA, 12, Alice));

        Assert.Equal(Errno.ENOMEM, Map(b, ioasB, 5, Alice));

        Assert.Equal(12ul, Charged("process-4242"));
    }

    [Fact]
    public void A_context_opened_as_dev_vfio_vfio_starts_in_RLIMIT_MODE_1_and_charges_the_process()
    {
        var ctx = NewContext("/dev/vfio/vfio");
        var ioas = NewIoas(ctx, Alice);
        Assert.Equal(0, MockDomain(ctx, ioas, Alice));

        Assert.Equal(0, Map(ctx, ioas, 4, Alice));

        var mode = Back<IommuOption>(Call(In, ctx, Ioctls.IOMMU_OPTION, new IommuOption(24, IommuOptions.RlimitMode, IommuOptions.OpGet, 0, 0, 0), Alice));
        Assert.Equal((1ul, 4ul, 0ul), (mode.Val64, Charged("process-4242"), Charged("user-1000")));
    }

    [Fact]
    public void An_IOAS_charges_the_user_that_created_it_whoever_maps()
    {
        var (ctx, ioas) = PinningIoas(Alice);

        Assert.Equal(0, Map(ctx, ioas, 4, Bob));

        Assert.Equal((4ul, 0ul), (Charged("user-1000"), Charged("user-1001")));
    }

    [Fact]
    public void IOAS_CHANGE_PROCESS_is_EINVAL_once_an_IOAS_maps_user_memory_and_moves_no_charge()
    {
        var (ctx, ioas) = PinningIoas(Alice, perProcess: true);
        var change = new IommuIoasChangeProcess(8, 0);
        Assert.Equal(0, Call(In, ctx, Ioctls.IOMMU_IOAS_CHANGE_PROCESS, change, AliceAgain).Errno);
        Assert.Equal(0, Map(ctx, ioas, 4, Alice));

        Assert.Equal(Errno.EINVAL, Call(In, ctx, Ioctls.IOMMU_IOAS_CHANGE_PROCESS, change, AliceAgain).Errno);

        Assert.Equal((4ul, 0ul), (Charged("process-4242"), Charged("process-4343")));
    }

    [Fact]
    public void Closing_a_context_gives_back_what_its_IOAS_charged()
    {
        var (ctx, ioas) = PinningIoas(Alice);
        Assert.Equal(0, Map(ctx, ioas, Limit, Alice));
        Assert.Equal(Limit, Charged("user-1000"));

        Release(ctx);

        Assert.Equal(0ul, Charged("user-1000"));
    }

    [Theory]
    [InlineData(500)]
    [InlineData(1)]
    public void After_a_restart_the_charges_are_kept_and_each_IOAS_charges_the_accounts_it_was_created_with(int snapshotEvery)
    {
        _files = StartFiles("files-accounts", snapshotEvery);
        var (ctx, ioas) = PinningIoas(Alice);
        Assert.Equal(0, Map(ctx, ioas, 12, Alice));

        Watch(_files);
        Sys.Stop(_files);
        ExpectTerminated(_files);
        RestartAccounts();
        _files = StartFiles("files-accounts-2", snapshotEvery);

        Assert.Equal(12ul, Charged("user-1000"));
        var (other, otherIoas) = PinningIoas(AliceAgain);
        Assert.Equal(Errno.ENOMEM, Map(other, otherIoas, 5, AliceAgain));
        // The recovered IOAS gives its pages back to its creator's account, whoever unmaps.
        Assert.Equal(0, Unmap(ctx, ioas, 12, Bob));
        Assert.Equal(0ul, Charged("user-1000"));
        Assert.Equal(0, Map(other, otherIoas, Limit, AliceAgain));
        Assert.Equal(Limit, Charged("user-1000"));
    }
}
