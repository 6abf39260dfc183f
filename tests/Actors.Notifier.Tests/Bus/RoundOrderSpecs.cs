using FsCheck.Xunit;
using IommuActors.Ioasid.Pasid;
using IommuActors.Notifier.Bus;
using Xunit;

namespace IommuActors.Notifier.Tests.Bus;

/// <summary>The bus's ordering rules, without the bus.</summary>
public sealed class RoundOrderSpecs
{
    private const string A = "pasid-set-a";
    private const string B = "pasid-set-b";

    private static IoasidEvent Ev(IoasidEventKind kind, int pasid, string set = A) =>
        kind == IoasidEventKind.SetFreed ? new(kind, set, 0, 0, "", [pasid]) : new(kind, set, pasid, 0);

    [Fact]
    public void Rounds_of_one_pasid_run_one_at_a_time_in_publication_order_and_other_pasids_run_alongside()
    {
        var order = new RoundOrder();
        Assert.Equal(new long[] { 1 }, order.Add(1, Ev(IoasidEventKind.Bind, 5)));
        Assert.Empty(order.Add(2, Ev(IoasidEventKind.Unbind, 5)));
        Assert.Equal(new long[] { 3 }, order.Add(3, Ev(IoasidEventKind.Bind, 6)));
        Assert.Equal(new long[] { 4 }, order.Add(4, Ev(IoasidEventKind.Bind, 5, B)));
        Assert.Equal(new long[] { 2 }, order.Complete(1));
        Assert.Empty(order.Complete(2));
        Assert.Equal(new long[] { 3, 4 }, order.AllRunnable());
    }

    [Fact]
    public void An_unbind_published_behind_its_pasids_free_runs_before_the_free_goes_on_and_a_bind_stays_behind()
    {
        var order = new RoundOrder();
        order.Add(1, Ev(IoasidEventKind.Free, 5));
        Assert.Empty(order.Add(2, Ev(IoasidEventKind.Bind, 5)));
        Assert.Equal(new long[] { 3 }, order.Add(3, Ev(IoasidEventKind.Unbind, 5)));
        Assert.Equal(new long[] { 3 }, order.AllRunnable());
        Assert.Equal(new long[] { 1 }, order.Complete(3));
        Assert.Equal(new long[] { 2 }, order.Complete(1));
    }

    [Fact]
    public void A_set_freed_waits_for_every_earlier_round_of_its_set_and_holds_back_later_ones_but_not_another_sets()
    {
        var order = new RoundOrder();
        order.Add(1, Ev(IoasidEventKind.Bind, 5));
        order.Add(2, Ev(IoasidEventKind.Bind, 6));
        Assert.Empty(order.Add(3, Ev(IoasidEventKind.SetFreed, 5)));
        Assert.Empty(order.Add(4, Ev(IoasidEventKind.Unbind, 7)));
        Assert.Equal(new long[] { 5 }, order.Add(5, Ev(IoasidEventKind.Bind, 7, B)));
        Assert.Empty(order.Complete(1));
        Assert.Equal(new long[] { 3 }, order.Complete(2));
        Assert.Equal(new long[] { 3, 5 }, order.AllRunnable());
        Assert.Equal(new long[] { 4 }, order.Complete(3));
    }

    [Fact]
    public void An_unbind_its_free_waits_for_runs_even_when_a_set_freed_was_published_between_them()
    {
        var order = new RoundOrder();
        order.Add(1, Ev(IoasidEventKind.Free, 5));
        order.Add(2, Ev(IoasidEventKind.SetFreed, 6));
        Assert.Equal(new long[] { 3 }, order.Add(3, Ev(IoasidEventKind.Unbind, 5)));
        Assert.Equal(new long[] { 1 }, order.Complete(3));
        Assert.Equal(new long[] { 2 }, order.Complete(1));
    }

    [Fact]
    public void Subscribers_are_served_by_priority_then_name()
    {
        var subs = new[] { ("vdcm/a", SubscriberPriority.Device), ("kvm/b", SubscriberPriority.Cpu), ("iommu-driver", SubscriberPriority.Iommu), ("kvm/a", SubscriberPriority.Cpu) };
        Assert.Equal(new[] { "kvm/a", "kvm/b", "iommu-driver", "vdcm/a" },
            RoundOrder.InDeliveryOrder(subs, s => s.Item2, s => s.Item1).Select(s => s.Item1));
    }

    // Against a model: publish and complete at random; every runnable round obeys the three rules, and every round
    // eventually runs (completing whatever is runnable always drains the order).
    [Property(MaxTest = 300)]
    public bool Whatever_is_runnable_obeys_the_rules_and_everything_drains(int[] raw)
    {
        var order = new RoundOrder();
        var pending = new SortedDictionary<long, IoasidEvent>();
        long next = 1;
        foreach (var r in raw ?? [])
        {
            var pick = Math.Abs(r % 7);
            var pasid = 1 + Math.Abs(r / 7 % 3);
            var set = Math.Abs(r / 21 % 2) == 0 ? A : B;
            if (pick < 5)
            {
                var kind = (IoasidEventKind)(pick == 4 ? (int)IoasidEventKind.SetFreed : pick);
                var e = Ev(kind, pasid, set);
                pending[next] = e;
                order.Add(next++, e);
            }
            else if (order.AllRunnable() is { Count: > 0 } runnable)
            {
                var done = runnable[Math.Abs(r) % runnable.Count];
                order.Complete(done);
                pending.Remove(done);
            }
            if (!Obeys(order.AllRunnable(), pending))
                return false;
        }
        while (order.AllRunnable() is { Count: > 0 } left)
        {
            order.Complete(left[0]);
            pending.Remove(left[0]);
        }
        return pending.Count == 0 && order.Count == 0;
    }

    private static bool Obeys(IReadOnlyList<long> runnable, SortedDictionary<long, IoasidEvent> pending)
    {
        foreach (var id in runnable)
        {
            var e = pending[id];
            var earlier = pending.Where(p => p.Key < id && p.Value.SetKey == e.SetKey).Select(p => p.Value).ToList();
            if (e.Kind == IoasidEventKind.SetFreed)
            {
                if (earlier.Count > 0)
                    return false;
                continue;
            }
            var samePasidEarlier = earlier.Where(x => x.Kind != IoasidEventKind.SetFreed && x.Pasid == e.Pasid).ToList();
            var nestedUnbind = e.Kind == IoasidEventKind.Unbind && samePasidEarlier.Count > 0 && samePasidEarlier[0].Kind == IoasidEventKind.Free;
            if (samePasidEarlier.Count > 0 && !nestedUnbind)
                return false;
            if (!nestedUnbind && earlier.Any(x => x.Kind == IoasidEventKind.SetFreed))
                return false;
        }
        return true;
    }
}
