using IommuActors.TestSupport;
using Xunit;

namespace IommuActors.Ioasid.Tests;

[CollectionDefinition(PostgresCollection.Name)]
public sealed class PostgresCollectionDefinition : ICollectionFixture<PostgresFixture>;
