using System.Diagnostics;
using Akka.Actor;
using Akka.Configuration;
using Akka.Persistence;
using IommuActors.Core.Configuration;
using IommuActors.Core.Persistence;
using IommuActors.Domains.Ioas;

namespace IommuActors.Host.Measurements;

/// <summary>
/// The store's own ceiling for the pipelined map bench: one persistent actor writes the same events
/// an IOAS writes for a 4 KiB map (RangeMapped), each with PersistAllAsync as the IOAS does, keeping
/// <c>window</c> writes in flight, on the same journal configuration (batch size, parallelism) the
/// host uses. No emulator logic runs: what it measures is what the journal can take.
/// </summary>
public static class StoreCeiling
{
    public static async Task<TimeSpan> RunAsync(StoreOptions store, int events, int window)
    {
        var config = HoconFiles.Combine(
            ConfigurationFactory.ParseString("akka.loglevel = ERROR"),
            PersistenceSetup.ConfigFor(store),
            HoconFiles.Load(HoconFiles.Base));
        using var system = ActorSystem.Create("store-ceiling", config);
        var done = new TaskCompletionSource<TimeSpan>(TaskCreationOptions.RunContinuationsAsynchronously);
        system.ActorOf(Props.Create(() => new Writer($"ceiling-{Guid.NewGuid():N}", events, window, done)), "writer");
        var elapsed = await done.Task;
        await system.Terminate();
        return elapsed;
    }

    private sealed record Written;

    private sealed class Writer : ReceivePersistentActor
    {
        private readonly int _events;
        private readonly int _window;
        private readonly TaskCompletionSource<TimeSpan> _done;
        private readonly Stopwatch _clock = new();
        private int _sent;
        private int _written;

        public override string PersistenceId { get; }

        public Writer(string persistenceId, int events, int window, TaskCompletionSource<TimeSpan> done)
        {
            PersistenceId = persistenceId;
            _events = events;
            _window = window;
            _done = done;
            Recover<RecoveryCompleted>(_ =>
            {
                _clock.Start();
                for (var i = 0; i < _window; i++)
                    Self.Tell(new Written());
            });
            // Each Written lets the next write start, so at most `window` are in flight, as ioctls are.
            Command<Written>(_ => WriteNext());
        }

        private void WriteNext()
        {
            if (_sent == _events)
                return;
            var n = _sent++;
            var e = new IoasProtocol.RangeMapped((ulong)n * 4096, Protection.Read | Protection.Write, $"ceiling/{n}", 0x7f00_0000_0000 + (ulong)n * 4096, 4096);
            PersistAllAsync([e], _ =>
            {
                if (++_written == _events)
                    _done.TrySetResult(_clock.Elapsed);
                else
                    WriteNext();
            });
        }
    }
}
