using IommuActors.Core.Persistence;
using Microsoft.Extensions.Configuration;

namespace IommuActors.Host;

/// <summary>
/// The few things a user changes, from the "Iommu" section of appsettings.json, the environment
/// (IOMMU__STORE=postgresql) or the command line (--Iommu:Store postgresql).
/// </summary>
public sealed record HostSettings(string WorkDir, string SocketPath, StoreOptions Store)
{
    public const string Section = "Iommu";
    public const string DefaultDatabase = "data/iommu.db";
    public const string DefaultSocket = "run/iommufd.sock";

    /// <summary>
    /// A HOCON file that sets iommu.platform (e.g. hocon/platforms/amd-vi.conf, given as
    /// "platforms/amd-vi.conf" or any path); null for the default box of hocon/platform.conf.
    /// </summary>
    public string? PlatformFile { get; init; }

    /// <summary>
    /// Where the node listens and which nodes it looks for (Iommu:Hostname, Iommu:Port, Iommu:Seeds;
    /// Iommu:Join, the address of a running node as its Ready line says, is one seed): no seeds to
    /// found a cluster of its own.
    /// </summary>
    public Membership.MembershipSettings Membership { get; init; } = IommuActors.Host.Membership.MembershipSettings.Default;

    /// <summary>
    /// RLIMIT_MEMLOCK in pages (Iommu:LockedMemoryLimit, in bytes as setrlimit takes it, or
    /// "unlimited"): how much each user, or each process in RLIMIT_MODE 1, may keep pinned.
    /// </summary>
    public ulong LockedPageLimit { get; init; } = Fd.FdSettings.Default.LockedPageLimit;

    /// <summary>Who may connect, how long sessions wait for a resume, how long client memory may take to answer.</summary>
    public FrontDoor.FrontDoorSettings FrontDoor { get; init; } = IommuActors.Host.FrontDoor.FrontDoorSettings.Default;

    /// <summary>Metrics exporters and health endpoints: all off unless a setting turns them on.</summary>
    public Telemetry.TelemetrySettings Telemetry { get; init; } = IommuActors.Host.Telemetry.TelemetrySettings.Off;

    /// <summary>Every key the Iommu section may hold: anything else (a misspelt Iommu:Stroe) is refused, not ignored.</summary>
    public static readonly IReadOnlyList<string> Keys =
    [
        "WorkDir", "Socket", "Store", "ConnectionString", "Platform", "LockedMemoryLimit",
        "AllowedUids", "CapSysResourceUids", "SessionGracePeriod", "MemoryTimeout", "RequestTimeout", "MaxFrame",
        .. IommuActors.Host.Membership.MembershipSettings.Keys,
        .. IommuActors.Host.Telemetry.TelemetrySettings.Keys,
    ];

    public static HostSettings From(IConfiguration configuration)
    {
        var section = configuration.GetSection(Section);
        RefuseUnknownKeys(section);
        var workDir = Path.GetFullPath(NonEmpty(section["WorkDir"]) ?? Environment.CurrentDirectory);
        var socket = Path.GetFullPath(NonEmpty(section["Socket"]) ?? DefaultSocket, workDir);
        var kind = StoreKindOf(NonEmpty(section["Store"]) ?? "sqlite");
        var connection = NonEmpty(section["ConnectionString"]);
        var store = kind switch
        {
            StoreKind.Sqlite => StoreOptions.SqliteFile(
                connection is null ? Path.Combine(workDir, DefaultDatabase) : SqliteFileIn(connection, workDir)),
            StoreKind.PostgreSql => StoreOptions.PostgreSql(connection ?? throw new SettingsException(
                "Iommu:Store is postgresql but Iommu:ConnectionString is not set: give an Npgsql connection string, e.g. \"Host=localhost;Database=iommu;Username=iommu;Password=...\".")),
            _ => StoreOptions.InMemory,
        };
        var platform = NonEmpty(section["Platform"]);
        return new HostSettings(workDir, socket, store)
        {
            PlatformFile = platform is null ? null : PlatformPath(platform, workDir),
            Membership = IommuActors.Host.Membership.MembershipSettings.From(section),
            FrontDoor = IommuActors.Host.FrontDoor.FrontDoorSettings.From(section),
            LockedPageLimit = LockedPages(NonEmpty(section["LockedMemoryLimit"])),
            Telemetry = IommuActors.Host.Telemetry.TelemetrySettings.From(section),
        };
    }

    private static void RefuseUnknownKeys(IConfigurationSection section)
    {
        foreach (var child in section.GetChildren())
            if (!Keys.Contains(child.Key, StringComparer.OrdinalIgnoreCase))
                throw new SettingsException($"Iommu:{child.Key} is not a setting: the Iommu section takes {string.Join(", ", Keys)}.");
    }

    private static StoreKind StoreKindOf(string setting)
    {
        try { return StoreOptions.ParseKind(setting); }
        catch (ArgumentException) { throw new SettingsException($"Iommu:Store is \"{setting}\": expected sqlite, postgresql or memory."); }
    }

    /// <summary>Bytes ("67108864", "64M", "8192K", "1G") or "unlimited", in pages as the kernel divides rlimit by PAGE_SIZE.</summary>
    private static ulong LockedPages(string? setting)
    {
        if (setting is null || setting.Equals("unlimited", StringComparison.OrdinalIgnoreCase))
            return Fd.FdSettings.Default.LockedPageLimit;
        var shift = char.ToUpperInvariant(setting[^1]) switch { 'K' => 10, 'M' => 20, 'G' => 30, _ => 0 };
        var digits = shift == 0 ? setting : setting[..^1];
        if (!ulong.TryParse(digits, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var value)
            || value > ulong.MaxValue >> shift)
            throw new SettingsException($"Iommu:LockedMemoryLimit is \"{setting}\": give bytes (optionally with K, M or G) or unlimited.");
        return (value << shift) >> 12;
    }

    /// <summary>A SQLite setting may be a bare file name or a full connection string.</summary>
    private static string SqliteFileIn(string setting, string workDir)
    {
        var file = setting.Contains('=')
            ? new Microsoft.Data.Sqlite.SqliteConnectionStringBuilder(setting).DataSource
            : setting;
        return Path.GetFullPath(file, workDir);
    }

    /// <summary>A platform file is looked up in the working folder first, then among the shipped HOCON files.</summary>
    private static string PlatformPath(string setting, string workDir)
    {
        var inWorkDir = Path.GetFullPath(setting, workDir);
        if (File.Exists(inWorkDir)) return inWorkDir;
        var shipped = Core.Configuration.HoconFiles.PathOf(setting);
        return File.Exists(shipped) ? shipped : throw new SettingsException(
            $"Iommu:Platform names {setting}, which is neither in the working folder nor among the shipped HOCON files (platforms/amd-vi.conf, platforms/arm-smmuv3.conf, ...).");
    }

    private static string? NonEmpty(string? value) => string.IsNullOrWhiteSpace(value) ? null : value;
}
