using System.Collections.Concurrent;
using System.Text;
using System.Text.Json.Nodes;

using Microsoft.Extensions.Logging;

using Scim.Fast.Storage.Feed;
using Scim.Fast.Storage.Resources;

namespace Scim.Fast.Events;

/// <summary>Settings of SCIM events (the Scim:Events section).</summary>
public sealed class EventOptions
{
    /// <summary>Whether writes record their change and streams may be created. Default true.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>How long the change feed keeps entries (a reader further behind must resync). Default 14 days.</summary>
    public double RetentionDays { get; set; } = 14;

    /// <summary>Most streams per tenant. Default 16.</summary>
    public int MaxStreamsPerTenant { get; set; } = 16;

    /// <summary>Longest a poll without returnImmediately waits for events (RFC 8936 §2.4 long poll). Default 10 s.</summary>
    public int MaxPollWaitSeconds { get; set; } = 10;

    /// <summary>Most SETs one poll returns. Default 1,000.</summary>
    public int MaxPollEvents { get; set; } = 1_000;

    /// <summary>Timeout of one push delivery (RFC 8935). Default 10 s.</summary>
    public int PushTimeoutSeconds { get; set; } = 10;

    /// <summary>
    /// Whether push receivers may be on loopback, link-local or private addresses. Default false:
    /// a tenant's token must not make the server call into its own network (SSRF).
    /// </summary>
    public bool AllowPrivatePushTargets { get; set; }

    /// <summary>
    /// SETs of one push stream in flight at once (RFC 8935 leaves concurrency to the transmitter).
    /// One subject never has more than one in flight, so each subject's events arrive in order. Default 16.
    /// </summary>
    public int PushConcurrency { get; set; } = 16;

    /// <summary>SETs a push stream reads ahead of its cursor (what other subjects get while one waits). Default 4,096.</summary>
    public int PushWindow { get; set; } = 4_096;

    /// <summary>
    /// Most SETs of failing subjects a push stream parks (kept in its cursor record) so the others go
    /// on; past it the stream waits for them. Default 10,000.
    /// </summary>
    public int MaxParkedPerStream { get; set; } = 10_000;

    /// <summary>Longest wait between push retries. Default 1 hour (retries go on until the stream is disabled).</summary>
    public int MaxPushRetrySeconds { get; set; } = 3600;

    /// <summary>An ES256 signing key (PKCS#8 PEM file) instead of the one generated into the data directory.</summary>
    public string? SigningKeyFile { get; set; }
}

/// <summary>The outcome of reading a stream's pending SETs.</summary>
public readonly record struct StreamRead(bool MoreAvailable, long ScannedTo);

/// <summary>
/// Every tenant's event streams: created and changed through the SSF configuration endpoint, kept
/// durably in the store (settings and delivery position are logged like writes), read by poll and
/// SSE, and pushed by a <see cref="PushDelivery"/> per push stream.
/// </summary>
public sealed class StreamRegistry : IAsyncDisposable
{
    private const int ScanEntries = 4_096;
    private const int MaxAckedAhead = 100_000;
    private const int MaxAckedAheadKept = 4_096;
    private static readonly byte[] s_indexKey = "ssf-index"u8.ToArray();

    private readonly IResourceStore _store;
    private readonly ILogger _logger;
    private readonly ConcurrentDictionary<string, EventStream> _streams = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, PushDelivery> _pushes = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _indexGate = new(1, 1);
    private readonly IDisposable _meter;
    private readonly string _holder = Environment.MachineName + "/" + Environment.ProcessId + "/" + Guid.NewGuid().ToString("N");
    private readonly CancellationTokenSource _stopRefresh = new();
    private Task? _refresh;

    public StreamRegistry(IResourceStore store, SetFactory sets, EventOptions options, ILogger logger)
    {
        _store = store;
        Sets = sets;
        Options = options;
        _logger = logger;
        _meter = EventMetrics.Observe(this);
    }

    /// <summary>SETs parked by push streams, all tenants (a gauge).</summary>
    public long ParkedTotal()
    {
        long total = 0;
        foreach (var stream in _streams.Values)
        {
            lock (stream.Gate)
            {
                total += stream.Parked.Count;
            }
        }

        return total;
    }

    public SetFactory Sets { get; }

    public EventOptions Options { get; }

    public IChangeFeed Feed => _store.Feed;

    /// <summary>Loads every stream from the store and starts push delivery (call once at start).</summary>
    public void Load()
    {
        foreach (var (tenant, id) in ReadIndex())
        {
            if (ReadStored(tenant, id) is { } stream)
            {
                _streams[id] = stream;
                StartPushIfNeeded(stream);
            }
        }

        if (_store.ReadsAreRemote)
        {
            // Other hosts create, change and delete streams in the same store: look again now and then.
            _refresh = Task.Run(RefreshLoopAsync);
        }
    }

    // A stream as the store has it: settings, then its cursor record.
    private EventStream? ReadStored(TenantId tenant, string id)
    {
        if (_store.ReadState(tenant, ConfigKey(id)) is not { Length: > 0 } stored)
        {
            return null;
        }

        var stream = EventStream.FromStored(JsonNode.Parse(stored)!.AsObject());
        if (stream.Tenant != tenant)
        {
            return null;
        }

        ReadPositions(stream, out long cursor, stream.Parked, stream.AckedAhead);
        stream.Cursor = stream.PersistedCursor = cursor;
        return stream;
    }

    // The cursor record: the cursor, then positions, 8 bytes each: those behind it were parked
    // (push), those past it were acknowledged out of order (poll).
    private void ReadPositions(EventStream stream, out long cursor, ISet<long> parked, ISet<long> ackedAhead)
    {
        cursor = 0;
        if (_store.ReadState(stream.Tenant, CursorKey(stream.Id)) is { Length: >= 8 } record)
        {
            cursor = BitConverter.ToInt64(record);
            for (int offset = 8; offset + 8 <= record.Length; offset += 8)
            {
                long position = BitConverter.ToInt64(record, offset);
                _ = position <= cursor ? parked.Add(position) : ackedAhead.Add(position);
            }
        }
    }

    /// <summary>
    /// A stream of the tenant. On a shared store (several hosts) it is read again from the store
    /// first: another host may have created, changed, acknowledged or deleted it.
    /// </summary>
    public EventStream? Get(TenantId tenant, string id)
    {
        if (!_store.ReadsAreRemote)
        {
            return _streams.TryGetValue(id, out var local) && local.Tenant == tenant ? local : null;
        }

        if (!_streams.TryGetValue(id, out var stream))
        {
            if (ReadStored(tenant, id) is not { } loaded)
            {
                return null;
            }

            stream = _streams.GetOrAdd(id, loaded);
            if (stream == loaded)
            {
                StartPushIfNeeded(stream);
            }

            return stream.Tenant == tenant ? stream : null;
        }

        return stream.Tenant == tenant && Refresh(stream) ? stream : null;
    }

    // Another host's changes to a known stream: its settings, and its positions merged with ours
    // (the further cursor; acknowledgements from both). False when it was deleted.
    private bool Refresh(EventStream stream)
    {
        if (_store.ReadState(stream.Tenant, ConfigKey(stream.Id)) is not { Length: > 0 } stored)
        {
            Forget(stream.Id);
            return false;
        }

        stream.TakeSettingsFrom(EventStream.FromStored(JsonNode.Parse(stored)!.AsObject()));
        var parked = new SortedSet<long>();
        var acked = new SortedSet<long>();
        ReadPositions(stream, out long cursor, parked, acked);
        lock (stream.Gate)
        {
            if (cursor > stream.Cursor)
            {
                stream.Cursor = cursor;
                stream.AckedAhead.RemoveWhere(p => p <= cursor);
                stream.PositionsVersion++;
            }

            foreach (long position in acked)
            {
                if (position > stream.Cursor && stream.AckedAhead.Add(position))
                {
                    stream.PositionsVersion++;
                }
            }
        }

        return true;
    }

    /// <summary>
    /// Push: before a host delivers a stream after another did (a lease taken over), the positions
    /// the other one reached: its cursor and parked SETs replace ours.
    /// </summary>
    internal void TakePositionsFromStore(EventStream stream)
    {
        var parked = new SortedSet<long>();
        var acked = new SortedSet<long>();
        ReadPositions(stream, out long cursor, parked, acked);
        lock (stream.Gate)
        {
            if (cursor > 0)
            {
                stream.Cursor = stream.PersistedCursor = cursor;
                stream.Parked.Clear();
                stream.Parked.UnionWith(parked);
                stream.PositionsVersion++;
            }
        }
    }

    /// <summary>Takes or renews this host's lease on delivering a push stream (always granted on a store one process owns).</summary>
    internal ValueTask<bool> HoldPushLeaseAsync(EventStream stream) =>
        _store.TryHoldLeaseAsync(stream.Tenant, Encoding.UTF8.GetBytes("ssf-push/" + stream.Id), _holder, PushLeaseMilliseconds);

    /// <summary>How long a host's push lease lasts without renewal: another host takes over after it.</summary>
    internal const int PushLeaseMilliseconds = 10_000;

    private void Forget(string id)
    {
        _streams.TryRemove(id, out _);
        if (_pushes.TryRemove(id, out var push))
        {
            push.Abandon();
            _ = push.DisposeAsync().AsTask();
        }
    }

    // Shared store: every 5 s, streams other hosts created (their push delivery competes for the
    // lease here too, so one host's loss does not stop it) and deleted.
    private async Task RefreshLoopAsync()
    {
        while (!_stopRefresh.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(TimeSpan.FromSeconds(5), _stopRefresh.Token).ConfigureAwait(false);
                var index = ReadIndex();
                var listed = new HashSet<string>(StringComparer.Ordinal);
                foreach (var (tenant, id) in index)
                {
                    listed.Add(id);
                    if (!_streams.ContainsKey(id))
                    {
                        _ = Get(tenant, id);
                    }
                }

                // Known streams: their settings and positions as other hosts left them (a stream
                // deleted is forgotten: its settings are gone). One the index lost (two hosts
                // rewriting it at once) but whose settings remain goes back into it.
                var unlisted = new List<(TenantId, string)>();
                foreach (var stream in _streams.Values.ToList())
                {
                    if (Refresh(stream) && !listed.Contains(stream.Id))
                    {
                        unlisted.Add((stream.Tenant, stream.Id));
                    }
                }

                if (unlisted.Count > 0)
                {
                    await _indexGate.WaitAsync(_stopRefresh.Token).ConfigureAwait(false);
                    try
                    {
                        var repaired = ReadIndex();
                        foreach (var entry in unlisted)
                        {
                            if (!repaired.Contains(entry))
                            {
                                repaired.Add(entry);
                            }
                        }

                        await WriteIndexAsync(repaired).ConfigureAwait(false);
                    }
                    finally
                    {
                        _indexGate.Release();
                    }
                }
            }
            catch (OperationCanceledException) when (_stopRefresh.IsCancellationRequested)
            {
                break;
            }
            catch (Exception e)
            {
                _logger.LogWarning(e, "Reading the event streams other hosts changed failed; trying again");
            }
        }
    }

    public List<EventStream> List(TenantId tenant)
    {
        var list = new List<EventStream>();
        foreach (var stream in _streams.Values)
        {
            if (stream.Tenant == tenant)
            {
                list.Add(stream);
            }
        }

        list.Sort((a, b) => string.CompareOrdinal(a.Id, b.Id));
        return list;
    }

    /// <summary>Registers a new stream; it receives the events of writes committed from now on.</summary>
    public async Task<EventStream> CreateAsync(EventStream stream, CancellationToken cancellationToken)
    {
        var (_, next) = Feed.Bounds(stream.Tenant);
        stream.Cursor = SetFactory.Position(next - 1, 3);
        await SaveAsync(stream, cancellationToken).ConfigureAwait(false);
        await SaveCursorAsync(stream, cancellationToken).ConfigureAwait(false);
        await _indexGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var index = ReadIndex();
            index.Add((stream.Tenant, stream.Id));
            await WriteIndexAsync(index).ConfigureAwait(false);
            _streams[stream.Id] = stream;
        }
        finally
        {
            _indexGate.Release();
        }

        StartPushIfNeeded(stream);
        return stream;
    }

    public Task SaveAsync(EventStream stream, CancellationToken cancellationToken) =>
        _store.PutStateAsync(stream.Tenant, ConfigKey(stream.Id), Encoding.UTF8.GetBytes(stream.ToStored().ToJsonString()), cancellationToken).AsTask();

    /// <summary>
    /// Writes the stream's cursor and its parked positions if either changed (durably, in one
    /// record: a restart resumes there and still delivers what was parked).
    /// </summary>
    public async Task SaveCursorAsync(EventStream stream, CancellationToken cancellationToken)
    {
        long cursor;
        int positionsVersion;
        byte[] record;
        lock (stream.Gate)
        {
            cursor = stream.Cursor;
            positionsVersion = stream.PositionsVersion;
            if (cursor == stream.PersistedCursor && cursor != 0 && positionsVersion == stream.PersistedPositionsVersion)
            {
                return;
            }

            int acked = Math.Min(stream.AckedAhead.Count, MaxAckedAheadKept);
            record = new byte[8 * (1 + stream.Parked.Count + acked)];
            BitConverter.TryWriteBytes(record, cursor);
            int offset = 8;
            foreach (long parked in stream.Parked)
            {
                BitConverter.TryWriteBytes(record.AsSpan(offset), parked);
                offset += 8;
            }

            foreach (long position in stream.AckedAhead)
            {
                if (acked-- == 0)
                {
                    break;
                }

                BitConverter.TryWriteBytes(record.AsSpan(offset), position);
                offset += 8;
            }
        }

        await _store.PutStateAsync(stream.Tenant, CursorKey(stream.Id), record, cancellationToken).ConfigureAwait(false);
        lock (stream.Gate)
        {
            stream.PersistedCursor = Math.Max(stream.PersistedCursor, cursor);
            stream.PersistedPositionsVersion = positionsVersion;
        }
    }

    public async Task DeleteAsync(EventStream stream, CancellationToken cancellationToken)
    {
        if (_pushes.TryRemove(stream.Id, out var push))
        {
            push.Abandon();
            await push.DisposeAsync().ConfigureAwait(false);
        }

        // Settings first: a host that sees the stream missing from the index while its settings
        // remain puts it back (lost index updates between hosts), so the index goes last.
        await _store.PutStateAsync(stream.Tenant, ConfigKey(stream.Id), [], cancellationToken).ConfigureAwait(false);
        await _store.PutStateAsync(stream.Tenant, CursorKey(stream.Id), [], cancellationToken).ConfigureAwait(false);
        await _indexGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var index = ReadIndex();
            index.RemoveAll(e => e.Id == stream.Id);
            await WriteIndexAsync(index).ConfigureAwait(false);
            _streams.TryRemove(stream.Id, out _);
        }
        finally
        {
            _indexGate.Release();
        }
    }

    /// <summary>
    /// Changes the status (SSF §8.1.2). Disabled drops events: re-enabling starts from the feed's
    /// head. Every change is announced with a stream-updated event.
    /// </summary>
    public async Task SetStatusAsync(EventStream stream, string status, string? reason, CancellationToken cancellationToken)
    {
        bool wasDisabled;
        lock (stream.Gate)
        {
            wasDisabled = stream.Status == StreamStatus.Disabled;
            stream.Status = status;
            stream.Reason = reason;
            if (wasDisabled && status != StreamStatus.Disabled)
            {
                stream.Cursor = SetFactory.Position(Feed.Bounds(stream.Tenant).Next - 1, 3);
                stream.AckedAhead.Clear();
                stream.Parked.Clear();
                stream.PositionsVersion++;
                stream.Generation++;
            }
        }

        await SaveAsync(stream, cancellationToken).ConfigureAwait(false);
        await SaveCursorAsync(stream, cancellationToken).ConfigureAwait(false);
        var payload = new Dictionary<string, string> { ["status"] = status };
        if (reason is not null)
        {
            payload["reason"] = reason;
        }

        AddControl(stream, EventUris.StreamUpdated, payload);
    }

    /// <summary>Queues an SSF event of the stream itself ahead of its feed events.</summary>
    public void AddControl(EventStream stream, string uri, IReadOnlyDictionary<string, string> payload)
    {
        var control = Sets.CreateControl(stream, uri, payload);
        lock (stream.Gate)
        {
            stream.Controls.Add(control);
        }

        if (_pushes.TryGetValue(stream.Id, out var push))
        {
            push.Wake();
        }
    }

    /// <summary>
    /// The stream's SETs after <paramref name="after"/> in order, at most <paramref name="max"/>,
    /// control SETs first when <paramref name="withControls"/>; with <paramref name="skipAcked"/>,
    /// those acknowledged out of order are left out. A position that fell out of the feed's retention
    /// resyncs the stream (stream-updated event, cursor to the oldest entry kept) and reads on.
    /// </summary>
    public StreamRead Read(EventStream stream, long after, int max, bool skipAcked, bool withControls, List<OutgoingSet> into)
    {
        long readAfter = ReadAfter(after);
        if (readAfter + 1 < Feed.Bounds(stream.Tenant).First)
        {
            // Past retention: the resync notice goes out ahead of the events after the gap.
            readAfter = Resync(stream);
            after = SetFactory.Position(readAfter, 3);
        }

        if (withControls)
        {
            lock (stream.Gate)
            {
                foreach (var (jti, set) in stream.Controls)
                {
                    if (into.Count < max)
                    {
                        into.Add(new OutgoingSet(-1, jti, "", set));
                    }
                }
            }
        }

        var entries = new List<ChangeEntry>(64);
        var kinds = new List<(int K, string Uri)>(4);
        var delivered = stream.Delivered;
        long scannedTo = after;
        int scanned = 0;
        while (scanned < ScanEntries)
        {
            entries.Clear();
            if (Feed.Read(stream.Tenant, readAfter, 64, entries) == FeedReadStatus.Expired)
            {
                readAfter = Resync(stream);
                scannedTo = SetFactory.Position(readAfter, 3);
                continue;
            }

            if (entries.Count == 0)
            {
                return new StreamRead(false, scannedTo);
            }

            foreach (var entry in entries)
            {
                scanned++;
                SetFactory.EventsOf(entry, delivered, kinds);
                foreach (var (k, uri) in kinds)
                {
                    long position = SetFactory.Position(entry.Sequence, k);
                    if (position <= after || (skipAcked && IsAcked(stream, position)))
                    {
                        continue;
                    }

                    if (into.Count >= max)
                    {
                        return new StreamRead(true, scannedTo);
                    }

                    into.Add(Sets.Create(stream, entry, k, uri));
                }

                scannedTo = SetFactory.Position(entry.Sequence, 3);
                readAfter = entry.Sequence;
            }
        }

        return new StreamRead(true, scannedTo);
    }

    /// <summary>
    /// The SET at one position (a parked push delivery after a restart); null when its entry is past
    /// retention or the stream no longer asks for that event.
    /// </summary>
    public OutgoingSet? ReadAt(EventStream stream, long position)
    {
        long sequence = position / 4;
        var entries = new List<ChangeEntry>(1);
        if (Feed.Read(stream.Tenant, sequence - 1, 1, entries) != FeedReadStatus.Ok || entries.Count == 0 || entries[0].Sequence != sequence)
        {
            return null;
        }

        var kinds = new List<(int K, string Uri)>(4);
        SetFactory.EventsOf(entries[0], stream.Delivered, kinds);
        foreach (var (k, uri) in kinds)
        {
            if (SetFactory.Position(sequence, k) == position)
            {
                return Sets.Create(stream, entries[0], k, uri);
            }
        }

        return null;
    }

    // The feed sequence to read after so that nothing past the position is missed: the position's
    // own entry when some of its events (k < 3) may still follow.
    private static long ReadAfter(long position) => position % 4 == 3 ? position / 4 : Math.Max(0, (position / 4) - 1);

    private static bool IsAcked(EventStream stream, long position)
    {
        lock (stream.Gate)
        {
            return stream.AckedAhead.Contains(position);
        }
    }

    // The reader fell behind retention: say so (SSF stream-updated) and go on from what is kept.
    private long Resync(EventStream stream)
    {
        var (first, _) = Feed.Bounds(stream.Tenant);
        lock (stream.Gate)
        {
            stream.Cursor = Math.Max(stream.Cursor, SetFactory.Position(first - 1, 3));
            stream.AckedAhead.Clear();
            stream.PositionsVersion++;
        }

        _logger.LogWarning("Event stream {Stream} fell behind the change feed's retention; it resumes at sequence {First} and its receiver must resync", stream.Id, first);
        AddControl(stream, EventUris.StreamUpdated, new Dictionary<string, string>
        {
            ["status"] = StreamStatus.Enabled,
            ["reason"] = "resync: events before sequence " + first + " are past the change feed's retention and were not delivered; read the resources again",
        });
        return first - 1;
    }

    /// <summary>
    /// RFC 8936 §2.4 acknowledgements (and setErrs, which also settle a SET): moves the cursor over
    /// every position acknowledged in order and persists it.
    /// </summary>
    public async Task AcknowledgeAsync(EventStream stream, IReadOnlyList<string> jtis, CancellationToken cancellationToken)
    {
        if (jtis.Count == 0)
        {
            return;
        }

        lock (stream.Gate)
        {
            foreach (string jti in jtis)
            {
                stream.Controls.RemoveAll(c => c.Jti == jti);
                long position = SetFactory.PositionOf(stream.Id, jti);
                if (position > stream.Cursor && stream.AckedAhead.Count < MaxAckedAhead && stream.AckedAhead.Add(position))
                {
                    stream.PositionsVersion++;
                }
            }
        }

        Advance(stream);
        await SaveCursorAsync(stream, cancellationToken).ConfigureAwait(false);
    }

    // The cursor moves over positions in order while each is acknowledged (or has no event for the stream).
    private void Advance(EventStream stream)
    {
        var entries = new List<ChangeEntry>(64);
        var kinds = new List<(int K, string Uri)>(4);
        var delivered = stream.Delivered;
        lock (stream.Gate)
        {
            while (stream.AckedAhead.Count > 0)
            {
                entries.Clear();
                if (Feed.Read(stream.Tenant, ReadAfter(stream.Cursor), 64, entries) != FeedReadStatus.Ok || entries.Count == 0)
                {
                    return;
                }

                foreach (var entry in entries)
                {
                    SetFactory.EventsOf(entry, delivered, kinds);
                    foreach (var (k, _) in kinds)
                    {
                        long position = SetFactory.Position(entry.Sequence, k);
                        if (position <= stream.Cursor)
                        {
                            continue;
                        }

                        if (!stream.AckedAhead.Remove(position))
                        {
                            return;
                        }

                        stream.PositionsVersion++;

                        stream.Cursor = position;
                    }

                    stream.Cursor = Math.Max(stream.Cursor, SetFactory.Position(entry.Sequence, 3));
                }
            }
        }
    }

    /// <summary>After a read found nothing pending up to <paramref name="scannedTo"/>, the cursor may move there.</summary>
    public void SkipTo(EventStream stream, long scannedTo)
    {
        lock (stream.Gate)
        {
            if (scannedTo > stream.Cursor)
            {
                stream.Cursor = scannedTo;
                if (stream.AckedAhead.RemoveWhere(p => p <= scannedTo) > 0)
                {
                    stream.PositionsVersion++;
                }
            }
        }
    }

    private void StartPushIfNeeded(EventStream stream)
    {
        if (stream.Method == EventUris.Push)
        {
            var push = new PushDelivery(this, stream, _logger);
            if (_pushes.TryAdd(stream.Id, push))
            {
                push.Start();
            }
        }
    }

    /// <summary>Wakes a push stream's delivery (after a status change).</summary>
    public void Wake(EventStream stream)
    {
        if (_pushes.TryGetValue(stream.Id, out var push))
        {
            push.Wake();
        }
    }

    private List<(TenantId Tenant, string Id)> ReadIndex()
    {
        var index = new List<(TenantId, string)>();
        if (_store.ReadState(TenantId.Default, s_indexKey) is { } bytes)
        {
            foreach (var item in JsonNode.Parse(bytes)!.AsArray())
            {
                index.Add((new TenantId((uint)item!["t"]!), (string)item["id"]!));
            }
        }

        return index;
    }

    private Task WriteIndexAsync(List<(TenantId Tenant, string Id)> index)
    {
        var array = new JsonArray();
        foreach (var (tenant, id) in index)
        {
            array.Add(new JsonObject { ["t"] = tenant.Value, ["id"] = id });
        }

        return _store.PutStateAsync(TenantId.Default, s_indexKey, Encoding.UTF8.GetBytes(array.ToJsonString())).AsTask();
    }

    private static byte[] ConfigKey(string id) => Encoding.UTF8.GetBytes("ssf/" + id);

    private static byte[] CursorKey(string id) => Encoding.UTF8.GetBytes("ssf-at/" + id);

    public async ValueTask DisposeAsync()
    {
        await _stopRefresh.CancelAsync().ConfigureAwait(false);
        if (_refresh is not null)
        {
            await _refresh.ConfigureAwait(false);
        }

        foreach (var push in _pushes.Values)
        {
            await push.DisposeAsync().ConfigureAwait(false);
        }

        _pushes.Clear();
        _indexGate.Dispose();
        _meter.Dispose();
    }
}
