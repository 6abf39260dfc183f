using IommuActors.Ioasid.Pasid;
using IommuActors.Notifier.Kvm;
using Xunit;

namespace IommuActors.Notifier.Tests.Kvm;

public sealed class KvmTableTests
{
    [Theory]
    [InlineData(IoasidEventKind.Unbind, true)]
    [InlineData(IoasidEventKind.Free, true)]
    [InlineData(IoasidEventKind.SpidDetached, true)]
    [InlineData(IoasidEventKind.Bind, false)]
    [InlineData(IoasidEventKind.Alloc, false)]
    public void UNBIND_FREE_and_SPID_DETACHED_revoke_a_translation_BIND_and_ALLOC_do_not(IoasidEventKind kind, bool revokes) =>
        Assert.Equal(revokes, KvmTable.Revokes(kind));

    [Fact]
    public void A_revoke_takes_the_translation_away_and_hands_back_every_reference_once()
    {
        var table = new KvmTable();
        table.Hold(40, 2, 5);
        Assert.Equal(40, table.Translate(5));
        Assert.Equal(2, table.Revoke(40));
        Assert.Null(table.Translate(5));
        Assert.False(table.Holds(40));
        Assert.Equal(0, table.Revoke(40));
    }

    [Fact]
    public void A_guest_PASID_mapped_again_leads_to_the_new_host_PASID_and_revoking_the_old_one_leaves_it()
    {
        var table = new KvmTable();
        table.Hold(40, 1, 5);
        table.Hold(41, 1, 5);
        Assert.Equal(41, table.Translate(5));
        Assert.Equal(1, table.Revoke(40));
        Assert.Equal(41, table.Translate(5));
    }

    [Fact]
    public void A_reference_without_a_guest_PASID_translates_nothing_and_SET_FREED_revokes_only_what_is_held()
    {
        var table = new KvmTable();
        table.Hold(40, 1, 0);
        Assert.Empty(table.GuestToHost);
        table.Hold(42, 1, 7);
        Assert.Equal(new[] { 40, 42 }, table.RevokeAll([40, 41, 42]));
        Assert.Empty(table.GuestToHost);
        Assert.False(table.Holds(40));
    }
}
