using Akka.Actor;
using IommuActors.Core.Configuration;
using IommuActors.Core.Persistence;

namespace IommuActors.Bench;

/// <summary>The actor system of the benches that drive actors directly: the in-memory journal, warnings only.</summary>
public static class BenchSystem
{
    public static ActorSystem InMemory(string name) => ActorSystem.Create(name, HoconFiles.Combine(
        Akka.Configuration.ConfigurationFactory.ParseString("akka.loglevel = WARNING"),
        PersistenceSetup.ConfigFor(StoreOptions.InMemory),
        HoconFiles.Load(HoconFiles.Base)));
}
