using Akka.Actor;
using IommuActors.Fd.Context;
using U = IommuActors.Hardware.Units.UnitProtocol;

namespace IommuActors.Fd.Selftests;

internal static class UnitQuestions
{
    /// <summary>Sends a command to a unit and waits for its answer: the errno of a Failed, or 0 and the reply.</summary>
    public static void AskUnit<T>(this IContextHost host, string unit, object command, Action<int, T?> then) where T : class
    {
        host.With.Units.Tell(command);
        host.Request.Await<object>(m => m is T || m is U.Failed f && f.Unit == unit, m =>
        {
            if (m is U.Failed f)
                then(f.Errno, null);
            else
                then(0, (T)m);
        });
    }
}
