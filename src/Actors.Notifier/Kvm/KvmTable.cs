using System.Collections.Immutable;
using IommuActors.Ioasid.Pasid;

namespace IommuActors.Notifier.Kvm;

/// <summary>
/// KVM's guest-to-host PASID table of one VM and the set references behind it (one per host PASID it translates
/// to, or more after a restart reads them back). A translation never outlives its reference: what revokes the one
/// hands the other back. UNBIND and FREE both revoke: a FREE leaves the set even while a device's bind keeps the
/// PASID (no UNBIND then), and the guest must not reach a freed PASID through ENQCMD. SPID_DETACHED revokes too: the
/// bind that attached the guest PASID was undone.
/// </summary>
public sealed class KvmTable
{
    private readonly Dictionary<int, int> _guestToHost = new();
    // The reverse (a bound PASID has one SPID), so a revoke finds its entry without a scan.
    private readonly Dictionary<int, int> _hostToGuest = new();
    private readonly Dictionary<int, int> _references = new();

    public ImmutableDictionary<int, int> GuestToHost => _guestToHost.ToImmutableDictionary();

    /// <summary>The events after which KVM no longer translates to the PASID.</summary>
    public static bool Revokes(IoasidEventKind kind) => kind is IoasidEventKind.Unbind or IoasidEventKind.Free or IoasidEventKind.SpidDetached;

    public bool Holds(int host) => _references.ContainsKey(host);

    public int? Translate(int guest) => _guestToHost.TryGetValue(guest, out var host) ? host : null;

    /// <summary>A reference to <paramref name="host"/> is held; with a guest PASID, the guest translates to it (replacing older entries of either).</summary>
    public void Hold(int host, int refs, int guest)
    {
        _references[host] = refs;
        if (guest == 0)
            return;
        if (_guestToHost.Remove(guest, out var old))
            _hostToGuest.Remove(old);
        if (_hostToGuest.Remove(host, out var oldGuest))
            _guestToHost.Remove(oldGuest);
        _guestToHost[guest] = host;
        _hostToGuest[host] = guest;
    }

    /// <summary>The host PASID is unbound or freed: its translation goes; answers how many references to give back.</summary>
    public int Revoke(int host)
    {
        if (!_references.Remove(host, out var refs))
            return 0;
        if (_hostToGuest.Remove(host, out var guest))
            _guestToHost.Remove(guest);
        return refs;
    }

    /// <summary>SET_FREED: every listed PASID it holds is revoked; answers those (their references go in one release).</summary>
    public ImmutableArray<int> RevokeAll(IEnumerable<int> hosts)
    {
        var held = hosts.Where(_references.ContainsKey).ToImmutableArray();
        foreach (var host in held)
            Revoke(host);
        return held;
    }
}
