using System.Collections.Immutable;
using Akka.Actor;
using Akka.TestKit.Xunit2;
using IommuActors.Domains.Pages;
using IommuActors.TestSupport;
using static IommuActors.Domains.Pages.AccountProtocol;

namespace IommuActors.Domains.Tests.Pages;

public sealed class AccountActorSpecs() : TestKit(SpecConfig.InMemory)
{
    [Fact]
    public void A_journal_of_whole_object_charges_replays_each_object_charged_whole_once_per_holder()
    {
        ImmutableArray<object> events =
        [
            new PagesCharged("user-1000", "ioas-1", [new PagesCharge("ioas-1/0", 4), new PagesCharge("ioas-1/1", 2)]),
            new PagesCharged("user-1000", "ioas-2", [new PagesCharge("ioas-1/0", 4)]),
            new PagesReleased("user-1000", "ioas-1", ["ioas-1/0", "ioas-1/1"]),
        ];
        var writer = Sys.ActorOf(OldJournal.Props("locked-memory-old", events, null));
        writer.Tell("write");
        ExpectMsg("written");
        Sys.Stop(writer);

        var accounts = Sys.ActorOf(AccountActor.Props("old", 100));
        accounts.Tell(new GetAccount("user-1000"));
        ExpectMsg(new AccountView("user-1000", 4, 100, 1));
        // The page-exact release of ioas-2's holding finds the whole object it replayed.
        accounts.Tell(new ReleasePages("user-1000", "ioas-2", [new PageSpan("ioas-1/0", 0, 3)]));
        ExpectMsg(new ReleaseResult("user-1000", "ioas-2", 0));
    }
}
