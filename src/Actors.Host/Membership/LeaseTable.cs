using System.Data.Common;
using IommuActors.Core.Persistence;

namespace IommuActors.Host.Membership;

/// <summary>
/// The store's iommu_lease table, one row a lease, beside the journal in the same database (SQLite
/// or PostgreSQL, the same SQL for both). Every change is a compare-and-set on the row as read,
/// so two processes racing for a lease cannot both win. Blocking calls: actors run them on a task
/// and take the result as a message.
/// </summary>
public sealed class LeaseTable(StoreOptions store)
{
    public const string TableName = "iommu_lease";

    private readonly Func<DbConnection> _connect = store.Kind switch
    {
        StoreKind.Sqlite => () => new Microsoft.Data.Sqlite.SqliteConnection(store.ConnectionString),
        StoreKind.PostgreSql => () => new Npgsql.NpgsqlConnection(store.ConnectionString),
        _ => throw new ArgumentException("Only a SQL store keeps leases.", nameof(store)),
    };

    private bool _created;

    public LeaseRow? Read(string name)
    {
        using var connection = Open();
        using var command = Command(connection, $"SELECT name, holder, machine, pid, expires_at, members FROM {TableName} WHERE name = @name",
            ("name", name));
        using var reader = command.ExecuteReader();
        return reader.Read()
            ? new LeaseRow(reader.GetString(0), reader.GetString(1), reader.GetString(2), Convert.ToInt32(reader.GetValue(3)), Convert.ToInt64(reader.GetValue(4)), reader.GetString(5))
            : null;
    }

    /// <summary>Writes <paramref name="next"/> if the row is still <paramref name="seen"/> (null: there is no row yet); whether it did.</summary>
    public bool Replace(LeaseRow? seen, LeaseRow next)
    {
        using var connection = Open();
        using var command = seen is null
            ? Command(connection,
                $"INSERT INTO {TableName} (name, holder, machine, pid, expires_at, members) VALUES (@name, @holder, @machine, @pid, @expires, @members) ON CONFLICT (name) DO NOTHING",
                ("name", next.Name), ("holder", next.Holder), ("machine", next.Machine), ("pid", next.Pid), ("expires", next.ExpiresAt), ("members", next.Members))
            : Command(connection,
                $"UPDATE {TableName} SET holder = @holder, machine = @machine, pid = @pid, expires_at = @expires, members = @members " +
                "WHERE name = @name AND holder = @seenHolder AND machine = @seenMachine AND pid = @seenPid AND expires_at = @seenExpires",
                ("name", next.Name), ("holder", next.Holder), ("machine", next.Machine), ("pid", next.Pid), ("expires", next.ExpiresAt),
                ("members", next.Members), ("seenHolder", seen.Holder), ("seenMachine", seen.Machine), ("seenPid", seen.Pid), ("seenExpires", seen.ExpiresAt));
        return command.ExecuteNonQuery() == 1;
    }

    /// <summary>Removes the row if it is still <paramref name="seen"/>: a holder giving its lease back.</summary>
    public bool Delete(LeaseRow seen)
    {
        using var connection = Open();
        using var command = Command(connection,
            $"DELETE FROM {TableName} WHERE name = @name AND holder = @holder AND machine = @machine AND pid = @pid AND expires_at = @expires",
            ("name", seen.Name), ("holder", seen.Holder), ("machine", seen.Machine), ("pid", seen.Pid), ("expires", seen.ExpiresAt));
        return command.ExecuteNonQuery() == 1;
    }

    private DbConnection Open()
    {
        var connection = _connect();
        connection.Open();
        if (!_created)
        {
            using var create = Command(connection,
                $"CREATE TABLE IF NOT EXISTS {TableName} (name VARCHAR(255) PRIMARY KEY, holder VARCHAR(512) NOT NULL, " +
                "machine VARCHAR(255) NOT NULL, pid INTEGER NOT NULL, expires_at BIGINT NOT NULL, members VARCHAR(4000) NOT NULL)");
            // Two nodes starting together may both create it: PostgreSQL lets one of them fail on its catalog's unique key.
            try { create.ExecuteNonQuery(); }
            catch (DbException) when (TableExists(connection)) { }
            _created = true;
        }
        return connection;
    }

    private static bool TableExists(DbConnection connection)
    {
        try
        {
            using var probe = Command(connection, $"SELECT COUNT(*) FROM {TableName}");
            probe.ExecuteScalar();
            return true;
        }
        catch (DbException) { return false; }
    }

    private static DbCommand Command(DbConnection connection, string sql, params (string Name, object Value)[] parameters)
    {
        var command = connection.CreateCommand();
        command.CommandText = sql;
        foreach (var (name, value) in parameters)
        {
            var parameter = command.CreateParameter();
            parameter.ParameterName = name;
            parameter.Value = value;
            command.Parameters.Add(parameter);
        }
        return command;
    }
}
