using System.Collections.Concurrent;
using Akka.Actor;
using Akka.Configuration;
using IommuActors.Core.Messaging;
using IommuActors.Fd.Files;
using IommuActors.Hardware;
using IommuActors.Hardware.Platform;
using static IommuActors.Fd.Files.FileProtocol;

namespace IommuActors.Fd.Tests.Support;

/// <summary>Stands in for a sharding region: one child per entity id, made by the factory.</summary>
public sealed class LocalRegion : ReceiveActor
{
    public LocalRegion(Func<string, IActorRef, Props> props)
    {
        Receive<IEntityMessage>(m =>
        {
            var name = Uri.EscapeDataString(m.EntityId);
            var child = Context.Child(name);
            if (child.IsNobody())
                child = Context.ActorOf(props(m.EntityId, Self), name);
            child.Forward(m);
        });
    }
}

/// <summary>
/// The client process as a file sees it: memory at [Base, Base+Size), an fd table for
/// ResolveFd, and fd numbers handed out for InstallFd. Records FileReady notifications.
/// </summary>
public sealed class FakeClient : ReceiveActor
{
    public const ulong Base = 0x7f00_0000_0000;

    public sealed record MapFd(int Fd, string FileId, string Path);

    public FakeClient(byte[] memory, ConcurrentQueue<FileReady> ready)
    {
        var fds = new Dictionary<int, (string, string)>();
        var nextFd = 100;
        Receive<MapFd>(m => fds[m.Fd] = (m.FileId, m.Path));
        Receive<ReadMemory>(r =>
        {
            if (r.Address < Base || r.Address - Base + r.Length > (ulong)memory.Length)
                Sender.Tell(new MemoryRead(r.Tag, 14, []));
            else
                Sender.Tell(new MemoryRead(r.Tag, 0, memory.AsSpan((int)(r.Address - Base), (int)r.Length).ToArray()));
        });
        // Every page of the client's memory is there, readable and writable; nothing else is.
        Receive<Domains.Pages.CheckUserPages>(c => Sender.Tell(new Domains.Pages.UserPagesChecked(
            c.Address >= Base && c.Address - Base <= (ulong)memory.Length && c.Length <= (ulong)memory.Length - (c.Address - Base) ? 0 : 14)));
        Receive<WriteMemory>(w =>
        {
            if (w.Address < Base || w.Address - Base + (ulong)w.Data.Length > (ulong)memory.Length)
            {
                Sender.Tell(new MemoryWritten(w.Tag, 14));
                return;
            }
            w.Data.CopyTo(memory, (int)(w.Address - Base));
            Sender.Tell(new MemoryWritten(w.Tag, 0));
        });
        Receive<InstallFd>(i =>
        {
            var fd = nextFd++;
            fds[fd] = (i.NewFileId, FileActor.FaultQueuePath);
            Sender.Tell(new FdInstalled(i.Tag, 0, fd));
        });
        Receive<ResolveFd>(r => Sender.Tell(fds.TryGetValue(r.Fd, out var f)
            ? new FdResolved(r.Tag, 0, f.Item1, f.Item2)
            : new FdResolved(r.Tag, 9, "", "")));
        Receive<FileReady>(ready.Enqueue);
    }
}

public static class Platforms
{
    public static PlatformSpec Default { get; } = HardwareModule.LoadPlatform(Config.Empty);
}
