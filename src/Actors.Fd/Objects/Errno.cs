namespace IommuActors.Fd.Objects;

/// <summary>The errno values the object table answers (Linux numbering); the uAPI project has the full set.</summary>
internal static class Errno
{
    public const int ENOENT = 2;
    public const int EBUSY = 16;
}
