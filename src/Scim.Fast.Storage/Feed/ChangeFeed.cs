using System.Buffers;
using System.Buffers.Binary;
using System.Text.Json;

using Scim.Fast.Storage.Kv;
using Scim.Fast.Storage.Log;
using Scim.Fast.Storage.Resources;

namespace Scim.Fast.Storage.Feed;

/// <summary>Why a feed read returned what it did.</summary>
public enum FeedReadStatus
{
    Ok,

    /// <summary>The position asked for fell out of retention: the reader must resync (events were dropped).</summary>
    Expired,
}

/// <summary>
/// The change feed (DESIGN-NOTES §10): a projector tails the committed write-ahead log and writes
/// every write that carried a <see cref="WriteEvent"/> into its tenant's change log, numbered 1, 2,
/// 3… in commit order (log order is commit order). Entries live in the key-value store beside the
/// resources and reach disk with its checkpoints; the projector's position is checkpointed with
/// them, and the log is never truncated past it, so after a crash the projector picks up exactly
/// where the checkpoint left it and re-derives the rest from the log: no event of a durable write
/// is lost, none of a write that never became durable exists.
/// </summary>
public sealed class ChangeFeed : IChangeFeed
{
    private const byte EntryPrefix = (byte)'C';
    private const byte HeadPrefix = (byte)'c';

    // Most entries one projector step writes before it publishes them.
    private const int StepEntries = 512;

    // Records read per step whatever they carry: a long run of records without changes (an index
    // build writes one per resource) still moves the position, so checkpoints can truncate behind
    // it and a restart does not re-read the whole run.
    private const int StepRecords = 8_192;

    private static readonly byte[] s_positionKey = "M/feed-from"u8.ToArray();
    private static readonly byte[] s_tenantsKey = "M/feed-tenants"u8.ToArray();

    private readonly FasterByteStore _kv;
    private readonly WriteAheadLog _log;
    private readonly Func<ValueTask> _enterWrite;
    private readonly Action _exitWrite;
    private readonly Lock _gate = new();
    private readonly Dictionary<uint, Head> _heads = [];
    private readonly CancellationTokenSource _stop = new();
    private TaskCompletionSource _advanced = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long _position;
    private Task? _loop;

    // Per tenant: First = oldest entry kept, Next = one past the newest published, Assigned = one
    // past the newest the projector numbered (published once written).
    private sealed class Head
    {
        public long First = 1;
        public long Next = 1;
        public long Assigned = 1;
    }

    internal ChangeFeed(FasterByteStore kv, WriteAheadLog log, Func<ValueTask> enterWrite, Action exitWrite)
    {
        _kv = kv;
        _log = log;
        _enterWrite = enterWrite;
        _exitWrite = exitWrite;
    }

    /// <summary>The log address below which every record is projected (the log is kept from here on).</summary>
    public long Position => Interlocked.Read(ref _position);

    /// <summary>Why the projector stopped, or null while it runs.</summary>
    public Exception? Failure { get; private set; }

    /// <summary>Entries projected since the store opened.</summary>
    public long Projected => Interlocked.Read(ref _projected);

    private long _projected;

    /// <summary>Completes when new entries are published (for long polls and streams: re-read after).</summary>
    public Task Advanced
    {
        get
        {
            lock (_gate)
            {
                return _advanced.Task;
            }
        }
    }

    // Loads the heads and the position. Without a checkpointed position, a store that has had the
    // feed since it was created (the marker file) projects its whole log; one written before the
    // feed existed starts at its committed end (its older records carry no changes).
    internal void Start(string directory)
    {
        string marker = Path.Combine(directory, "change-feed");
        bool hadFeed = File.Exists(marker);
        _position = _kv.TryRead(s_positionKey, out var mark) ? BinaryPrimitives.ReadInt64LittleEndian(mark)
            : hadFeed ? 0 : _log.CommittedUntil;
        if (!hadFeed)
        {
            using var file = new FileStream(marker, FileMode.Create, FileAccess.Write);
            file.Write("1"u8);
            file.Flush(flushToDisk: true);
        }

        if (_kv.TryRead(s_tenantsKey, out var tenants))
        {
            for (int i = 0; i + 4 <= tenants.Length; i += 4)
            {
                uint tenant = BinaryPrimitives.ReadUInt32LittleEndian(tenants.AsSpan(i));
                var head = new Head();
                if (_kv.TryRead(HeadKey(tenant), out var bytes))
                {
                    head.First = BinaryPrimitives.ReadInt64LittleEndian(bytes);
                    head.Next = head.Assigned = BinaryPrimitives.ReadInt64LittleEndian(bytes.AsSpan(8));
                }

                _heads[tenant] = head;
            }
        }

        _loop = Task.Run(ProjectLoopAsync);
    }

    internal async Task StopAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        if (_loop is not null)
        {
            await _loop.ConfigureAwait(false);
        }

        _stop.Dispose();
    }

    /// <summary>The oldest retained and one past the newest published sequence of a tenant's feed.</summary>
    public (long First, long Next) Bounds(TenantId tenant)
    {
        lock (_gate)
        {
            return _heads.TryGetValue(tenant.Value, out var head) ? (head.First, head.Next) : (1, 1);
        }
    }

    /// <summary>
    /// Up to <paramref name="max"/> entries after <paramref name="after"/> (0 = from the start), in
    /// order, into <paramref name="into"/>. <see cref="FeedReadStatus.Expired"/> when entries after
    /// <paramref name="after"/> were already dropped by retention: never a silent gap.
    /// </summary>
    public FeedReadStatus Read(TenantId tenant, long after, int max, List<ChangeEntry> into)
    {
        var (first, next) = Bounds(tenant);
        if (after + 1 < first)
        {
            return FeedReadStatus.Expired;
        }

        for (long sequence = after + 1; sequence < next && max > 0; sequence++, max--)
        {
            if (!_kv.TryRead(EntryKey(tenant.Value, sequence), out var bytes))
            {
                // Swept between the bounds check and this read.
                return into.Count == 0 ? FeedReadStatus.Expired : FeedReadStatus.Ok;
            }

            into.Add(ChangeEntry.Decode(sequence, bytes));
        }

        return FeedReadStatus.Ok;
    }

    /// <summary>
    /// Drops every tenant's entries older than <paramref name="cutoffUnixMs"/> (retention). Not
    /// logged: a crash may bring some back from the checkpoint, the next sweep drops them again.
    /// </summary>
    public async ValueTask<long> SweepAsync(long cutoffUnixMs, CancellationToken cancellationToken = default)
    {
        uint[] tenants;
        lock (_gate)
        {
            tenants = [.. _heads.Keys];
        }

        long dropped = 0;
        foreach (uint tenant in tenants)
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                await _enterWrite().ConfigureAwait(false);
                try
                {
                    int step = 0;
                    Head head;
                    long first;
                    lock (_gate)
                    {
                        head = _heads[tenant];
                        first = head.First;
                    }

                    while (step < StepEntries && first < head.Next
                        && _kv.TryRead(EntryKey(tenant, first), out var bytes) && ChangeEntry.TimeOf(bytes) < cutoffUnixMs)
                    {
                        _kv.Delete(EntryKey(tenant, first));
                        first++;
                        step++;
                    }

                    if (step == 0)
                    {
                        break;
                    }

                    lock (_gate)
                    {
                        head.First = first;
                        _kv.Upsert(HeadKey(tenant), EncodeHead(head.First, head.Next));
                    }

                    dropped += step;
                }
                finally
                {
                    _exitWrite();
                }
            }
        }

        return dropped;
    }

    private async Task ProjectLoopAsync()
    {
        try
        {
            using var iterator = _log.Follow(Position);
            var pending = new List<(uint Tenant, long Sequence, byte[] Value)>(StepEntries);
            var newTenants = false;
            while (!_stop.IsCancellationRequested)
            {
                pending.Clear();
                long next = Position;
                int records = 0;
                // Records are read into pooled buffers: an entry copies what it keeps.
                while (pending.Count < StepEntries && records++ < StepRecords && iterator.GetNext(MemoryPool<byte>.Shared, out var entry, out int length, out _, out long nextAddress))
                {
                    using (entry)
                    {
                        newTenants |= Project(entry.Memory[..length], pending);
                    }

                    next = nextAddress;
                }

                if (next == Position)
                {
                    if (!await iterator.WaitAsync(_stop.Token).ConfigureAwait(false))
                    {
                        return;
                    }

                    continue;
                }

                await PublishAsync(pending, next, newTenants).ConfigureAwait(false);
                newTenants = false;
            }
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
        }
        catch (Exception e)
        {
            // The feed stalls (and keeps the log from being truncated) rather than skip a record.
            Failure = e;
        }
    }

    // Written and published as one step, paused by checkpoints like a write, so a checkpoint holds
    // the entries exactly up to the position it holds.
    private async ValueTask PublishAsync(List<(uint Tenant, long Sequence, byte[] Value)> pending, long next, bool newTenants)
    {
        await _enterWrite().ConfigureAwait(false);
        TaskCompletionSource advanced;
        try
        {
            foreach (var (tenant, sequence, value) in pending)
            {
                _kv.Upsert(EntryKey(tenant, sequence), value);
            }

            lock (_gate)
            {
                foreach (var (tenant, head) in _heads)
                {
                    if (head.Next != head.Assigned)
                    {
                        head.Next = head.Assigned;
                        _kv.Upsert(HeadKey(tenant), EncodeHead(head.First, head.Next));
                    }
                }

                if (newTenants)
                {
                    var list = new byte[4 * _heads.Count];
                    int i = 0;
                    foreach (uint tenant in _heads.Keys)
                    {
                        BinaryPrimitives.WriteUInt32LittleEndian(list.AsSpan(i), tenant);
                        i += 4;
                    }

                    _kv.Upsert(s_tenantsKey, list);
                }

                var mark = new byte[8];
                BinaryPrimitives.WriteInt64LittleEndian(mark, next);
                _kv.Upsert(s_positionKey, mark);
                Interlocked.Exchange(ref _position, next);
                Interlocked.Add(ref _projected, pending.Count);
                advanced = _advanced;
                _advanced = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            }
        }
        finally
        {
            _exitWrite();
        }

        advanced.TrySetResult();
    }

    // One log record: an entry if it carried a change. Returns whether a tenant was new.
    private bool Project(ReadOnlyMemory<byte> record, List<(uint Tenant, long Sequence, byte[] Value)> pending)
    {
        if (record.IsEmpty || record.Span[0] != EventRecord.Kind)
        {
            // Writes without a change of their own: membership cascades, index builds, state records.
            return false;
        }

        var (change, time) = EventRecord.DecodeChange(record);
        var (resource, members) = FindResource(EventRecord.Inner(record));
        if (resource is null)
        {
            return false;
        }

        var data = EventData(change, resource.Body, members?.Added);

        bool isNew;
        long sequence;
        lock (_gate)
        {
            isNew = !_heads.TryGetValue(resource.Tenant.Value, out var head);
            if (isNew)
            {
                head = new Head();
                _heads[resource.Tenant.Value] = head;
            }

            sequence = head!.Assigned++;
        }

        var entry = new ChangeEntry(sequence, change.Operation, change.Active, resource.Type, resource.Id, resource.ExternalId, resource.Version, time, change.Transaction, data);
        pending.Add((resource.Tenant.Value, sequence, entry.Encode()));
        return isNew;
    }

    // The resource (and a group's member change) inside a logged write.
    private static (ResourceRecord? Resource, MembershipRecord? Members) FindResource(ReadOnlyMemory<byte> record)
    {
        var span = record.Span;
        if (span.IsEmpty)
        {
            return (null, null);
        }

        return span[0] switch
        {
            1 or 2 => (ResourceRecord.Decode(span), null),
            CombinedRecord.Kind => CombinedRecord.Decode(span),
            AttachedRecord.Kind => FindResource(AttachedRecord.Decode(record).Inner),
            _ => (null, null),
        };
    }

    /// <summary>
    /// What an entry carries (<see cref="ChangeEntry.Data"/>), the same in every backend: a PATCH's
    /// PatchOp, nothing for a delete, else the new state with a group's members written in.
    /// </summary>
    public static ReadOnlyMemory<byte> EventData(WriteEvent change, ReadOnlyMemory<byte> body, IReadOnlyList<string>? addedMembers) => change.Operation switch
    {
        ChangeOperation.Patch => change.Data,
        ChangeOperation.Delete => ReadOnlyMemory<byte>.Empty,
        _ => addedMembers is null ? body : WithMembers(body, addedMembers),
    };

    // The stored form with the group's members written in (they are kept apart from the body).
    private static byte[] WithMembers(ReadOnlyMemory<byte> body, IReadOnlyList<string> members)
    {
        using var document = JsonDocument.Parse(body);
        var buffer = new ArrayBufferWriter<byte>(body.Length + (members.Count * 48) + 16);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            foreach (var property in document.RootElement.EnumerateObject())
            {
                if (!property.NameEquals("members"))
                {
                    property.WriteTo(writer);
                }
            }

            writer.WriteStartArray("members");
            foreach (string member in members)
            {
                writer.WriteStartObject();
                writer.WriteString("value", member);
                writer.WriteEndObject();
            }

            writer.WriteEndArray();
            writer.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }

    private static byte[] EntryKey(uint tenant, long sequence)
    {
        var key = new byte[13];
        key[0] = EntryPrefix;
        BinaryPrimitives.WriteUInt32BigEndian(key.AsSpan(1), tenant);
        BinaryPrimitives.WriteInt64BigEndian(key.AsSpan(5), sequence);
        return key;
    }

    // Laid out like every other key (prefix, tenant, type byte 0).
    private static byte[] HeadKey(uint tenant)
    {
        var key = new byte[6];
        key[0] = HeadPrefix;
        BinaryPrimitives.WriteUInt32BigEndian(key.AsSpan(1), tenant);
        return key;
    }

    private static byte[] EncodeHead(long first, long next)
    {
        var bytes = new byte[16];
        BinaryPrimitives.WriteInt64LittleEndian(bytes, first);
        BinaryPrimitives.WriteInt64LittleEndian(bytes.AsSpan(8), next);
        return bytes;
    }
}
