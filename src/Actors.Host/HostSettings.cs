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

    public static HostSettings From(IConfiguration configuration)
    {
        var section = configuration.GetSection(Section);
        var workDir = Path.GetFullPath(NonEmpty(section["WorkDir"]) ?? Environment.CurrentDirectory);
        var socket = Path.GetFullPath(NonEmpty(section["Socket"]) ?? DefaultSocket, workDir);
        var kind = StoreOptions.ParseKind(NonEmpty(section["Store"]) ?? "sqlite");
        var connection = NonEmpty(section["ConnectionString"]);
        var store = kind switch
        {
            StoreKind.Sqlite => StoreOptions.SqliteFile(
                connection is null ? Path.Combine(workDir, DefaultDatabase) : SqliteFileIn(connection, workDir)),
            StoreKind.PostgreSql => StoreOptions.PostgreSql(connection ?? throw new ArgumentException(
                "Iommu:Store is postgresql but Iommu:ConnectionString is not set.")),
            _ => StoreOptions.InMemory,
        };
        return new HostSettings(workDir, socket, store);
    }

    /// <summary>A SQLite setting may be a bare file name or a full connection string.</summary>
    private static string SqliteFileIn(string setting, string workDir)
    {
        var file = setting.Contains('=')
            ? new Microsoft.Data.Sqlite.SqliteConnectionStringBuilder(setting).DataSource
            : setting;
        return Path.GetFullPath(file, workDir);
    }

    private static string? NonEmpty(string? value) => string.IsNullOrWhiteSpace(value) ? null : value;
}
