using System.Text.Json;
using Xunit;

namespace IommuActors.FrontDoor.Tests;

/// <summary>The "time" of a trace event: when the host saw it, UTC, so within the last two minutes; given back as it was written.</summary>
public static class TraceTime
{
    public static string Of(string json) => Of(JsonDocument.Parse(json).RootElement);

    public static string Of(byte[] json) => Of(JsonDocument.Parse(json).RootElement);

    private static string Of(JsonElement e)
    {
        var time = e.GetProperty("time");
        Assert.InRange(time.GetDateTime(), DateTime.UtcNow.AddMinutes(-2), DateTime.UtcNow);
        return time.GetString()!;
    }
}
