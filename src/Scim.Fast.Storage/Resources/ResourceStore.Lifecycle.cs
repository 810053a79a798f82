using System.Buffers.Binary;

using Scim.Fast.Storage.Kv;
using Scim.Fast.Storage.Log;

namespace Scim.Fast.Storage.Resources;

/// <summary>Opening (recovery: checkpoint, log replay, ordered indexes), checkpoints and shutdown.</summary>
public sealed partial class ResourceStore
{
    // Why a store on disk cannot be opened without losing what it held: the open stops instead.
    private static InvalidDataException Unrecoverable(string directory, string why, Exception? inner = null) =>
        new($"The store in {directory} cannot be recovered: {why}. Restore the data directory from a backup or a tenant export.", inner);

    /// <summary>Opens the store in <paramref name="directory"/>, recovering checkpoint + log.</summary>
    public static ResourceStore Open(string directory, ResourceStoreOptions? options = null)
    {
        options ??= new ResourceStoreOptions();
        var timings = new System.Text.StringBuilder();
        long phase = System.Diagnostics.Stopwatch.GetTimestamp();
        void Time(string name)
        {
            timings.Append(timings.Length == 0 ? "" : ", ").Append(name).Append(' ')
                .Append(System.Diagnostics.Stopwatch.GetElapsedTime(phase).TotalMilliseconds.ToString("0", System.Globalization.CultureInfo.InvariantCulture)).Append(" ms");
            phase = System.Diagnostics.Stopwatch.GetTimestamp();
        }

        bool isNew = !Directory.Exists(Path.Combine(directory, "kv"));
        var directoryLock = Lock(directory);
        bool lookupIndexesComplete;
        FasterByteStore kv;
        Task<(long Mark, Dictionary<(uint, byte, byte), CountedTree>? Trees)?>? preload = null;
        try
        {
            lookupIndexesComplete = MarkLookupIndexes(directory);
            // The ordered-index snapshot is read meanwhile (restart time: DESIGN-NOTES §1).
            preload = OrderedIndex.Preload(Path.Combine(directory, "ordered.snapshot"));
            kv = new FasterByteStore(Path.Combine(directory, "kv"), options.KeyValue);
        }
        catch (InvalidDataException e)
        {
            directoryLock.Dispose();
            throw Unrecoverable(directory, e.Message, e);
        }
        catch
        {
            directoryLock.Dispose();
            throw;
        }

        Time("key-value recovery");
        WriteAheadLog? log = null;
        ResourceStore? opened = null;

        // The memory pages of the log and the key-value store are allocated ahead of the writes
        // (LogPages), in the background once the open and the ordered indexes' load are done
        // (and the caller's AllocatePagesAfter).
        var opening = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        try
        {
            try
            {
                log = WriteAheadLog.Open(Path.Combine(directory, "wal"), options.Log, allocatePagesAfter: opening.Task);
            }
            catch (InvalidDataException e)
            {
                throw Unrecoverable(directory, e.Message, e);
            }

            var store = opened = new ResourceStore(kv, log) { LookupIndexesComplete = lookupIndexesComplete, IsNew = isNew, _lock = directoryLock };
            Time("log recovery");

            // The ordered indexes live in memory: rebuild them from the checkpointed resources (only
            // if ordered keys were ever written: the rebuild reads every resource), then replay keeps
            // them current like every other index.
            long replayFrom = kv.TryRead(s_replayFromKey, out var mark) ? BinaryPrimitives.ReadInt64LittleEndian(mark) : 0;

            // A checkpoint truncates the log only up to its own mark (CheckpointAsync), so replay
            // never starts before the log does. It would when the key-value store did not recover
            // the checkpoint that allowed the truncation (its files lost or damaged: FASTER then
            // opens empty, without an error): what the two held is gone, and serving would lose it
            // silently. And the mark is a committed address, so it never lies past the log's end,
            // unless the log lost its own files (new writes would then take addresses below the
            // mark, and the next restart's replay would skip them). Stop instead; the operator
            // restores from a backup or export.
            if (log.Truncated && replayFrom < log.BeginAddress)
            {
                throw Unrecoverable(directory, $"its write-ahead log starts at {log.BeginAddress}, after a checkpoint, but the key-value store "
                    + (replayFrom == 0 ? "recovered no checkpoint" : $"recovered a checkpoint from {replayFrom}")
                    + " (its files under kv/ are missing or damaged)");
            }

            if (replayFrom > log.CommittedUntil)
            {
                throw Unrecoverable(directory, $"its key-value checkpoint replays from {replayFrom}, past the end of its write-ahead log ({log.CommittedUntil}): "
                    + "the log's files under wal/ are missing or damaged");
            }

            store._snapshotPath = Path.Combine(directory, "ordered.snapshot");
            if (kv.TryRead(s_orderedInUseKey, out _))
            {
                // The snapshot saved with the last checkpoint, if it is that checkpoint's; else a
                // rebuild that reads every resource back (slow: seconds per hundred thousand).
                store._orderedInUse = true;
                store.OrderedIndexesFromSnapshot = replayFrom != 0 && OrderedIndex.SnapshotMatches(store._snapshotPath, replayFrom);
                if (!store.OrderedIndexesFromSnapshot)
                {
                    preload = null;   // not this checkpoint's: its trees are garbage once read
                }
                if (store.OrderedIndexesFromSnapshot)
                {
                    // Loaded in the background; replay below queues its changes behind the load.
                    store._ordered.LoadInBackground(store._snapshotPath, replayFrom, () => RebuildEntries(kv), preload);
                }
                else
                {
                    foreach (var (_, value) in kv.ScanAll(ResourcePrefix))
                    {
                        store.AddSortKeys(ResourceRecord.Decode(value));
                    }
                }

                Time(store.OrderedIndexesFromSnapshot ? "ordered indexes loading in the background" : "ordered indexes rebuilt");
            }

            int replayed = 0;

            try
            {
                foreach (var (_, bytes) in log.ReadCommitted(replayFrom))
                {
                    store.Replay(bytes);
                    replayed++;
                }
            }
            catch (InvalidDataException e)
            {
                throw Unrecoverable(directory, e.Message, e);
            }

            Time($"replay of {replayed} log records");

            // The change feed's projector picks up where the last checkpoint left it.
            store.Feed.Start(directory);

            _ = Task.WhenAll(store._ordered.Loading, options.AllocatePagesAfter ?? Task.CompletedTask)
                .ContinueWith(_ => opening.TrySetResult(), CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default);
            kv.AllocatePagesInBackground(opening.Task);
            store.OpenTimings = timings.ToString();
            return store;
        }
        catch
        {
            // A background load may still be reading the key-value store: let it end first.
            try
            {
                opened?._ordered.WaitUntilLoaded();
            }
            catch (InvalidOperationException)
            {
            }

            log?.Dispose();
            kv.Dispose();
            directoryLock.Dispose();
            throw;
        }
    }

    // One process per store: a second one (another server, or the scim-fast tool on a server's
    // directory) would recover, checkpoint and truncate the log under the first. An exclusive lock
    // on a file in the directory (flock on Linux), released by the OS when the process dies.
    private static FileStream Lock(string directory)
    {
        Directory.CreateDirectory(directory);
        try
        {
            return new FileStream(Path.Combine(directory, "store.lock"), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException e)
        {
            throw new IOException($"The store in {directory} is open in another process (a running server?); stop it first.", e);
        }
    }

    // A new store (no key-value data yet) gets the marker before anything is written; a store without
    // it was written by a version without lookup indexes.
    private static bool MarkLookupIndexes(string directory)
    {
        string marker = Path.Combine(directory, LookupIndexesMarker);
        if (File.Exists(marker))
        {
            return true;
        }

        if (Directory.Exists(Path.Combine(directory, "kv")))
        {
            return false;
        }

        Directory.CreateDirectory(directory);
        using (var file = new FileStream(marker, FileMode.Create, FileAccess.Write))
        {
            file.Write("1"u8);
            file.Flush(flushToDisk: true);
        }

        return true;
    }

    private static IEnumerable<(uint Tenant, byte Type, byte Index, string Key, string Id)> RebuildEntries(FasterByteStore kv)
    {
        foreach (var (_, value) in kv.ScanAll(ResourcePrefix))
        {
            var record = ResourceRecord.Decode(value);
            foreach (var entry in record.IndexEntries ?? [])
            {
                if (!entry.IsLookup)
                {
                    yield return (record.Tenant.Value, record.Type, entry.Index, entry.Key, record.Id);
                }
            }
        }
    }

    /// <summary>
    /// Checkpoints the key-value store so recovery replays only the log after this point. Writes
    /// pause only while in-flight writes drain and FASTER cuts the checkpoint's version; the index
    /// checkpoint before it, the flush to disk and the ordered-index snapshot run while writes go on.
    /// </summary>
    public async Task CheckpointAsync(CancellationToken cancellationToken = default)
    {
        // One at a time, and none while a backup copies the files (HoldCheckpointsAsync).
        await _checkpointGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await CheckpointLockedAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _checkpointGate.Release();
        }
    }

    /// <summary>How long the last checkpoint held writes back (drain and cut, not the flush).</summary>
    public TimeSpan LastCheckpointPause { get; private set; }

    // Tests: the key-value store under this one (its checkpoint hook).
    internal FasterByteStore KeyValue => _kv;

    /// <summary>
    /// Holds checkpoints, and with them log truncation, until disposed: the files a checkpoint
    /// rewrites or deletes (key-value checkpoints, the ordered-index snapshot, log segments) stay as
    /// they are while an online backup copies them. Writes go on: the key-value log is only appended
    /// past the last checkpoint, and the write-ahead log keeps everything after its mark.
    /// </summary>
    public async Task<IDisposable> HoldCheckpointsAsync(CancellationToken cancellationToken = default)
    {
        await _checkpointGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        return new Releaser(_checkpointGate);
    }

    private sealed class Releaser(SemaphoreSlim gate) : IDisposable
    {
        private int _released;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _released, 1) == 0)
            {
                gate.Release();
            }
        }
    }

    private async Task CheckpointLockedAsync(CancellationToken cancellationToken)
    {
        long started = System.Diagnostics.Stopwatch.GetTimestamp();

        // The key-value store's hash index first, while writes go on (FASTER brings a fuzzy index
        // up to date at recovery by replaying its log from where the index checkpoint began).
        await _kv.CheckpointIndexAsync(cancellationToken).ConfigureAwait(false);
        long paused = System.Diagnostics.Stopwatch.GetTimestamp();
        Task drained = PauseWrites();
        long committed;
        long keepFrom;
        bool ordered;
        Task flush;
        try
        {
            await drained.WaitAsync(cancellationToken).ConfigureAwait(false);

            // A stopped store holds in-memory state recovery would not produce: never checkpoint it.
            ThrowIfStopped();

            // Every record below this address is applied, and nothing after it is: replay starts
            // here. Replay re-derives index changes from the stored record before it (Apply), so the
            // checkpoint must hold exactly the state the mark describes; a cut in the middle of an
            // Apply would make replay unsafe. Writers therefore stay paused until FASTER has cut
            // the checkpoint's version (CPR): every operation before the cut is in it, none after.
            committed = _log.CommittedUntil;

            // The change feed's projector is paused like a writer: its position is what this
            // checkpoint holds of it, and the log it has not projected yet must stay.
            keepFrom = Math.Min(committed, Feed.Position);
            var mark = new byte[8];
            BinaryPrimitives.WriteInt64LittleEndian(mark, committed);
            _kv.Upsert(s_replayFromKey, mark);

            // Whether the checkpoint holds ordered keys (a write after the cut may add the first).
            ordered = _orderedInUse;
            flush = await _kv.BeginCheckpointAsync(CancellationToken.None).ConfigureAwait(false);
        }
        finally
        {
            ResumeWrites();
            LastCheckpointPause = System.Diagnostics.Stopwatch.GetElapsedTime(paused);
            StorageMetrics.RecordCheckpointPause(paused);
        }

        await flush.ConfigureAwait(false);

        // The ordered indexes, saved while writes go on, headed by the mark: a restart loads them
        // and the replay from the mark moves what changed meanwhile (a fuzzy snapshot: see
        // OrderedIndex.Save). Saved once the checkpoint is on disk, so a crash finds the two
        // marks different (and rebuilds the indexes instead) only while this save runs.
        if (ordered)
        {
            await Task.Run(() => _ordered.Save(_snapshotPath, committed), CancellationToken.None).ConfigureAwait(false);
        }

        // Recovery now starts at the mark: the log before it is no longer needed (its segments
        // are deleted once the truncation is committed; until then replay simply skips them).
        _log.TruncateUntil(keepFrom);
        StorageMetrics.RecordCheckpoint(started);
    }

    // Stops new writes (they wait in EnterWriteAsync) and returns when the writes in flight ended.
    private Task PauseWrites()
    {
        lock (_gate)
        {
            if (_paused is not null)
            {
                throw new InvalidOperationException("A checkpoint is already being taken.");
            }

            _paused = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _drained = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            if (_activeWriters == 0)
            {
                _drained.TrySetResult();
            }

            return _drained.Task;
        }
    }

    private void ResumeWrites()
    {
        TaskCompletionSource paused;
        lock (_gate)
        {
            paused = _paused!;
            _paused = null;
            _drained = null;
        }

        paused.SetResult();
    }

    public async ValueTask DisposeAsync()
    {
        // The projector first: it enters like a writer, and the pause below would hold it forever.
        // What it has not projected stays in the log for the next open.
        await Feed.StopAsync().ConfigureAwait(false);

        // A background load of the ordered indexes may still be reading: let it finish first.
        try
        {
            _ordered.WaitUntilLoaded();
        }
        catch (InvalidOperationException)
        {
            // It failed; nothing is reading any more.
        }

        // Let in-flight writes finish before the log and the key-value store close under them.
        Task drained;
        lock (_gate)
        {
            _paused ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _drained = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            if (_activeWriters == 0)
            {
                _drained.TrySetResult();
            }

            drained = _drained.Task;
        }

        await drained.ConfigureAwait(false);
        await _log.DisposeAsync().ConfigureAwait(false);
        _kv.Dispose();
        foreach (var stripe in _stripes)
        {
            stripe.Dispose();
        }

        _lock?.Dispose();
    }
}
