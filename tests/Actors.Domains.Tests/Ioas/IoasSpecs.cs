using Akka.Actor;
using Akka.TestKit.Xunit2;
using IommuActors.Domains.Ioas;
using IommuActors.TestSupport;
using static IommuActors.Domains.Ioas.IoasProtocol;

namespace IommuActors.Domains.Tests.Ioas;

public sealed class IoasSpecs() : TestKit(SpecConfig.InMemory)
{
    private const ulong Page = 4096;
    private const Protection RW = Protection.Read | Protection.Write;

    /// <summary>The grace outlasts every wait of these specs: only a spec that means to let it run out may see it expire.</summary>
    private IActorRef NewIoas(string id, ulong limitPages = 1 << 20, TimeSpan? accessGrace = null) =>
        Sys.ActorOf(IoasActor.Props(id, limitPages, accessGrace: accessGrace ?? TimeSpan.FromMinutes(5)), id);

    private void MapFixed(IActorRef ioas, string id, ulong iova, ulong length)
    {
        ioas.Tell(new MapRange(id, 0x7f0000000000 + iova, length, RW, true, iova));
        ExpectMsg<MapResult>(r => r.Errno == 0 && r.Iova == iova);
    }

    [Fact]
    public void Map_with_a_fixed_iova_answers_that_iova_and_the_area_shows_in_the_mappings()
    {
        var ioas = NewIoas("m1");
        MapFixed(ioas, "m1", 0x100000, 2 * Page);
        ioas.Tell(new GetMappings("m1"));
        ExpectMsg<Mappings>(m => m.Areas.Length == 1 && m.Areas[0].Iova == 0x100000 && m.Areas[0].Length == 2 * Page && m.ChargedPages == 0);
    }

    [Fact]
    public void Map_without_a_fixed_iova_picks_the_second_page_of_a_fresh_space()
    {
        var ioas = NewIoas("p1");
        ioas.Tell(new MapRange("p1", 0x7f0000000000, Page, RW, false, 0));
        ExpectMsg<MapResult>(r => r.Errno == 0 && r.Iova == 0x1000);
    }

    [Fact]
    public void Map_without_a_fixed_iova_keeps_the_user_address_offset_in_its_page()
    {
        var ioas = NewIoas("p2");
        ioas.Tell(new MapRange("p2", 0x7f0000000800, Page, RW, false, 0));
        ExpectMsg<MapResult>(r => r.Errno == 0 && r.Iova == 0x1800);
    }

    [Fact]
    public void Map_without_a_fixed_iova_whose_address_alignment_is_below_the_ioas_alignment_fails_with_EINVAL_and_maps_nothing()
    {
        var ioas = NewIoas("p3");
        ioas.Tell(new RaiseAlignment("p3", "hwpt-1", 0x10000));
        ExpectMsg<AlignmentResult>(r => r.Errno == 0);
        ioas.Tell(new MapRange("p3", 0x7f0000001000, 0x10000, RW, false, 0));
        ExpectMsg<MapResult>(r => r.Errno == Errno.EINVAL);
        ioas.Tell(new GetMappings("p3"));
        ExpectMsg<Mappings>(m => m.Areas.IsEmpty);
    }

    [Fact]
    public void Map_without_a_fixed_iova_of_a_length_off_the_ioas_alignment_fails_with_EINVAL()
    {
        var ioas = NewIoas("p4");
        ioas.Tell(new RaiseAlignment("p4", "hwpt-1", 0x10000));
        ExpectMsg<AlignmentResult>(r => r.Errno == 0);
        ioas.Tell(new MapRange("p4", 0x7f0000000000, Page, RW, false, 0));
        ExpectMsg<MapResult>(r => r.Errno == Errno.EINVAL);
    }

    [Fact]
    public void Map_without_a_fixed_iova_of_half_the_space_fails_with_EOVERFLOW()
    {
        var ioas = NewIoas("p5");
        ioas.Tell(new MapRange("p5", 0x1000, 1UL << 63, RW, false, 0));
        ExpectMsg<MapResult>(r => r.Errno == Errno.EOVERFLOW);
        ioas.Tell(new GetMappings("p5"));
        ExpectMsg<Mappings>(m => m.Areas.IsEmpty);
    }

    [Fact]
    public void Map_without_a_fixed_iova_aligns_a_large_map_to_2_MiB_only()
    {
        var ioas = NewIoas("p6");
        ioas.Tell(new MapRange("p6", 0x7f0000000000, 1UL << 30, RW, false, 0));
        ExpectMsg<MapResult>(r => r.Errno == 0 && r.Iova == 0x200000);
    }

    [Fact]
    public void Copy_without_a_fixed_iova_picks_the_destination_iova_from_the_source_user_address()
    {
        var source = NewIoas("p7s");
        var destination = NewIoas("p7d");
        MapFixed(source, "p7s", 0x10000, 2 * Page);
        destination.Tell(new CopyRange("p7d", source, 0x11000, Page, Protection.Read, false, 0));
        ExpectMsg<CopyResult>(r => r.Errno == 0 && r.DestinationIova == 0x1000);
        destination.Tell(new CopyRange("p7d", source, 0x10000, 2 * Page, Protection.Read, false, 0));
        ExpectMsg<CopyResult>(r => r.Errno == 0 && r.DestinationIova == 0x2000);
    }

    [Fact]
    public void Map_over_an_existing_area_fails_with_EEXIST()
    {
        var ioas = NewIoas("m2");
        MapFixed(ioas, "m2", 0, 4 * Page);
        ioas.Tell(new MapRange("m2", 0x1000000, Page, RW, true, 3 * Page));
        ExpectMsg<MapResult>(r => r.Errno == Errno.EEXIST);
    }

    [Fact]
    public void Map_without_a_domain_pins_nothing_so_the_locked_memory_limit_does_not_refuse_it()
    {
        var ioas = NewIoas("m3", limitPages: 2);
        ioas.Tell(new MapRange("m3", 0x1000000, 3 * Page, RW, false, 0));
        ExpectMsg<MapResult>(r => r.Errno == 0);
        ioas.Tell(new GetMappings("m3"));
        ExpectMsg<Mappings>(m => m.Areas.Length == 1 && m.ChargedPages == 0);
    }

    [Fact]
    public void Unmap_of_part_of_an_area_fails_with_ENOENT_and_changes_nothing()
    {
        var ioas = NewIoas("u1");
        MapFixed(ioas, "u1", 0, 4 * Page);
        ioas.Tell(new UnmapRange("u1", 0, Page));
        ExpectMsg<UnmapResult>(r => r.Errno == Errno.ENOENT && r.Unmapped == 0);
        ioas.Tell(new GetMappings("u1"));
        ExpectMsg<Mappings>(m => m.Areas.Length == 1 && m.ChargedPages == 0);
    }

    [Fact]
    public void Unmap_of_everything_answers_the_bytes_unmapped_and_gives_the_accounting_back()
    {
        var ioas = NewIoas("u2");
        MapFixed(ioas, "u2", 0, 4 * Page);
        MapFixed(ioas, "u2", 0x100000, Page);
        ioas.Tell(new UnmapRange("u2", 0, ulong.MaxValue));
        ExpectMsg<UnmapResult>(r => r.Errno == 0 && r.Unmapped == 5 * Page);
        ioas.Tell(new GetMappings("u2"));
        ExpectMsg<Mappings>(m => m.Areas.IsEmpty && m.ChargedPages == 0);
    }

    [Fact]
    public void Unmap_with_a_length_of_U64_MAX_not_from_zero_fails_with_EOVERFLOW()
    {
        var ioas = NewIoas("u3");
        ioas.Tell(new UnmapRange("u3", Page, ulong.MaxValue));
        ExpectMsg<UnmapResult>(r => r.Errno == Errno.EOVERFLOW);
    }

    [Fact]
    public void Copy_shares_the_source_pages_into_another_ioas()
    {
        var source = NewIoas("c1s");
        var destination = NewIoas("c1d");
        MapFixed(source, "c1s", 0x10000, 2 * Page);
        destination.Tell(new CopyRange("c1d", source, 0x10000, 2 * Page, Protection.Read, true, 0x80000));
        ExpectMsg<CopyResult>(r => r.Errno == 0 && r.DestinationIova == 0x80000);
        destination.Tell(new GetMappings("c1d"));
        ExpectMsg<Mappings>(m => m.Areas.Length == 1 && m.Areas[0].PagesId == "c1s/0" && m.Areas[0].Iova == 0x80000);
    }

    [Fact]
    public void Copy_of_a_range_the_source_does_not_map_fails_with_ENOENT_and_maps_nothing()
    {
        var source = NewIoas("c2s");
        var destination = NewIoas("c2d");
        MapFixed(source, "c2s", 0x10000, Page);
        destination.Tell(new CopyRange("c2d", source, 0x10000, 2 * Page, Protection.Read, true, 0x80000));
        ExpectMsg<CopyResult>(r => r.Errno == Errno.ENOENT);
        destination.Tell(new GetMappings("c2d"));
        ExpectMsg<Mappings>(m => m.Areas.IsEmpty);
    }

    [Fact]
    public void Allowed_ranges_confine_picked_iovas()
    {
        var ioas = NewIoas("a1");
        ioas.Tell(new AllowIovas("a1", [new IovaSpan(0x40000000, 0x4fffffff)]));
        ExpectMsg<AllowIovasResult>(r => r.Errno == 0);
        ioas.Tell(new MapRange("a1", 0x1000000, Page, RW, false, 0));
        ExpectMsg<MapResult>(r => r.Errno == 0 && r.Iova == 0x40000000);
    }

    [Fact]
    public void Reserving_over_an_allowed_range_fails_with_EADDRINUSE()
    {
        var ioas = NewIoas("r1");
        ioas.Tell(new AllowIovas("r1", [new IovaSpan(0, 0xffffffff)]));
        ExpectMsg<AllowIovasResult>(r => r.Errno == 0);
        ioas.Tell(new AddReserved("r1", "dev-1", [new IovaSpan(0xfee00000, 0xfeefffff)]));
        ExpectMsg<ReservedResult>(r => r.Errno == Errno.EADDRINUSE);
    }

    [Fact]
    public void Iova_ranges_leave_out_a_reserved_msi_window_and_report_the_raised_alignment()
    {
        var ioas = NewIoas("r2");
        ioas.Tell(new AddReserved("r2", "dev-1", [new IovaSpan(0xfee00000, 0xfeefffff)]));
        ExpectMsg<ReservedResult>(r => r.Errno == 0);
        ioas.Tell(new RaiseAlignment("r2", "hwpt-1", Page));
        ExpectMsg<AlignmentResult>(r => r.Errno == 0 && r.Alignment == Page);
        ioas.Tell(new GetIovaRanges("r2"));
        ExpectMsg<IovaRanges>(r => r.Alignment == Page && r.Ranges.SequenceEqual(new[]
            { new IovaSpan(0, 0xfedfffff), new IovaSpan(0xfef00000, ulong.MaxValue) }));
    }

    [Fact]
    public void Raising_the_alignment_over_an_unaligned_area_fails_with_EADDRINUSE()
    {
        var ioas = NewIoas("r3");
        ioas.Tell(new MapRange("r3", 0x1000800, 0x800, RW, true, 0x800));
        ExpectMsg<MapResult>(r => r.Errno == 0);
        ioas.Tell(new RaiseAlignment("r3", "hwpt-1", Page));
        ExpectMsg<AlignmentResult>(r => r.Errno == Errno.EADDRINUSE && r.Alignment == 1);
    }

    [Fact]
    public void Unknown_option_fails_with_EOPNOTSUPP_and_a_value_above_one_with_EINVAL()
    {
        var ioas = NewIoas("o1");
        ioas.Tell(new SetOption("o1", 7, 0));
        ExpectMsg<OptionResult>(r => r.Errno == Errno.EOPNOTSUPP);
        ioas.Tell(new SetOption("o1", OptionHugePages, 2));
        ExpectMsg<OptionResult>(r => r.Errno == Errno.EINVAL);
    }

    [Fact]
    public void Unmap_under_an_access_asks_it_to_let_go_then_unmaps_when_it_does()
    {
        var ioas = NewIoas("x1");
        var access = CreateTestProbe();
        MapFixed(ioas, "x1", 0, 2 * Page);
        ioas.Tell(new PinPages("x1", "acc-1", access.Ref, Page, Page, true));
        ExpectMsg<PinResult>(r => r.Errno == 0);
        ioas.Tell(new UnmapRange("x1", 0, 2 * Page));
        access.ExpectMsg<AccessUnmapRequested>(n => n.Iova == 0 && n.Length == 2 * Page);
        // Served while the unmap waits, and answered in order: no unmap reply came before it.
        ioas.Tell(new GetMappings("x1"));
        ExpectMsg<Mappings>(m => m.Areas.Length == 1);
        ioas.Tell(new UnpinPages("x1", "acc-1", Page, Page), access.Ref);
        access.ExpectMsg<UnpinResult>(r => r.Errno == 0);
        ioas.Tell(new AccessUnmapDone("x1", "acc-1"), access.Ref);
        ExpectMsg<UnmapResult>(r => r.Errno == 0 && r.Unmapped == 2 * Page);
    }

    [Fact]
    public void Unmap_under_an_access_that_keeps_its_pages_fails_with_EDEADLOCK_and_later_commands_wait_for_it()
    {
        var ioas = NewIoas("x2");
        var access = CreateTestProbe();
        MapFixed(ioas, "x2", 0, Page);
        ioas.Tell(new PinPages("x2", "acc-1", access.Ref, 0, Page, false));
        ExpectMsg<PinResult>(r => r.Errno == 0);
        ioas.Tell(new UnmapRange("x2", 0, Page));
        ioas.Tell(new MapRange("x2", 0x2000000, Page, RW, true, Page));
        access.ExpectMsg<AccessUnmapRequested>();
        ioas.Tell(new AccessUnmapDone("x2", "acc-1"), access.Ref);
        ExpectMsg<UnmapResult>(r => r.Errno == Errno.EDEADLOCK && r.Unmapped == 0);
        ExpectMsg<MapResult>(r => r.Errno == 0 && r.Iova == Page);
    }

    [Fact]
    public void Unmap_under_an_access_that_never_answers_fails_with_EDEADLOCK_once_the_grace_runs_out()
    {
        // The access stays silent, so the grace running out is the only way on: no race with the clock.
        var ioas = NewIoas("x3", accessGrace: TimeSpan.FromMilliseconds(200));
        var access = CreateTestProbe();
        MapFixed(ioas, "x3", 0, Page);
        ioas.Tell(new PinPages("x3", "acc-1", access.Ref, 0, Page, false));
        ExpectMsg<PinResult>(r => r.Errno == 0);
        ioas.Tell(new UnmapRange("x3", 0, Page));
        access.ExpectMsg<AccessUnmapRequested>();
        ExpectMsg<UnmapResult>(r => r.Errno == Errno.EDEADLOCK && r.Unmapped == 0);
        ioas.Tell(new GetMappings("x3"));
        ExpectMsg<Mappings>(m => m.Areas.Length == 1);
    }

    [Fact]
    public void A_map_then_an_unmap_of_the_same_range_sent_together_are_both_applied_in_order()
    {
        var ioas = NewIoas("q1");
        // No domain: nothing can undo the map, so the unmap behind it runs against the table at once.
        for (var i = 0; i < 50; i++)
        {
            ioas.Tell(new MapRange("q1", 0x7f0000000000, Page, RW, true, 0x10000));
            ioas.Tell(new UnmapRange("q1", 0x10000, Page));
        }
        for (var i = 0; i < 50; i++)
        {
            ExpectMsg<MapResult>(r => r.Errno == 0 && r.Iova == 0x10000);
            ExpectMsg<UnmapResult>(r => r.Errno == 0 && r.Unmapped == Page);
        }
        ioas.Tell(new GetMappings("q1"));
        ExpectMsg<Mappings>(m => m.Areas.Length == 0);
    }

    [Fact]
    public void The_answer_function_of_a_command_shapes_every_reply_to_its_sender()
    {
        var ioas = NewIoas("q2");
        ioas.Tell(new MapRange("q2", 0x7f0000000000, Page, RW, true, 0x10000, r => $"map {r.Errno} {r.Iova:x}"));
        ioas.Tell(new MapRange("q2", 0x7f0000000000, Page, RW, true, 0x10000, r => $"map {r.Errno} {r.Iova:x}"));
        ioas.Tell(new UnmapRange("q2", 0x10000, 2 * Page, r => $"unmap {r.Errno} {r.Unmapped}"));
        // A refusal is answered at once, a success once written: the front door puts replies of one fd back in order.
        ExpectMsgAllOf(["map 0 10000", $"map {Errno.EEXIST} 0", $"unmap 0 {Page}"]);
    }

    [Fact]
    public void Retire_of_an_idle_IOAS_is_0_and_of_one_with_an_unmap_in_flight_EBUSY_or_answered_after_it_when_asked_to_wait()
    {
        var ioas = NewIoas("r1");
        ioas.Tell(new Retire("r1", Wait: false));
        ExpectMsg(new RetireResult("r1", 0));

        var access = CreateTestProbe();
        MapFixed(ioas, "r1", 0, Page);
        ioas.Tell(new PinPages("r1", "acc-1", access.Ref, 0, Page, false));
        ExpectMsg<PinResult>(r => r.Errno == 0);
        // The unmap waits for the access: it is in flight, as an ioctl the kernel is still running.
        ioas.Tell(new UnmapRange("r1", 0, Page));
        access.ExpectMsg<AccessUnmapRequested>();
        ioas.Tell(new Retire("r1", Wait: false));
        ExpectMsg(new RetireResult("r1", Errno.EBUSY));
        ioas.Tell(new Retire("r1", Wait: true));
        ExpectNoMsg(TimeSpan.FromMilliseconds(200));
        ioas.Tell(new UnpinPages("r1", "acc-1", 0, Page), access.Ref);
        access.ExpectMsg<UnpinResult>(r => r.Errno == 0);
        ioas.Tell(new AccessUnmapDone("r1", "acc-1"), access.Ref);
        ExpectMsg<UnmapResult>(r => r.Errno == 0 && r.Unmapped == Page);
        ExpectMsg(new RetireResult("r1", 0));
    }

    [Fact]
    public void A_partial_unmap_is_journaled_so_a_restarted_IOAS_has_the_areas_before_the_one_sticking_out_gone()
    {
        var ioas = NewIoas("u1");
        MapFixed(ioas, "u1", 0, Page);
        MapFixed(ioas, "u1", 2 * Page, 2 * Page);
        ioas.Tell(new UnmapRange("u1", 0, 3 * Page));
        ExpectMsg(new UnmapResult("u1", Errno.ENOENT, Page));
        Watch(ioas);
        Sys.Stop(ioas);
        ExpectTerminated(ioas);
        var again = NewIoas("u1");
        again.Tell(new GetMappings("u1"));
        ExpectMsg<Mappings>(m => m.Areas.Length == 1 && m.Areas[0].Iova == 2 * Page && m.Areas[0].Length == 2 * Page);
    }
}
