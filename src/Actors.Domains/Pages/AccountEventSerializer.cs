using System.Collections.Immutable;
using System.Globalization;
using Akka.Actor;
using IommuActors.Core.Serialization;
using static IommuActors.Domains.Pages.AccountProtocol;

namespace IommuActors.Domains.Pages;

/// <summary>
/// The locked-memory account's events (one charge per map into a domain, one release per unmap)
/// and its snapshot laid out by hand, bound in hocon/base.conf; rows and snapshots written earlier
/// by Hyperion keep its id and are read by it. A span's pages are mostly the holder's own,
/// "{holder}/{n}": such an id is written as n alone (other ids in full), the last page as its
/// distance from the first.
/// </summary>
public sealed class AccountEventSerializer(ExtendedActorSystem system) : CompactEventSerializer(system, Formats)
{
    public const int Id = 447;

    public override int Identifier => Id;

    public static readonly IReadOnlyList<CompactFormat> Formats =
    [
        CompactFormat.Of<PageSpansCharged>("ac1",
            (w, e) => WriteSpans(w.String(e.Account).String(e.Holder), e.Holder, e.Spans),
            r =>
            {
                var (account, holder) = (r.String(), r.String());
                return new PageSpansCharged(account, holder, ReadSpans(r, holder));
            }),
        CompactFormat.Of<PageSpansReleased>("ar1",
            (w, e) => WriteSpans(w.String(e.Account).String(e.Holder), e.Holder, e.Spans),
            r =>
            {
                var (account, holder) = (r.String(), r.String());
                return new PageSpansReleased(account, holder, ReadSpans(r, holder));
            }),
        CompactFormat.Of<HolderSpansReconciled>("ah1",
            (w, e) => WriteSpans(w.String(e.Account).String(e.Holder), e.Holder, e.Spans),
            r =>
            {
                var (account, holder) = (r.String(), r.String());
                return new HolderSpansReconciled(account, holder, ReadSpans(r, holder));
            }),
        CompactFormat.Of<AccountSpansSnapshot>("as1",
            (w, s) =>
            {
                w.UInt((ulong)s.Accounts.Length);
                foreach (var a in s.Accounts)
                {
                    w.String(a.Account).UInt((ulong)a.Holders.Length);
                    foreach (var h in a.Holders)
                        WriteSpans(w.String(h.Holder), h.Holder, h.Spans);
                }
            },
            r =>
            {
                var accountCount = checked((int)r.UInt());
                var accounts = ImmutableArray.CreateBuilder<AccountSpansRecord>(accountCount);
                for (var i = 0; i < accountCount; i++)
                {
                    var account = r.String();
                    var holderCount = checked((int)r.UInt());
                    var holders = ImmutableArray.CreateBuilder<HolderSpansRecord>(holderCount);
                    for (var j = 0; j < holderCount; j++)
                    {
                        var holder = r.String();
                        holders.Add(new HolderSpansRecord(holder, ReadSpans(r, holder)));
                    }
                    accounts.Add(new AccountSpansRecord(account, holders.MoveToImmutable()));
                }
                return new AccountSpansSnapshot(accounts.MoveToImmutable());
            }),
    ];

    private static CompactWriter WriteSpans(CompactWriter w, string holder, ImmutableArray<PageSpan> spans)
    {
        var prefix = holder + "/";
        w.UInt((ulong)spans.Length);
        foreach (var s in spans)
        {
            if (OwnNumber(prefix, s.PagesId, out var number))
                w.UInt(number + 1);
            else
                w.UInt(0).String(s.PagesId);
            w.UInt(s.First).UInt(s.Last - s.First);
        }
        return w;
    }

    private static ImmutableArray<PageSpan> ReadSpans(CompactReader r, string holder)
    {
        var prefix = holder + "/";
        var count = checked((int)r.UInt());
        var spans = ImmutableArray.CreateBuilder<PageSpan>(count);
        for (var i = 0; i < count; i++)
        {
            var number = r.UInt();
            var id = number > 0 ? prefix + (number - 1).ToString(CultureInfo.InvariantCulture) : r.String();
            var first = r.UInt();
            spans.Add(new PageSpan(id, first, first + r.UInt()));
        }
        return spans.MoveToImmutable();
    }

    /// <summary>Whether the id is "{holder}/{n}" with n written the usual way (no sign, no leading zero).</summary>
    private static bool OwnNumber(string prefix, string id, out ulong number)
    {
        number = 0;
        return id.StartsWith(prefix, StringComparison.Ordinal)
            && ulong.TryParse(id.AsSpan(prefix.Length), NumberStyles.None, CultureInfo.InvariantCulture, out number)
            && (id[prefix.Length] != '0' || id.Length == prefix.Length + 1)
            && number < ulong.MaxValue;
    }
}
