using System.Collections.Concurrent;

using FASTER.core;

using Microsoft.Win32.SafeHandles;

namespace Scim.Fast.Storage.Kv;

/// <summary>
/// FASTER's managed file device (what <see cref="Devices.CreateLogDevice"/> returns on Linux) for
/// finding the segments on disk, with reads and writes on threads of its own, and segment removal
/// and disposal kept apart.
/// </summary>
/// <remarks>
/// <para>
/// Reads and writes: FASTER's device runs each as a task that starts an asynchronous FileStream
/// read or write, which .NET on Linux carries out as a blocking <c>pread</c>/<c>pwrite</c> on a
/// thread-pool thread: three pool work items an I/O, one of them held for the disk's latency. With
/// O_SYNC files each log commit and each page a checkpoint flushes held a pool thread, and a
/// checkpoint's flush starved the request path; a read a request waited for synchronously needed
/// pool threads to complete, so a burst of them starved the pool outright. The server kept the
/// pool at 128 threads against both, and those threads' spinning cost every request (README,
/// issue 14). Here reads (<see cref="ReaderThreads"/>) and writes (<see cref="WriterThreads"/>) run
/// on the device's own threads, straight into and from FASTER's memory, with FASTER's file options
/// (writes O_SYNC: each is durable when it returns, which commits and checkpoints rely on); reads
/// never queue behind a checkpoint's writes. The callbacks run on those threads.
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
/// truncation) is this class's base, the inner device finds the segments on disk and answers their
/// sizes, and every removal, the base's truncations included, comes through
/// <see cref="RemoveSegmentAsync"/>.
/// </para>
/// </remarks>
public sealed class LocalFileDevice : StorageDeviceBase
{
    /// <summary>Threads that write for one device: a checkpoint's page flushes overlap on two.</summary>
    internal const int WriterThreads = 2;

    /// <summary>Threads that read for one device: reads a request waits for overlap on four.</summary>
    internal const int ReaderThreads = 4;

    private readonly ManagedLocalStorageDevice _files;
    private readonly Lock _closing = new();

    // Handles by segment, opened on first use; under _closing.
    private readonly Dictionary<int, SafeFileHandle> _readHandles = [];
    private readonly Dictionary<int, SafeFileHandle> _writeHandles = [];
    private readonly BlockingCollection<Transfer> _reads = new(new ConcurrentQueue<Transfer>());
    private readonly BlockingCollection<Transfer> _writes = new(new ConcurrentQueue<Transfer>());
    private readonly Thread[] _threads;

    // Open except while a test holds reads back (HoldReads) to have many of them in flight at once.
    private readonly ManualResetEventSlim _readsAllowed = new(initialState: true);
    private int _pending;
    private int _closed;
    private bool _disposed;

    // One read or write: Memory is where FASTER's bytes are (or go), Offset the place in the segment.
    private sealed record Transfer(bool IsWrite, IntPtr Memory, int Segment, ulong Offset, uint Length, DeviceIOCompletionCallback Callback, object Context);

    private LocalFileDevice(ManagedLocalStorageDevice files)
        : base(files.FileName, files.SectorSize, files.Capacity)
    {
        _files = files;
        ThrottleLimit = files.ThrottleLimit;

        // What the inner device found on disk when it opened.
        startSegment = files.StartSegment;
        endSegment = files.EndSegment;

        string name = Path.GetFileName(files.FileName);
        _threads = new Thread[ReaderThreads + WriterThreads];
        for (int i = 0; i < _threads.Length; i++)
        {
            var queue = i < ReaderThreads ? _reads : _writes;
            _threads[i] = new Thread(() => TransferLoop(queue))
            {
                IsBackground = true,
                Name = (i < ReaderThreads ? "Scim.Fast disk reader " : "Scim.Fast disk writer ") + name,
            };
            _threads[i].Start();
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
        Queue(_reads, new Transfer(false, destinationAddress, segmentId, sourceAddress, readLength, callback, context));

    public override void WriteAsync(IntPtr sourceAddress, int segmentId, ulong destinationAddress, uint numBytesToWrite, DeviceIOCompletionCallback callback, object context)
    {
        HandleCapacity(segmentId);
        Queue(_writes, new Transfer(true, sourceAddress, segmentId, destinationAddress, numBytesToWrite, callback, context));
    }

    private void Queue(BlockingCollection<Transfer> queue, Transfer transfer)
    {
        Interlocked.Increment(ref _pending);
        bool queued;
        try
        {
            queued = queue.TryAdd(transfer);
        }
        catch (InvalidOperationException)
        {
            // Adding completed (or the queue disposed): the device is closing.
            queued = false;
        }

        if (!queued)
        {
            // Closed: fail it as FASTER's device does when its handle is gone.
            Interlocked.Decrement(ref _pending);
            transfer.Callback(uint.MaxValue, 0, transfer.Context);
        }
    }

    /// <summary>
    /// Tests: reads given from now on wait until the returned scope ends, so a burst of them is in
    /// flight at once however fast this machine's disk answers. Writes go on.
    /// </summary>
    internal IDisposable HoldReads()
    {
        _readsAllowed.Reset();
        return new ReadHold(_readsAllowed);
    }

    private sealed class ReadHold(ManualResetEventSlim readsAllowed) : IDisposable
    {
        public void Dispose() => readsAllowed.Set();
    }

    private void TransferLoop(BlockingCollection<Transfer> queue)
    {
        foreach (var transfer in queue.GetConsumingEnumerable())
        {
            if (!transfer.IsWrite)
            {
                _readsAllowed.Wait();
            }

            uint error = 0;
            uint done;
            try
            {
                done = (uint)Execute(transfer);
            }
            catch (Exception e)
            {
                // Whatever failed, FASTER must hear of it as a failed I/O (a thread that died here
                // would take the process with it). Its device reports an I/O error by its code,
                // anything else as uint.MaxValue.
                error = e is IOException && (e.HResult & 0xFFFF) != 0 ? (uint)(e.HResult & 0xFFFF) : uint.MaxValue;
                done = 0;
            }

            Interlocked.Decrement(ref _pending);
            transfer.Callback(error, done, transfer.Context);
        }
    }

    private unsafe int Execute(Transfer transfer)
    {
        SafeFileHandle handle;
        lock (_closing)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            var handles = transfer.IsWrite ? _writeHandles : _readHandles;
            if (!handles.TryGetValue(transfer.Segment, out handle!))
            {
                // As FASTER's device opens its handles: open or create, shared, write-through
                // (O_SYNC on Linux; FASTER's unbuffered flag has no effect there).
                handle = File.OpenHandle(
                    SegmentName(transfer.Segment),
                    FileMode.OpenOrCreate,
                    transfer.IsWrite ? FileAccess.Write : FileAccess.Read,
                    FileShare.ReadWrite,
                    FileOptions.WriteThrough);
                handles.Add(transfer.Segment, handle);
            }
        }

        // The handle counts its users: a removal or a disposal meanwhile closes the file after this
        // call, and one that starts after it fails (ObjectDisposedException).
        long offset = checked((long)transfer.Offset);
        int length = checked((int)transfer.Length);
        if (transfer.IsWrite)
        {
            RandomAccess.Write(handle, new ReadOnlySpan<byte>((void*)transfer.Memory, length), offset);
            return length;
        }

        // Like FASTER's device: what the file holds from there, short at its end.
        var destination = new Span<byte>((void*)transfer.Memory, length);
        int read = 0;
        while (read < length)
        {
            int n = RandomAccess.Read(handle, destination[read..], offset + read);
            if (n == 0)
            {
                break;
            }

            read += n;
        }

        return read;
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
            if (_readHandles.Remove(segment, out var reading))
            {
                reading.Dispose();
            }

            if (_writeHandles.Remove(segment, out var writing))
            {
                writing.Dispose();
            }

            // The inner device closes what handles it opened and deletes the file; deleting again
            // is a no-op, and covers a segment it never opened.
            _files.RemoveSegment(segment);
            File.Delete(SegmentName(segment));
        }
    }

    public override long GetFileSize(int segment) => _files.GetFileSize(segment);

    // Every read and write is this device's now: the inner device has none pending.
    public override bool Throttle() => Volatile.Read(ref _pending) > ThrottleLimit;

    public override bool TryComplete() => _files.TryComplete();

    public override void Reset() => _files.Reset();

    /// <summary>Finishes the reads and writes already given (their callbacks run), then closes the files.</summary>
    public override void Dispose()
    {
        if (Interlocked.Exchange(ref _closed, 1) != 0)
        {
            return;
        }

        _reads.CompleteAdding();
        _writes.CompleteAdding();
        _readsAllowed.Set();
        foreach (var thread in _threads)
        {
            if (thread != Thread.CurrentThread)
            {
                thread.Join();
            }
        }

        lock (_closing)
        {
            _disposed = true;
            foreach (var handle in _readHandles.Values)
            {
                handle.Dispose();
            }

            foreach (var handle in _writeHandles.Values)
            {
                handle.Dispose();
            }

            _readHandles.Clear();
            _writeHandles.Clear();

            // The queues stay undisposed: a callback that closed the device runs on one of its
            // threads, which still asks its queue for the next (and finds it completed).
            _files.Dispose();
        }
    }
}
