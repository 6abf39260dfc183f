using Akka.Configuration;

namespace IommuActors.Ioasid;

/// <summary>The iommu-actors.ioasid section of hocon/ioasid.conf.</summary>
public sealed record IoasidSettings(int FirstPasid, int LastPasid, int Capacity, int DefaultSetQuota, TimeSpan AckTimeout, int SnapshotFloor)
{
    public const string Section = "iommu-actors.ioasid";

    /// <summary>Reads the section; a key the config does not set falls back to <paramref name="defaults"/>' value.</summary>
    public static IoasidSettings FromConfig(Config config, Config defaults)
    {
        var c = config.GetConfig(Section) is { IsEmpty: false } given
            ? given.WithFallback(defaults.GetConfig(Section))
            : defaults.GetConfig(Section);
        return new IoasidSettings(
            c.GetInt("first-pasid"),
            c.GetInt("last-pasid"),
            c.GetInt("capacity"),
            c.GetInt("default-set-quota"),
            c.GetTimeSpan("ack-timeout"),
            c.GetInt("snapshot-floor"));
    }
}
