using Akka.Configuration;
using IommuActors.Core.Configuration;
using IommuActors.Core.Persistence;

namespace IommuActors.TestSupport;

/// <summary>Actor-system configuration for specs: the repository's own HOCON, a chosen store.</summary>
public static class SpecConfig
{
    // The default wait of an ExpectMsg without a duration: generous, since a passing spec returns as
    // soon as the message comes and a journal on a loaded 2-core CI machine may take seconds to start.
    private static readonly Config Quiet = ConfigurationFactory.ParseString("""
        akka.loglevel = WARNING
        akka.stdout-loglevel = WARNING
        akka.test.timefactor = 1
        akka.test.single-expect-default = 20s
        """);

    /// <summary>A local actor system on the in-memory journal.</summary>
    public static Config InMemory { get; } = With(StoreOptions.InMemory);

    /// <summary>A local actor system on the given store, with the project's serializers.</summary>
    public static Config With(StoreOptions store, Config? overrides = null) => HoconFiles.Combine(
        overrides ?? Config.Empty,
        Quiet,
        PersistenceSetup.ConfigFor(store),
        HoconFiles.Load(HoconFiles.Base));

    /// <summary>A fresh SQLite file in a folder of its own under the system's temporary folder.</summary>
    public static StoreOptions FreshSqliteStore(string label) =>
        StoreOptions.SqliteFile(Path.Combine(TempFolder.Create(label), "journal.db"));
}

public static class TempFolder
{
    public static string Create(string label)
    {
        var path = Path.Combine(Path.GetTempPath(), "iommu-specs", $"{label}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(path);
        return path;
    }
}
