using System.Collections.Immutable;
using System.Globalization;
using System.Text.Json;
using Akka.Actor;
using IommuActors.Uapi;
using static IommuActors.Host.FrontDoor.SessionProtocol;

namespace IommuActors.Host.FrontDoor;

/// <summary>
/// EXT_RELEASE: asks every node's session directory to release the session named by the request
/// (<c>{"session": "16 hex digits"}</c>), replies once the one holding it answers, and stops.
/// EINVAL for a malformed request, ENOENT when no node has that session, EBUSY when its client is
/// connected, ETIMEDOUT when a node does not answer in 10 s.
/// </summary>
public sealed class ReleaseReporter : ReceiveActor
{
    private static readonly JsonSerializerOptions Json = new() { PropertyNamingPolicy = JsonNamingPolicy.CamelCase };

    public static Props Props(long tag, IActorRef replyTo, byte[] request, ImmutableArray<ICanTell> directories) =>
        Akka.Actor.Props.Create(() => new ReleaseReporter(tag, replyTo, request, directories));

    public ReleaseReporter(long tag, IActorRef replyTo, byte[] request, ImmutableArray<ICanTell> directories)
    {
        void Answer(int errno, object body)
        {
            replyTo.Tell(new StatusJson(tag, errno, JsonSerializer.Serialize(body, Json)));
            Context.Stop(Self);
        }

        if (TokenOf(request) is not { } token)
        {
            Answer(Errno.EINVAL, new { });
            return;
        }
        var unanswered = directories.Length;
        var busy = (SessionReleaseResult?)null;
        Context.SetReceiveTimeout(TimeSpan.FromSeconds(10));
        Receive<ReceiveTimeout>(_ => Answer(Errno.ETIMEDOUT, new { }));
        Receive<SessionReleaseResult>(r =>
        {
            if (r.Errno == 0)
            {
                Answer(0, new { session = r.Token.ToString("x16"), pid = r.Pid, files = r.Files, node = r.Node });
                return;
            }
            if (r.Errno == Errno.EBUSY) busy = r;
            if (--unanswered > 0) return;
            if (busy is { } b) Answer(Errno.EBUSY, new { session = b.Token.ToString("x16"), pid = b.Pid, node = b.Node });
            else Answer(Errno.ENOENT, new { });
        });
        foreach (var directory in directories)
            directory.Tell(new ReleaseSession(token), Self);
    }

    private static ulong? TokenOf(byte[] request)
    {
        try
        {
            using var doc = JsonDocument.Parse(request);
            return doc.RootElement.TryGetProperty("session", out var s) && s.ValueKind == JsonValueKind.String
                   && ulong.TryParse(s.GetString(), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var token)
                ? token : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
