using System.Runtime.InteropServices;
using Microsoft.Extensions.Configuration;

namespace IommuActors.Host.FrontDoor;

/// <summary>
/// What the socket front door lets a user change (Iommu:AllowedUids, Iommu:SessionGracePeriod,
/// Iommu:MemoryTimeout, Iommu:RequestTimeout, Iommu:MaxFrame, Iommu:CapSysResourceUids); the socket path itself is
/// <see cref="HostSettings.SocketPath"/>. CapSysResourceUids are the clients taken to hold
/// CAP_SYS_RESOURCE (default root only), which the kernel asks of IOMMU_OPTION_RLIMIT_MODE set.
/// </summary>
public sealed record FrontDoorSettings(
    IReadOnlySet<uint> AllowedUids,
    TimeSpan SessionGracePeriod,
    TimeSpan MemoryTimeout,
    int MaxFrame,
    IReadOnlySet<uint>? CapSysResourceUids = null)
{
    /// <summary>Whether a client of this uid acts with CAP_SYS_RESOURCE.</summary>
    public bool HasCapSysResource(uint uid) => uid == 0 || (CapSysResourceUids?.Contains(uid) ?? false);

    public static readonly TimeSpan DefaultGracePeriod = TimeSpan.FromMinutes(5);
    public static readonly TimeSpan DefaultMemoryTimeout = TimeSpan.FromSeconds(5);
    public static readonly TimeSpan DefaultRequestTimeout = TimeSpan.FromSeconds(30);

    /// <summary>
    /// How long a request may wait for its file's answer before the front door answers ETIMEDOUT
    /// (Iommu:RequestTimeout; zero for no limit). A request whose file's actor is known to have
    /// stopped (its node died) is answered at once.
    /// </summary>
    public TimeSpan RequestTimeout { get; init; } = DefaultRequestTimeout;

    /// <summary>The host's own uid and root: who may talk to a /dev/iommu a user started for themselves.</summary>
    public static IReadOnlySet<uint> DefaultUids => new HashSet<uint> { 0, Geteuid() };

    public static FrontDoorSettings Default { get; } = new(DefaultUids, DefaultGracePeriod, DefaultMemoryTimeout,
        Uapi.Wire.WireFormat.DefaultMaxFrame);

    public static FrontDoorSettings From(IConfigurationSection section)
    {
        var uids = Uids(section, "AllowedUids") ?? DefaultUids;
        return new FrontDoorSettings(
            uids,
            Duration(section["SessionGracePeriod"], "SessionGracePeriod") ?? DefaultGracePeriod,
            Duration(section["MemoryTimeout"], "MemoryTimeout") ?? DefaultMemoryTimeout,
            MaxFrameOf(section["MaxFrame"]),
            Uids(section, "CapSysResourceUids"))
        {
            RequestTimeout = Duration(section["RequestTimeout"], "RequestTimeout") ?? DefaultRequestTimeout,
        };
    }

    private static HashSet<uint>? Uids(IConfigurationSection section, string key) =>
        ParseUids(section[key], key) ?? ParseUids(string.Join(',', section.GetSection(key).GetChildren().Select(c => c.Value)), key);

    /// <summary>"0,1000" (or a JSON array); empty means the default.</summary>
    private static HashSet<uint>? ParseUids(string? text, string key)
    {
        if (string.IsNullOrWhiteSpace(text)) return null;
        return text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(u => uint.TryParse(u, out var uid) ? uid
                : throw new SettingsException($"Iommu:{key} has \"{u}\", which is not a uid."))
            .ToHashSet();
    }

    /// <summary>A TimeSpan ("00:05:00") or a number of seconds ("2.5").</summary>
    private static TimeSpan? Duration(string? text, string key)
    {
        if (string.IsNullOrWhiteSpace(text)) return null;
        if (double.TryParse(text, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var seconds))
            return TimeSpan.FromSeconds(seconds);
        if (TimeSpan.TryParse(text, System.Globalization.CultureInfo.InvariantCulture, out var span)) return span;
        throw new SettingsException($"Iommu:{key} is \"{text}\": give seconds or hh:mm:ss.");
    }

    /// <summary>Bytes, at least 4096; empty for the wire format's default.</summary>
    private static int MaxFrameOf(string? text)
    {
        if (string.IsNullOrWhiteSpace(text)) return Uapi.Wire.WireFormat.DefaultMaxFrame;
        return int.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var max) && max >= 4096
            ? max
            : throw new SettingsException($"Iommu:MaxFrame is \"{text}\": give a frame size in bytes, at least 4096.");
    }

    [DllImport("libc", EntryPoint = "geteuid")]
    private static extern uint Geteuid();
}
