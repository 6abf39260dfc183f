using IommuActors.TestSupport;

namespace IommuActors.Domains.Tests;

/// <summary>xunit finds collection definitions only in the test assembly itself.</summary>
[CollectionDefinition(PostgresCollection.Name)]
public sealed class PostgresCollectionDefinition : ICollectionFixture<PostgresFixture>;
