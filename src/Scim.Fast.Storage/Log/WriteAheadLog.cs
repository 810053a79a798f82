using System.Diagnostics.CodeAnalysis;

using FASTER.core;

using Scim.Fast.Storage.Kv;

namespace Scim.Fast.Storage.Log;

/// <summary>When an append counts as durable.</summary>
public enum DurabilityMode
{
    /// <summary>
    /// Group commit (the default): appends wait for a commit that one background loop issues for all
    /// pending appends at once, so many requests share one flush and none is acknowledged early.
    /// </summary>
    GroupCommit,

    /// <summary>Each append issues its own commit and waits for it. Simplest, slowest.</summary>
    PerAppend,

    /// <summary>
    /// Appends return once in the log's memory; a background loop commits every
    /// <see cref="WriteAheadLogOptions.RelaxedCommitInterval"/>. A crash may lose that window.
    /// Only for bulk loads that can be replayed.
    /// </summary>
    Relaxed,
}

/// <summary>Settings of the write-ahead log (see the Scim:Storage section of the server's defaults file).</summary>
public sealed record WriteAheadLogOptions
{
    public DurabilityMode Durability { get; init; } = DurabilityMode.GroupCommit;

    /// <summary>How often <see cref="DurabilityMode.Relaxed"/> commits. Default 50 ms.</summary>
    public TimeSpan RelaxedCommitInterval { get; init; } = TimeSpan.FromMilliseconds(50);

    /// <summary>Log page size as a power of two; a record must fit in a page. Default 22 (4 MiB).</summary>
    public int PageSizeBits { get; init; } = 22;

    /// <summary>Memory for the log's tail as a power of two. Default 26 (64 MiB).</summary>
    public int MemorySizeBits { get; init; } = 26;

    /// <summary>Size of each log file on disk as a power of two. Default 30 (1 GiB).</summary>
    public int SegmentSizeBits { get; init; } = 30;
}

/// <summary>
/// The write-ahead log every SCIM write goes through first (DESIGN-NOTES §2, §3): one record per
/// logical write, acknowledged only once durable. Built on FASTER's <see cref="FasterLog"/>, which
/// checksums each entry, so a torn write at the tail after a crash is detected and dropped rather
/// than replayed.
/// </summary>
public sealed class WriteAheadLog : IAsyncDisposable, IDisposable
{
    private readonly IDevice _device;
    private readonly DeviceLogCommitCheckpointManager _commits;
    private readonly FasterLog _log;
    private readonly WriteAheadLogOptions _options;
    private readonly SemaphoreSlim _pending = new(0);
    private readonly CancellationTokenSource _stop = new();
    private readonly Task? _committer;

    // Set when a commit fails: every waiting and later append fails instead of hanging.
    private readonly TaskCompletionSource _fault = new(TaskCreationOptions.RunContinuationsAsynchronously);

    // Appends and commits (in fast-commit mode a commit appends its own record) take this lock
    // while the log's memory pages are allocated in the background, so that none crosses into a
    // page being allocated; once all are, they skip it (see AllocatePagesAsync).
    private readonly Lock _pagesLock = new();
    private volatile bool _allocatingPages = true;
    private readonly Task _allocating;

    private WriteAheadLog(string directory, WriteAheadLogOptions options, Task allocatePagesAfter)
    {
        _options = options;
        Directory.CreateDirectory(directory);
        _device = LocalFileDevice.Open(Path.Combine(directory, "wal.log"));

        // FASTER's default commit manager writes a metadata file per commit even in fast-commit mode
        // (its throttle defaults to 0): an open, a synchronous write, a close and an unlink of the
        // previous file on every group commit, which at a few writes per commit (an identity provider
        // posting users one by one) cost more than the commit itself. With the throttle the file is
        // written every MetadataCommitInterval commits, and whenever the log's begin address moves
        // (FASTER forces it before deleting segments), so recovery always finds the segment to scan
        // forward from. Same directory and file names as the default: existing stores open as before.
        _commits = new DeviceLogCommitCheckpointManager(
            new LocalStorageNamedDeviceFactory(),
            new DefaultCheckpointNamingScheme(directory),
            removeOutdated: true,
            fastCommitThrottleFreq: MetadataCommitInterval);
        _log = new FasterLog(new FasterLogSettings
        {
            LogDevice = _device,
            LogCommitManager = _commits,
            PageSizeBits = options.PageSizeBits,
            MemorySizeBits = options.MemorySizeBits,
            SegmentSizeBits = options.SegmentSizeBits,
            LogChecksum = LogChecksumType.PerEntry,
            AutoRefreshSafeTailAddress = false,

            // A commit is a record in the log itself (one write and one fsync of the log file);
            // recovery scans forward from the last metadata commit to the last commit record.
            FastCommitMode = true,
        });

        // Every committed byte must be on disk: a segment cut short below the commit point that
        // recovery found would replay as fewer records than were acknowledged (SegmentFiles).
        string? missing = SegmentFiles.Missing(Path.Combine(directory, "wal.log"), 1L << options.SegmentSizeBits, 1L << options.PageSizeBits, _log.BeginAddress, _log.CommittedUntilAddress);
        if (missing is not null)
        {
            _log.Dispose();
            _commits.Dispose();
            _device.Dispose();
            throw new InvalidDataException("the write-ahead log is damaged: " + missing);
        }

        _allocating = AllocatePagesAsync(allocatePagesAfter);
        _committer = options.Durability switch
        {
            DurabilityMode.GroupCommit => Task.Run(GroupCommitLoopAsync),
            DurabilityMode.Relaxed => Task.Run(RelaxedCommitLoopAsync),
            _ => null,
        };
    }

    /// <summary>
    /// Commits between two metadata files (fast-commit mode). Recovery after a crash scans the log
    /// written since the last one, at most this many group commits (a /Bulk of 1,000 users is one
    /// commit of about 1 MB, so about 100 MB at most); checkpoints truncate the log and force a file.
    /// One file per 100 commits instead of one per commit is what the cost was.
    /// </summary>
    internal const int MetadataCommitInterval = 100;

    /// <summary>
    /// Largest record the log takes: an entry must fit in one page with its header. Larger records
    /// are refused by the store before they are logged (FASTER would throw at enqueue).
    /// </summary>
    public int MaxRecordBytes => (1 << _options.PageSizeBits) - 64;

    /// <summary>
    /// Opens (or recovers) the log in <paramref name="directory"/>. Its memory pages are allocated
    /// in the background once <paramref name="allocatePagesAfter"/> has completed (within Open if none):
    /// the store passes the end of its own open, so a restart's time to ready is not spent on them.
    /// </summary>
    public static WriteAheadLog Open(string directory, WriteAheadLogOptions? options = null, Task? allocatePagesAfter = null) =>
        new(directory, options ?? new WriteAheadLogOptions(), allocatePagesAfter ?? Task.CompletedTask);

    // The pages of the tail's memory (16 of 4 MiB by default), allocated ahead of the appends (see
    // LogPages: an append that allocated one kept the others spinning), one at a time under the
    // lock that appends and commits take meanwhile. About 16 ms a page on this project's machines.
    private async Task AllocatePagesAsync(Task after)
    {
        try
        {
            if (LogPages.Of(_log, "allocator") is { } pages)
            {
                await pages.AllocateAllAsync(after, allocate => { lock (_pagesLock) { allocate(); } }, _stop.Token).ConfigureAwait(false);
            }
        }
        finally
        {
            _allocatingPages = false;
        }
    }

    // FasterLog.EnqueueAsync: the append itself runs before it returns; only a full memory makes it
    // wait (for a flush), and then the pages are long allocated.
    private ValueTask<long> StartEnqueue(ReadOnlyMemory<byte> record, CancellationToken cancellationToken)
    {
        if (!_allocatingPages)
        {
            return _log.EnqueueAsync(record, cancellationToken);
        }

        lock (_pagesLock)
        {
            return _log.EnqueueAsync(record, cancellationToken);
        }
    }

    // FasterLog.CommitAsync appends the commit record before its first await.
    private ValueTask StartCommit(CancellationToken cancellationToken)
    {
        if (!_allocatingPages)
        {
            return _log.CommitAsync(cancellationToken);
        }

        lock (_pagesLock)
        {
            return _log.CommitAsync(cancellationToken);
        }
    }

    /// <summary>The address below which every record is durable.</summary>
    public long CommittedUntil => _log.CommittedUntilAddress;

    /// <summary>Bytes of log from its first record to its tail (what a checkpoint will truncate).</summary>
    public long Bytes => _log.TailAddress - _log.BeginAddress;

    /// <summary>The address of the first record still in the log.</summary>
    public long BeginAddress => _log.BeginAddress;

    // FASTER's first valid log address (Constants.kFirstValidAddress): where a log never truncated begins.
    private const long FirstRecordAddress = 64;

    /// <summary>Whether records were ever dropped from the log's start (a checkpoint made them redundant).</summary>
    public bool Truncated => _log.BeginAddress > FirstRecordAddress;

    /// <summary>
    /// Appends one record and returns its address once the record is durable (per
    /// <see cref="WriteAheadLogOptions.Durability"/>).
    /// </summary>
    public async ValueTask<long> AppendAsync(ReadOnlyMemory<byte> record, CancellationToken cancellationToken = default)
    {
        long address = await EnqueueAsync(record, cancellationToken).ConfigureAwait(false);

        // From here on the record will become durable whatever the caller does: waiting must not be
        // cancellable, or a caller could see a failure for a write that recovery later applies.
        await WaitForDurableAsync(address).ConfigureAwait(false);
        return address;
    }

    /// <summary>
    /// Puts one record in the log's memory and returns its address, without waiting for durability:
    /// callers that must order their in-memory effects like the log (the store, under its locks)
    /// enqueue under the lock, then call <see cref="WaitForDurableAsync"/> after releasing it. Log
    /// order is commit order, so a later record is never durable before an earlier one.
    /// </summary>
    public async ValueTask<long> EnqueueAsync(ReadOnlyMemory<byte> record, CancellationToken cancellationToken = default)
    {
        ThrowIfFaulted();
        return await StartEnqueue(record, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Puts a batch in the log's memory; returns the last record's address.</summary>
    public async ValueTask<long> EnqueueBatchAsync(IReadOnlyList<ReadOnlyMemory<byte>> records, CancellationToken cancellationToken = default)
    {
        ThrowIfFaulted();
        cancellationToken.ThrowIfCancellationRequested();
        long last = -1;
        foreach (var record in records)
        {
            last = await StartEnqueue(record, CancellationToken.None).ConfigureAwait(false);
        }

        return last;
    }

    /// <summary>Returns once the record at <paramref name="address"/> is durable (per the durability mode).</summary>
    public async ValueTask WaitForDurableAsync(long address)
    {
        if (address < 0)
        {
            return;
        }

        // Not cancellable: the record will become durable whatever the caller does.
        switch (_options.Durability)
        {
            case DurabilityMode.PerAppend:
                await WithFault(StartCommit(CancellationToken.None)).ConfigureAwait(false);
                await WithFault(_log.WaitForCommitAsync(address + 1, token: CancellationToken.None)).ConfigureAwait(false);
                break;
            case DurabilityMode.GroupCommit:
                _pending.Release();
                await WithFault(_log.WaitForCommitAsync(address + 1, token: CancellationToken.None)).ConfigureAwait(false);
                break;
        }
    }

    /// <summary>Appends a batch; returns once all of it is durable. One commit for the whole batch.</summary>
    public async ValueTask<long> AppendBatchAsync(IReadOnlyList<ReadOnlyMemory<byte>> records, CancellationToken cancellationToken = default)
    {
        ThrowIfFaulted();
        cancellationToken.ThrowIfCancellationRequested();
        long last = -1;
        foreach (var record in records)
        {
            last = await StartEnqueue(record, CancellationToken.None).ConfigureAwait(false);
        }

        if (last >= 0 && _options.Durability != DurabilityMode.Relaxed)
        {
            await WithFault(StartCommit(CancellationToken.None)).ConfigureAwait(false);
            await WithFault(_log.WaitForCommitAsync(last + 1, token: CancellationToken.None)).ConfigureAwait(false);
        }

        return last;
    }

    private void ThrowIfFaulted()
    {
        if (_fault.Task.IsFaulted)
        {
            throw new IOException("The write-ahead log failed to commit; restart to recover.", _fault.Task.Exception!.InnerException);
        }
    }

    // Waits for a commit, or fails at once if the commit loop has failed.
    private async Task WithFault(ValueTask commit)
    {
        var waiting = commit.AsTask();
        if (await Task.WhenAny(waiting, _fault.Task).ConfigureAwait(false) != waiting)
        {
            ThrowIfFaulted();
        }

        await waiting.ConfigureAwait(false);
    }

    /// <summary>
    /// Every committed record from <paramref name="fromAddress"/> on, in order (recovery replay).
    /// A committed record that fails its checksum throws <see cref="InvalidDataException"/>: the
    /// records after it were acknowledged, and replaying around the damage would lose them.
    /// </summary>
    public IEnumerable<(long Address, byte[] Record)> ReadCommitted(long fromAddress = 0)
    {
        long begin = Math.Max(fromAddress, _log.BeginAddress);
        using var iterator = _log.Scan(begin, _log.CommittedUntilAddress);
        long good = begin;
        while (true)
        {
            bool more;
            byte[] entry;
            int length;
            long address;
            try
            {
                more = iterator.GetNext(out entry, out length, out address);
            }
            catch (FasterException e) when (e.Message.StartsWith("Invalid checksum", StringComparison.Ordinal))
            {
                throw new InvalidDataException($"the write-ahead log is damaged: the record after address {good} fails its checksum (the log is committed up to {_log.CommittedUntilAddress})", e);
            }

            if (!more)
            {
                yield break;
            }

            good = address;
            yield return (address, length == entry.Length ? entry : entry.AsSpan(0, length).ToArray());
        }
    }

    /// <summary>
    /// An iterator over committed records from <paramref name="fromAddress"/> on that waits for more
    /// (the change feed's projector): GetNext until false, then WaitAsync.
    /// </summary>
    internal FasterLogScanIterator Follow(long fromAddress) =>
        _log.Scan(Math.Max(fromAddress, _log.BeginAddress), long.MaxValue, name: null, recover: false);

    /// <summary>Drops records below <paramref name="address"/> (after a checkpoint made them redundant).</summary>
    public void TruncateUntil(long address)
    {
        _log.TruncateUntil(address);
        if (!_allocatingPages)
        {
            _log.Commit();
            return;
        }

        lock (_pagesLock)
        {
            _log.Commit();
        }
    }

    // One commit for everything enqueued since the last: the group commit of DESIGN-NOTES §3.
    private async Task GroupCommitLoopAsync()
    {
        try
        {
            while (!_stop.IsCancellationRequested)
            {
                await _pending.WaitAsync(_stop.Token).ConfigureAwait(false);

                // Everyone who enqueued before this point is covered by the commit below.
                int writes = 1;
                while (_pending.CurrentCount > 0 && _pending.Wait(0))
                {
                    writes++;
                }

                long started = System.Diagnostics.Stopwatch.GetTimestamp();
                await StartCommit(_stop.Token).ConfigureAwait(false);
                StorageMetrics.RecordCommit(started, writes);
            }
        }
        catch (OperationCanceledException)
        {
        }
        catch (Exception e)
        {
            // A failed commit (a full or broken disk) must surface, not leave appenders waiting forever.
            _fault.TrySetException(e);
        }
    }

    private async Task RelaxedCommitLoopAsync()
    {
        try
        {
            while (!_stop.IsCancellationRequested)
            {
                await Task.Delay(_options.RelaxedCommitInterval, _stop.Token).ConfigureAwait(false);
                await StartCommit(_stop.Token).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException)
        {
        }
        catch (Exception e)
        {
            _fault.TrySetException(e);
        }
    }

    /// <summary>Commits what is pending, stops the commit loop and closes the files.</summary>
    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        await _allocating.ConfigureAwait(false);
        if (_committer is not null)
        {
            await _committer.ConfigureAwait(false);
        }

        await _log.CommitAsync().ConfigureAwait(false);
        Close();
    }

    public void Dispose()
    {
        _stop.Cancel();
        _allocating.GetAwaiter().GetResult();
        _committer?.GetAwaiter().GetResult();
        _log.Commit(spinWait: true);
        Close();
    }

    [SuppressMessage("Reliability", "CA2000", Justification = "Owned and disposed here.")]
    private void Close()
    {
        _log.Dispose();
        _commits.Dispose();
        _device.Dispose();
        _pending.Dispose();
        _stop.Dispose();
    }
}
