using System.Buffers;
using System.Buffers.Binary;
using System.Text;

using Scim.Fast.Storage.Feed;
using Scim.Fast.Storage.Kv;
using Scim.Fast.Storage.Log;

namespace Scim.Fast.Storage.Resources;

/// <summary>Where and how the resource store keeps its data.</summary>
public sealed record ResourceStoreOptions
{
    public WriteAheadLogOptions Log { get; init; } = new();

    public FasterByteStoreOptions KeyValue { get; init; } = new();

    /// <summary>
    /// When to allocate the memory pages of the log and the key-value store ahead of the writes
    /// (LogPages: 320 MiB by default, about 1.3 s of page faults here): in the background once this
    /// task and the ordered indexes' load have completed. The server passes its start, so the
    /// faults do not share the cores with its own start-up. Null: after the load.
    /// </summary>
    public Task? AllocatePagesAfter { get; init; }
}

/// <summary>
/// SCIM resources in FASTER with a unique index (userName, case-folded: it is not caseExact,
/// RFC 7643 §4.1.1) and an externalId index (caseExact, not unique), all scoped by tenant.
/// </summary>
/// <remarks>
/// <para>Every write is log-first (DESIGN-NOTES §2): one record with the resource's whole new state
/// and its index keys goes to the write-ahead log and is durable before the key-value store and
/// the indexes change, and before the caller is answered. Recovery is the last key-value
/// checkpoint plus a replay of the log after it; replay is idempotent by version.</para>
/// <para>Uniqueness is checked and claimed under striped locks that cover the resource's key and
/// every index key it touches, so two concurrent creates of one userName end as one Ok and one
/// UniquenessConflict. Versions make If-Match a compare-and-set under the same locks.</para>
/// </remarks>
public sealed partial class ResourceStore : IResourceStore
{
    private const byte ResourcePrefix = (byte)'R';
    private const byte UniquePrefix = (byte)'U';
    private const byte ExternalPrefix = (byte)'E';
    private const byte TombstonePrefix = (byte)'T';
    private const byte LookupPrefix = (byte)'L';

    /// <summary>Most index entries one resource may carry (ordered and lookup together).</summary>
    public const int MaxIndexEntries = 64;

    /// <summary>
    /// Most ids an externalId or lookup key lists. Such a list is one value rewritten whole on each
    /// change, so a value shared by very many resources (a placeholder address, a hostile client)
    /// would grow past what a record may hold; past this the key is marked overflowed instead and
    /// queries on it scan, answering correctly and slowly.
    /// </summary>
    public const int MaxListedIds = 1_000;

    // The value an overflowed id list holds (no id list encodes to one byte).
    private static readonly byte[] s_overflowed = [0xFF];

    // Verify's stand-in for an overflowed list: any holder is fine, none is listed.
    private static readonly IReadOnlyList<string> s_everyId = new List<string>(0);

    // A file next to the data, present when the store was created with lookup indexes.
    private const string LookupIndexesMarker = "lookup-indexes";

    /// <summary>Longest id, userName or externalId, in UTF-8 bytes.</summary>
    public const int MaxKeyBytes = 1024;

    /// <summary>Largest encoded resource: a record must fit in a key-value page with room to spare.</summary>
    public const int MaxRecordBytes = 1 << 19;

    private static readonly byte[] s_replayFromKey = "M/replay-from"u8.ToArray();
    private static readonly byte[] s_orderedInUseKey = "M/ordered-in-use"u8.ToArray();
    private static readonly UTF8Encoding s_strictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private readonly FasterByteStore _kv;
    private readonly WriteAheadLog _log;
    private readonly SemaphoreSlim[] _stripes = CreateStripes(4096);
    private readonly object _gate = new();
    private readonly SemaphoreSlim _checkpointGate = new(1, 1);
    private int _activeWriters;
    private TaskCompletionSource? _paused;
    private TaskCompletionSource? _drained;
    private Exception? _failure;
    private bool _orderedInUse;
    private string _snapshotPath = "";

    private readonly PagedSet _members;
    private readonly PagedSet _groupsOf;
    private readonly OrderedIndex _ordered = new();

    // Group names for User.groups' display (see UniqueKeyCache): at most 65,536 (~15 MB).
    private readonly UniqueKeyCache _uniqueKeys = new(65_536);

    private ResourceStore(FasterByteStore kv, WriteAheadLog log)
    {
        _kv = kv;
        _log = log;
        _members = new PagedSet(kv, (byte)'H', (byte)'P', (byte)'p');
        _groupsOf = new PagedSet(kv, (byte)'h', (byte)'Q', (byte)'q');
        Feed = new ChangeFeed(kv, log, EnterWriteAsync, ExitWrite);
    }

    /// <summary>The change feed: every write made with a <see cref="WriteEvent"/>, per tenant, in commit order.</summary>
    public ChangeFeed Feed { get; }

    IChangeFeed IResourceStore.Feed => Feed;

    public string Backend => "embedded";

    /// <summary>Bytes of committed log the change feed has not projected yet (the log is kept for it).</summary>
    public long FeedLagBytes => Math.Max(0, _log.CommittedUntil - Feed.Position);

    /// <summary>Whether the ordered indexes have loaded (they load in the background after open).</summary>
    public bool OrderedIndexesLoaded => _ordered.IsLoaded;

    /// <summary>Completes when the ordered indexes' background load has finished: (entries, time taken).</summary>
    public async Task<(long Entries, TimeSpan Took)> OrderedIndexesLoadAsync()
    {
        await _ordered.Loading.ConfigureAwait(false);
        return (_ordered.TotalCount, _ordered.LoadTime);
    }

    /// <summary>Why the store stopped taking writes (fail-stop after a failed write or index load), or null.</summary>
    public string? StopReason => _failure?.Message ?? _ordered.LoadFailure?.Message;

    /// <summary>Blocks until the ordered indexes are loaded (they load in the background after open).</summary>
    public void WaitForOrderedIndexes() => _ordered.WaitUntilLoaded();

    /// <summary>The first log address still kept (everything before the last checkpoint's mark is truncated).</summary>
    public long LogBeginAddress => _log.BeginAddress;

    // Held while the store is open: no second process opens it (see Lock).
    private FileStream? _lock;

    /// <summary>Key-value reads since the store opened.</summary>
    public long Reads => _kv.Reads;

    /// <summary>Bytes of write-ahead log a checkpoint has not truncated yet.</summary>
    public long LogBytes => _log.Bytes;

    /// <summary>Key-value reads that went to disk since the store opened (see <see cref="FasterByteStore.PendingReads"/>).</summary>
    public long PendingReads => _kv.PendingReads;

    /// <summary>Of <see cref="PendingReads"/>, those that held their thread until the disk answered.</summary>
    public long BlockingReads => _kv.BlockingReads;

    /// <summary>How long each phase of the last open took (for the server's start-up log).</summary>
    public string OpenTimings { get; private set; } = "";

    /// <summary>Whether the last open loaded the ordered indexes from the checkpoint's snapshot (else it rebuilt them).</summary>
    public bool OrderedIndexesFromSnapshot { get; private set; }

    /// <summary>Whether <paramref name="id"/> can be stored as an id: valid UTF-16, at most <see cref="MaxKeyBytes"/> UTF-8 bytes, no NUL.</summary>
    public static bool IsValidId(string id) => id.Length > 0 && IsStorableKey(id) && !id.Contains('\0', StringComparison.Ordinal);

    public async ValueTask<(StoreStatus Status, long Version)> CreateAsync(
        TenantId tenant, byte type, string id, string? uniqueKey, string? externalId, ReadOnlyMemory<byte> body, IReadOnlyList<IndexEntry>? indexEntries = null, MemberChange? members = null, CancellationToken cancellationToken = default, Attachment? attachment = null, WriteEvent? change = null)
    {
        var record = new ResourceRecord(false, tenant, type, 1, id, uniqueKey, externalId, body.ToArray(), indexEntries);
        return await WriteAsync(record, expectExisting: false, expectedVersion: null, Membership(tenant, id, members), cancellationToken, attachment, change).ConfigureAwait(false);
    }

    private static MembershipRecord? Membership(TenantId tenant, string id, MemberChange? change)
    {
        if (change is null || (!change.RemoveAll && change.Added.Count == 0 && change.Removed.Count == 0))
        {
            return null;
        }

        foreach (var member in change.Added)
        {
            ValidateId(member);
        }

        foreach (var member in change.Removed)
        {
            ValidateId(member);
        }

        return new MembershipRecord(tenant, id, change.RemoveAll, [.. change.Added], [.. change.Removed]);
    }

    /// <summary>Replaces the resource; with <paramref name="expectedVersion"/>, only if it still has that version.</summary>
    public async ValueTask<(StoreStatus Status, long Version)> ReplaceAsync(
        TenantId tenant, byte type, string id, long? expectedVersion, string? uniqueKey, string? externalId, ReadOnlyMemory<byte> body, IReadOnlyList<IndexEntry>? indexEntries = null, MemberChange? members = null, CancellationToken cancellationToken = default, WriteEvent? change = null)
    {
        var record = new ResourceRecord(false, tenant, type, 0, id, uniqueKey, externalId, body.ToArray(), indexEntries);
        return await WriteAsync(record, expectExisting: true, expectedVersion, Membership(tenant, id, members), cancellationToken, change: change).ConfigureAwait(false);
    }

    public async ValueTask<StoreStatus> DeleteAsync(TenantId tenant, byte type, string id, long? expectedVersion, CancellationToken cancellationToken = default, WriteEvent? change = null)
    {
        var record = new ResourceRecord(true, tenant, type, 0, id, null, null, []);
        var (status, _) = await WriteAsync(record, expectExisting: true, expectedVersion, null, cancellationToken, change: change).ConfigureAwait(false);
        return status;
    }

    private async ValueTask<(StoreStatus Status, long Version)> WriteAsync(ResourceRecord request, bool expectExisting, long? expectedVersion, MembershipRecord? members, CancellationToken cancellationToken, Attachment? attachment = null, WriteEvent? change = null)
    {
        byte[]? attachmentKey = attachment is null ? null : AttachmentKey(request.Tenant, attachment.Key);
        ValidateId(request.Id);
        if (!IsStorableKey(request.UniqueKey) || !IsStorableKey(request.ExternalId) || !AreStorable(request.IndexEntries))
        {
            return (StoreStatus.InvalidValue, 0);
        }

        if (request.Body.Length > MaxRecordBytes)
        {
            return (StoreStatus.TooLarge, 0);
        }

        using var activity = StorageMetrics.Source.StartActivity("scim.store.write");
        await EnterWriteAsync().ConfigureAwait(false);
        List<byte[]>? detached = null;
        try
        {
            var resourceKey = ResourceKey(request.Tenant, request.Type, request.Id);
            while (true)
            {
                (StoreStatus Status, long Version) result;

                // Lock every key this write may touch, in stripe order (no deadlocks); re-check after.
                var seen = Read(resourceKey);
                var stripes = StripesFor(resourceKey, request, seen, members, attachmentKey);
                var taken = new List<int>(stripes.Length);
                try
                {
                    foreach (int stripe in stripes)
                    {
                        await _stripes[stripe].WaitAsync(cancellationToken).ConfigureAwait(false);
                        taken.Add(stripe);
                    }

                    var current = Read(resourceKey);
                    if (!SameIndexKeys(current, seen))
                    {
                        continue;
                    }

                    if (current is null && expectExisting)
                    {
                        return (StoreStatus.NotFound, 0);
                    }

                    if (current is not null && !expectExisting)
                    {
                        return (StoreStatus.AlreadyExists, current.Version);
                    }

                    if (expectedVersion is { } expected && current is not null && current.Version != expected)
                    {
                        return (StoreStatus.VersionMismatch, current.Version);
                    }

                    if (!request.IsDelete && request.UniqueKey is { } uniqueKey
                        && FindByUniqueKey(request.Tenant, request.Type, uniqueKey) is { } owner && owner != request.Id)
                    {
                        return (StoreStatus.UniquenessConflict, 0);
                    }

                    // Versions only grow, across deletes too (the tombstone keeps the last one), so an
                    // old If-Match never matches a re-created resource and replay can compare versions.
                    long version = (current?.Version ?? Tombstone(request.Tenant, request.Type, request.Id)) + 1;
                    // A delete's record carries the externalId it had: its event names the subject by it
                    // (Apply ignores a delete's keys).
                    var record = request with { Version = version, ExternalId = request.IsDelete ? current?.ExternalId : request.ExternalId };

                    // One record, one commit: the group and its member change land together, and an
                    // attachment (an idempotency record) with them.
                    byte[] encoded = members is null ? record.Encode() : CombinedRecord.Encode(record, members);
                    byte[]? attached = null;
                    if (attachment is not null)
                    {
                        attached = attachment.Value(version);
                        encoded = AttachedRecord.Encode(encoded, attachmentKey!, attached);
                    }

                    if (change is not null)
                    {
                        // The change rides in the write's own record (DESIGN-NOTES §10).
                        encoded = EventRecord.Encode(encoded, change, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
                    }

                    if (encoded.Length > _log.MaxRecordBytes)
                    {
                        // Refused before the log sees it (a group with a huge member list).
                        return (StoreStatus.TooLarge, 0);
                    }

                    await EnqueueAndApplyAsync(encoded, () =>
                    {
                        Apply(record, current);
                        if (members is not null)
                        {
                            detached = ApplyToGroup(members);
                        }

                        if (attached is not null)
                        {
                            _kv.Upsert(attachmentKey!, attached);
                        }
                    }, cancellationToken).ConfigureAwait(false);

                    result = (StoreStatus.Ok, record.Version);
                }
                finally
                {
                    foreach (int stripe in taken)
                    {
                        _stripes[stripe].Release();
                    }
                }

                if (detached is not null)
                {
                    // A PUT of a group replaced its members: the former ones are detached after
                    // the write's locks are released (see DetachAsync).
                    await DetachAsync(request.Tenant, request.Id, detached).ConfigureAwait(false);
                }

                return result;
            }
        }
        finally
        {
            if (detached is not null)
            {
                EndDetach(request.Tenant, request.Id);
            }

            ExitWrite();
        }
    }

    // Durable first, then applied (under the caller's locks): what readers see, and every decision
    // taken from it (a 409, a version match), is always durable state, so nothing a client was shown
    // can vanish in a crash. Once a record is in the log it will be replayed: failing to apply it
    // live would let the store diverge from what recovery produces, so the store stops taking
    // writes (fail-stop).
    private async ValueTask EnqueueAndApplyAsync(byte[] encoded, Action apply, CancellationToken cancellationToken)
    {
        ThrowIfStopped();
        long address = await _log.EnqueueAsync(encoded, cancellationToken).ConfigureAwait(false);
        await WaitDurableAsync(address).ConfigureAwait(false);
        try
        {
            apply();
        }
        catch (Exception e)
        {
            _failure = e;
            throw;
        }
    }

    // A failed commit may still leave the record in the log for a later commit to make durable:
    // stop, so a restart (replaying only what is durable) decides what happened.
    private async ValueTask WaitDurableAsync(long address)
    {
        try
        {
            await _log.WaitForDurableAsync(address).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            _failure ??= e;
            throw;
        }
    }

    private void ThrowIfStopped()
    {
        if (_failure is not null)
        {
            throw new InvalidOperationException("The store stopped after a failed write; restart it to recover.", _failure);
        }

        if (_ordered.LoadFailure is { } loadFailure)
        {
            throw new InvalidOperationException("The ordered indexes failed to load; restart to rebuild them.", loadFailure);
        }
    }

    private long Tombstone(TenantId tenant, byte type, string id) =>
        _kv.TryRead(IndexKey(TombstonePrefix, tenant, type, id), out var bytes) ? BinaryPrimitives.ReadInt64LittleEndian(bytes) : 0;

    private static void ValidateId(string id)
    {
        if (!IsStorableKey(id) || id.Contains('\0', StringComparison.Ordinal))
        {
            throw new ArgumentException($"An id must be valid UTF-16 of at most {MaxKeyBytes} UTF-8 bytes without NUL.", nameof(id));
        }
    }

    /// <summary>Whether index entries can be stored (every backend keeps these limits).</summary>
    public static bool AreStorable(IReadOnlyList<IndexEntry>? indexEntries)
    {
        if (indexEntries is null)
        {
            return true;
        }

        if (indexEntries.Count > MaxIndexEntries)
        {
            return false;
        }

        foreach (var entry in indexEntries)
        {
            if (!IsStorableKey(entry.Key) || entry.Key.StartsWith('\uFFFF'))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Whether a key (userName, externalId, index key) can be stored: valid UTF-16, at most <see cref="MaxKeyBytes"/> UTF-8 bytes.</summary>
    public static bool IsStorableKey(string? value)
    {
        if (value is null)
        {
            return true;
        }

        try
        {
            return s_strictUtf8.GetByteCount(value) <= MaxKeyBytes;
        }
        catch (EncoderFallbackException)
        {
            // A lone surrogate would encode as U+FFFD and collide with other keys.
            return false;
        }
    }

    private ResourceRecord? Read(byte[] resourceKey) => _kv.TryRead(resourceKey, out var bytes) ? ResourceRecord.Decode(bytes) : null;

    private static bool SameIndexKeys(ResourceRecord? a, ResourceRecord? b) =>
        (a is null) == (b is null) && (a is null || (a.UniqueKey == b!.UniqueKey && a.ExternalId == b.ExternalId && SameLookups(a, b)));

    // The lookup entries of both, in order (ordered entries skipped on either side).
    private static bool SameLookups(ResourceRecord a, ResourceRecord b)
    {
        var left = a.IndexEntries ?? [];
        var right = b.IndexEntries ?? [];
        int i = 0, j = 0;
        while (true)
        {
            while (i < left.Count && !left[i].IsLookup)
            {
                i++;
            }

            while (j < right.Count && !right[j].IsLookup)
            {
                j++;
            }

            if (i == left.Count || j == right.Count)
            {
                return i == left.Count && j == right.Count;
            }

            if (left[i++] != right[j++])
            {
                return false;
            }
        }
    }

    private int[] StripesFor(byte[] resourceKey, ResourceRecord request, ResourceRecord? current, MembershipRecord? members, byte[]? attachmentKey)
    {
        var keys = new List<byte[]> { resourceKey };
        if (attachmentKey is not null)
        {
            keys.Add(attachmentKey);
        }

        if (members is not null)
        {
            keys.Add(IndexKey((byte)'H', members.Tenant, 0, members.GroupId));
            foreach (var member in members.Added.Concat(members.Removed))
            {
                keys.Add(IndexKey((byte)'h', members.Tenant, 0, member));
            }
        }

        foreach (var unique in new[] { request.UniqueKey, current?.UniqueKey })
        {
            if (unique is not null)
            {
                keys.Add(UniqueKey(request.Tenant, request.Type, unique));
            }
        }

        foreach (var external in new[] { request.ExternalId, current?.ExternalId })
        {
            if (external is not null)
            {
                keys.Add(IndexKey(ExternalPrefix, request.Tenant, request.Type, external));
            }
        }

        // Lookup keys are shared id lists: their read-modify-write needs their stripes too.
        foreach (var entry in (request.IndexEntries ?? []).Concat(current?.IndexEntries ?? []))
        {
            if (entry.IsLookup)
            {
                keys.Add(LookupKey(request.Tenant, request.Type, entry.Index, entry.Key));
            }
        }

        return StripesFor(keys);
    }

    private int[] StripesFor(List<byte[]> keys)
    {
        var stripes = new SortedSet<int>();
        foreach (var key in keys)
        {
            stripes.Add((int)(Fnv1a(key) % (uint)_stripes.Length));
        }

        return [.. stripes];
    }

    private static uint Fnv1a(ReadOnlySpan<byte> bytes)
    {
        uint hash = 2166136261;
        foreach (byte b in bytes)
        {
            hash = (hash ^ b) * 16777619;
        }

        return hash;
    }

    private async ValueTask EnterWriteAsync()
    {
        while (true)
        {
            Task paused;
            lock (_gate)
            {
                if (_paused is null)
                {
                    _activeWriters++;
                    return;
                }

                paused = _paused.Task;
            }

            await paused.ConfigureAwait(false);
        }
    }

    private void ExitWrite()
    {
        lock (_gate)
        {
            if (--_activeWriters == 0)
            {
                _drained?.TrySetResult();
            }
        }
    }

    // userName is not caseExact (RFC 7643 §4.1.1): uniqueness compares case-insensitively.
    private static string Fold(string value) => value.ToUpperInvariant();

    /// <summary>
    /// The key of a unique name's entry: the name folded (<see cref="Fold"/>) in UTF-8. An ASCII
    /// name, what identity providers send, is folded straight into the key's bytes (no upper-cased
    /// string, no UTF-16 to UTF-8 pass: they were ~2.5 % of a /Bulk sync's CPU with three per create);
    /// any other goes through <see cref="Fold"/>, whose UTF-8 length can differ from the name's.
    /// </summary>
    internal static byte[] UniqueKey(TenantId tenant, byte type, string name)
    {
        if (!Ascii.IsValid(name))
        {
            return IndexKey(UniquePrefix, tenant, type, Fold(name));
        }

        var key = new byte[6 + name.Length];
        WriteKeyHead(key, UniquePrefix, tenant, type);
        Ascii.ToUpper(name, key.AsSpan(6), out _);
        return key;
    }

    /// <summary>The same key the slow way, for tests that hold the fast one to it.</summary>
    internal static byte[] UniqueKeyByFold(TenantId tenant, byte type, string name) => IndexKey(UniquePrefix, tenant, type, Fold(name));

    internal static byte[] ResourceKey(TenantId tenant, byte type, string id) => IndexKey(ResourcePrefix, tenant, type, id);

    private static byte[] LookupKey(TenantId tenant, byte type, byte index, string key) => IndexKey(LookupPrefix, tenant, type, LookupText(index, key));

    private static string LookupText(byte index, string key) => index.ToString("x2", System.Globalization.CultureInfo.InvariantCulture) + key;

    private static byte[] IndexKey(byte prefix, TenantId tenant, byte type, string text)
    {
        var key = new byte[6 + Encoding.UTF8.GetByteCount(text)];
        WriteKey(key, prefix, tenant, type, text);
        return key;
    }

    // Every key: prefix, tenant (big-endian, so a tenant's keys sort together), type, UTF-8 text.
    // The destination is exactly 6 + the text's UTF-8 length.
    private static void WriteKey(Span<byte> destination, byte prefix, TenantId tenant, byte type, string text)
    {
        WriteKeyHead(destination, prefix, tenant, type);
        Encoding.UTF8.GetBytes(text, destination[6..]);
    }

    // The six bytes before a key's text.
    private static void WriteKeyHead(Span<byte> destination, byte prefix, TenantId tenant, byte type)
    {
        destination[0] = prefix;
        BinaryPrimitives.WriteUInt32BigEndian(destination[1..], tenant.Value);
        destination[5] = type;
    }

    private static SemaphoreSlim[] CreateStripes(int count)
    {
        var stripes = new SemaphoreSlim[count];
        for (int i = 0; i < count; i++)
        {
            stripes[i] = new SemaphoreSlim(1, 1);
        }

        return stripes;
    }
}
