using Akka.Configuration;

namespace IommuActors.Core.Configuration;

/// <summary>
/// The HOCON files of the repository's hocon/ folder, copied beside the assemblies at build time.
/// </summary>
public static class HoconFiles
{
    public const string Base = "base.conf";
    public const string Cluster = "cluster.conf";
    public const string Platform = "platform.conf";
    public const string Ioasid = "ioasid.conf";

    public static string Folder => Path.Combine(AppContext.BaseDirectory, "hocon");

    public static string PathOf(string name) => Path.Combine(Folder, name);

    public static Config Load(string name)
    {
        var path = PathOf(name);
        if (!File.Exists(path))
            throw new FileNotFoundException($"HOCON file {name} is missing from {Folder}.", path);
        return ConfigurationFactory.ParseString(File.ReadAllText(path));
    }

    /// <summary>The first file wins where two set the same key.</summary>
    public static Config Combine(params Config[] configs)
    {
        var present = configs.Where(c => !c.IsEmpty).ToArray();
        return present.Length == 0 ? Config.Empty : present.Skip(1).Aggregate(present[0], (acc, next) => acc.WithFallback(next));
    }
}
