using Akka.Configuration;
using Akka.Persistence.Sql;
using IommuActors.Core.Configuration;
using Microsoft.Data.Sqlite;

namespace IommuActors.Core.Persistence;

/// <summary>Turns a <see cref="StoreOptions"/> into the journal and snapshot-store configuration.</summary>
public static class PersistenceSetup
{
    public static string HoconFileOf(StoreKind kind) => kind switch
    {
        StoreKind.Sqlite => "persistence-sqlite.conf",
        StoreKind.PostgreSql => "persistence-postgresql.conf",
        _ => "persistence-memory.conf",
    };

    /// <summary>The Linq2Db provider of Akka.Persistence.Sql for a SQL store.</summary>
    public static string ProviderNameOf(StoreKind kind) => kind switch
    {
        StoreKind.Sqlite => "SQLite.MS",
        StoreKind.PostgreSql => "PostgreSQL",
        _ => throw new ArgumentException($"{kind} is not a SQL store.", nameof(kind)),
    };

    /// <summary>
    /// The store's own settings (batching, parallelism) without the connection: what the host lays
    /// under the plugin Akka.Persistence.Sql.Hosting sets up. SQLite files are prepared as for ConfigFor.
    /// </summary>
    public static Config TuningFor(StoreOptions store)
    {
        if (store.Kind == StoreKind.Sqlite)
            PrepareSqliteFile(store.SqliteFile());
        return HoconFiles.Load(HoconFileOf(store.Kind));
    }

    /// <summary>
    /// For an actor system built without Akka.Hosting (specs, benches): the store's HOCON file with the connection string filled in. SQLite files are created (in
    /// WAL mode) before the journal first opens them.
    /// </summary>
    public static Config ConfigFor(StoreOptions store)
    {
        if (store.Kind == StoreKind.Sqlite)
            PrepareSqliteFile(store.SqliteFile());
        var fromFile = HoconFiles.Load(HoconFileOf(store.Kind));
        if (store.Kind == StoreKind.InMemory)
            return fromFile;
        var quoted = Quote(store.ConnectionString);
        var connection = ConfigurationFactory.ParseString(
            $"akka.persistence.journal.sql.connection-string = {quoted}\n" +
            $"akka.persistence.snapshot-store.sql.connection-string = {quoted}");
        return connection.WithFallback(fromFile).WithFallback(SqlPersistence.DefaultConfiguration);
    }

    /// <summary>
    /// Creates the folder and the database file and switches it to WAL, which the file keeps:
    /// readers no longer block the journal's writer and a commit costs one append, not a rewrite.
    /// </summary>
    public static void PrepareSqliteFile(string file)
    {
        var folder = Path.GetDirectoryName(Path.GetFullPath(file));
        if (!string.IsNullOrEmpty(folder))
            Directory.CreateDirectory(folder);
        using var connection = new SqliteConnection($"Data Source={file}");
        connection.Open();
        using var pragma = connection.CreateCommand();
        pragma.CommandText = "PRAGMA journal_mode=WAL;";
        var mode = pragma.ExecuteScalar() as string;
        if (!string.Equals(mode, "wal", StringComparison.OrdinalIgnoreCase))
            throw new InvalidOperationException($"SQLite file {file} refused WAL mode (got '{mode}').");
    }

    private static string Quote(string value) =>
        "\"" + value.Replace("\\", "\\\\").Replace("\"", "\\\"") + "\"";
}
