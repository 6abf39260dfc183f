using FsCheck.Xunit;
using IommuActors.Uapi.Structs;

namespace IommuActors.Uapi.Tests.Structs;

/// <summary>Decoding any byte image and encoding it again gives the same bytes, for every struct.</summary>
public sealed class StructRoundTripSpecs
{
    private static bool RoundTrips<T>(byte[] seed, params int[] padding) where T : IUapiStruct<T>
    {
        var image = new byte[UserStruct.SizeOf<T>()];
        seed.AsSpan(0, Math.Min(seed.Length, image.Length)).CopyTo(image);
        foreach (var p in padding) image[p] = 0; // implicit padding the codec always writes as zero
        var value = T.Read(image);
        var again = UserStruct.Encode(value);
        return again.AsSpan().SequenceEqual(image) && T.Read(again).Equals(value);
    }

    [Property] public bool Destroy(byte[] b) => RoundTrips<IommuDestroy>(b);
    [Property] public bool IoasAlloc(byte[] b) => RoundTrips<IommuIoasAlloc>(b);
    [Property] public bool IovaRange(byte[] b) => RoundTrips<IommuIovaRange>(b);
    [Property] public bool IoasIovaRanges(byte[] b) => RoundTrips<IommuIoasIovaRanges>(b);
    [Property] public bool IoasAllowIovas(byte[] b) => RoundTrips<IommuIoasAllowIovas>(b);
    [Property] public bool IoasMap(byte[] b) => RoundTrips<IommuIoasMap>(b);
    [Property] public bool IoasMapFile(byte[] b) => RoundTrips<IommuIoasMapFile>(b);
    [Property] public bool IoasCopy(byte[] b) => RoundTrips<IommuIoasCopy>(b);
    [Property] public bool IoasUnmap(byte[] b) => RoundTrips<IommuIoasUnmap>(b);
    [Property] public bool Option(byte[] b) => RoundTrips<IommuOption>(b);
    [Property] public bool VfioIoas(byte[] b) => RoundTrips<IommuVfioIoas>(b);
    [Property] public bool HwptAlloc(byte[] b) => RoundTrips<IommuHwptAlloc>(b);
    [Property] public bool HwptVtdS1(byte[] b) => RoundTrips<IommuHwptVtdS1>(b);
    [Property] public bool HwInfo(byte[] b) => RoundTrips<IommuHwInfo>(b, 29, 30, 31);
    [Property] public bool HwInfoVtd(byte[] b) => RoundTrips<IommuHwInfoVtd>(b);
    [Property] public bool HwInfoArmSmmuv3(byte[] b) => RoundTrips<IommuHwInfoArmSmmuv3>(b);
    [Property] public bool SetDirtyTracking(byte[] b) => RoundTrips<IommuHwptSetDirtyTracking>(b);
    [Property] public bool GetDirtyBitmap(byte[] b) => RoundTrips<IommuHwptGetDirtyBitmap>(b);
    [Property] public bool HwptInvalidate(byte[] b) => RoundTrips<IommuHwptInvalidate>(b);
    [Property] public bool VtdS1Invalidate(byte[] b) => RoundTrips<IommuHwptVtdS1Invalidate>(b);
    [Property] public bool FaultAlloc(byte[] b) => RoundTrips<IommuFaultAlloc>(b);
    [Property] public bool Pgfault(byte[] b) => RoundTrips<IommuHwptPgfault>(b);
    [Property] public bool PageResponse(byte[] b) => RoundTrips<IommuHwptPageResponse>(b);
    [Property] public bool ViommuAlloc(byte[] b) => RoundTrips<IommuViommuAlloc>(b);
    [Property] public bool VdeviceAlloc(byte[] b) => RoundTrips<IommuVdeviceAlloc>(b);
    [Property] public bool ChangeProcess(byte[] b) => RoundTrips<IommuIoasChangeProcess>(b);
    [Property] public bool VeventqAlloc(byte[] b) => RoundTrips<IommuVeventqAlloc>(b);
    [Property] public bool VeventHeader(byte[] b) => RoundTrips<IommufdVeventHeader>(b);
    [Property] public bool HwQueueAlloc(byte[] b) => RoundTrips<IommuHwQueueAlloc>(b);
    [Property] public bool BindIommufd(byte[] b) => RoundTrips<VfioDeviceBindIommufd>(b);
    [Property] public bool AttachIommufdPt(byte[] b) => RoundTrips<VfioDeviceAttachIommufdPt>(b);
    [Property] public bool DetachIommufdPt(byte[] b) => RoundTrips<VfioDeviceDetachIommufdPt>(b);
    [Property] public bool DeviceInfo(byte[] b) => RoundTrips<VfioDeviceInfo>(b);
    [Property] public bool Type1Info(byte[] b) => RoundTrips<VfioIommuType1Info>(b);
    [Property] public bool DmaMap(byte[] b) => RoundTrips<VfioIommuType1DmaMap>(b);
    [Property] public bool DmaUnmap(byte[] b) => RoundTrips<VfioIommuType1DmaUnmap>(b);
}
