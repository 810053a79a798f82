using System.Collections.Concurrent;

using FASTER.core;

using Microsoft.Win32.SafeHandles;

namespace Scim.Fast.Storage.Kv;

/// <summary>
/// FASTER's managed file device (what <see cref="Devices.CreateLogDevice"/> returns on Linux) for
/// reads and segment bookkeeping, with its own writes, and segment removal and disposal kept apart.
/// </summary>
/// <remarks>
/// <para>
/// Writes: FASTER's device runs each write as a task that starts an asynchronous FileStream write,
/// which .NET on Linux carries out as a blocking <c>pwrite</c> on a thread-pool thread: with O_SYNC
/// files each log commit and each page a checkpoint flushes held a pool thread for the disk's
/// latency, three pool work items a write. A checkpoint's flush starved the request path unless the
/// pool was kept at 128 threads, and those threads' spinning cost the write path (README, issue 14).
/// Here the writes run on threads of their own (<see cref="WriterThreads"/> a device), in the order
/// given, straight from FASTER's page memory, with the same file options (O_SYNC: each write is
/// durable when it returns, which log commits and checkpoints rely on).
/// </para>
/// <para>
/// Removal and disposal: both dispose a segment's pools of file handles, and FASTER 2.6.5's pool
/// cannot be disposed twice at once: the second disposer can see a handle still counted that the
/// first is closing and wait for its return forever. That happened on shutdown after a large sync:
/// the last checkpoint truncated the write-ahead log, FASTER removed the old segments in an epoch
/// action on whichever thread ran it while the log closed the device, and the process hung in
/// <c>AsyncPool.Dispose</c> with nothing left to return a handle. One after the other, the second
/// disposal finds nothing counted and returns at once.
/// </para>
/// <para>
/// A decorator, since FASTER's device is sealed: the segment bookkeeping (start and end segment,
/// truncation) is this class's base, the read handles are the inner device's, and every removal,
/// the base's truncations included, comes through <see cref="RemoveSegmentAsync"/>.
/// </para>
/// </remarks>
public sealed class LocalFileDevice : StorageDeviceBase
{
    /// <summary>Threads that write for one device: a checkpoint's page flushes overlap on two.</summary>
    internal const int WriterThreads = 2;

    private readonly ManagedLocalStorageDevice _files;
    private readonly Lock _closing = new();

    // Write handles by segment, opened on first write; under _closing.
    private readonly Dictionary<int, SafeFileHandle> _writeHandles = [];
    private readonly BlockingCollection<PendingWrite> _writes = new(new ConcurrentQueue<PendingWrite>());
    private readonly Thread[] _writers;
    private int _pendingWrites;
    private int _closed;
    private bool _disposed;

    private sealed record PendingWrite(IntPtr Source, int Segment, ulong Destination, uint Length, DeviceIOCompletionCallback Callback, object Context);

    private LocalFileDevice(ManagedLocalStorageDevice files)
        : base(files.FileName, files.SectorSize, files.Capacity)
    {
        _files = files;
        ThrottleLimit = files.ThrottleLimit;

        // What the inner device found on disk when it opened.
        startSegment = files.StartSegment;
        endSegment = files.EndSegment;

        _writers = new Thread[WriterThreads];
        for (int i = 0; i < _writers.Length; i++)
        {
            _writers[i] = new Thread(WriteLoop) { IsBackground = true, Name = "Scim.Fast disk writer " + Path.GetFileName(files.FileName) };
            _writers[i].Start();
        }
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

    public override void WriteAsync(IntPtr sourceAddress, int segmentId, ulong destinationAddress, uint numBytesToWrite, DeviceIOCompletionCallback callback, object context)
    {
        HandleCapacity(segmentId);
        Interlocked.Increment(ref _pendingWrites);
        var write = new PendingWrite(sourceAddress, segmentId, destinationAddress, numBytesToWrite, callback, context);
        bool queued;
        try
        {
            queued = _writes.TryAdd(write);
        }
        catch (InvalidOperationException)
        {
            // Adding completed (or the queue disposed): the device is closing.
            queued = false;
        }

        if (!queued)
        {
            // Closed: fail the write as FASTER's device does when its handle is gone.
            Interlocked.Decrement(ref _pendingWrites);
            callback(uint.MaxValue, 0, context);
        }
    }

    private void WriteLoop()
    {
        foreach (var write in _writes.GetConsumingEnumerable())
        {
            uint error = 0;
            uint written = write.Length;
            try
            {
                Write(write);
            }
            catch (Exception e)
            {
                // Whatever failed, FASTER must hear of it as a failed write (a thread that died here
                // would take the process with it). Its device reports an I/O error by its code,
                // anything else as uint.MaxValue.
                error = e is IOException && (e.HResult & 0xFFFF) != 0 ? (uint)(e.HResult & 0xFFFF) : uint.MaxValue;
                written = 0;
            }

            Interlocked.Decrement(ref _pendingWrites);
            write.Callback(error, written, write.Context);
        }
    }

    private unsafe void Write(PendingWrite write)
    {
        SafeFileHandle handle;
        lock (_closing)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (!_writeHandles.TryGetValue(write.Segment, out handle!))
            {
                // As FASTER's device opens its write handles: open or create, others may read, and
                // write-through (O_SYNC on Linux; FASTER's unbuffered flag has no effect there).
                handle = File.OpenHandle(SegmentName(write.Segment), FileMode.OpenOrCreate, FileAccess.Write, FileShare.ReadWrite, FileOptions.WriteThrough);
                _writeHandles.Add(write.Segment, handle);
            }
        }

        // The handle counts its users: a removal or a disposal meanwhile closes the file after this
        // write, and a write that starts after it fails (ObjectDisposedException).
        RandomAccess.Write(handle, new ReadOnlySpan<byte>((void*)write.Source, checked((int)write.Length)), checked((long)write.Destination));
    }

    // FileName.N, or FileName alone for a device initialized to omit the segment id (as FASTER names them).
    private string SegmentName(int segment) => GetSegmentFilename(FileName, segment);

    public override void RemoveSegmentAsync(int segment, AsyncCallback callback, IAsyncResult result)
    {
        RemoveSegment(segment);
        callback(result);
    }

    public override void RemoveSegment(int segment)
    {
        lock (_closing)
        {
            if (_writeHandles.Remove(segment, out var handle))
            {
                handle.Dispose();
            }

            // The inner device closes its read handles and deletes the file; deleting again is a
            // no-op, and covers a segment it never opened.
            _files.RemoveSegment(segment);
            File.Delete(SegmentName(segment));
        }
    }

    public override long GetFileSize(int segment) => _files.GetFileSize(segment);

    public override bool Throttle() => _files.Throttle() || Volatile.Read(ref _pendingWrites) > ThrottleLimit;

    public override bool TryComplete() => _files.TryComplete();

    public override void Reset() => _files.Reset();

    /// <summary>Finishes the writes already given (their callbacks run), then closes the files.</summary>
    public override void Dispose()
    {
        if (Interlocked.Exchange(ref _closed, 1) != 0)
        {
            return;
        }

        _writes.CompleteAdding();
        foreach (var writer in _writers)
        {
            if (writer != Thread.CurrentThread)
            {
                writer.Join();
            }
        }

        lock (_closing)
        {
            _disposed = true;
            foreach (var handle in _writeHandles.Values)
            {
                handle.Dispose();
            }

            _writeHandles.Clear();
            _files.Dispose();
            _writes.Dispose();
        }
    }
}
