using System.Collections.Immutable;
using static IommuActors.Host.FrontDoor.SessionProtocol;

namespace IommuActors.Host.FrontDoor;

/// <summary>The sessions the directory keeps, as plain data: the directory's events applied in order.</summary>
public sealed class SessionBook
{
    private ImmutableDictionary<ulong, SessionRecord> _sessions = ImmutableDictionary<ulong, SessionRecord>.Empty;

    public ImmutableDictionary<ulong, SessionRecord> Sessions => _sessions;

    public bool Contains(ulong token) => _sessions.ContainsKey(token);

    public SessionRecord? Find(ulong token) => _sessions.GetValueOrDefault(token);

    public void Apply(IommuActors.Core.Messaging.IPersistedEvent e)
    {
        switch (e)
        {
            case SessionBegun b:
                _sessions = _sessions.SetItem(b.Token, SessionRecord.New(b.Pid, b.ClientName));
                break;
            case FdBound f when _sessions.TryGetValue(f.Token, out var s):
                _sessions = _sessions.SetItem(f.Token, s with
                {
                    Fds = s.Fds.SetItem(f.Fd, new FdEntry(f.FileId, f.Path)),
                    NextOpen = Math.Max(s.NextOpen, f.NextOpen),
                });
                break;
            case FdUnbound u when _sessions.TryGetValue(u.Token, out var s):
                _sessions = _sessions.SetItem(u.Token, s with { Fds = s.Fds.Remove(u.Fd) });
                break;
            case SessionFinished f:
                _sessions = _sessions.Remove(f.Token);
                break;
        }
    }

    public void Restore(SessionsSnapshot snapshot) => _sessions = snapshot.Sessions;
}
