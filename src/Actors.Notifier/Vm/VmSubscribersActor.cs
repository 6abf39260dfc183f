using System.Collections.Immutable;
using Akka.Actor;
using IommuActors.Core.Messaging;
using IommuActors.Notifier.Bus;
using IommuActors.Notifier.Kvm;
using IommuActors.Notifier.Vdcm;
using static IommuActors.Notifier.Bus.NotifierProtocol;

namespace IommuActors.Notifier.Vm;

/// <summary>
/// The notifier's per-VM subscribers on one node: for each VM set started here, its KVM and VDCM subscribers, as
/// children named kvm-&lt;set&gt; and vdcm-&lt;set&gt;. A crashing subscriber is restarted in place (its
/// reference, subscription and mailbox stay; it re-synchronises from the set after its backoff), whatever the
/// exception; whoever started a VM stops it once the VM's set is freed, which ends both subscriptions.
/// </summary>
public sealed class VmSubscribersActor : ReceiveActor
{
    /// <summary>
    /// Start (or find) the VM's subscribers; answered VmStarted once both are subscribed to the bus, so
    /// that no event the VM's first ioctl publishes can reach the bus before them.
    /// </summary>
    public sealed record StartVm(string SetKey) : IClusterMessage;
    public sealed record VmStarted(string SetKey, IActorRef Kvm, IActorRef Vdcm) : IClusterMessage;

    /// <summary>Stop them; answered VmStopped (also when none were running).</summary>
    public sealed record StopVm(string SetKey) : IClusterMessage;
    public sealed record VmStopped(string SetKey) : IClusterMessage;

    public sealed record GetVms() : IClusterMessage;
    public sealed record Vms(ImmutableArray<string> SetKeys) : IClusterMessage;

    private readonly Dictionary<string, (IActorRef Kvm, IActorRef Vdcm)> _vms = new(StringComparer.Ordinal);
    private readonly Dictionary<string, HashSet<string>> _listening = new(StringComparer.Ordinal);
    private readonly Dictionary<string, List<IActorRef>> _starting = new(StringComparer.Ordinal);

    public static Props Props(IActorRef sets, IActorRef bus, SubscriberBackoff? backoff = null) =>
        Akka.Actor.Props.Create(() => new VmSubscribersActor(sets, bus, backoff));

    public VmSubscribersActor(IActorRef sets, IActorRef bus, SubscriberBackoff? backoff)
    {
        Receive<StartVm>(m =>
        {
            if (!_vms.TryGetValue(m.SetKey, out var vm))
                _vms[m.SetKey] = vm = (
                    Context.ActorOf(KvmSubscriber.Props(m.SetKey, sets, bus, backoff), ChildName("kvm", m.SetKey)),
                    Context.ActorOf(VdcmSubscriber.Props(m.SetKey, sets, bus, backoff), ChildName("vdcm", m.SetKey)));
            if (Listening(m.SetKey))
                Sender.Tell(new VmStarted(m.SetKey, vm.Kvm, vm.Vdcm));
            else if (_starting.TryGetValue(m.SetKey, out var waiting))
                waiting.Add(Sender);
            else
                _starting[m.SetKey] = [Sender];
        });
        Receive<SubscriberListening>(l =>
        {
            if (!_vms.TryGetValue(l.SetKey, out var vm))
                return;
            if (!_listening.TryGetValue(l.SetKey, out var names))
                _listening[l.SetKey] = names = new HashSet<string>(StringComparer.Ordinal);
            names.Add(l.Name);
            if (Listening(l.SetKey) && _starting.Remove(l.SetKey, out var waiting))
                foreach (var requester in waiting)
                    requester.Tell(new VmStarted(l.SetKey, vm.Kvm, vm.Vdcm));
        });
        Receive<StopVm>(m =>
        {
            _listening.Remove(m.SetKey);
            _starting.Remove(m.SetKey);
            if (_vms.Remove(m.SetKey, out var vm))
            {
                Context.Stop(vm.Kvm);
                Context.Stop(vm.Vdcm);
            }
            Sender.Tell(new VmStopped(m.SetKey));
        });
        Receive<GetVms>(_ => Sender.Tell(new Vms(_vms.Keys.Order(StringComparer.Ordinal).ToImmutableArray())));
    }

    /// <summary>Both of the VM's subscribers (KVM and VDCM) have been subscribed.</summary>
    private bool Listening(string setKey) => _listening.TryGetValue(setKey, out var names) && names.Count >= 2;

    private static string ChildName(string kind, string setKey) => $"{kind}-{Uri.EscapeDataString(setKey)}";

    // Restart in place, never stop: a subscriber's state is rebuilt from the sets, and stopping it would make the bus
    // count every delivery it holds as unanswered.
    protected override SupervisorStrategy SupervisorStrategy() =>
        new OneForOneStrategy(-1, Timeout.InfiniteTimeSpan, _ => Directive.Restart);
}
