using Akka.Actor;
using IommuActors.Domains.Ioas;
using static IommuActors.Fd.Accesses.AccessProtocol;

namespace IommuActors.Fd.Accesses;

/// <summary>
/// One selftest access (selftest.c's selftest_access): the items it pinned through its IOAS and
/// the unmap callback. It is a child of its iommufd context rather than part of it because the
/// IOAS calls back (<see cref="IoasProtocol.AccessUnmapRequested"/>) while the context waits,
/// busy, for the UNMAP that caused the call; the access answers on its own.
/// </summary>
public sealed class AccessActor : ReceiveActor, IWithStash
{
    private readonly string _accessId;
    private readonly SortedDictionary<uint, (ulong Iova, ulong Length)> _items = new();
    private string _ioasKey;
    private IActorRef _ioas;
    private uint _nextId;

    public IStash Stash { get; set; } = null!;

    /// <param name="accessId">The access's name in the IOAS's access list (its file id: unique and stable).</param>
    public static Props Props(string accessId, string ioasKey, IActorRef ioas) =>
        Akka.Actor.Props.Create(() => new AccessActor(accessId, ioasKey, ioas));

    public AccessActor(string accessId, string ioasKey, IActorRef ioas)
    {
        _accessId = accessId;
        _ioasKey = ioasKey;
        _ioas = ioas;
        Ready();
    }

    private void Ready()
    {
        Receive<IoasProtocol.AccessUnmapRequested>(OnUnmapRequested);
        Receive<PinItem>(OnPin);
        Receive<UnpinItem>(OnUnpin);
        Receive<SwitchIoas>(OnSwitch);
        // Answers to the unpins the unmap callback sent: nothing waits for them.
        Receive<IoasProtocol.UnpinResult>(_ => { });
    }

    private void OnPin(PinItem p)
    {
        var replyTo = Sender;
        _ioas.Tell(new IoasProtocol.PinPages(_ioasKey, _accessId, Self, p.Iova, p.Length, p.Write));
        AwaitIoas(1, errno =>
        {
            if (errno != 0)
            {
                replyTo.Tell(new ItemPinned(errno, 0));
                return;
            }
            var id = _nextId++;
            _items[id] = (p.Iova, p.Length);
            replyTo.Tell(new ItemPinned(0, id));
        });
    }

    private void OnUnpin(UnpinItem u)
    {
        if (!_items.Remove(u.ItemId, out var item))
        {
            Sender.Tell(new ItemUnpinned(Uapi.Errno.ENOENT));
            return;
        }
        var replyTo = Sender;
        _ioas.Tell(new IoasProtocol.UnpinPages(_ioasKey, _accessId, item.Iova, item.Length));
        AwaitIoas(1, _ => replyTo.Tell(new ItemUnpinned(0)));
    }

    private void OnSwitch(SwitchIoas s)
    {
        var replyTo = Sender;
        var held = _items.Values.ToList();
        _items.Clear();
        foreach (var (iova, length) in held)
            _ioas.Tell(new IoasProtocol.UnpinPages(_ioasKey, _accessId, iova, length));
        AwaitIoas(held.Count, _ =>
        {
            _ioasKey = s.IoasKey;
            _ioas = s.Ioas;
            replyTo.Tell(new IoasSwitched());
        });
    }

    /// <summary>iommufd_test_access_unmap: every item touching the range is unpinned, then the IOAS hears that the access is done.</summary>
    private void OnUnmapRequested(IoasProtocol.AccessUnmapRequested u)
    {
        var last = u.Length == 0 ? u.Iova : u.Iova > ulong.MaxValue - (u.Length - 1) ? ulong.MaxValue : u.Iova + u.Length - 1;
        if (u.IoasId == _ioasKey)
        {
            foreach (var (id, item) in _items.Where(i => i.Value.Iova <= last && u.Iova <= i.Value.Iova + i.Value.Length - 1).ToList())
            {
                _items.Remove(id);
                _ioas.Tell(new IoasProtocol.UnpinPages(_ioasKey, _accessId, item.Iova, item.Length));
            }
        }
        // The unpins reach the IOAS before this: it retries the unmap with the pages let go.
        Sender.Tell(new IoasProtocol.AccessUnmapDone(u.IoasId, _accessId));
    }

    /// <summary>
    /// Waits for the IOAS's answers to the pins or unpins just sent, stashing other requests; the
    /// unmap callback is answered meanwhile all the same. (Its own unpins cannot be miscounted:
    /// the context asks for nothing else while an UNMAP of it is in flight.)
    /// </summary>
    private void AwaitIoas(int replies, Action<int> then)
    {
        if (replies == 0)
        {
            then(0);
            return;
        }
        var left = replies;
        var first = 0;
        void Count(int errno)
        {
            if (first == 0)
                first = errno;
            if (--left > 0)
                return;
            Become(Ready);
            Stash.UnstashAll();
            then(first);
        }
        Become(() =>
        {
            Receive<IoasProtocol.AccessUnmapRequested>(OnUnmapRequested);
            Receive<IoasProtocol.PinResult>(r => Count(r.Errno));
            Receive<IoasProtocol.UnpinResult>(r => Count(r.Errno));
            ReceiveAny(_ => Stash.Stash());
        });
    }
}
