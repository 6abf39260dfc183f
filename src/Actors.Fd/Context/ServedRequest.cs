using Akka.Actor;
using IommuActors.Core.Messaging;
using IommuActors.Uapi.Structs;
using static IommuActors.Fd.Files.FileProtocol;
using Errno = IommuActors.Uapi.Errno;

namespace IommuActors.Fd.Context;

/// <summary>
/// The one request an iommufd context is serving, as every part of iommufd that runs on the
/// context's thread sees it (the ioctl families, the selftest driver, VFIO compat): who gets the
/// answer, the client whose memory it reads and writes, the reply it waits for. Answering it ends
/// the request, which hands the context back its next one.
/// </summary>
internal sealed class ServedRequest(string fileId, Action ended)
{
    private readonly AwaitedReply _await = new();
    private long _tag;

    public IActorRef ReplyTo { get; private set; } = ActorRefs.Nobody;

    /// <summary>The client connection: its memory, its fd table.</summary>
    public IActorRef Client { get; private set; } = ActorRefs.Nobody;

    /// <summary>The ioctl served; null for a request of another file (a device, an access fd, the release).</summary>
    public Ioctl? Ioctl { get; private set; }

    /// <summary>The failure reply of a request that is no ioctl.</summary>
    public Func<int, object>? FailWith { get; set; }

    /// <summary>Counts requests, so that a timeout armed for one is known stale in the next.</summary>
    public long Op { get; private set; }

    public void Begin(IActorRef replyTo, IActorRef client, Ioctl? ioctl)
    {
        ReplyTo = replyTo;
        Client = client;
        Ioctl = ioctl;
        _await.Clear();
        Op++;
    }

    /// <summary>Forgets the request; the context calls it when it takes the next.</summary>
    public void Finish()
    {
        _await.Clear();
        Ioctl = null;
        Op++;
    }

    /// <summary>A tag for a question to the client, unique in this context.</summary>
    public long NextTag() => ++_tag;

    /// <summary>Answers the request and takes the next.</summary>
    public void Reply(object reply)
    {
        ReplyTo.Tell(reply);
        ended();
    }

    public void Done(int errno, byte[]? writeback = null, long returnValue = 0) =>
        Reply(new IoctlDone(fileId, Ioctl!.Tag, errno, errno == 0 ? returnValue : 0, errno == 0 ? writeback ?? [] : []));

    /// <summary>The request fails with errno; a request that is no ioctl answers with <see cref="FailWith"/>.</summary>
    public void Fail(int errno)
    {
        if (Ioctl is not null)
            Done(errno);
        else
            Reply(FailWith!(errno));
    }

    /// <summary>iommufd_ucmd_respond: the kernel copy of the struct back at the caller's size.</summary>
    public void Respond<T>(T cmd, uint size) where T : IUapiStruct<T> => Done(0, UserStruct.CopyBack(cmd, size));

    public void Await<T>(Func<T, bool> match, Action<T> then) => _await.Await(match, then);

    public void Await<T>(Action<T> then) => _await.Await(then);

    /// <summary>True when the message was the awaited reply and its continuation ran.</summary>
    public bool TryContinue(object message) => _await.TryContinue(message);

    /// <summary>Reads client memory; an unreadable range fails the request with EFAULT and nothing changed.</summary>
    public void ReadMemory(ulong address, uint length, Action<byte[]> then) =>
        TryReadMemory(address, length, data =>
        {
            if (data is null)
                Fail(Errno.EFAULT);
            else
                then(data);
        });

    /// <summary>Reads client memory; null for an unreadable range (or a length past what one read can carry).</summary>
    public void TryReadMemory(ulong address, uint? length, Action<byte[]?> then)
    {
        if (length is not { } n)
        {
            then(null);
            return;
        }
        if (n == 0)
        {
            then([]);
            return;
        }
        var tag = NextTag();
        Client.Tell(new ReadMemory(tag, address, n));
        Await<MemoryRead>(r => r.Tag == tag, r => then(r.Errno != 0 || r.Data.Length != n ? null : r.Data));
    }

    public void WriteMemory(ulong address, byte[] data, Action<int> then)
    {
        if (data.Length == 0)
        {
            then(0);
            return;
        }
        var tag = NextTag();
        Client.Tell(new WriteMemory(tag, address, data));
        Await<MemoryWritten>(r => r.Tag == tag, r => then(r.Errno == 0 ? 0 : Errno.EFAULT));
    }
}
