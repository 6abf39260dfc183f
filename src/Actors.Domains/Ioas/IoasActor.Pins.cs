using Akka.Actor;
using IommuActors.Domains.Hwpt;
using IommuActors.Domains.Pages;
using static IommuActors.Domains.Ioas.IoasProtocol;

namespace IommuActors.Domains.Ioas;

/// <summary>
/// When user pages are pinned and charged, as the kernel does it: IOAS_MAP only records the
/// pages; a domain filled from the IOAS (iopt_table_add_domain, iopt_area_fill_domains) or an
/// access (iopt_area_add_access) pins them, and the charge follows the pin. An IOAS without
/// domains holds its areas unpinned; attaching its first domain pins and charges all of them,
/// and fails with ENOMEM over the limit; removing its last domain unpins what no access holds.
/// </summary>
public sealed partial class IoasActor
{
    private const string DomainProbe = "probe";

    /// <summary>The local account's answer to filling a first domain (ENOMEM over the limit); the table is left as it was.</summary>
    private int CheckPinForNewDomain()
    {
        var rc = _table.AddDomain(DomainProbe);
        _table.RemoveDomain(DomainProbe);
        return rc;
    }

    /// <summary>The shared account's charge for filling a first domain, right after the domain is allocated (step 0).</summary>
    private void ChargeForNewDomain(List<CommitStep> steps) =>
        ChargeStep(steps, _table.PagesToPinForDomain(), at: Math.Min(1, steps.Count));

    /// <summary>
    /// Keeps the table's domains equal to the paging HWPTs after each HWPT event, live and on replay.
    /// A first domain's charge to the shared account was a step of its commit; the last domain's
    /// release is told to the account here (a crash in between is repaired by ReconcileHolder).
    /// </summary>
    private void SyncDomainPins()
    {
        var paging = _hwpts.Paging.Select(h => h.Owner).ToHashSet();
        foreach (var gone in _table.DomainOwners.Where(o => !paging.Contains(o)).ToList())
        {
            _table.RemoveDomain(gone);
            ReleaseNow(_table.LastReleased);
        }
        foreach (var added in paging.Where(o => !_table.DomainOwners.Contains(o)).ToList())
            _table.AddDomain(added);
    }

    /// <summary>Unpinning cannot fail: the shared account is told, not asked.</summary>
    private void ReleaseNow(IReadOnlyList<AccountProtocol.PageSpan> released)
    {
        if (_account is null || released.Count == 0 || IsRecovering)
            return;
        _account.Accounts.Tell(new AccountProtocol.ReleasePages(AccountKey, _ioasId, [.. released]));
    }

    /// <summary>An access pinning pages no domain holds charges them; with the shared account the answer waits for the charge.</summary>
    private void OnPin(PinPages c)
    {
        var rc = _table.PinForAccess(c.Iova, c.Length, c.Write);
        if (rc != 0)
        {
            Sender.Tell(new PinResult(_ioasId, c.AccessId, rc));
            return;
        }
        if (!_accesses.TryGetValue(c.AccessId, out var entry))
            _accesses[c.AccessId] = entry = (c.Access, []);
        entry.Pins.Add((c.Iova, c.Length));
        var steps = new List<CommitStep>();
        ChargeStep(steps, _table.LastCharged);
        if (steps.Count == 0)
        {
            Sender.Tell(new PinResult(_ioasId, c.AccessId, 0));
            return;
        }
        Begin(steps, c.Iova, Last(c.Iova, c.Length), unmap: false, Sender,
            _ => ([], new PinResult(_ioasId, c.AccessId, 0)),
            errno => new PinResult(_ioasId, c.AccessId, errno),
            () => ForgetPin(c.AccessId, c.Iova, c.Length));
    }

    private void OnUnpin(UnpinPages c)
    {
        var rc = ForgetPin(c.AccessId, c.Iova, c.Length);
        if (rc == 0)
            ReleaseNow(_table.LastReleased);
        Sender.Tell(new UnpinResult(_ioasId, c.AccessId, rc));
    }

    private int ForgetPin(string accessId, ulong iova, ulong length)
    {
        if (!_accesses.TryGetValue(accessId, out var entry) || !entry.Pins.Remove((iova, length)))
            return Errno.ENOENT;
        if (entry.Pins.Count == 0)
            _accesses.Remove(accessId);
        return _table.UnpinForAccess(iova, length);
    }
}
