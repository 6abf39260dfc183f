using System.Collections.Immutable;
using Akka.Actor;
using Microsoft.Extensions.Configuration;

namespace IommuActors.Host.Membership;

/// <summary>
/// Where this node listens and which nodes it looks for: Iommu:Hostname, Iommu:Port and Iommu:Seeds
/// (Iommu:Join is one seed that is not this node). The same command line starts a node the first
/// time and after a restart: a node that is the first of its seeds founds the cluster only when
/// none of the others answers and the store's cluster lease is free (<see cref="ClusterLeaseKeeper"/>).
/// </summary>
public sealed record MembershipSettings(string Hostname, int Port, ImmutableArray<Address> Seeds)
{
    public const string DefaultHostname = "127.0.0.1";

    public static MembershipSettings Default { get; } = new(DefaultHostname, 0, []);

    public static readonly IReadOnlyList<string> Keys = ["Hostname", "Port", "Seeds", "Join"];

    /// <summary>The address this node has once started, when its port is fixed; null with port 0 (a free port).</summary>
    public Address? Self => Port == 0 ? null : new Address("akka.tcp", IommuHost.SystemName, Hostname, Port);

    /// <summary>No seeds: the node is a cluster of its own (it founds one at start).</summary>
    public bool Alone => Seeds.IsEmpty;

    /// <summary>This node may found the cluster: it has no seeds, or it is the first of them (as Akka's seed-node process has it).</summary>
    public bool MayFound => Seeds.IsEmpty || Seeds[0] == Self;

    /// <summary>The seeds other than this node: whom a node that may not found asks to join.</summary>
    public ImmutableArray<Address> Others => [.. Seeds.Where(s => s != Self)];

    public static MembershipSettings From(IConfigurationSection section)
    {
        var hostname = NonEmpty(section["Hostname"]) ?? DefaultHostname;
        var port = PortOf(NonEmpty(section["Port"]));
        var seeds = SeedSettings(section).Select(s => AddressOf(s, "Seeds")).ToList();
        if (NonEmpty(section["Join"]) is { } join)
        {
            if (seeds.Count > 0)
                throw new SettingsException("Iommu:Join and Iommu:Seeds are both set: give the cluster's nodes as Iommu:Seeds alone.");
            var address = AddressOf(join, "Join");
            if (port != 0 && address == new Address("akka.tcp", IommuHost.SystemName, hostname, port))
                throw new SettingsException($"Iommu:Join is this node's own address {address}: give another node's, or none to found a cluster.");
            // A node that joins never founds: the node it names comes first and this one is not among the seeds.
            seeds.Add(address);
        }
        var distinct = seeds.Distinct().ToImmutableArray();
        var settings = new MembershipSettings(hostname, port, distinct);
        if (distinct.Length > 0 && port == 0 && NonEmpty(section["Join"]) is null)
            throw new SettingsException("Iommu:Seeds is set but Iommu:Port is not: a node among seeds needs a fixed port (the one the other nodes' seeds name).");
        return settings;
    }

    /// <summary>A list (Iommu:Seeds:0, Iommu:Seeds:1, ...) or one value with commas.</summary>
    private static IEnumerable<string> SeedSettings(IConfigurationSection section)
    {
        var list = section.GetSection("Seeds");
        var values = list.GetChildren().Select(c => c.Value).ToList();
        if (values.Count == 0 && list.Value is { } one) values = [.. one.Split(',')];
        return values.Select(NonEmpty).OfType<string>().Select(v => v.Trim());
    }

    /// <summary>akka.tcp://iommu@host:port as a Ready line shows it, or host:port.</summary>
    private static Address AddressOf(string setting, string key)
    {
        var text = setting.Contains("://", StringComparison.Ordinal) ? setting : $"akka.tcp://{IommuHost.SystemName}@{setting}";
        try
        {
            var address = Address.Parse(text);
            if (address.Host is null || address.Port is null or <= 0 || address.System != IommuHost.SystemName)
                throw new UriFormatException();
            return address;
        }
        catch (Exception e) when (e is UriFormatException or ArgumentException or FormatException)
        {
            throw new SettingsException($"Iommu:{key} names \"{setting}\": give host:port or akka.tcp://{IommuHost.SystemName}@host:port.");
        }
    }

    private static int PortOf(string? setting)
    {
        if (setting is null) return 0;
        return int.TryParse(setting, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var port) && port <= 65535
            ? port
            : throw new SettingsException($"Iommu:Port is \"{setting}\": give a TCP port from 1 to 65535, or 0 for a free one.");
    }

    private static string? NonEmpty(string? value) => string.IsNullOrWhiteSpace(value) ? null : value;
}
