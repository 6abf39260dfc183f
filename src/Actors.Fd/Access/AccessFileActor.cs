using Akka.Actor;
using IommuActors.Fd.Files;
using static IommuActors.Fd.Accesses.AccessProtocol;
using static IommuActors.Fd.Files.FileProtocol;
using Errno = IommuActors.Uapi.Errno;

namespace IommuActors.Fd.Accesses;

/// <summary>
/// The fd CREATE_ACCESS returned (the selftest's "[iommufd_test_staccess]" file, whose only
/// operation is release). The access itself lives in the context; closing the fd destroys it,
/// and the close completes only when the access's pins are gone, as the kernel's release does
/// before close() returns. An access the context destroyed first (the iommufd closed) leaves
/// nothing to wait for.
/// </summary>
public sealed class AccessFileActor : ReceiveActor
{
    private readonly string _fileId;

    public static Props Props(string fileId, string contextFileId, uint accessId, FileCollaborators with) =>
        Akka.Actor.Props.Create(() => new AccessFileActor(fileId, contextFileId, accessId, with));

    public AccessFileActor(string fileId, string contextFileId, uint accessId, FileCollaborators with)
    {
        _fileId = fileId;
        Common();
        Receive<AccessGone>(_ => Become(() =>
        {
            Common();
            Receive<Release>(_ => Finish(Sender));
        }));
        Receive<Release>(_ =>
        {
            var releasedTo = Sender;
            with.Files.Tell(new CloseAccess(contextFileId, fileId, accessId));
            // A context that stopped while the request was on its way cannot answer; after a restart the
            // context is not told again. Neither may keep close() waiting for ever.
            Context.SetReceiveTimeout(with.Settings.ClientTimeout);
            Become(() =>
            {
                Receive<AccessClosed>(_ => Finish(releasedTo));
                Receive<AccessGone>(_ => Finish(releasedTo));
                // The context's file answers this way when the context is already closed.
                Receive<Opened>(_ => Finish(releasedTo));
                Receive<ReceiveTimeout>(_ => Finish(releasedTo));
            });
        });
    }

    /// <summary>No read, write or ioctl in the file's operations: what the VFS answers for those.</summary>
    private void Common()
    {
        Receive<Read>(r => Sender.Tell(new ReadDone(_fileId, r.Tag, Errno.EINVAL, [])));
        Receive<Write>(w => Sender.Tell(new WriteDone(_fileId, w.Tag, Errno.EINVAL, 0)));
        Receive<Ioctl>(i => Sender.Tell(new IoctlDone(_fileId, i.Tag, Errno.ENOTTY, 0, [])));
        Receive<Open>(_ => Sender.Tell(new Opened(_fileId, 0)));
    }

    private void Finish(IActorRef releasedTo)
    {
        releasedTo.Tell(new Released(_fileId));
        Context.Stop(Self);
    }
}
