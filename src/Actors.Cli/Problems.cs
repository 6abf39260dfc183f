using System.Globalization;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using IommuActors.Client;
using IommuActors.Uapi;

namespace IommuActors.Cli;

/// <summary>
/// What went wrong, in the user's terms and with the next step: a host that is not there, an
/// argument that is not what it should be, a request the host refused. Exit codes: 1 for a failure
/// (no host, a refused request), 2 for a bad argument, 3 for a DMA that faulted.
/// </summary>
public static partial class Problems
{
    public const int Failed = 1;
    public const int BadArgument = 2;
    public const int DmaFaulted = 3;

    private const string StartHost =
        "Start one with `iommuctl serve` (or `dotnet run --project src/Actors.Host`) in the folder whose run/iommufd.sock you want, " +
        "or point --socket or $IOMMUFD_SOCKET at a running host's socket.";

    /// <summary>Why no connection could be made to <paramref name="socketPath"/>.</summary>
    public static string Unreachable(string socketPath, Exception error) => error switch
    {
        _ when !File.Exists(socketPath) => $"no host is running at {socketPath}: that socket does not exist. {StartHost}",
        SocketException { SocketErrorCode: SocketError.ConnectionRefused } =>
            $"no host answers at {socketPath}: the socket is left from a host that stopped. {StartHost}",
        SocketException { SocketErrorCode: SocketError.AccessDenied } =>
            $"cannot open {socketPath}: permission denied (the socket belongs to another user).",
        IommuException { Errno: Errno.EACCES } =>
            $"the host at {socketPath} does not let this user in: it serves root, its own uid and those of its Iommu:AllowedUids setting.",
        _ => $"cannot talk to the host at {socketPath}: {error.Message}",
    };

    /// <summary>A refused request the command has no better words for.</summary>
    public static string Refused(IommuException error) =>
        $"the host refused the request with {Errno.Name(error.Errno)} ({Describe(error.Errno)}).";

    /// <summary>A number as the kernel's tools take one: decimal, or hex after 0x.</summary>
    public static bool TryNumber(string text, out ulong value) =>
        text.StartsWith("0x", StringComparison.OrdinalIgnoreCase)
            ? ulong.TryParse(text.AsSpan(2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out value)
            : ulong.TryParse(text.Replace("_", ""), NumberStyles.None, CultureInfo.InvariantCulture, out value);

    public static string NotANumber(string option, string text) =>
        $"{option} is \"{text}\": give a number, decimal (4096) or hex with 0x (0x1000).";

    /// <summary>
    /// A PCI address as lspci prints it: domain:bus:device.function (0000:00:02.0), the domain
    /// optional (00:02.0 means domain 0000); the canonical form in lower case, or null.
    /// </summary>
    public static string? PciAddress(string text)
    {
        var m = PciPattern().Match(text.Trim());
        if (!m.Success) return null;
        var device = int.Parse(m.Groups["dev"].Value, NumberStyles.HexNumber, CultureInfo.InvariantCulture);
        if (device > 0x1f) return null;
        var domain = m.Groups["dom"].Success ? m.Groups["dom"].Value : "0000";
        return $"{domain}:{m.Groups["bus"].Value}:{m.Groups["dev"].Value}.{m.Groups["fn"].Value}".ToLowerInvariant();
    }

    public static string NotAPciAddress(string text) =>
        $"--pci is \"{text}\": give a PCI address as domain:bus:device.function, e.g. 0000:00:02.0 (`iommuctl platform` lists the devices).";

    public static string NoSuchDevice(string pci) =>
        $"this host's platform has no device {pci}: `iommuctl platform` lists its devices.";

    [GeneratedRegex("^(?:(?<dom>[0-9a-fA-F]{4}):)?(?<bus>[0-9a-fA-F]{2}):(?<dev>[0-9a-fA-F]{2})\\.(?<fn>[0-7])$")]
    private static partial Regex PciPattern();

    /// <summary>What an errno means, as strerror says it, for the errnos the host's extensions answer.</summary>
    private static string Describe(int errno) => errno switch
    {
        Errno.EINVAL => "invalid argument",
        Errno.ENOENT => "no such entry",
        Errno.ENODEV => "no such device",
        Errno.ETIMEDOUT => "part of the cluster did not answer in time",
        Errno.EACCES => "permission denied",
        Errno.EBUSY => "busy",
        Errno.EPROTO => "protocol error",
        _ => "see errno(3)",
    };
}
