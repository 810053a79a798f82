using FASTER.core;

namespace Scim.Fast.Storage.Kv;

/// <summary>
/// FASTER's managed file device (what <see cref="Devices.CreateLogDevice"/> returns on Linux) with
/// segment removal and disposal kept apart. Both dispose a segment's pools of file handles, and
/// FASTER 2.6.5's pool cannot be disposed twice at once: the second disposer can see a handle still
/// counted that the first is closing and wait for its return forever. That happened on shutdown
/// after a large sync: the last checkpoint truncated the write-ahead log, FASTER removed the old
/// segments in an epoch action on whichever thread ran it while the log closed the device, and the
/// process hung in <c>AsyncPool.Dispose</c> with nothing left to return a handle. One after the
/// other, the second disposal finds nothing counted and returns at once.
/// </summary>
/// <remarks>
/// A decorator, since FASTER's device is sealed: the segment bookkeeping (start and end segment,
/// truncation) is this class's base, the files are the inner device's, and every removal, the
/// base's truncations included, comes through <see cref="RemoveSegmentAsync"/>.
/// </remarks>
public sealed class LocalFileDevice : StorageDeviceBase
{
    private readonly ManagedLocalStorageDevice _files;
    private readonly Lock _closing = new();

    private LocalFileDevice(ManagedLocalStorageDevice files)
        : base(files.FileName, files.SectorSize, files.Capacity)
    {
        _files = files;
        ThrottleLimit = files.ThrottleLimit;

        // What the inner device found on disk when it opened.
        startSegment = files.StartSegment;
        endSegment = files.EndSegment;
    }

    /// <summary>Opens the segment files at <paramref name="path"/>.N, finding those already there.</summary>
    public static LocalFileDevice Open(string path) => new(new ManagedLocalStorageDevice(path, recoverDevice: true));

    public override void Initialize(long segmentSize, LightEpoch? epoch = null, bool omitSegmentIdFromFilename = false)
    {
        base.Initialize(segmentSize, epoch, omitSegmentIdFromFilename);
        _files.Initialize(segmentSize, epoch, omitSegmentIdFromFilename);
    }

    public override void ReadAsync(int segmentId, ulong sourceAddress, IntPtr destinationAddress, uint readLength, DeviceIOCompletionCallback callback, object context) =>
        _files.ReadAsync(segmentId, sourceAddress, destinationAddress, readLength, callback, context);

    public override void WriteAsync(IntPtr sourceAddress, int segmentId, ulong destinationAddress, uint numBytesToWrite, DeviceIOCompletionCallback callback, object context) =>
        _files.WriteAsync(sourceAddress, segmentId, destinationAddress, numBytesToWrite, callback, context);

    public override void RemoveSegmentAsync(int segment, AsyncCallback callback, IAsyncResult result)
    {
        RemoveSegment(segment);
        callback(result);
    }

    public override void RemoveSegment(int segment)
    {
        lock (_closing)
        {
            _files.RemoveSegment(segment);
        }
    }

    public override long GetFileSize(int segment) => _files.GetFileSize(segment);

    public override bool Throttle() => _files.Throttle();

    public override bool TryComplete() => _files.TryComplete();

    public override void Reset() => _files.Reset();

    public override void Dispose()
    {
        lock (_closing)
        {
            _files.Dispose();
        }
    }
}
