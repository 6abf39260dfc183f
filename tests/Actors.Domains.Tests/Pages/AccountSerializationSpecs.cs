using System.Collections.Immutable;
using Akka.TestKit.Xunit2;
using IommuActors.Domains.Pages;
using IommuActors.TestSupport;
using static IommuActors.Domains.Pages.AccountProtocol;

namespace IommuActors.Domains.Tests.Pages;

/// <summary>
/// The account's span events and snapshot go through their own serializer: a map's charge is a
/// few dozen bytes, a snapshot a few bytes a span, ids of any form come back as they were.
/// </summary>
public sealed class AccountSerializationSpecs() : TestKit(SpecConfig.InMemory)
{
    private const string Holder = "15d57f7a4de83249-1.ioas1";

    private object RoundTrip(object value, out int length)
    {
        var serializer = Sys.Serialization.FindSerializerFor(value);
        Assert.Equal(AccountEventSerializer.Id, serializer.Identifier);
        var bytes = serializer.ToBinary(value);
        length = bytes.Length;
        return Sys.Serialization.Deserialize(bytes, serializer.Identifier, Akka.Serialization.Serialization.ManifestFor(serializer, value));
    }

    [Fact]
    public void A_charge_for_one_map_takes_at_most_64_bytes_and_ids_of_any_form_come_back()
    {
        var charge = new PageSpansCharged("box", Holder, [new PageSpan($"{Holder}/123456", 0, 0)]);
        var back = Assert.IsType<PageSpansCharged>(RoundTrip(charge, out var length));
        Assert.InRange(length, 1, 64);
        Assert.Equal((charge.Account, charge.Holder), (back.Account, back.Holder));
        Assert.Equal(charge.Spans.ToArray(), back.Spans.ToArray());

        ImmutableArray<PageSpan> odd = [new($"{Holder}/007", 3, 9), new($"{Holder}/", 0, 1), new("other/5", 1, 1), new($"{Holder}/0", 0, 511)];
        Assert.Equal(odd.ToArray(), Assert.IsType<PageSpansReleased>(RoundTrip(new PageSpansReleased("box", Holder, odd), out _)).Spans.ToArray());
        Assert.Equal(odd.ToArray(), Assert.IsType<HolderSpansReconciled>(RoundTrip(new HolderSpansReconciled("box", Holder, odd), out _)).Spans.ToArray());
    }

    [Fact]
    public void A_snapshot_takes_a_few_bytes_a_span_and_comes_back_exactly()
    {
        var ledger = new AccountLedger(ulong.MaxValue);
        const int n = 1000;
        Assert.Equal(0, ledger.Charge(Holder, Enumerable.Range(0, n).Select(i => new PageSpan($"{Holder}/{i}", 0, 0))));
        Assert.Equal(0, ledger.Charge("other", [new PageSpan($"{Holder}/7", 0, 0), new PageSpan("other/1", 2, 5)]));
        var snapshot = new AccountSpansSnapshot([new AccountSpansRecord("box", ledger.Records())]);
        var back = Assert.IsType<AccountSpansSnapshot>(RoundTrip(snapshot, out var length));
        Assert.InRange(length, n, 8 * n);
        var account = Assert.Single(back.Accounts);
        Assert.Equal("box", account.Account);
        Assert.Equal(snapshot.Accounts[0].Holders.Select(h => (h.Holder, h.Spans.ToArray())), account.Holders.Select(h => (h.Holder, h.Spans.ToArray())),
            new PairComparer());
    }

    private sealed class PairComparer : IEqualityComparer<(string, PageSpan[])>
    {
        public bool Equals((string, PageSpan[]) a, (string, PageSpan[]) b) => a.Item1 == b.Item1 && a.Item2.SequenceEqual(b.Item2);
        public int GetHashCode((string, PageSpan[]) p) => p.Item1.GetHashCode();
    }
}
