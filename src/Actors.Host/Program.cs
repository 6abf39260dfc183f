using IommuActors.Host;
using Microsoft.Extensions.Hosting;

using var host = IommuHost.Build(args);
await host.RunAsync();
