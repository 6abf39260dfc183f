using IommuActors.Core.Persistence;
using IommuActors.JournalFixture;

if (args.Length != 1)
{
    Console.Error.WriteLine("usage: Actors.JournalFixture OUTPUT.db");
    return 2;
}
if (File.Exists(args[0]))
{
    Console.Error.WriteLine($"{args[0]} exists; the script writes a fresh journal.");
    return 2;
}
var state = await JournalScript.WriteAsync(StoreOptions.SqliteFile(args[0]));
foreach (var line in state)
    Console.WriteLine(line);
return 0;
