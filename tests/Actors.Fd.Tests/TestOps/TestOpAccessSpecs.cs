using IommuActors.Fd.Tests.Support;
using IommuActors.Uapi;
using IommuActors.Uapi.Structs;
using Xunit;
using static IommuActors.Fd.Files.FileProtocol;

namespace IommuActors.Fd.Tests.TestOps;

/// <summary>
/// The selftest's access ops on an iommufd context (CREATE_ACCESS, ACCESS_PAGES,
/// DESTROY_ACCESS_PAGES, ACCESS_RW, ACCESS_REPLACE_IOAS, SET_TEMP_MEMORY_LIMIT), with the
/// selftest's struct bytes; the access's id in the ops is its fd.
/// </summary>
public sealed class TestOpAccessSpecs : TestOpSpec
{
    private const uint RO = IoasMapFlags.Readable | IoasMapFlags.FixedIova;
    private const uint Pin = Selftest.FlagsAccessCreateNeedsPinPages;
    private const ulong Iova = 0x100000;

    private static IommuTestCmd CreateCmd(uint ioas, uint flags) =>
        IommuTestCmd.Create(TestOp.CreateAccess, ioas).WithU32(TestCmdLayout.CreateAccess.Flags, flags);

    private uint CreateAccess(uint ioas, uint flags = Pin)
    {
        var done = Test(CreateCmd(ioas, flags));
        Assert.Equal(0, done.Errno);
        return Back<IommuTestCmd>(done).U32(TestCmdLayout.CreateAccess.OutAccessFd);
    }

    private static IommuTestCmd PagesCmd(uint fd, ulong iova, ulong length, ulong uptr, uint flags = 0) =>
        IommuTestCmd.Create(TestOp.AccessPages, fd)
            .WithU32(TestCmdLayout.AccessPages.Flags, flags)
            .WithU64(TestCmdLayout.AccessPages.Iova, iova)
            .WithU64(TestCmdLayout.AccessPages.Length, length)
            .WithU64(TestCmdLayout.AccessPages.Uptr, uptr);

    private uint PinPages(uint fd, ulong iova, ulong length, ulong uptr)
    {
        var done = Test(PagesCmd(fd, iova, length, uptr));
        Assert.Equal(0, done.Errno);
        return Back<IommuTestCmd>(done).U32(TestCmdLayout.AccessPages.OutAccessPagesId);
    }

    private int DestroyPages(uint fd, uint item) =>
        Test(IommuTestCmd.Create(TestOp.DestroyAccessPages, fd).WithU32(TestCmdLayout.DestroyAccessPages.AccessPagesId, item)).Errno;

    private static IommuTestCmd RwCmd(uint fd, ulong iova, ulong length, ulong uptr, uint flags) =>
        IommuTestCmd.Create(TestOp.AccessRw, fd)
            .WithU64(TestCmdLayout.AccessRw.Iova, iova)
            .WithU64(TestCmdLayout.AccessRw.Length, length)
            .WithU64(TestCmdLayout.AccessRw.Uptr, uptr)
            .WithU32(TestCmdLayout.AccessRw.Flags, flags);

    private int Replace(uint fd, uint ioas) =>
        Test(IommuTestCmd.Create(TestOp.AccessReplaceIoas, fd).WithU32(TestCmdLayout.AccessReplaceIoas.IoasId, ioas)).Errno;

    /// <summary>The file the client's fd names, as the connection would resolve it.</summary>
    private string FileOf(uint fd)
    {
        Client.Tell(new ResolveFd(-1, (int)fd), TestActor);
        var resolved = ExpectMsg<FdResolved>();
        Assert.Equal(0, resolved.Errno);
        return resolved.FileId;
    }

    private static byte[] Pattern(int length, byte seed) => [.. Enumerable.Range(0, length).Select(i => (byte)(seed + i * 7))];

    // ---- CREATE_ACCESS ----

    [Fact]
    public void CREATE_ACCESS_returns_a_new_fd_in_out_access_fd_and_the_rest_of_the_struct_as_given()
    {
        var ioas = NewIoas();
        var done = Test(CreateCmd(ioas, Pin));
        Assert.Equal(0, done.Errno);
        var expected = CreateCmd(ioas, Pin).WithU32(TestCmdLayout.CreateAccess.OutAccessFd, 100);
        Assert.Equal(UserStruct.Encode(expected), done.Writeback);
    }

    [Fact]
    public void CREATE_ACCESS_with_an_unknown_flag_is_EOPNOTSUPP_before_the_IOAS_is_looked_up()
    {
        Assert.Equal(Errno.EOPNOTSUPP, Test(CreateCmd(77, 2)).Errno);
    }

    [Fact]
    public void CREATE_ACCESS_on_an_ID_that_is_no_IOAS_is_ENOENT()
    {
        var ioas = NewIoas();
        Assert.Equal(Errno.ENOENT, Test(CreateCmd(ioas + 1, 0)).Errno);
    }

    [Fact]
    public void An_access_that_pins_raises_the_IOAS_alignment_to_a_page_and_is_EADDRINUSE_over_an_area_that_breaks_it()
    {
        var ioas = NewIoas();
        Assert.Equal(0, Map(ioas, Iova, Buffer, 0x800));
        Assert.Equal(Errno.EADDRINUSE, Test(CreateCmd(ioas, Pin)).Errno);

        // An access that only reads and writes does not care.
        CreateAccess(ioas, 0);
        Assert.Equal(0, Unmap(ioas, Iova, 0x800));
        CreateAccess(ioas, Pin);
        Assert.Equal(Errno.EINVAL, Map(ioas, Iova, Buffer, 0x800));
    }

    [Fact]
    public void The_IOAS_of_an_access_cannot_be_destroyed_nor_the_access_object_until_its_fd_closes()
    {
        var ioas = NewIoas();
        var fd = CreateAccess(ioas);
        var accessId = ioas + 1;

        Assert.Equal(Errno.EBUSY, Destroy(ioas));
        Assert.Equal(Errno.EBUSY, Destroy(accessId));

        Release(FileOf(fd));
        Assert.Equal(Errno.ENOENT, Destroy(accessId));
        Assert.Equal(0, Destroy(ioas));
    }

    [Fact]
    public void The_access_fd_has_no_read_write_or_ioctl_of_its_own()
    {
        var file = FileOf(CreateAccess(NewIoas()));
        Files.Tell(new Read(file, 1, 8, Client), TestActor);
        var read = ExpectMsg<ReadDone>();
        Assert.Equal((file, 1L, Errno.EINVAL, 0), (read.FileId, read.Tag, read.Errno, read.Data.Length));
        Files.Tell(new Write(file, 2, [1], Client), TestActor);
        ExpectMsg(new WriteDone(file, 2, Errno.EINVAL, 0));
        Assert.Equal(Errno.ENOTTY, Ioctl(file, Ioctls.IOMMU_TEST_CMD, CreateCmd(1, 0)).Errno);
    }

    // ---- ACCESS_PAGES ----

    [Fact]
    public void ACCESS_PAGES_pins_the_range_and_numbers_the_items_from_0()
    {
        var ioas = NewIoas();
        Assert.Equal(0, Map(ioas, Iova, Buffer, 0x4000));
        var fd = CreateAccess(ioas);

        Assert.Equal(0u, PinPages(fd, Iova, 0x2000, Buffer));
        Assert.Equal(1u, PinPages(fd, Iova + 0x1000, 0x3000, Buffer + 0x1000));
        var done = Test(PagesCmd(fd, Iova, 0x1000, Buffer));
        Assert.Equal(UserStruct.Encode(PagesCmd(fd, Iova, 0x1000, Buffer).WithU32(TestCmdLayout.AccessPages.OutAccessPagesId, 2)),
            done.Writeback);
    }

    [Fact]
    public void ACCESS_PAGES_whose_uptr_is_not_the_memory_behind_the_IOVA_is_EBADE_and_unmapped_uptr_EFAULT()
    {
        var ioas = NewIoas();
        Assert.Equal(0, Map(ioas, Iova, Buffer, 0x4000));
        var fd = CreateAccess(ioas);

        Assert.Equal(SelftestErrno.EBADE, Test(PagesCmd(fd, Iova, 0x2000, Buffer + 0x1000)).Errno);
        Assert.Equal(Errno.EFAULT, Test(PagesCmd(fd, Iova, 0x2000, 0x1000)).Errno);
        // A NULL uptr skips the check; nothing of the failures was kept, so the first item is 0.
        Assert.Equal(0u, PinPages(fd, Iova, 0x2000, 0));
    }

    [Fact]
    public void ACCESS_PAGES_checks_length_and_flags_before_the_fd_and_a_wrong_fd_is_EBADFD()
    {
        var ioas = NewIoas();
        var fd = CreateAccess(ioas);
        Assert.Equal(Errno.ENOMEM, Test(PagesCmd(999, Iova, Selftest.AccessMaxLength + 1, 0)).Errno);
        Assert.Equal(Errno.EOPNOTSUPP, Test(PagesCmd(999, Iova, 0x1000, 0, 2)).Errno);
        Assert.Equal(SelftestErrno.EBADFD, Test(PagesCmd(999, Iova, 0x1000, 0)).Errno);
        var iommufd = (uint)3;
        Assert.Equal(SelftestErrno.EBADFD, Test(PagesCmd(iommufd, Iova, 0x1000, 0)).Errno);
        Assert.Equal(Errno.EINVAL, Test(PagesCmd(fd, Iova, 0, 0)).Errno);
    }

    [Fact]
    public void ACCESS_PAGES_through_an_access_made_without_NEEDS_PIN_PAGES_is_EOPNOTSUPP()
    {
        var ioas = NewIoas();
        Assert.Equal(0, Map(ioas, Iova, Buffer, 0x1000));
        var fd = CreateAccess(ioas, 0);
        Assert.Equal(Errno.EOPNOTSUPP, Test(PagesCmd(fd, Iova, 0x1000, Buffer)).Errno);
    }

    [Fact]
    public void ACCESS_PAGES_over_a_hole_is_ENOENT_and_a_write_pin_of_a_read_only_area_EPERM_first()
    {
        var ioas = NewIoas();
        Assert.Equal(0, Map(ioas, Iova, Buffer, 0x1000, RO));
        var fd = CreateAccess(ioas);

        Assert.Equal(Errno.ENOENT, Test(PagesCmd(fd, Iova, 0x2000, 0)).Errno);
        Assert.Equal(Errno.EPERM, Test(PagesCmd(fd, Iova, 0x2000, 0, Selftest.FlagsAccessWrite)).Errno);
        Assert.Equal(0u, PinPages(fd, Iova, 0x1000, Buffer));
    }

    [Fact]
    public void CREATE_ACCESS_that_pins_over_an_area_starting_off_a_page_fails_with_EADDRINUSE()
    {
        // iopt_add_access raises the IOAS alignment to a page, and iopt_check_iova_alignment counts the
        // area's offset in its first user page; so an access never meets memory starting off a page.
        var ioas = NewIoas();
        Assert.Equal(0, Map(ioas, Iova, Buffer + 0x800, 0x2000));
        Assert.Equal(Errno.EADDRINUSE, Test(CreateCmd(ioas, Pin)).Errno);
    }

    [Fact]
    public void ACCESS_PAGES_with_the_syzkaller_flag_reads_the_IOVA_as_the_nth_area_and_an_offset()
    {
        var ioas = NewIoas();
        Assert.Equal(0, Map(ioas, Iova, Buffer, 0x1000));
        Assert.Equal(0, Map(ioas, Iova + 0x10000, Buffer + 0x4000, 0x2000));
        var fd = CreateAccess(ioas);

        var nthAndOffset = 1UL | (0x1000UL << 32);
        Assert.Equal(0, Test(PagesCmd(fd, nthAndOffset, 0x1000, Buffer + 0x5000, Selftest.FlagsAccessSyz)).Errno);
    }

    // ---- DESTROY_ACCESS_PAGES and the unmap callback ----

    [Fact]
    public void DESTROY_ACCESS_PAGES_unpins_the_item_once_and_then_is_ENOENT()
    {
        var ioas = NewIoas();
        Assert.Equal(0, Map(ioas, Iova, Buffer, 0x2000));
        var fd = CreateAccess(ioas);
        var item = PinPages(fd, Iova, 0x2000, Buffer);

        Assert.Equal(0, DestroyPages(fd, item));
        Assert.Equal(Errno.ENOENT, DestroyPages(fd, item));
        Assert.Equal(SelftestErrno.EBADFD, DestroyPages(998, item));
    }

    [Fact]
    public void Unmapping_pinned_pages_asks_the_access_which_unpins_the_items_in_the_range_and_keeps_the_others()
    {
        var ioas = NewIoas();
        Assert.Equal(0, Map(ioas, Iova, Buffer, 0x2000));
        Assert.Equal(0, Map(ioas, Iova + 0x2000, Buffer + 0x2000, 0x2000));
        var fd = CreateAccess(ioas);
        var first = PinPages(fd, Iova, 0x2000, Buffer);
        var second = PinPages(fd, Iova + 0x2000, 0x1000, Buffer + 0x2000);

        Assert.Equal(0, Unmap(ioas, Iova, 0x2000));

        Assert.Equal(Errno.ENOENT, DestroyPages(fd, first));
        Assert.Equal(0, DestroyPages(fd, second));
        Assert.Equal(0, Unmap(ioas, Iova + 0x2000, 0x2000));
    }

    [Fact]
    public void Unmapping_everything_lets_go_of_items_that_span_two_areas()
    {
        var ioas = NewIoas();
        Assert.Equal(0, Map(ioas, Iova, Buffer, 0x1000));
        Assert.Equal(0, Map(ioas, Iova + 0x1000, Buffer + 0x1000, 0x1000));
        var fd = CreateAccess(ioas);
        var item = PinPages(fd, Iova, 0x2000, Buffer);

        Assert.Equal(0, Unmap(ioas, 0, ulong.MaxValue));
        Assert.Equal(Errno.ENOENT, DestroyPages(fd, item));
    }

    [Fact]
    public void Closing_the_access_fd_drops_its_pins_and_closing_the_iommufd_with_an_access_open_completes()
    {
        var ioas = NewIoas();
        Assert.Equal(0, Map(ioas, Iova, Buffer, 0x2000));
        var fd = CreateAccess(ioas);
        PinPages(fd, Iova, 0x2000, Buffer);
        Release(FileOf(fd));
        Assert.Equal(0, Unmap(ioas, Iova, 0x2000));

        Assert.Equal(0, Map(ioas, Iova, Buffer, 0x2000));
        var other = CreateAccess(ioas);
        PinPages(other, Iova, 0x1000, Buffer);
        Release(Ctx);
        // The access fd outlives the context; closing it later finds nothing to destroy.
        Release(FileOf(other));
    }

    // ---- ACCESS_RW ----

    [Fact]
    public void ACCESS_RW_writes_the_callers_bytes_to_the_memory_behind_the_IOVA_and_reads_them_back_across_areas()
    {
        var ioas = NewIoas();
        Assert.Equal(0, Map(ioas, Iova, Buffer, 0x1000));
        Assert.Equal(0, Map(ioas, Iova + 0x1000, Buffer + 0x3000, 0x1000));
        var fd = CreateAccess(ioas, 0);
        var source = Mem + 0x100000;
        var bytes = Pattern(0x200, 3);
        Poke(source, bytes);

        Assert.Equal(0, Test(RwCmd(fd, Iova + 0xf00, 0x200, source, Selftest.AccessRwWrite)).Errno);
        Assert.Equal(bytes[..0x100], Peek(Buffer + 0xf00, 0x100));
        Assert.Equal(bytes[0x100..], Peek(Buffer + 0x3000, 0x100));

        var target = Mem + 0x200000;
        var done = Test(RwCmd(fd, Iova + 0xf00, 0x200, target, Selftest.AccessRwSlowPath));
        Assert.Equal((0, 0), (done.Errno, done.Writeback.Length));
        Assert.Equal(bytes, Peek(target, 0x200));
    }

    [Fact]
    public void ACCESS_RW_write_into_a_read_only_area_is_EPERM_after_the_areas_before_it_were_written()
    {
        var ioas = NewIoas();
        Assert.Equal(0, Map(ioas, Iova, Buffer, 0x1000));
        Assert.Equal(0, Map(ioas, Iova + 0x1000, Buffer + 0x1000, 0x1000, RO));
        var fd = CreateAccess(ioas, 0);
        var source = Mem + 0x100000;
        Poke(source, Pattern(0x20, 9));

        Assert.Equal(Errno.EPERM, Test(RwCmd(fd, Iova + 0xff0, 0x20, source, Selftest.AccessRwWrite)).Errno);
        Assert.Equal(Pattern(0x10, 9), Peek(Buffer + 0xff0, 0x10));
        Assert.Equal(new byte[0x10], Peek(Buffer + 0x1000, 0x10));
    }

    [Fact]
    public void ACCESS_RW_read_past_the_last_area_is_ENOENT_and_copies_nothing_out()
    {
        var ioas = NewIoas();
        Assert.Equal(0, Map(ioas, Iova, Buffer, 0x1000));
        Poke(Buffer + 0xff0, Pattern(0x10, 1));
        var fd = CreateAccess(ioas, 0);
        var target = Mem + 0x200000;

        Assert.Equal(Errno.ENOENT, Test(RwCmd(fd, Iova + 0xff0, 0x20, target, 0)).Errno);
        Assert.Equal(new byte[0x20], Peek(target, 0x20));
    }

    [Fact]
    public void ACCESS_RW_checks_length_then_flags_then_the_fd_then_the_callers_buffer_then_the_range()
    {
        var ioas = NewIoas();
        var fd = CreateAccess(ioas, 0);
        Assert.Equal(Errno.ENOMEM, Test(RwCmd(999, Iova, Selftest.AccessMaxLength + 1, Mem, 0)).Errno);
        Assert.Equal(Errno.EOPNOTSUPP, Test(RwCmd(999, Iova, 0x10, Mem, 2)).Errno);
        Assert.Equal(SelftestErrno.EBADFD, Test(RwCmd(999, Iova, 0x10, Mem, 0)).Errno);
        Assert.Equal(Errno.EFAULT, Test(RwCmd(fd, Iova, 0x10, 0x1000, Selftest.AccessRwWrite)).Errno);
        Assert.Equal(Errno.EINVAL, Test(RwCmd(fd, Iova, 0, Mem, Selftest.AccessRwWrite)).Errno);
        Assert.Equal(Errno.EOVERFLOW, Test(RwCmd(fd, ulong.MaxValue, 0x10, Mem, 0)).Errno);
        Assert.Equal(Errno.ENOENT, Test(RwCmd(fd, Iova, 0x10, Mem, 0)).Errno);
    }

    // ---- ACCESS_REPLACE_IOAS ----

    [Fact]
    public void ACCESS_REPLACE_IOAS_moves_the_access_unpins_its_items_and_frees_the_old_IOAS()
    {
        var first = NewIoas();
        var second = NewIoas();
        Assert.Equal(0, Map(first, Iova, Buffer, 0x1000));
        Assert.Equal(0, Map(second, Iova, Buffer + 0x2000, 0x1000));
        var fd = CreateAccess(first);
        var item = PinPages(fd, Iova, 0x1000, Buffer);
        Poke(Buffer + 0x2000, Pattern(8, 5));

        Assert.Equal(0, Replace(fd, second));

        Assert.Equal(Errno.ENOENT, DestroyPages(fd, item));
        Assert.Equal(0, Destroy(first));
        Assert.Equal(Errno.EBUSY, Destroy(second));
        var target = Mem + 0x200000;
        Assert.Equal(0, Test(RwCmd(fd, Iova, 8, target, 0)).Errno);
        Assert.Equal(Pattern(8, 5), Peek(target, 8));
        Assert.Equal(1u, PinPages(fd, Iova, 0x1000, Buffer + 0x2000));
    }

    [Fact]
    public void ACCESS_REPLACE_IOAS_to_no_IOAS_is_ENOENT_to_its_own_IOAS_a_no_op_and_over_unaligned_areas_EADDRINUSE()
    {
        var first = NewIoas();
        var second = NewIoas();
        Assert.Equal(0, Map(first, Iova, Buffer, 0x1000));
        Assert.Equal(0, Map(second, Iova, Buffer, 0x800));
        var fd = CreateAccess(first);
        var item = PinPages(fd, Iova, 0x1000, Buffer);

        Assert.Equal(Errno.ENOENT, Replace(fd, 99));
        Assert.Equal(0, Replace(fd, first));
        Assert.Equal(Errno.EADDRINUSE, Replace(fd, second));
        Assert.Equal(0, DestroyPages(fd, item));
        Assert.Equal(0, Destroy(second));
    }

    // ---- SET_TEMP_MEMORY_LIMIT ----

    [Fact]
    public void SET_TEMP_MEMORY_LIMIT_below_twelve_bytes_is_EINVAL_and_otherwise_accepted()
    {
        var limit = IommuTestCmd.Create(TestOp.SetTempMemoryLimit, 0);
        Assert.Equal(Errno.EINVAL, Test(limit.WithU32(TestCmdLayout.MemoryLimit.Limit, 11)).Errno);
        var done = Test(limit.WithU32(TestCmdLayout.MemoryLimit.Limit, 12));
        Assert.Equal((0, 0), (done.Errno, done.Writeback.Length));
    }
}
