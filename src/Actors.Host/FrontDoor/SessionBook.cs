using System.Collections.Immutable;
using static IommuActors.Host.FrontDoor.SessionProtocol;

namespace IommuActors.Host.FrontDoor;

/// <summary>The sessions the directory keeps, as plain data: the directory's events applied in order.</summary>
public sealed class SessionBook
{
    private ImmutableDictionary<ulong, SessionRecord> _sessions = ImmutableDictionary<ulong, SessionRecord>.Empty;
    private ImmutableDictionary<ulong, SessionProcess> _processes = ImmutableDictionary<ulong, SessionProcess>.Empty;

    public ImmutableDictionary<ulong, SessionRecord> Sessions => _sessions;

    /// <summary>The process holding each session, for the sessions that recorded one.</summary>
    public ImmutableDictionary<ulong, SessionProcess> Processes => _processes;

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
            case SessionProcess p when _sessions.ContainsKey(p.Token):
                _processes = _processes.SetItem(p.Token, p);
                break;
            case SessionFinished f:
                _sessions = _sessions.Remove(f.Token);
                _processes = _processes.Remove(f.Token);
                break;
        }
    }

    public void Restore(SessionsSnapshot snapshot) => _sessions = snapshot.Sessions;

    public void Restore(SessionsProcessSnapshot snapshot) => (_sessions, _processes) = (snapshot.Sessions, snapshot.Processes);

    public SessionsProcessSnapshot Snapshot() => new(_sessions, _processes);
}
