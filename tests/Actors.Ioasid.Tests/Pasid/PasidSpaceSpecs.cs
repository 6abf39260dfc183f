using FsCheck.Fluent;
using FsCheck.Xunit;
using FsCheck;
using IommuActors.Ioasid.Pasid;
using IommuActors.Uapi;
using Xunit;

namespace IommuActors.Ioasid.Tests.Pasid;

public sealed class PasidSpaceSpecs
{
    [Fact]
    public void Pasid_zero_is_never_in_the_usable_range()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new PasidSpace(0, 10, 10));
        var space = new PasidSpace(1, 3, 10);
        Assert.Equal((0, 1), space.Lease("a"));
    }

    [Fact]
    public void A_space_exhausted_by_capacity_answers_ENOSPC()
    {
        var space = new PasidSpace(1, 100, 2);
        space.Lease("a");
        space.Lease("a");
        Assert.Equal((Errno.ENOSPC, 0), space.Lease("b"));
    }

    [Fact]
    public void A_space_exhausted_by_range_answers_ENOSPC()
    {
        var space = new PasidSpace(5, 6, 100);
        Assert.Equal(new[] { 5, 6 }, space.LeaseBlock("a", 2).Pasids);
        Assert.Equal(Errno.ENOSPC, space.Lease("a").Errno);
    }

    [Fact]
    public void Only_the_owner_may_release_and_others_get_EACCES()
    {
        var space = new PasidSpace(1, 10, 10);
        var (_, pasid) = space.Lease("vm-1");
        Assert.Equal(Errno.EACCES, space.Release("vm-2", pasid));
        Assert.Equal(0, space.Release("vm-1", pasid));
        Assert.Equal(Errno.ENOENT, space.Release("vm-1", pasid));
    }

    [Fact]
    public void A_quarantined_pasid_is_not_handed_out_until_cleared()
    {
        var space = new PasidSpace(1, 2, 2);
        var (_, first) = space.Lease("a");
        space.Lease("a");
        Assert.Equal(0, space.Quarantine("a", first));
        Assert.Equal(Errno.ENOSPC, space.Lease("b").Errno);
        Assert.Equal(0, space.ClearQuarantine(first));
        Assert.Equal((0, first), space.Lease("b"));
    }

    [Fact]
    public void A_block_lease_that_does_not_fit_takes_nothing()
    {
        var space = new PasidSpace(1, 10, 3);
        space.Lease("a");
        Assert.Equal(Errno.ENOSPC, space.LeaseBlock("b", 3).Errno);
        Assert.Equal(1, space.InUse);
    }

    public enum Op { Lease, Release, Quarantine, Clear }

    [Property(MaxTest = 200)]
    public bool Space_matches_a_set_model_and_never_hands_out_a_taken_pasid(int[] raw)
    {
        var space = new PasidSpace(1, 16, 12);
        var owned = new Dictionary<int, string>();
        var quarantined = new HashSet<int>();
        foreach (var r in raw ?? [])
        {
            var op = (Op)(Math.Abs(r % 4));
            var owner = (r & 8) == 0 ? "a" : "b";
            var pasid = Math.Abs(r / 4 % 17);
            switch (op)
            {
                case Op.Lease:
                    var (errno, got) = space.Lease(owner);
                    var full = owned.Count + quarantined.Count >= 12;
                    if (full != (errno == Errno.ENOSPC)) return false;
                    if (errno == 0)
                    {
                        if (got == 0 || owned.ContainsKey(got) || quarantined.Contains(got)) return false;
                        owned[got] = owner;
                    }
                    break;
                case Op.Release:
                    var expected = pasid is < 1 or > 16 ? Errno.EINVAL
                        : !owned.TryGetValue(pasid, out var o) ? Errno.ENOENT
                        : o == owner ? 0 : Errno.EACCES;
                    if (space.Release(owner, pasid) != expected) return false;
                    if (expected == 0) owned.Remove(pasid);
                    break;
                case Op.Quarantine:
                    var ok = owned.TryGetValue(pasid, out var q) && q == owner;
                    if ((space.Quarantine(owner, pasid) == 0) != ok) return false;
                    if (ok) { owned.Remove(pasid); quarantined.Add(pasid); }
                    break;
                case Op.Clear:
                    if ((space.ClearQuarantine(pasid) == 0) != quarantined.Remove(pasid)) return false;
                    break;
            }
        }
        return space.Owners.Count == owned.Count && owned.All(kv => space.OwnerOf(kv.Key) == kv.Value)
            && space.QuarantinedPasids.ToHashSet().SetEquals(quarantined);
    }
}
