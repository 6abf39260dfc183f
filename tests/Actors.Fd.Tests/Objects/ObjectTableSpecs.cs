using System.Collections.Immutable;
using FsCheck;
using FsCheck.Fluent;
using IommuActors.Fd.Objects;
using Xunit;

namespace IommuActors.Fd.Tests.Objects;

public sealed class ObjectTableSpecs
{
    private const int ENOENT = 2;
    private const int EBUSY = 16;

    [Fact]
    public void IDs_start_at_1_and_count_up()
    {
        var table = new ObjectTable();
        Assert.Equal([1u, 2u, 3u], new[] { table.Add(ObjectKind.Ioas), table.Add(ObjectKind.Ioas), table.Add(ObjectKind.Fault) }.Select(r => r.Value!.Id));
    }

    [Fact]
    public void A_destroyed_ID_is_the_next_one_handed_out_as_the_lowest_free()
    {
        var table = new ObjectTable();
        for (var i = 0; i < 4; i++) table.Add(ObjectKind.Ioas);
        table.Remove(2);
        table.Remove(3);

        Assert.Equal(2u, table.Add(ObjectKind.Ioas).Value!.Id);
        Assert.Equal(3u, table.Add(ObjectKind.Ioas).Value!.Id);
        Assert.Equal(5u, table.Add(ObjectKind.Ioas).Value!.Id);
    }

    [Fact]
    public void A_tombstone_ID_is_never_handed_out_again_even_after_a_restore()
    {
        var table = new ObjectTable();
        for (var i = 0; i < 3; i++)
            table.Add(ObjectKind.Ioas);
        Assert.True(table.Remove(2).IsOk);
        table.KeepTaken(2);
        Assert.Equal(4u, table.NextFreeId);
        Assert.Equal(IommuActors.Uapi.Errno.ENOENT, table.CheckRemovable(2));
        Assert.Equal([2u], table.Tombstones);

        var restored = new ObjectTable();
        restored.KeepTaken(2);
        restored.Restore(new ContextObject(3, ObjectKind.Ioas, []));
        Assert.Equal(1u, restored.NextFreeId);
        Assert.Equal(1u, restored.Add(ObjectKind.Ioas).Value!.Id);
        Assert.Equal(4u, restored.NextFreeId);
        Assert.Throws<InvalidOperationException>(() => restored.KeepTaken(3));
    }

    [Fact]
    public void Lookup_of_an_unknown_ID_is_ENOENT()
    {
        var table = new ObjectTable();
        Assert.Equal(ENOENT, table.Get(7).Errno);
    }

    [Fact]
    public void Lookup_of_an_ID_of_the_wrong_kind_is_ENOENT()
    {
        var table = new ObjectTable();
        var ioas = table.Add(ObjectKind.Ioas).Value!;
        Assert.Equal(ENOENT, table.Get(ioas.Id, ObjectKind.HwptPaging, ObjectKind.HwptNested).Errno);
        Assert.True(table.Get(ioas.Id, ObjectKind.Ioas).IsOk);
    }

    [Fact]
    public void Destroy_of_an_object_in_use_is_EBUSY_and_changes_nothing()
    {
        var table = new ObjectTable();
        var ioas = table.Add(ObjectKind.Ioas).Value!;
        var hwpt = table.Add(ObjectKind.HwptPaging, ioas.Id).Value!;

        Assert.Equal(EBUSY, table.Remove(ioas.Id).Errno);
        Assert.True(table.Get(ioas.Id, ObjectKind.Ioas).IsOk);
        Assert.Equal(1, table.UsersOf(ioas.Id));

        Assert.True(table.Remove(hwpt.Id).IsOk);
        Assert.True(table.Remove(ioas.Id).IsOk);
        Assert.Equal(0, table.Count);
    }

    [Fact]
    public void Destroy_of_an_unknown_ID_is_ENOENT()
    {
        Assert.Equal(ENOENT, new ObjectTable().Remove(1).Errno);
    }

    [Fact]
    public void Adding_an_object_that_uses_a_missing_one_is_ENOENT()
    {
        var table = new ObjectTable();
        Assert.Equal(ENOENT, table.Add(ObjectKind.HwptPaging, 9).Errno);
        Assert.Equal(0, table.Count);
    }

    [Fact]
    public void Changing_uses_moves_the_user_counts()
    {
        var table = new ObjectTable();
        var first = table.Add(ObjectKind.HwptPaging).Value!;
        var second = table.Add(ObjectKind.HwptPaging).Value!;
        var device = table.Add(ObjectKind.Device, first.Id).Value!;

        Assert.Equal(0, table.ChangeUses(device.Id, [second.Id]));

        Assert.Equal(0, table.UsersOf(first.Id));
        Assert.Equal(1, table.UsersOf(second.Id));
        Assert.Equal(EBUSY, table.Remove(second.Id).Errno);
        Assert.True(table.Remove(first.Id).IsOk);
    }

    [Fact]
    public void Teardown_destroys_users_before_what_they_use()
    {
        var table = new ObjectTable();
        var ioas = table.Add(ObjectKind.Ioas).Value!;              // 1
        var parent = table.Add(ObjectKind.HwptPaging, ioas.Id).Value!; // 2
        var nested = table.Add(ObjectKind.HwptNested, parent.Id).Value!; // 3
        var device = table.Add(ObjectKind.Device, nested.Id).Value!; // 4
        var fault = table.Add(ObjectKind.Fault).Value!;           // 5

        var order = table.TeardownOrder().Select(o => o.Id).ToList();

        Assert.Equal([device.Id, fault.Id, nested.Id, parent.Id, ioas.Id], order);
    }

    [Fact]
    public void Restored_objects_keep_their_IDs_and_the_gaps_are_handed_out_first()
    {
        var table = new ObjectTable();
        table.Restore(new ContextObject(3, ObjectKind.Ioas, []));
        table.Restore(new ContextObject(5, ObjectKind.HwptPaging, [3]));

        Assert.Equal(1, table.UsersOf(3));
        Assert.Equal([1u, 2u, 4u, 6u], Enumerable.Range(0, 4).Select(_ => table.Add(ObjectKind.Fault).Value!.Id));
    }

    [Fact]
    public void Random_add_and_remove_always_hand_out_the_lowest_free_ID()
    {
        Prop.ForAll(Gen.ListOf(Gen.Choose(0, 20)).ToArbitrary(), ops =>
        {
            var table = new ObjectTable();
            var model = new SortedSet<uint>();
            foreach (var op in ops)
            {
                if (op < 12 || model.Count == 0)
                {
                    var expected = Enumerable.Range(1, model.Count + 1).Select(i => (uint)i).First(i => !model.Contains(i));
                    var id = table.Add(ObjectKind.Ioas).Value!.Id;
                    if (id != expected) return false;
                    model.Add(id);
                }
                else
                {
                    var victim = model.ElementAt(op % model.Count);
                    if (!table.Remove(victim).IsOk) return false;
                    model.Remove(victim);
                }
            }
            return table.Objects.Select(o => o.Id).SequenceEqual(model);
        }).QuickCheckThrowOnFailure();
    }
}
