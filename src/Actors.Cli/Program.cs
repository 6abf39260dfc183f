namespace IommuActors.Cli;

/// <summary>iommuctl on the process's console.</summary>
public static class Program
{
    public static Task<int> Main(string[] args) => Iommuctl.RunAsync(args, Console.Out, Console.Error);
}
