using System.Reflection;
using Akka.TestKit.Xunit2;
using IommuActors.Core.Messaging;
using Akka.Serialization;
using IommuActors.Core.Serialization;
using IommuActors.TestSupport;
using Xunit;

namespace IommuActors.Host.Tests.Serialization;

/// <summary>
/// Every message, persisted event and snapshot type of the project's assemblies goes through the
/// serializer configured in hocon/base.conf and comes back structurally equal. A new type that
/// Hyperion cannot carry fails here, not in production.
/// </summary>
public sealed class MessageSerializationSpecs() : TestKit(SpecConfig.InMemory)
{
    private static readonly Type[] Markers = [typeof(IClusterMessage), typeof(IPersistedEvent), typeof(IPersistedSnapshot)];

    public static TheoryData<string> SerializableTypes()
    {
        var data = new TheoryData<string>();
        foreach (var type in DiscoverTypes())
            data.Add(type.AssemblyQualifiedName!);
        return data;
    }

    [Fact]
    public void The_project_assemblies_are_all_scanned()
    {
        var scanned = ProjectAssemblies().Select(a => a.GetName().Name).ToHashSet();
        Assert.Superset(
            new HashSet<string?> { "Actors.Core", "Actors.Hardware", "Actors.Ioasid", "Actors.Notifier", "Actors.Domains", "Actors.Fd", "Actors.Host.Tests" },
            scanned);
    }

    [Theory]
    [MemberData(nameof(SerializableTypes))]
    public void Each_type_is_bound_to_Hyperion_or_to_a_compact_format_of_its_own_and_round_trips_exactly(string typeName)
    {
        var type = Type.GetType(typeName, throwOnError: true)!;
        var original = new SampleValues(TestActor).Create(type);

        var serializer = Sys.Serialization.FindSerializerFor(original);
        if (serializer is CompactEventSerializer compact)
            Assert.Contains(type, compact.Types);
        else
            Assert.IsType<HyperionSerializer>(serializer);
        var bytes = serializer.ToBinary(original);
        var copy = Sys.Serialization.Deserialize(bytes, serializer.Identifier, Akka.Serialization.Serialization.ManifestFor(serializer, original));

        Assert.IsType(type, copy);
        Assert.Equal(StructuralDump.Of(original), StructuralDump.Of(copy));
    }

    [Fact]
    public void Messages_built_without_their_optional_arrays_cross_to_another_node()
    {
        // Built as the code builds them (an ALLOC event names no PASID list); a default
        // ImmutableArray made Hyperion throw, and every ALLOC waited out the notifier's
        // acknowledgement timeout when a subscriber ran on another node.
        var alloc = new IommuActors.Ioasid.Pasid.IoasidEvent(IommuActors.Ioasid.Pasid.IoasidEventKind.Alloc, "set", 5, 5);
        object[] messages =
        [
            new IommuActors.Ioasid.Pasid.PublishIoasidEvent(alloc, 3),
            new IommuActors.Notifier.Bus.NotifierProtocol.Notify(1, alloc),
            new IommuActors.Ioasid.Pasid.PasidSetProtocol.SetFreed("set", [1, 2]),
            new IommuActors.Hardware.Units.UnitProtocol.DirtyPages("dmar0", 1, []),
        ];
        foreach (var message in messages)
        {
            var serializer = Sys.Serialization.FindSerializerFor(message);
            var copy = Sys.Serialization.Deserialize(serializer.ToBinary(message), serializer.Identifier,
                Akka.Serialization.Serialization.ManifestFor(serializer, message));
            Assert.Equal(StructuralDump.Of(message), StructuralDump.Of(copy));
        }
        Assert.Empty(alloc.Pasids);
        Assert.Equal([5], alloc.Affected);
    }

    [Fact]
    public void A_type_without_a_marker_is_not_silently_given_to_Hyperion()
    {
        var serializer = Sys.Serialization.FindSerializerFor(new UnmarkedRecord(1));
        Assert.IsNotType<HyperionSerializer>(serializer);
    }

    private sealed record UnmarkedRecord(int Value);

    private static IEnumerable<Type> DiscoverTypes() => ProjectAssemblies()
        .SelectMany(a => a.GetTypes())
        .Where(t => t is { IsAbstract: false, IsInterface: false, ContainsGenericParameters: false }
            && Markers.Any(m => m.IsAssignableFrom(t)))
        .OrderBy(t => t.FullName, StringComparer.Ordinal);

    private static IEnumerable<Assembly> ProjectAssemblies()
    {
        var folder = AppContext.BaseDirectory;
        return Directory.GetFiles(folder, "Actors.*.dll")
            .Select(path => Assembly.LoadFrom(path))
            .Where(a => a.GetName().Name is not "Actors.TestSupport")
            .DistinctBy(a => a.FullName);
    }
}
