using Akka.Actor;
using Akka.TestKit;
using Akka.TestKit.Xunit2;
using IommuActors.Ioasid.Pasid;
using IommuActors.Notifier.Kvm;
using IommuActors.TestSupport;
using IommuActors.Uapi;
using Xunit;
using static IommuActors.Ioasid.Pasid.PasidSetProtocol;
using static IommuActors.Notifier.Bus.NotifierProtocol;
using static IommuActors.Notifier.Kvm.KvmProtocol;

namespace IommuActors.Notifier.Tests.Kvm;

/// <summary>
/// KVM's subscriber against a stand-in set and bus: a BIND with a guest PASID takes a reference before the
/// translation exists, and whatever revokes the PASID (UNBIND, FREE, SPID_DETACHED) takes the translation away,
/// even one still waiting for its reference.
/// </summary>
public sealed class KvmSubscriberSpecs() : TestKit(SpecConfig.InMemory)
{
    private const string Key = "pasid-set-vm1";

    private (IActorRef Kvm, TestProbe Set, TestProbe Bus) Start()
    {
        var set = CreateTestProbe();
        var bus = CreateTestProbe();
        var kvm = Sys.ActorOf(KvmSubscriber.Props(Key, set.Ref, bus.Ref));
        set.ExpectMsg(new GetHolds(Key, KvmSubscriber.Holder));
        set.Reply(new Holds(Key, KvmSubscriber.Holder, []));
        bus.ExpectMsg<Subscribe>();
        return (kvm, set, bus);
    }

    private void AssertTranslates(IActorRef kvm, int guest, int host, int errno)
    {
        kvm.Tell(new Translate(guest));
        ExpectMsg(new Translated(guest, host, errno));
    }

    [Theory]
    [InlineData(IoasidEventKind.Unbind)]
    [InlineData(IoasidEventKind.SpidDetached)]
    public void A_revoke_takes_the_translation_away_and_puts_the_reference_back(IoasidEventKind revoke)
    {
        var (kvm, set, bus) = Start();
        kvm.Tell(new Notify(1, new IoasidEvent(IoasidEventKind.Bind, Key, 7, 9, "guest")), bus.Ref);
        set.ExpectMsg(new GetPasid(Key, 7, KvmSubscriber.Holder));
        set.Reply(new PasidResult(Key, "get", 7, 0));
        bus.ExpectMsg(new Acknowledge(1));
        AssertTranslates(kvm, 9, 7, 0);

        kvm.Tell(new Notify(2, new IoasidEvent(revoke, Key, 7, 9, "guest")), bus.Ref);
        set.ExpectMsg(new PutPasid(Key, 7, KvmSubscriber.Holder));
        bus.ExpectMsg(new Acknowledge(2));
        AssertTranslates(kvm, 9, 0, Errno.ENOENT);
    }

    [Fact]
    public void A_bind_still_waiting_for_its_reference_when_the_revoke_comes_never_translates_and_gives_the_reference_back()
    {
        var (kvm, set, bus) = Start();
        kvm.Tell(new Notify(1, new IoasidEvent(IoasidEventKind.Bind, Key, 7, 9, "guest")), bus.Ref);
        set.ExpectMsg(new GetPasid(Key, 7, KvmSubscriber.Holder));

        // The bind timed out and was undone before the set answered KVM's GET.
        kvm.Tell(new Notify(2, new IoasidEvent(IoasidEventKind.SpidDetached, Key, 7, 9, "guest")), bus.Ref);
        bus.ExpectMsg(new Acknowledge(1));
        bus.ExpectMsg(new Acknowledge(2));
        set.Reply(new PasidResult(Key, "get", 7, 0));
        set.ExpectMsg(new PutPasid(Key, 7, KvmSubscriber.Holder));
        AssertTranslates(kvm, 9, 0, Errno.ENOENT);
    }
}
