namespace IommuActors.Domains;

/// <summary>Linux errno values this project answers with; to be replaced by the shared Uapi errno set.</summary>
public static class Errno
{
    public const int Ok = 0;
    public const int EPERM = 1;
    public const int ENOENT = 2;
    public const int ENOMEM = 12;
    public const int EFAULT = 14;
    public const int EBUSY = 16;
    public const int EEXIST = 17;
    public const int EINVAL = 22;
    public const int ENOSPC = 28;
    public const int EOVERFLOW = 75;
    public const int EMSGSIZE = 90;
    public const int EOPNOTSUPP = 95;
    public const int EADDRINUSE = 98;
}
