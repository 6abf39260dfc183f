namespace IommuActors.Domains.Pages;

/// <summary>The kernel's IOMMU_OPTION_RLIMIT_MODE: 0 charges the user, 1 charges the process.</summary>
public enum RlimitMode
{
    PerUser = 0,
    PerProcess = 1,
}

/// <summary>
/// Locked-memory accounting (RLIMIT_MEMLOCK) in pages, per user or per process, against a limit.
/// A charge over the limit fails with ENOMEM and changes nothing.
/// </summary>
public sealed class LockedMemoryAccount(ulong limitPages, string userKey = "user", string processKey = "process")
{
    private readonly Dictionary<string, ulong> _charged = new();

    public ulong LimitPages { get; } = limitPages;
    public RlimitMode Mode { get; private set; } = RlimitMode.PerUser;
    public string UserKey { get; } = userKey;
    public string ProcessKey { get; } = processKey;

    private string Key => Mode == RlimitMode.PerUser ? UserKey : ProcessKey;

    /// <summary>Pages charged to the current mode's holder.</summary>
    public ulong Charged => _charged.GetValueOrDefault(Key);

    public ulong ChargedTo(string key) => _charged.GetValueOrDefault(key);

    /// <summary>Changing the mode while pages are charged would lose track of them: EBUSY.</summary>
    public int SetMode(RlimitMode mode)
    {
        if (mode != Mode && _charged.Values.Any(v => v != 0))
            return Errno.EBUSY;
        Mode = mode;
        return 0;
    }

    public int Charge(ulong pages)
    {
        var now = Charged;
        if (pages > LimitPages || now > LimitPages - pages)
            return Errno.ENOMEM;
        _charged[Key] = now + pages;
        return 0;
    }

    public void Uncharge(ulong pages)
    {
        var now = Charged;
        if (pages > now)
            throw new InvalidOperationException($"uncharging {pages} pages but only {now} are charged");
        _charged[Key] = now - pages;
    }
}
