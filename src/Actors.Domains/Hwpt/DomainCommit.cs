using Akka.Actor;
using IommuActors.Domains.Pages;
using IommuActors.Hardware.Units;

namespace IommuActors.Domains.Hwpt;

/// <summary>
/// One step of a commit: the command (built from the replies of the steps before it, so a map
/// can name the domain an earlier step allocated), where to send it, and how to undo it given
/// its own reply (null when nothing needs undoing). A step whose target is Nobody is local: its
/// command is its own reply, which puts a check the IOAS already made at its place in the order.
/// Tolerated: an errno that means the step's effect is already there (a detach of a context entry
/// someone else tore down), taken as success with nothing to undo.
/// </summary>
public sealed record CommitStep(Func<IReadOnlyList<object>, object> Command, IActorRef Target,
    Func<object, IReadOnlyList<object>, IEnumerable<(object Command, IActorRef Target)>>? Undo = null, int Tolerated = 0);

/// <summary>Local messages from a commit to the actor that started it.</summary>
public sealed record CommitSucceeded(long Token, IReadOnlyList<object> Replies);
public sealed record CommitFailed(long Token, int Errno, int FailedStep);

/// <summary>
/// A short-lived child that runs the steps of one IOAS operation against the units (and the
/// locked-memory account) one at a time and, when one is refused, undoes the steps that took
/// effect in reverse order before reporting, so the operation is all or nothing. One command
/// outstanding at a time means every reply answers the one command in flight, and the unit's
/// replies need no correlation id. The IOAS runs several commits at once when their IOVA ranges
/// do not meet.
/// </summary>
public sealed class DomainCommit : ReceiveActor
{
    private readonly long _token;
    private readonly IReadOnlyList<CommitStep> _steps;
    private readonly List<object> _replies = [];
    private readonly Stack<(object Command, IActorRef Target)> _undo = new();

    public static Props Props(long token, IReadOnlyList<CommitStep> steps, TimeSpan timeout) =>
        Akka.Actor.Props.Create(() => new DomainCommit(token, steps, timeout));

    public DomainCommit(long token, IReadOnlyList<CommitStep> steps, TimeSpan timeout)
    {
        _token = token;
        _steps = steps;
        SetReceiveTimeout(timeout);
        Running();
    }

    protected override void PreStart() => SendNext();

    private void SendNext()
    {
        if (_replies.Count == _steps.Count)
        {
            Context.Parent.Tell(new CommitSucceeded(_token, _replies));
            Context.Stop(Self);
            return;
        }
        var step = _steps[_replies.Count];
        var command = step.Command(_replies);
        if (step.Target.IsNobody())
            Self.Tell(command);
        else
            step.Target.Tell(command);
    }

    private void Running()
    {
        Receive<ReceiveTimeout>(_ => Fail(Errno.ETIMEDOUT));
        ReceiveAny(reply =>
        {
            var errno = ErrnoOf(reply);
            var step = _steps[_replies.Count];
            if (errno != 0 && errno != step.Tolerated)
            {
                Fail(errno);
                return;
            }
            if (errno == 0 && step.Undo is not null)
                foreach (var undo in step.Undo(reply, _replies).Reverse())
                    _undo.Push(undo);
            _replies.Add(reply);
            SendNext();
        });
    }

    private void Fail(int errno)
    {
        var failedStep = _replies.Count;
        // Undo in reverse order; each undo is answered before the next goes, and its answer is not judged.
        Become(() =>
        {
            Receive<ReceiveTimeout>(_ => Report(errno, failedStep));
            ReceiveAny(_ => UndoNext(errno, failedStep));
        });
        UndoNext(errno, failedStep);
    }

    private void UndoNext(int errno, int failedStep)
    {
        if (_undo.Count == 0)
        {
            Report(errno, failedStep);
            return;
        }
        var (command, target) = _undo.Pop();
        target.Tell(command);
    }

    private void Report(int errno, int failedStep)
    {
        Context.Parent.Tell(new CommitFailed(_token, errno, failedStep));
        Context.Stop(Self);
    }

    /// <summary>The errno a reply carries: unit failures, refused charges, user pages that cannot be pinned; everything else is success.</summary>
    public static int ErrnoOf(object reply) => reply switch
    {
        UnitProtocol.Failed f => f.Errno,
        AccountProtocol.ChargeResult c => c.Errno,
        UserPagesChecked u => u.Errno,
        _ => 0,
    };
}
