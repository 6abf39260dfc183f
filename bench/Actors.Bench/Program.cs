namespace IommuActors.Bench;

/// <summary>A bench command: runs, then prints its figures. Found by reflection, so a new bench is one file.</summary>
public interface IBench
{
    string Name { get; }
    string Description { get; }
    Task RunAsync(string[] args);
}

/// <summary>`dotnet run -c Release --project bench/Actors.Bench -- list` shows the benches.</summary>
public static class Program
{
    public static async Task<int> Main(string[] args)
    {
        var benches = typeof(Program).Assembly.GetTypes()
            .Where(t => typeof(IBench).IsAssignableFrom(t) && t is { IsAbstract: false, IsInterface: false })
            .Select(t => (IBench)Activator.CreateInstance(t)!)
            .ToDictionary(b => b.Name, StringComparer.Ordinal);
        if (args.Length == 0 || args[0] is "list" or "--help" or "-h")
        {
            Console.WriteLine("benches:");
            foreach (var bench in benches.Values.OrderBy(b => b.Name))
                Console.WriteLine($"  {bench.Name,-24} {bench.Description}");
            return args.Length == 0 ? 1 : 0;
        }
        if (!benches.TryGetValue(args[0], out var chosen))
        {
            Console.Error.WriteLine($"unknown bench '{args[0]}'; try 'list'");
            return 2;
        }
        await chosen.RunAsync(args[1..]);
        return 0;
    }
}
