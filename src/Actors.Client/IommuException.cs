using IommuActors.Uapi;

namespace IommuActors.Client;

/// <summary>A request the emulator answered with an errno, as the C call would have set errno.</summary>
public sealed class IommuException(string operation, int errno)
    : Exception($"{operation} failed with {Uapi.Errno.Name(errno)} ({errno})")
{
    public int Errno { get; } = errno;
    public string Operation { get; } = operation;
}
