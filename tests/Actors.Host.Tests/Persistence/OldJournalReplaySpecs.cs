using Akka.Actor;
using Akka.Serialization;
using Akka.TestKit.Xunit2;
using IommuActors.Core.Persistence;
using IommuActors.JournalFixture;
using IommuActors.TestSupport;
using Microsoft.Data.Sqlite;
using Xunit;

namespace IommuActors.Host.Tests.Persistence;

/// <summary>
/// Journals written by earlier builds (Persistence/Journals/, each written by the JournalScript of
/// tests/Actors.JournalFixture at the commit its name gives) recover on today's code to exactly the
/// state today's code reaches when it runs the same script on a fresh store.
/// </summary>
public sealed class OldJournalReplaySpecs
{
    public static TheoryData<string> Journals() => ["main-8974c4c.db"];

    [Theory]
    [MemberData(nameof(Journals))]
    public async Task An_old_journal_recovers_to_the_state_the_same_script_reaches_today(string journal)
    {
        var expected = await RunScriptOnAFreshStore();

        var store = CopyOf(journal);
        var system = ActorSystem.Create("old-journal", SpecConfig.With(store));
        try
        {
            var recovered = await JournalScript.ReadAsync(JournalScript.Start(system));
            Assert.Equal(expected, recovered);
        }
        finally
        {
            await system.Terminate();
        }
    }

    [Fact]
    public void The_old_journal_names_serializer_441_and_a_package_Hyperion_serializer_answers_to_that_id()
    {
        using var connection = new SqliteConnection($"Data Source={Path.Combine(JournalsFolder, "main-8974c4c.db")};Mode=ReadOnly");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT DISTINCT identifier FROM journal UNION SELECT DISTINCT serializer_id FROM snapshot";
        using var reader = command.ExecuteReader();
        var ids = new List<long>();
        while (reader.Read())
            ids.Add(reader.GetInt64(0));
        Assert.Equal([441L], ids);

        using var system = ActorSystem.Create("ids", SpecConfig.InMemory);
        var cold = new Domains.Hwpt.HwptProtocol.HwptDeviceDetached("0000:00:01.0", 3);
        var bytes = Assert.IsType<HyperionSerializer>(system.Serialization.FindSerializerFor(cold)).ToBinary(cold);
        Assert.Equal(cold, system.Serialization.Deserialize(bytes, 441, typeof(Domains.Hwpt.HwptProtocol.HwptDeviceDetached)));
    }

    private static async Task<IReadOnlyList<string>> RunScriptOnAFreshStore()
    {
        var system = ActorSystem.Create("fresh-journal", SpecConfig.With(SpecConfig.FreshSqliteStore("fresh-journal")));
        try
        {
            var entities = JournalScript.Start(system);
            await JournalScript.RunAsync(entities);
            return await JournalScript.ReadAsync(entities);
        }
        finally
        {
            await system.Terminate();
        }
    }

    private static string JournalsFolder => Path.Combine(AppContext.BaseDirectory, "Persistence", "Journals");

    /// <summary>The journal is opened for writing (recovery may snapshot and delete), so each run gets a copy.</summary>
    private static StoreOptions CopyOf(string journal)
    {
        var file = Path.Combine(TempFolder.Create("old-journal"), journal);
        File.Copy(Path.Combine(JournalsFolder, journal), file);
        return StoreOptions.SqliteFile(file);
    }
}
