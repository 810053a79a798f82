using System.Collections.Concurrent;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json.Nodes;

using Microsoft.Extensions.Logging;

using Scim.Fast.Storage.Feed;
using Scim.Fast.Storage.Resources;

namespace Scim.Fast.Events;

/// <summary>The outcome of reading a stream's pending SETs.</summary>
public readonly record struct StreamRead(bool MoreAvailable, long ScannedTo);

/// <summary>
/// Every tenant's event streams: created and changed through the SSF configuration endpoint, kept
/// durably in the store (settings and delivery position are logged like writes), read by poll and
/// SSE, and pushed by a <see cref="PushDelivery"/> per push stream.
/// </summary>
public sealed partial class StreamRegistry : IAsyncDisposable
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
        TrustedPushCertificates = options.LoadPushTrustedCertificates();
    }

    /// <summary>Certificates https push receivers may chain to besides the system's roots (null: none).</summary>
    public X509Certificate2Collection? TrustedPushCertificates { get; }

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

        StreamsChanged();
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
        stream.Controls.AddRange(ReadControls(stream));
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
                StreamsChanged();
                StartPushIfNeeded(stream);
            }

            return stream.Tenant == tenant ? stream : null;
        }

        return stream.Tenant == tenant && Refresh(stream) ? stream : null;
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
        // Recorded before the head is read: every write that starts after this carries its change.
        CreationStarted(stream.Tenant);
        try
        {
            var (_, next) = Feed.Bounds(stream.Tenant);
            stream.Cursor = SetFactory.Position(next - 1, 3);
            await SaveAsync(stream, cancellationToken).ConfigureAwait(false);
            await SaveCursorAsync(stream, cancellationToken).ConfigureAwait(false);
            await ChangeIndexAsync(index => index.Add((stream.Tenant, stream.Id)), () => _streams[stream.Id] = stream, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            CreationEnded(stream.Tenant);
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
    public async Task SaveCursorAsync(EventStream stream, CancellationToken cancellationToken, bool restarted = false)
    {
        long cursor;
        int positionsVersion;
        byte[] record;

        // A push stream another host delivers (a shared store; this one only changed its status):
        // the parked positions are that host's, as the store has them, never this host's stale
        // copy, or they would be lost when it hands over. Delivery restarted from the head
        // (re-enabled after disabled) drops them on purpose.
        SortedSet<long>? storedParked = null;
        long storedCursor = 0;
        if (_store.ReadsAreRemote && !restarted && stream.Method == EventUris.Push && !(_pushes.TryGetValue(stream.Id, out var push) && push.Holding))
        {
            storedParked = [];
            ReadPositions(stream, out storedCursor, storedParked, new SortedSet<long>());
        }

        lock (stream.Gate)
        {
            var parkedPositions = storedParked ?? stream.Parked;
            cursor = Math.Max(stream.Cursor, storedCursor);
            positionsVersion = stream.PositionsVersion;
            if (cursor == stream.PersistedCursor && cursor != 0 && positionsVersion == stream.PersistedPositionsVersion)
            {
                return;
            }

            int acked = Math.Min(stream.AckedAhead.Count, MaxAckedAheadKept);
            record = new byte[8 * (1 + parkedPositions.Count + acked)];
            BitConverter.TryWriteBytes(record, cursor);
            int offset = 8;
            foreach (long parked in parkedPositions)
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
        await _store.PutStateAsync(stream.Tenant, ControlsKey(stream.Id), [], cancellationToken).ConfigureAwait(false);
        await ChangeIndexAsync(index => index.RemoveAll(e => e.Id == stream.Id), () => _streams.TryRemove(stream.Id, out _), cancellationToken).ConfigureAwait(false);
    }

    // The stored stream index and this registry changed together, one change at a time.
    private async Task ChangeIndexAsync(Action<List<(TenantId Tenant, string Id)>> change, Action registered, CancellationToken cancellationToken)
    {
        await _indexGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var index = ReadIndex();
            change(index);
            await WriteIndexAsync(index).ConfigureAwait(false);
            registered();
            StreamsChanged();
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
        await SaveCursorAsync(stream, cancellationToken, restarted: wasDisabled && status != StreamStatus.Disabled).ConfigureAwait(false);
        var payload = new Dictionary<string, string> { ["status"] = status };
        if (reason is not null)
        {
            payload["reason"] = reason;
        }

        await AddControlAsync(stream, EventUris.StreamUpdated, payload, cancellationToken).ConfigureAwait(false);
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
        _controlsGate.Dispose();
        _meter.Dispose();
    }
}
