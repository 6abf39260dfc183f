namespace IommuActors.Domains.Tests;

/// <summary>
/// Property tests read one generated int as one whole operation: its value and position spread
/// over 32 bits, so short arrays still give long, varied sequences (and shrinking toward zeros
/// still gives valid ones).
/// </summary>
internal static class OperationBits
{
    public static uint Of(int value, int index) => unchecked(((uint)value * 2654435761u ^ (uint)index * 40503u) * 2246822519u);
}
