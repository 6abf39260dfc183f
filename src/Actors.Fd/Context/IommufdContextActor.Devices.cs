using Akka.Actor;
using IommuActors.Fd.Objects;
using static IommuActors.Fd.Context.ContextProtocol;
using Errno = IommuActors.Uapi.Errno;

namespace IommuActors.Fd.Context;

// The requests of a device file (device.c): bind, attach or replace, detach, unbind, each served
// as one request of the context; Devices/DeviceObjects does the work. DMA ownership is settled
// by the device file with the ownership registry first.
public sealed partial class IommufdContextActor
{
    private void OnBindDevice(BindDevice m)
    {
        Begin(Sender, ActorRefs.Nobody, null);
        _request.FailWith = e => new DeviceBindResult(_fileId, e, 0);
        if (_released || _with.Platform.Device(m.Pci) is null)
        {
            Fail(Errno.ENODEV);
            return;
        }
        var id = _table.NextFreeId;
        Save(new ObjectCreated(id, ObjectKind.Device, [], m.DeviceFileId, m.Pci, 0, false, 0),
            () => Reply(new DeviceBindResult(_fileId, 0, id)));
    }

    private void OnAttachDevice(AttachDevice m)
    {
        Begin(Sender, ActorRefs.Nobody, null);
        _request.FailWith = e => new AttachResult(_fileId, e, 0);
        _deviceObjects.AttachTo(m, (errno, ptId) =>
        {
            if (errno != 0)
                Fail(errno);
            else
                Reply(new AttachResult(_fileId, 0, ptId));
        });
    }

    private void OnDetachDevice(DetachDevice m)
    {
        Begin(Sender, ActorRefs.Nobody, null);
        _request.FailWith = e => new DetachResult(_fileId, e);
        _deviceObjects.Detach(m.DevId, m.Pasid, errno => Reply(new DetachResult(_fileId, errno)), strict: true);
    }

    private void OnUnbindDevice(UnbindDevice m)
    {
        Begin(Sender, ActorRefs.Nobody, null);
        _request.FailWith = _ => new DeviceUnbound(_fileId, m.DevId);
        _deviceObjects.Unbind(m.DevId, () => Reply(new DeviceUnbound(_fileId, m.DevId)));
    }
}
