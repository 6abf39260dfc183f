using IommuActors.Host;

return await HostRunner.RunAsync(args, "Actors.Host", Console.Error);
