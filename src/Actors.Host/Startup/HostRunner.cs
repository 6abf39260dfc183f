using Microsoft.Extensions.Hosting;

namespace IommuActors.Host;

/// <summary>
/// Runs the host as a process: a bad setting is one line and exit code 2, a failure at run time one
/// line and exit code 1, a clean stop 0. The stack trace follows only when IOMMU_STACK_TRACES=1.
/// </summary>
public static class HostRunner
{
    public const int BadConfiguration = 2;
    public const int RuntimeFailure = 1;
    public const string StackTraceVariable = "IOMMU_STACK_TRACES";

    public static async Task<int> RunAsync(string[] args, string name, TextWriter error)
    {
        try
        {
            using var host = IommuHost.Build(args);
            var status = (HostStatus)host.Services.GetService(typeof(HostStatus))!;
            await host.RunAsync();
            // The units did not come up, or the node lost the store's cluster lease (logged already): the host stopped itself.
            return status.Ready.IsFaulted || status.Lost is not null ? RuntimeFailure : 0;
        }
        catch (Exception e) when (Settings(e) is { } bad)
        {
            await Say(error, name, bad.Message, e);
            return BadConfiguration;
        }
        catch (Exception e)
        {
            await Say(error, name, OneLine(e), e);
            return RuntimeFailure;
        }
    }

    private static async Task Say(TextWriter error, string name, string line, Exception e)
    {
        await error.WriteLineAsync($"{name}: {line}");
        if (Environment.GetEnvironmentVariable(StackTraceVariable) == "1") await error.WriteLineAsync(e.ToString());
    }

    /// <summary>A settings error anywhere in the chain (Akka.Hosting wraps what its start-up tasks throw).</summary>
    private static SettingsException? Settings(Exception e) => Chain(e).OfType<SettingsException>().FirstOrDefault();

    /// <summary>The innermost message says what went wrong; the wrappers only say where.</summary>
    private static string OneLine(Exception e) =>
        Chain(e).Last(x => x is not AggregateException and not System.Reflection.TargetInvocationException).Message.ReplaceLineEndings(" ");

    private static IEnumerable<Exception> Chain(Exception e)
    {
        for (var x = e; x is not null; x = x.InnerException)
        {
            yield return x;
            if (x is AggregateException { InnerExceptions.Count: > 1 } many)
                foreach (var inner in many.InnerExceptions.SelectMany(Chain))
                    yield return inner;
        }
    }
}
