using System.Net;
using System.Net.Sockets;
using IommuActors.Core.Persistence;
using Xunit;

namespace IommuActors.TestSupport;

/// <summary>
/// A throw-away PostgreSQL 15 cluster: initdb in a temporary folder, started on a free loopback
/// port, stopped and removed afterwards. Installs the Debian package postgresql-15 when the
/// binaries are missing. As root, the server runs as the postgres user (initdb refuses root).
/// </summary>
public sealed class PostgresFixture : IAsyncLifetime
{
    private const string BinFolder = "/usr/lib/postgresql/15/bin";
    private string _dataDir = "";
    private int _databaseCounter;

    public int Port { get; private set; }

    public string ServerConnectionString => $"Host=127.0.0.1;Port={Port};Username=postgres;Database=postgres;Pooling=true";

    public async Task InitializeAsync()
    {
        await EnsureInstalledAsync();
        var root = TempFolder.Create("pg");
        _dataDir = Path.Combine(root, "data");
        Port = FreeLoopbackPort();
        if (IsRoot)
            await RunAsync("chown", $"-R postgres:postgres {root}");
        await RunAsPostgresAsync(Path.Combine(BinFolder, "initdb"),
            $"-D {_dataDir} -U postgres --auth=trust --encoding=UTF8 --no-sync");
        await RunAsPostgresAsync(Path.Combine(BinFolder, "pg_ctl"),
            $"-D {_dataDir} -l {Path.Combine(root, "server.log")} -w -t 60 " +
            $"-o \"-p {Port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200\" start");
    }

    /// <summary>A new, empty database on the fixture's server, for one spec's store.</summary>
    public async Task<StoreOptions> FreshStoreAsync(string label)
    {
        var name = $"{label.ToLowerInvariant()}_{Interlocked.Increment(ref _databaseCounter)}_{Environment.ProcessId}";
        await using (var connection = new Npgsql.NpgsqlConnection(ServerConnectionString))
        {
            await connection.OpenAsync();
            await using var create = connection.CreateCommand();
            create.CommandText = $"CREATE DATABASE \"{name}\"";
            await create.ExecuteNonQueryAsync();
        }
        return StoreOptions.PostgreSql($"Host=127.0.0.1;Port={Port};Username=postgres;Database={name}");
    }

    public async Task DisposeAsync()
    {
        Npgsql.NpgsqlConnection.ClearAllPools();
        if (_dataDir.Length > 0 && Directory.Exists(_dataDir))
        {
            await RunAsPostgresAsync(Path.Combine(BinFolder, "pg_ctl"), $"-D {_dataDir} -m immediate -w stop");
            Directory.Delete(Path.GetDirectoryName(_dataDir)!, recursive: true);
        }
    }

    private static bool IsRoot => DebianPackages.IsRoot;

    private static Task EnsureInstalledAsync() => DebianPackages.EnsureAsync("postgresql-15", Path.Combine(BinFolder, "initdb"));

    private static Task RunAsPostgresAsync(string program, string arguments) => IsRoot
        ? RunAsync("runuser", $"-u postgres -- {program} {arguments}")
        : RunAsync(program, arguments);

    private static Task RunAsync(string program, string arguments) => Processes.RunAsync(program, arguments);

    private static int FreeLoopbackPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}

/// <summary>
/// The collection name shared by every spec that needs the server. xunit reads collection
/// definitions from the test assembly only, so each test project declares
/// <c>[CollectionDefinition(PostgresCollection.Name)] class X : ICollectionFixture&lt;PostgresFixture&gt;;</c>.
/// </summary>
public static class PostgresCollection
{
    public const string Name = "PostgreSQL";
}
