namespace IommuActors.Fd;

/// <summary>What the host needs to wire the files of the emulator (iommufd contexts, device cdevs, queues).</summary>
public static class FdModule
{
    /// <summary>The shard region of every open file, keyed by <see cref="Files.FileProtocol.IFileRequest.FileId"/>.</summary>
    public const string ShardRegion = "file";
}
