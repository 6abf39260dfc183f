using Akka.Actor;
using IommuActors.Core.Serialization;
using static IommuActors.Ioasid.Pasid.PasidSetProtocol;
using static IommuActors.Ioasid.Pasid.PasidSpaceProtocol;

namespace IommuActors.Ioasid.Pasid;

/// <summary>
/// The PASID set's and space's events in a few bytes each, bound in hocon/base.conf. Rows written
/// earlier by Hyperion keep their serializer id and are read by it.
/// </summary>
public sealed class PasidEventSerializer(ExtendedActorSystem system) : CompactEventSerializer(system, Formats)
{
    public const int Id = 444;

    public override int Identifier => Id;

    private static CompactFormat PasidOnly<T>(string manifest, Func<T, int> pasid, Func<int, T> create) where T : notnull =>
        CompactFormat.Of<T>(manifest, (w, e) => w.Int(pasid(e)), r => create(r.Int32()));

    private static CompactFormat PasidAndHolder<T>(string manifest, Func<T, (int Pasid, string Holder)> fields, Func<int, string, T> create) where T : notnull =>
        CompactFormat.Of<T>(manifest, (w, e) => { var (p, h) = fields(e); w.Int(p).String(h); }, r => create(r.Int32(), r.String()));

    public static readonly IReadOnlyList<CompactFormat> Formats =
    [
        PasidOnly<SetPasidAdmitted>("pa1", e => e.Pasid, p => new SetPasidAdmitted(p)),
        PasidOnly<SetPasidGot>("pg1", e => e.Pasid, p => new SetPasidGot(p)),
        PasidOnly<SetPasidPut>("pp1", e => e.Pasid, p => new SetPasidPut(p)),
        CompactFormat.Of<SetPasidBound>("pb1", (w, e) => w.Int(e.Pasid).Int(e.Spid), r => new SetPasidBound(r.Int32(), r.Int32())),
        PasidOnly<SetPasidUnbound>("pu1", e => e.Pasid, p => new SetPasidUnbound(p)),
        PasidOnly<SetPasidFreed>("pf1", e => e.Pasid, p => new SetPasidFreed(p)),
        PasidOnly<SetFreeAcked>("pk1", e => e.Pasid, p => new SetFreeAcked(p)),
        CompactFormat.Of<SetPasidRemoved>("pr1", (w, e) => w.Int(e.Pasid).Bool(e.Quarantined), r => new SetPasidRemoved(r.Int32(), r.Bool())),
        PasidAndHolder<SetPasidGotBy>("pgh1", e => (e.Pasid, e.Holder), (p, h) => new SetPasidGotBy(p, h)),
        PasidAndHolder<SetPasidPutBy>("pph1", e => (e.Pasid, e.Holder), (p, h) => new SetPasidPutBy(p, h)),
        CompactFormat.Of<SetPasidBoundBy>("pbh1", (w, e) => w.Int(e.Pasid).Int(e.Spid).String(e.Holder),
            r => new SetPasidBoundBy(r.Int32(), r.Int32(), r.String())),
        PasidAndHolder<SetPasidUnboundBy>("puh1", e => (e.Pasid, e.Holder), (p, h) => new SetPasidUnboundBy(p, h)),
        PasidOnly<SetSpidDetached>("psd1", e => e.Pasid, p => new SetSpidDetached(p)),
        PasidOnly<SetQuarantineSettled>("pq1", e => e.Pasid, p => new SetQuarantineSettled(p)),
        CompactFormat.Of<SetQuotaAdjusted>("pj1", (w, e) => w.Int(e.Quota), r => new SetQuotaAdjusted(r.Int32())),
        CompactFormat.Of<SpaceLeased>("sl1", (w, e) => w.String(e.Owner).Int(e.Pasid), r => new SpaceLeased(r.String(), r.Int32())),
        PasidOnly<SpaceReleased>("sr1", e => e.Pasid, p => new SpaceReleased(p)),
        PasidOnly<SpaceQuarantined>("sq1", e => e.Pasid, p => new SpaceQuarantined(p)),
        PasidOnly<SpaceQuarantineCleared>("sc1", e => e.Pasid, p => new SpaceQuarantineCleared(p)),
    ];
}
