using FsCheck.Xunit;
using IommuActors.Ioasid.Pasid;
using IommuActors.Uapi;
using Xunit;

namespace IommuActors.Ioasid.Tests.Pasid;

public sealed class PasidSetSpecs
{
    private static PasidSet SetWith(params int[] pasids)
    {
        var set = new PasidSet("pasid-set-vm1", 4);
        foreach (var p in pasids)
            Assert.Equal(0, set.Admit(p));
        return set;
    }

    [Fact]
    public void A_set_at_quota_answers_EDQUOT_not_ENOSPC()
    {
        var set = new PasidSet("pasid-set-vm1", 1);
        set.Admit(7);
        Assert.Equal(Errno.EDQUOT, set.CheckRoom());
        Assert.Equal(Errno.EDQUOT, set.Admit(8));
    }

    [Fact]
    public void Alloc_gives_one_reference_and_the_pasid_is_idle()
    {
        Assert.Equal(new PasidEntry(7, PasidState.Idle, 1, 0, null, false), SetWith(7).Find(7));
    }

    [Fact]
    public void Free_with_other_references_is_deferred_until_the_last_put()
    {
        var set = SetWith(7);
        set.Get(7);
        Assert.Equal((0, FreeOutcome.NowPending, false), set.Free(7, awaitAcks: false));
        Assert.Equal(Errno.ENOENT, set.Get(7));
        Assert.Equal((0, true), set.Put(7));
    }

    [Fact]
    public void A_second_free_while_pending_is_ENOENT_as_after_the_reclaim_and_makes_no_new_transition()
    {
        var set = SetWith(7);
        set.Get(7);
        set.Free(7, false);
        Assert.Equal((Errno.ENOENT, FreeOutcome.AlreadyPending, false), set.Free(7, false));
        Assert.Equal(PasidState.FreePending, set.Find(7)!.State);
    }

    [Fact]
    public void Releasing_a_holders_holds_drops_its_references_and_binds_on_the_named_pasids_only_and_answers_what_became_reclaimable()
    {
        var set = SetWith(7, 8, 9);
        Assert.Equal(0, set.Get(7, "kvm"));
        Assert.Equal((0, true), set.Bind(7, 70, "driver/a"));
        Assert.Equal((0, false), set.Bind(7, null, "driver/b"));
        Assert.Equal((0, true), set.Bind(8, null, "driver/a"));
        Assert.Equal((0, true), set.Bind(9, null, "driver/a"));
        foreach (var p in new[] { 7, 8, 9 })
            set.Free(p, awaitAcks: false);

        // Only 7 and 8 named, only driver/ holds: 7 keeps kvm's reference, 8 has nothing left, 9 is untouched.
        Assert.Equal(new[] { 8 }, set.ReleaseHolds("driver/", [7, 8]));
        Assert.Equal(new PasidEntry(7, PasidState.FreePending, 1, 0, null, false), set.Find(7));
        Assert.Equal((Errno.ENOENT, 0), set.FindBySpid(70, false));
        Assert.Equal(1, set.Find(9)!.Binds);
        // The user's holds are never released this way.
        Assert.Empty(set.ReleaseHolds("", [7, 9]));
        Assert.Equal(new[] { 7 }, set.ReleaseHolds("kvm", [7]));
    }

    [Fact]
    public void A_free_pending_pasid_waits_for_acknowledgements_as_well_as_references()
    {
        var set = SetWith(7);
        Assert.Equal((0, FreeOutcome.NowPending, false), set.Free(7, awaitAcks: true));
        Assert.True(set.Acknowledged(7));
    }

    [Fact]
    public void Bind_is_level_triggered_first_bind_and_last_unbind_only()
    {
        var set = SetWith(7);
        Assert.Equal((0, true), set.Bind(7, 101));
        Assert.Equal((0, false), set.Bind(7, null));
        Assert.Equal((0, false, false), set.Unbind(7));
        Assert.Equal((0, true, false), set.Unbind(7));
        Assert.Equal(Errno.EINVAL, set.Unbind(7).Errno);
    }

    [Fact]
    public void Detaching_the_guest_pasid_leaves_the_binds_and_frees_the_guest_pasid_for_another()
    {
        var set = SetWith(7, 8);
        set.Bind(7, null, "driver/a");
        set.Bind(7, 101, "guest");
        Assert.Equal(101, set.DetachSpid(7));
        Assert.Null(set.DetachSpid(7));
        Assert.Null(set.DetachSpid(9));
        Assert.Equal((Errno.ENOENT, 0), set.FindBySpid(101, takeRef: false));
        var entry = set.Find(7)!;
        Assert.Equal((2, null), (entry.Binds, entry.Spid));
        Assert.Equal((0, true), set.Bind(8, 101, "guest"));
        Assert.Equal((0, 8), set.FindBySpid(101, takeRef: false));
    }

    [Fact]
    public void A_later_bind_that_attaches_the_guest_pasid_is_published_again_and_a_repeat_is_not()
    {
        // A device attached at the PASID before PASID_MAP_GUEST: the map's bind is not the first, but KVM only
        // learns the guest PASID from it.
        var set = SetWith(7);
        Assert.Equal((0, true), set.Bind(7, null, "driver/a"));
        Assert.Equal((0, true), set.Bind(7, 101, "guest"));
        Assert.Equal((0, 7), set.FindBySpid(101, takeRef: false));
        Assert.Equal((0, false), set.Bind(7, 101, "driver/b"));
        Assert.Equal((0, false), set.Bind(7, null, "driver/c"));
    }

    [Fact]
    public void A_duplicate_spid_in_one_set_fails_with_EEXIST()
    {
        var set = SetWith(7, 8);
        set.Bind(7, 101);
        Assert.Equal((Errno.EEXIST, false), set.Bind(8, 101));
    }

    [Fact]
    public void Lookup_by_spid_takes_a_reference_and_fails_after_free()
    {
        var set = SetWith(7);
        set.Bind(7, 101);
        Assert.Equal((0, 7), set.FindBySpid(101, takeRef: true));
        Assert.Equal(3, set.Find(7)!.Refs);
        set.Free(7, false);
        Assert.Equal((Errno.ENOENT, 0), set.FindBySpid(101, takeRef: true));
    }

    [Fact]
    public void Bind_after_free_fails_with_ENOENT()
    {
        var set = SetWith(7);
        set.Free(7, true);
        Assert.Equal((Errno.ENOENT, false), set.Bind(7, null));
    }

    [Fact]
    public void Quota_cannot_drop_below_what_the_set_holds()
    {
        var set = SetWith(7, 8);
        Assert.Equal(Errno.EINVAL, set.AdjustQuota(1));
        Assert.Equal(0, set.AdjustQuota(2));
    }

    [Fact]
    public void Quota_must_lie_in_one_to_the_top_of_the_space_and_counts_free_pending_pasids_and_leases_in_flight()
    {
        var set = SetWith(7, 8);
        set.Free(8, true);
        Assert.Equal(Errno.EINVAL, set.AdjustQuota(1));
        Assert.Equal(Errno.EINVAL, set.AdjustQuota(2, leasesInFlight: 1));
        Assert.Equal(Errno.EINVAL, set.AdjustQuota(PasidSpace.MaxPasid + 1));
        Assert.Equal(0, set.AdjustQuota(PasidSpace.MaxPasid));
        Assert.Equal(0, set.AdjustQuota(2));
        Assert.Equal(2, set.Quota);
        Assert.Equal(Errno.EINVAL, new PasidSet("pasid-set-empty", 4).AdjustQuota(0));
    }

    [Fact]
    public void Free_detaches_the_guest_pasid_at_once_even_while_a_device_bind_holds_the_pasid()
    {
        var set = SetWith(7, 8);
        Assert.Equal((0, true), set.Bind(7, 101));
        Assert.Equal((0, false), set.Bind(7, null, "device/0000:00:02.0"));
        Assert.Equal((0, FreeOutcome.NowPending, false), set.Free(7, awaitAcks: true));

        Assert.Equal(new PasidEntry(7, PasidState.FreePending, 2, 2, null, true), set.Find(7));
        Assert.Equal((Errno.ENOENT, 0), set.FindBySpid(101, takeRef: false));
        // The guest PASID is free for another host PASID of the set.
        Assert.Equal((0, true), set.Bind(8, 101));
        Assert.Equal((0, 8), set.FindBySpid(101, takeRef: false));
        // The device's detach of the freed PASID does not take the new mapping with it.
        Assert.Equal(0, set.Unbind(7, "device/0000:00:02.0").Errno);
        Assert.Equal((0, 8), set.FindBySpid(101, takeRef: false));
    }

    [Fact]
    public void Free_all_frees_each_pasid_once()
    {
        var set = SetWith(7, 8, 9);
        set.Free(8, true);
        Assert.Equal(new[] { 7, 9 }, set.FreeAll(true));
        Assert.Empty(set.FreeAll(true));
    }

    [Property(MaxTest = 200)]
    public bool Refcounts_match_a_reference_model_and_reclaim_happens_exactly_at_zero(int[] raw)
    {
        var set = new PasidSet("s", 8);
        var refs = new Dictionary<int, int>();
        var pending = new HashSet<int>();
        var reclaimed = new HashSet<int>();
        var next = 1;
        foreach (var r in raw ?? [])
        {
            var pasid = 1 + Math.Abs(r / 5 % 8);
            switch (Math.Abs(r % 5))
            {
                case 0:
                    if (set.CheckRoom() == 0 && next < 1000)
                    {
                        set.Admit(next);
                        refs[next++] = 1;
                    }
                    break;
                case 1:
                    var canGet = refs.ContainsKey(pasid) && !pending.Contains(pasid);
                    if ((set.Get(pasid) == 0) != canGet) return false;
                    if (canGet) refs[pasid]++;
                    break;
                case 2:
                case 3:
                    var (errno, reclaimable) = set.Put(pasid);
                    var canPut = refs.TryGetValue(pasid, out var n) && n > 0;
                    if ((errno == 0) != canPut) return false;
                    if (canPut && reclaimable != (pending.Contains(pasid) && n == 1)) return false;
                    if (canPut) refs[pasid]--;
                    break;
                case 4:
                    var free = set.Free(pasid, false);
                    if (!refs.ContainsKey(pasid)) { if (free.Errno != Errno.ENOENT) return false; break; }
                    if (pending.Add(pasid))
                    {
                        if (free.Outcome != FreeOutcome.NowPending) return false;
                        refs[pasid] = Math.Max(0, refs[pasid] - 1);
                    }
                    else if (free.Outcome != FreeOutcome.AlreadyPending) return false;
                    break;
            }
            foreach (var p in refs.Keys.Where(p => pending.Contains(p) && refs[p] == 0).ToList())
            {
                if (!set.IsReclaimable(p)) return false;
                set.Remove(p);
                refs.Remove(p);
                pending.Remove(p);
                reclaimed.Add(p);
            }
        }
        return refs.All(kv => set.Find(kv.Key)!.Refs == kv.Value) && set.Count == refs.Count;
    }
}
