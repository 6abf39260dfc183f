namespace IommuActors.Core.Persistence;

public enum StoreKind
{
    /// <summary>The embedded default: a SQLite file under the working folder, in WAL mode.</summary>
    Sqlite,

    /// <summary>The server option, through Npgsql.</summary>
    PostgreSql,

    /// <summary>Akka's in-memory journal: for benchmarks and tests that do not test durability.</summary>
    InMemory,
}

/// <summary>Which journal and snapshot store the actor system writes to.</summary>
public sealed record StoreOptions(StoreKind Kind, string ConnectionString)
{
    public static StoreOptions SqliteFile(string file) => new(StoreKind.Sqlite, $"Data Source={file}");

    public static StoreOptions PostgreSql(string connectionString) => new(StoreKind.PostgreSql, connectionString);

    public static StoreOptions InMemory { get; } = new(StoreKind.InMemory, "");

    public static StoreKind ParseKind(string text) => text.Trim().ToLowerInvariant() switch
    {
        "sqlite" => StoreKind.Sqlite,
        "postgresql" or "postgres" or "pg" => StoreKind.PostgreSql,
        "memory" or "inmemory" or "in-memory" => StoreKind.InMemory,
        _ => throw new ArgumentException(
            $"Unknown store '{text}': expected sqlite, postgresql or memory.", nameof(text)),
    };

    /// <summary>Where a person finds the data, for logs: the file for SQLite, the host for PostgreSQL.</summary>
    public string Describe() => Kind switch
    {
        StoreKind.Sqlite => $"SQLite file {SqliteFile()} (WAL)",
        StoreKind.PostgreSql => $"PostgreSQL {RedactedPostgres()}",
        _ => "in-memory journal (nothing survives a restart)",
    };

    public string SqliteFile() =>
        new Microsoft.Data.Sqlite.SqliteConnectionStringBuilder(ConnectionString).DataSource;

    private string RedactedPostgres()
    {
        var b = new Npgsql.NpgsqlConnectionStringBuilder(ConnectionString);
        return $"host={b.Host} port={b.Port} database={b.Database} user={b.Username}";
    }
}
