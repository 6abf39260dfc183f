using IommuActors.TestSupport;
using Xunit;

namespace IommuActors.Host.Tests.Persistence;

/// <summary>xunit finds collection definitions only in the test assembly itself.</summary>
[CollectionDefinition(PostgresCollection.Name)]
public sealed class PostgresCollectionDefinition : ICollectionFixture<PostgresFixture>;
