using System.Buffers;
using System.Buffers.Binary;

using FASTER.core;

namespace Scim.Fast.Storage.Kv;

/// <summary>Settings of the key-value store.</summary>
public sealed record FasterByteStoreOptions
{
    /// <summary>Memory for the in-memory part of the log; older records spill to disk. Default 256 MiB.</summary>
    public long MemoryBytes { get; init; } = 256L << 20;

    /// <summary>Memory for records read back from disk (FASTER's read cache, allocated as it fills); 0 turns it off. Default 1 GiB.</summary>
    public long ReadCacheBytes { get; init; } = 1L << 30;

    /// <summary>Log page size. Default 1 MiB; a record must fit in a page.</summary>
    public long PageBytes { get; init; } = 1L << 20;

    /// <summary>Size of one log segment file. Default 1 GiB (tests make it small to cross segments).</summary>
    public long SegmentBytes { get; init; } = 1L << 30;

    /// <summary>Hash index size in bytes (64 bytes per bucket of 8 entries). Default 64 MiB.</summary>
    public long IndexBytes { get; init; } = 64L << 20;
}

/// <summary>
/// The narrow storage waist (STYLE.md, "Garnet"): read, upsert and delete of byte keys and byte
/// values on FASTER's <see cref="FasterKV{Key, Value}"/> with <see cref="SpanByte"/> keys and values
/// (no object log), larger than memory, with fold-over checkpoints. Nothing above this class sees a
/// FASTER type. Sessions are pooled (<see cref="FasterSessions"/>): FASTER sessions are
/// single-threaded, requests are not.
/// </summary>
public sealed partial class FasterByteStore : IDisposable
{
    private readonly LocalFileDevice _device;
    private readonly FasterKV<SpanByte, SpanByte> _store;
    private readonly FasterSessions _sessions;
    private readonly long _pageBytes;
    private long _pendingReads;
    private long _blockingReads;

    // Writes of one key never run concurrently. FASTER 2.6.5 lets two sessions upsert the same key
    // at once, but the loser's record is left in the log in a shape its scan iterator cannot size:
    // a scan then skips the rest of that page (live keys went missing from ScanAll, and with it from
    // rebuilds and Verify) or reads garbage and crashes the process with an access violation
    // (FasterByteStoreTests.ConcurrentWritesOfOneKey_…). The store's own stripes already order most
    // writes of a key; this also covers shared keys (markers, the feed's heads) written outside them.
    private readonly object[] _writeStripes = CreateWriteStripes();

    // The background allocation of the in-memory log's pages (AllocatePagesInBackground).
    private readonly CancellationTokenSource _stopAllocating = new();
    private Task _allocating = Task.CompletedTask;

    // FASTER 2.6.5's message when no checkpoint in the directory is valid (FindRecoveryInfo).
    private const string NoValidCheckpoint = "Unable to find valid HybridLog token";

    // ... and when a segment file of the recovered log is gone: "Unable to set first (or last)
    // valid segment to N, first (last) available segment on disk is M" (RecoveryReset).
    private static bool IsSegmentMissing(FasterException e) =>
        e.Message.StartsWith("Unable to set ", StringComparison.Ordinal) && e.Message.Contains(" valid segment", StringComparison.Ordinal);

    // An index checkpoint was taken and the log checkpoint after it has not completed yet.
    private bool _indexAheadOfLog;

    public FasterByteStore(string directory, FasterByteStoreOptions? options = null)
    {
        options ??= new FasterByteStoreOptions();
        Directory.CreateDirectory(directory);
        _pageBytes = options.PageBytes;
        // FASTER's managed file device on every OS (see LocalFileDevice): writes O_SYNC (checkpoints
        // rely on them), reads through the OS page cache (.NET has no O_DIRECT on Linux).
        _device = LocalFileDevice.Open(Path.Combine(directory, "kv.log"));
        _store = new FasterKV<SpanByte, SpanByte>(new FasterKVSettings<SpanByte, SpanByte>
        {
            IndexSize = options.IndexBytes,
            LogDevice = _device,
            MemorySize = options.MemoryBytes,
            PageSize = options.PageBytes,
            SegmentSize = options.SegmentBytes,
            CheckpointDir = Path.Combine(directory, "checkpoints"),
            // Recovered below, without preloading (TryRecoverLatest would read the whole in-memory
            // part of the log back).
            TryRecoverLatest = false,
            RemoveOutdatedCheckpoints = true,

            // Records evicted to disk and read again (a user's group list, a member page) come back
            // through a read cache instead of a synchronous disk read every time.
            ReadCacheEnabled = options.ReadCacheBytes > 0,
            ReadCacheMemorySize = Math.Max(options.ReadCacheBytes, options.PageBytes * 2),
            ReadCachePageSize = options.PageBytes,
        });
        // What TryRecoverLatest does (the latest checkpoint, if any; none is no error), but with no
        // pages preloaded past what recovery itself must read: the records that were in memory are
        // read back from the log when first asked for (the read cache keeps them then). Preloading
        // the whole in-memory budget took half of a restart: with 1,000,000 users, key-value
        // recovery 3.1-3.2 s preloading, 1.5-1.8 s without; ready 4.1-4.2 s against 2.9-3.1 s
        // (README, "Restart"; issue 14's target is 3 s).
        //
        // No valid checkpoint (a new store, or a crash before the first checkpoint completed:
        // FASTER skips checkpoints it cannot read) starts empty, and the write-ahead log replays
        // into it. Any other failure stops the open: TryRecoverLatest swallowed those too, and a
        // store opened empty over a checkpoint it failed to read would serve without the data
        // the checkpoint holds (the log before it is truncated).
        //
        // The log the checkpoint recovered, from its begin address to its tail, must be on disk
        // whole: FASTER's recovery notices a segment file gone, not one cut short, whose records
        // then read as not there (SegmentFiles).
        try
        {
            _store.Recover(numPagesToPreload: 0);
            string? missing = SegmentFiles.Missing(Path.Combine(directory, "kv.log"), options.SegmentBytes, options.PageBytes, _store.Log.BeginAddress, _store.Log.TailAddress);
            if (missing is not null)
            {
                throw new InvalidDataException("the key-value log is damaged: " + missing);
            }
        }
        catch (FasterException e) when (e.Message == NoValidCheckpoint)
        {
        }
        catch (Exception e)
        {
            _store.Dispose();
            _device.Dispose();
            if (e is FasterException faster && IsSegmentMissing(faster))
            {
                throw new InvalidDataException("the key-value log is damaged: " + e.Message, e);
            }

            throw;
        }

        _sessions = new FasterSessions(() => _store.For(new SpanByteFunctions<Empty>()).NewSession<SpanByteFunctions<Empty>>());
    }

    /// <summary>Tests: holds the key-value log's disk reads back until the scope ends (<see cref="LocalFileDevice.HoldReads"/>).</summary>
    internal IDisposable HoldReads() => _device.HoldReads();

    /// <summary>Reads a value; records on disk are fetched synchronously (CompletePending with wait).</summary>
    public bool TryRead(ReadOnlySpan<byte> key, out byte[] value)
    {
        if (!TryReadOutput(key, out var output))
        {
            value = [];
            return false;
        }

        value = Copy(ref output);
        return true;
    }

    /// <summary>
    /// Reads a value into <paramref name="destination"/> (a reused or pooled buffer): no array per
    /// read, for the hot read path. FASTER copies the value straight into the room the destination
    /// offers (pinned for the read) when it fits: no pooled buffer, one copy.
    /// </summary>
    public unsafe bool TryRead(ReadOnlySpan<byte> key, IBufferWriter<byte> destination)
    {
        var room = destination.GetSpan(4096);
        fixed (byte* roomPointer = room)
        {
            var output = new SpanByteAndMemory(roomPointer, room.Length);
            if (!TryReadInto(key, ref output))
            {
                return false;
            }

            CommitOutput(ref output, destination);
            return true;
        }
    }

    /// <summary>
    /// <see cref="TryRead(ReadOnlySpan{byte}, IBufferWriter{byte})"/> for request threads: a value in
    /// memory or the read cache is read at once (the returned task is already complete, nothing is
    /// allocated); a value on disk costs a pending I/O awaited asynchronously, not a blocked thread.
    /// The destination's buffer stays pinned until the read completes: the caller must not touch it
    /// before then.
    /// </summary>
    public unsafe ValueTask<bool> TryReadAsync(ReadOnlyMemory<byte> key, ArrayBufferWriter<byte> destination, int sizeHint = 4096)
    {
        var lease = _sessions.Rent();
        lease.CountRead();
        var room = destination.GetMemory(sizeHint);
        var roomPin = room.Pin();
        var keyPin = key.Pin();
        bool pending = false;
        try
        {
            // FASTER copies the value into the pinned room, now or when a pending read completes.
            var output = new SpanByteAndMemory((byte*)roomPin.Pointer, room.Length);
            var spanKey = new SpanByte(key.Length, (IntPtr)keyPin.Pointer);
            var status = lease.Session.Read(ref spanKey, ref output);
            if (status.IsPending)
            {
                Interlocked.Increment(ref _pendingReads);
                pending = true;
                return CompleteReadAsync(lease, roomPin, keyPin, destination);
            }

            return new ValueTask<bool>(Deliver(status, ref output, destination));
        }
        finally
        {
            if (!pending)
            {
                roomPin.Dispose();
                keyPin.Dispose();
                _sessions.Return(lease);
            }
        }
    }

    private async ValueTask<bool> CompleteReadAsync(FasterSessions.Slot lease, MemoryHandle roomPin, MemoryHandle keyPin, ArrayBufferWriter<byte> destination)
    {
        try
        {
            // The session stays with this read until its I/O completes (a FASTER session is one
            // operation at a time); other requests take other sessions meanwhile.
            using var outputs = await lease.Session.CompletePendingWithOutputsAsync().ConfigureAwait(false);
            if (!outputs.Next())
            {
                return false;
            }

            var output = outputs.Current.Output;
            return Deliver(outputs.Current.Status, ref output, destination);
        }
        finally
        {
            roomPin.Dispose();
            keyPin.Dispose();
            _sessions.Return(lease);
        }
    }

    private static bool Deliver(Status status, ref SpanByteAndMemory output, ArrayBufferWriter<byte> destination)
    {
        if (!status.Found)
        {
            output.Memory?.Dispose();
            return false;
        }

        CommitOutput(ref output, destination);
        return true;
    }

    // Commits a read's value to the destination: in place when FASTER wrote it into the room offered,
    // else copied out of the pooled buffer FASTER allocated for a value larger than the room.
    private static void CommitOutput(ref SpanByteAndMemory output, IBufferWriter<byte> destination)
    {
        if (output.IsSpanByte)
        {
            destination.Advance(output.Length);
            return;
        }

        using var memory = output.Memory;
        destination.Write(memory.Memory.Span[..output.Length]);
    }

    /// <summary>Whether a key is present (the value is read and dropped, never copied out).</summary>
    public bool Contains(ReadOnlySpan<byte> key)
    {
        if (!TryReadOutput(key, out var output))
        {
            return false;
        }

        output.Memory?.Dispose();
        return true;
    }

    private bool TryReadOutput(ReadOnlySpan<byte> key, out SpanByteAndMemory output)
    {
        output = default;
        return TryReadInto(key, ref output);
    }

    // output: where FASTER copies the value (a pinned span it fits in, or default: a pooled buffer).
    private unsafe bool TryReadInto(ReadOnlySpan<byte> key, ref SpanByteAndMemory output)
    {
        var lease = _sessions.Rent();
        var session = lease.Session;
        lease.CountRead();
        try
        {
            fixed (byte* keyPointer = key)
            {
                var spanKey = new SpanByte(key.Length, (IntPtr)keyPointer);
                var status = session.Read(ref spanKey, ref output);
                if (status.IsPending)
                {
                    Interlocked.Increment(ref _pendingReads);
                    Interlocked.Increment(ref _blockingReads);
                    session.CompletePendingWithOutputs(out var outputs, wait: true);
                    using (outputs)
                    {
                        outputs.Next();
                        status = outputs.Current.Status;
                        output = outputs.Current.Output;
                    }
                }

                if (!status.Found)
                {
                    output.Memory?.Dispose();
                    output = default;
                    return false;
                }

                return true;
            }
        }
        finally
        {
            _sessions.Return(lease);
        }
    }

    public unsafe void Upsert(ReadOnlySpan<byte> key, ReadOnlySpan<byte> value)
    {
        var lease = _sessions.Rent();
        var session = lease.Session;
        var stripe = WriteStripe(key);
        Monitor.Enter(stripe);
        try
        {
            fixed (byte* keyPointer = key, valuePointer = value)
            {
                var spanKey = new SpanByte(key.Length, (IntPtr)keyPointer);
                var spanValue = new SpanByte(value.Length, (IntPtr)valuePointer);
                var status = session.Upsert(ref spanKey, ref spanValue);
                if (status.IsPending)
                {
                    session.CompletePending(wait: true);
                }
            }
        }
        finally
        {
            Monitor.Exit(stripe);
            _sessions.Return(lease);
        }
    }

    private static object[] CreateWriteStripes()
    {
        var stripes = new object[256];
        for (int i = 0; i < stripes.Length; i++)
        {
            stripes[i] = new object();
        }

        return stripes;
    }

    private object WriteStripe(ReadOnlySpan<byte> key)
    {
        var hash = new HashCode();
        hash.AddBytes(key);
        return _writeStripes[hash.ToHashCode() & (_writeStripes.Length - 1)];
    }

    /// <summary>Deletes the key (a tombstone; deleting a missing key is not an error).</summary>
    public unsafe void Delete(ReadOnlySpan<byte> key)
    {
        var lease = _sessions.Rent();
        var session = lease.Session;
        var stripe = WriteStripe(key);
        Monitor.Enter(stripe);
        try
        {
            fixed (byte* keyPointer = key)
            {
                var spanKey = new SpanByte(key.Length, (IntPtr)keyPointer);
                var status = session.Delete(ref spanKey);
                if (status.IsPending)
                {
                    session.CompletePending(wait: true);
                }
            }
        }
        finally
        {
            Monitor.Exit(stripe);
            _sessions.Return(lease);
        }
    }

    /// <summary>
    /// A checkpoint of the index and a fold-over checkpoint of the log: reopening recovers this
    /// state. Taken in the background by the store, never on the request path (DESIGN-NOTES §3).
    /// </summary>
    public async Task CheckpointAsync(CancellationToken cancellationToken = default)
    {
        await CheckpointIndexAsync(cancellationToken).ConfigureAwait(false);
        await (await BeginCheckpointAsync(cancellationToken).ConfigureAwait(false)).ConfigureAwait(false);
    }

    /// <summary>
    /// Writes the hash index to disk while operations go on (fuzzy: recovery replays the log from
    /// where this began to bring it up to date with the next log checkpoint). Taken right before
    /// <see cref="BeginCheckpointAsync"/> instead of inside it, because FASTER writes the index
    /// synchronously (about 0.15 s for a 128 MiB index), and that write would otherwise fall
    /// inside the store's pause. FASTER keeps the last two index and log checkpoints, and recovery
    /// takes the newest index checkpoint that fits the newest log checkpoint, so a crash between
    /// the two recovers from the pair before.
    /// </summary>
    public async Task CheckpointIndexAsync(CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();

        // Never two index checkpoints without a log checkpoint between them: FASTER keeps two of
        // each, and two newer index checkpoints would leave the newest log checkpoint without one
        // that fits it (recovery would then rebuild the index from the whole log).
        if (_indexAheadOfLog)
        {
            return;
        }

        var checkpoint = Task.Run(() => _store.TakeIndexCheckpointAsync(CancellationToken.None).AsTask(), CancellationToken.None);
        await CompleteCheckpointAsync(checkpoint).ConfigureAwait(false);
        _indexAheadOfLog = true;
    }


    /// <summary>
    /// Starts a fold-over checkpoint of the log and returns once it has cut its version: every
    /// session has moved past it, so the checkpoint holds exactly the operations that completed
    /// before this call and none that start after it returns. The returned task is the rest (the
    /// flush), during which operations may go on: FASTER's concurrent prefix recovery (CPR) keeps
    /// them out of the checkpoint. Only one checkpoint at a time; an index checkpoint
    /// (<see cref="CheckpointIndexAsync"/>) must have been taken before the first.
    /// </summary>
    public async Task<Task> BeginCheckpointAsync(CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        long version = _store.CurrentVersion;

        // Once started, a checkpoint runs to its end: abandoning the wait would let writers resume
        // while FASTER is still cutting the checkpoint.
        var checkpoint = _store.TakeHybridLogCheckpointAsync(CheckpointType.FoldOver, tryIncremental: false, CancellationToken.None).AsTask();

        // A checkpoint advances only when every session has seen its phases; a session idle in the
        // pool never would, and meanwhile busy sessions wait on it (a first checkpoint after start
        // stalled reads and writes for 15 s). So idle sessions are refreshed until it completes.
        // The cut: the state machine leaves IN_PROGRESS (the first phase of version + 1) only once
        // every active session has entered it; a session resuming later refreshes into the new
        // version before its operation runs.
        await RefreshIdleUntilAsync(checkpoint, () => HasCut(_store.SystemState, version)).ConfigureAwait(false);
        return CompleteLogCheckpointAsync(checkpoint);
    }

    private async Task CompleteLogCheckpointAsync(Task<(bool Success, Guid Token)> checkpoint)
    {
        var hooked = BeforeCheckpointCompletes?.Invoke() ?? Task.CompletedTask;
        await CompleteCheckpointAsync(checkpoint).ConfigureAwait(false);
        await hooked.ConfigureAwait(false);
        _indexAheadOfLog = false;
    }

    // Past IN_PROGRESS in the new version (an intermediate state on the way into IN_PROGRESS counts
    // as IN_PROGRESS: FASTER marks a transition in progress with the INTERMEDIATE flag).
    private static bool HasCut(SystemState state, long version) =>
        state.Version > version && (state.Phase & ~Phase.INTERMEDIATE) != Phase.IN_PROGRESS;

    // Tests: starts after the cut; the checkpoint does not complete before it has.
    internal Func<Task>? BeforeCheckpointCompletes { get; set; }

    private async Task CompleteCheckpointAsync(Task<(bool Success, Guid Token)> checkpoint)
    {
        await RefreshIdleUntilAsync(checkpoint, until: null).ConfigureAwait(false);
        var (success, _) = await checkpoint.ConfigureAwait(false);
        if (!success)
        {
            throw new InvalidOperationException("A checkpoint is already in progress.");
        }
    }

    // Refreshes idle sessions every millisecond until the checkpoint completes (or, with until, a
    // phase of it is reached).
    private async Task RefreshIdleUntilAsync(Task checkpoint, Func<bool>? until)
    {
        while (!checkpoint.IsCompleted && until?.Invoke() != true)
        {
            _sessions.RefreshIdle();
            await Task.WhenAny(checkpoint, Task.Delay(1, CancellationToken.None)).ConfigureAwait(false);
        }
    }

    /// <summary>Reads since the store opened.</summary>
    public long Reads => _sessions.Reads;

    /// <summary>Reads that went to disk (missed memory and the read cache) since the store opened.</summary>
    public long PendingReads => Interlocked.Read(ref _pendingReads);

    /// <summary>Of <see cref="PendingReads"/>, those whose thread waited for the disk (the synchronous read paths).</summary>
    public long BlockingReads => Interlocked.Read(ref _blockingReads);

    /// <summary>FASTER sessions open now (the pooled ones and the spares kept after a burst).</summary>
    internal int SessionCount => _sessions.Count;

    /// <summary>Number of records the hash index knows (live and deleted).</summary>
    public long EntryCount => _store.EntryCount;

    /// <summary>
    /// Allocates the in-memory log's pages that FASTER has not allocated yet, in the background
    /// once <paramref name="after"/> has completed (the open's own work first: a restart's time
    /// to ready is not spent on it). One page at a time, each while every write stripe is held,
    /// since FASTER allocates a page only in a write crossing into it and every write here holds a
    /// stripe (Upsert, Delete): writes wait for one page at most, about 4 ms per MiB (see
    /// <see cref="LogPages"/> for why pages are allocated ahead at all).
    /// </summary>
    public void AllocatePagesInBackground(Task after)
    {
        if (LogPages.Of(_store, "hlog") is not { } pages)
        {
            return;
        }

        var stop = _stopAllocating.Token;
        _allocating = Task.Run(() => pages.AllocateAllAsync(after, WithNoWriteRunning, stop), CancellationToken.None);
    }

    private void WithNoWriteRunning(Action action)
    {
        foreach (object stripe in _writeStripes)
        {
            Monitor.Enter(stripe);
        }

        try
        {
            action();
        }
        finally
        {
            foreach (object stripe in _writeStripes)
            {
                Monitor.Exit(stripe);
            }
        }
    }

    /// <summary>Completes when the background allocation of pages has ended (tests).</summary>
    internal Task PagesAllocated => _allocating;

    public void Dispose()
    {
        _stopAllocating.Cancel();
        _allocating.GetAwaiter().GetResult();
        _stopAllocating.Dispose();
        _sessions.Dispose();
        _store.Dispose();
        _device.Dispose();
    }

    private static byte[] Copy(ref SpanByteAndMemory output)
    {
        if (output.IsSpanByte)
        {
            return output.SpanByte.AsReadOnlySpan().ToArray();
        }

        using var memory = output.Memory;
        return memory.Memory.Span[..output.Length].ToArray();
    }
}
