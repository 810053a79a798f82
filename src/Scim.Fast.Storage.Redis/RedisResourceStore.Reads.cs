using System.Buffers;
using System.Runtime.CompilerServices;

using Scim.Fast.Storage.Resources;

using StackExchange.Redis;

namespace Scim.Fast.Storage.Redis;

/// <summary>Reads: resources, the unique, externalId and lookup indexes, ordered pages, membership, attachments.</summary>
public sealed partial class RedisResourceStore
{
    private static readonly RedisValue[] s_wholeResource = ["v", "b", "u", "x"];
    private static readonly RedisValue[] s_versionAndBody = ["v", "b"];

    public ValueTask<string?> GetUniqueKeyAsync(TenantId tenant, byte type, string id) => new(Get(tenant, type, id)?.UniqueKey);

    public StoredResource? Get(TenantId tenant, byte type, string id)
    {
        if (!ResourceStore.IsValidId(id))
        {
            return null;
        }

        var fields = Read(() => _db.HashGet(RedisKeys.Resource(Tag(tenant), type, id), s_wholeResource));
        return fields[0].IsNull ? null : new StoredResource(id, (long)fields[0], (string?)fields[2], (string?)fields[3], (byte[])fields[1]!);
    }

    public bool Exists(TenantId tenant, byte type, string id) =>
        ResourceStore.IsValidId(id) && Read(() => _db.KeyExists(RedisKeys.Resource(Tag(tenant), type, id)));

    public bool TryReadBody(TenantId tenant, byte type, string id, ArrayBufferWriter<byte> scratch, out ReadOnlyMemory<byte> body, out long version)
    {
        body = default;
        version = 0;
        if (!ResourceStore.IsValidId(id))
        {
            return false;
        }

        var fields = Read(() => _db.HashGet(RedisKeys.Resource(Tag(tenant), type, id), s_versionAndBody));
        (bool found, body, version) = Located(fields, scratch);
        return found;
    }

    public async ValueTask<(bool Found, ReadOnlyMemory<byte> Body, long Version)> TryReadBodyAsync(TenantId tenant, byte type, string id, ArrayBufferWriter<byte> scratch)
    {
        if (!ResourceStore.IsValidId(id))
        {
            return (false, default, 0);
        }

        var fields = await ReadAsync(() => _db.HashGetAsync(RedisKeys.Resource(Tag(tenant), type, id), s_versionAndBody)).ConfigureAwait(false);
        return Located(fields, scratch);
    }

    private static (bool Found, ReadOnlyMemory<byte> Body, long Version) Located(RedisValue[] fields, ArrayBufferWriter<byte> scratch)
    {
        if (fields[0].IsNull)
        {
            return (false, default, 0);
        }

        int start = scratch.WrittenCount;
        scratch.Write(((ReadOnlyMemory<byte>)fields[1]).Span);
        return (true, scratch.WrittenMemory[start..], (long)fields[0]);
    }

    public bool ReadsAreRemote => true;

    // The bodies of one pipelined batch (ReadBodies), handed over in order.
    // Keys spread over the cluster's nodes have no storage order to read in: scans read by id.
    public IReadOnlyList<StoredRange> StoredRanges(int parts) => [];

    public StoredRange? StoredSince(long end) => null;

    public void ScanStored(TenantId tenant, byte type, StoredRange range, IResourceStore.StoredRecordReader onRecord) =>
        throw new NotSupportedException("The Redis store has no storage-order scan (StoredRanges is empty).");

    public void ReadBodiesEach(TenantId tenant, byte type, string[] ids, int from, int to, IResourceStore.BodyReader onBody)
    {
        var bodies = ReadBodies(tenant, type, new ArraySegment<string>(ids, from, to - from));
        for (int i = 0; i < bodies.Length; i++)
        {
            if (bodies[i] is { } read)
            {
                onBody(from + i, read.Body, read.Version);
            }
        }
    }

    // One pipelined batch: a chunk of a scan's candidates (128) costs one round trip, not one each.
    public (byte[] Body, long Version)?[] ReadBodies(TenantId tenant, byte type, IReadOnlyList<string> ids)
    {
        string tag = Tag(tenant);
        var reads = new Task<RedisValue[]>?[ids.Count];
        var batch = _db.CreateBatch();
        for (int i = 0; i < ids.Count; i++)
        {
            if (ResourceStore.IsValidId(ids[i]))
            {
                reads[i] = batch.HashGetAsync(RedisKeys.Resource(tag, type, ids[i]), s_versionAndBody);
            }
        }

        batch.Execute();
        var bodies = new (byte[] Body, long Version)?[ids.Count];
        for (int i = 0; i < ids.Count; i++)
        {
            if (reads[i] is { } read && Read(() => read.GetAwaiter().GetResult()) is { } fields && !fields[0].IsNull)
            {
                bodies[i] = ((byte[])fields[1]!, (long)fields[0]);
            }
        }

        return bodies;
    }

    public string? FindByUniqueKey(TenantId tenant, byte type, string uniqueKey) =>
        ResourceStore.IsStorableKey(uniqueKey) ? (string?)Read(() => _db.StringGet(RedisKeys.Unique(Tag(tenant), type, uniqueKey))) : null;

    public ValueTask<string?> FindByUniqueKeyAsync(TenantId tenant, byte type, string uniqueKey) => new(FindByUniqueKey(tenant, type, uniqueKey));

    public IReadOnlyList<string>? FindByLookup(TenantId tenant, byte type, byte index, string key) =>
        index >= IndexEntry.FirstLookupIndex && ResourceStore.IsStorableKey(key) ? ReadIdSet(RedisKeys.Lookup(Tag(tenant), type, index, key)) : [];

    public IReadOnlyList<string>? FindByExternalId(TenantId tenant, byte type, string externalId) =>
        ResourceStore.IsStorableKey(externalId) ? ReadIdSet(RedisKeys.External(Tag(tenant), type, externalId)) : [];

    public ValueTask<IReadOnlyList<string>?> FindByLookupAsync(TenantId tenant, byte type, byte index, string key) => new(FindByLookup(tenant, type, index, key));

    public ValueTask<IReadOnlyList<string>?> FindByExternalIdAsync(TenantId tenant, byte type, string externalId) => new(FindByExternalId(tenant, type, externalId));

    // As the embedded store: a key shared by more than MaxListedIds resources answers null and the
    // caller scans, so one placeholder value never costs a huge answer.
    private IReadOnlyList<string>? ReadIdSet(RedisKey key)
    {
        var ids = Read(() =>
        {
            var batch = _db.CreateBatch();
            var count = batch.SetLengthAsync(key);
            var members = batch.SetMembersAsync(key);
            batch.Execute();
            return count.GetAwaiter().GetResult() > ResourceStore.MaxListedIds ? null : members.GetAwaiter().GetResult();
        });
        if (ids is null)
        {
            return null;
        }

        var list = new List<string>(ids.Length);
        foreach (var id in ids)
        {
            list.Add(id!);
        }

        // Set order is arbitrary: answer in id order, as the embedded store's lists are kept.
        list.Sort(string.CompareOrdinal);
        return list;
    }

    public List<OrderedPosition> Page(TenantId tenant, byte type, byte index, OrderedRange range, OrderedPosition? after, int count, bool descending = false, int skip = 0)
    {
        var page = new List<OrderedPosition>(Math.Clamp(count, 0, 1024));
        if (count <= 0)
        {
            return page;
        }

        var (above, below) = Bounds(range, after, descending);
        RedisKey key = RedisKeys.Ordered(Tag(tenant), type, index);
        RedisValue[] members;
        if (skip == 0)
        {
            // ZRANGE … BYLEX [REV] with bounds spelled out ("(" + member, "-", "+"): the client's
            // own by-value overloads decide which bound is which by comparing the values, which
            // for binary members and an open end can swap them.
            members = Read(() => (RedisValue[])_db.Execute("ZRANGE", descending
                ? [key, Upper(below), Lower(above), "BYLEX", "REV", "LIMIT", 0, count]
                : [key, Lower(above), Upper(below), "BYLEX", "LIMIT", 0, count])!);
        }
        else
        {
            // startIndex: ranks instead of skipping member by member, O(log n) however deep.
            // Ranks by ZLEXCOUNT: members at or before the lower bound, members before the upper.
            long first = above is { } a ? LexCount(key, "-", Inclusive(a)) : 0;
            long end = below is { } b ? LexCount(key, "-", Upper(b)) : Read(() => _db.SortedSetLength(key));
            long start, stop;
            if (descending)
            {
                stop = end - 1 - skip;
                start = Math.Max(first, stop - count + 1);
            }
            else
            {
                start = first + skip;
                stop = Math.Min(end - 1, start + count - 1);
            }

            members = start > stop ? [] : Read(() => _db.SortedSetRangeByRank(key, start, stop));
            if (descending)
            {
                Array.Reverse(members);
            }
        }

        foreach (var member in members)
        {
            page.Add(OrderedMember.Decode((byte[])member!));
        }

        return page;
    }

    public IEnumerable<OrderedPosition> Walk(TenantId tenant, byte type, byte index, OrderedRange range, OrderedPosition? after = null, bool descending = false)
    {
        const int pageSize = 1024;
        while (true)
        {
            var page = Page(tenant, type, index, range, after, pageSize, descending);
            foreach (var position in page)
            {
                yield return position;
            }

            if (page.Count < pageSize)
            {
                yield break;
            }

            after = page[^1];
        }
    }

    public bool OrderedContains(TenantId tenant, byte type, byte index, string key, string id) =>
        Read(() => _db.SortedSetScore(RedisKeys.Ordered(Tag(tenant), type, index), OrderedMember.Encode(key, id)).HasValue);

    // Other hosts delete too, unseen here: every check is worth making again.
    public long DeletionMark => 0;

    public bool MayHaveDeletedSince(long mark) => true;

    public bool[] OrderedContainsEach(TenantId tenant, byte type, byte index, IReadOnlyList<(string Key, string Id)> entries)
    {
        var found = new bool[entries.Count];
        if (entries.Count == 0)
        {
            return found;
        }

        var members = new RedisValue[entries.Count];
        for (int i = 0; i < entries.Count; i++)
        {
            members[i] = OrderedMember.Encode(entries[i].Key, entries[i].Id);
        }

        // ZMSCORE (Redis 6.2): every member in one command and one round trip.
        var scores = Read(() => _db.SortedSetScores(RedisKeys.Ordered(Tag(tenant), type, index), members));
        for (int i = 0; i < found.Length; i++)
        {
            found[i] = scores[i].HasValue;
        }

        return found;
    }

    public int OrderedCount(TenantId tenant, byte type, byte index, OrderedRange range)
    {
        RedisKey key = RedisKeys.Ordered(Tag(tenant), type, index);
        if (range.Above is null && range.Below is null)
        {
            return (int)Read(() => _db.SortedSetLength(key));
        }

        return (int)LexCount(key, Lower(range.Above), Upper(range.Below));
    }

    // The open interval a page reads: the range, narrowed by the cursor on the side it walks from.
    private static (OrderedPosition? Above, OrderedPosition? Below) Bounds(OrderedRange range, OrderedPosition? after, bool descending)
    {
        var above = range.Above;
        var below = range.Below;
        if (after is { } cursor)
        {
            if (!descending && (above is null || OrderedMember.Compare(cursor, above.Value) > 0))
            {
                above = cursor;
            }
            else if (descending && (below is null || OrderedMember.Compare(cursor, below.Value) < 0))
            {
                below = cursor;
            }
        }

        return (above, below);
    }

    // Lex bounds (ZRANGE BYLEX): an open end is "-" or "+"; a position bound excludes the position itself.
    private static RedisValue Lower(OrderedPosition? position) => position is { } p ? OrderedMember.Exclusive(p) : (RedisValue)"-";

    private static RedisValue Upper(OrderedPosition? position) => position is { } p ? OrderedMember.Exclusive(p) : (RedisValue)"+";

    private static RedisValue Inclusive(OrderedPosition position) => (byte[])[(byte)'[', .. OrderedMember.Encode(position.Key, position.Id)];

    private long LexCount(RedisKey key, RedisValue lower, RedisValue upper) => Read(() => (long)_db.Execute("ZLEXCOUNT", key, lower, upper));

    public IEnumerable<string> GetMembers(TenantId tenant, string groupId)
    {
        // SSCAN, a page at a time: a group of a million members streams. (SSCAN may return a member
        // twice while the set grows; a group is not edited and read at once in one request.)
        using var members = _db.SetScan(RedisKeys.Members(Tag(tenant), groupId), pageSize: 1000).GetEnumerator();
        while (Read(members.MoveNext))
        {
            yield return members.Current!;
        }
    }

    public async IAsyncEnumerable<string> GetMembersAsync(TenantId tenant, string groupId, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        // SSCAN as above, each page's round trip awaited.
        await using var members = _db.SetScanAsync(RedisKeys.Members(Tag(tenant), groupId), pageSize: 1000).GetAsyncEnumerator(cancellationToken);
        while (await ReadAsync(() => members.MoveNextAsync().AsTask()).ConfigureAwait(false))
        {
            yield return members.Current!;
        }
    }

    public long MemberCount(TenantId tenant, string groupId) => Read(() => _db.SetLength(RedisKeys.Members(Tag(tenant), groupId)));

    public bool IsMember(TenantId tenant, string groupId, string memberId) => Read(() => _db.SetContains(RedisKeys.Members(Tag(tenant), groupId), memberId));

    public ValueTask<IReadOnlyList<string>> GetGroupsOfAsync(TenantId tenant, string memberId) => new(GetGroupsOf(tenant, memberId));

    public IReadOnlyList<string> GetGroupsOf(TenantId tenant, string memberId)
    {
        string tag = Tag(tenant);
        var groups = (RedisValue[])EvaluateRead(s_groupsOf, [RedisKeys.GroupsOf(tag, memberId)], [tag, memberId])!;
        var list = new List<string>(groups.Length);
        foreach (var group in groups)
        {
            list.Add(group!);
        }

        list.Sort(string.CompareOrdinal);
        return list;
    }

    public IReadOnlyList<string>? BuiltIndexes(byte type)
    {
        var list = Read(() => _db.ListRange(RedisKeys.BuiltIndexes(Global, type)));
        if (list.Length == 0 && !Read(() => _db.KeyExists(RedisKeys.BuiltIndexes(Global, type))))
        {
            return null;
        }

        var built = new List<string>(list.Length);
        foreach (var item in list)
        {
            built.Add(item!);
        }

        return built;
    }

    public void MarkIndexesBuilt(byte type, IReadOnlyList<string> indexes)
    {
        var key = RedisKeys.BuiltIndexes(Global, type);
        var transaction = _db.CreateTransaction();
        _ = transaction.KeyDeleteAsync(key);
        var values = new RedisValue[indexes.Count + 1];
        values[0] = "";
        for (int i = 0; i < indexes.Count; i++)
        {
            values[i + 1] = indexes[i];
        }

        // A leading "" keeps the list (and so "recorded") even with no index; read back without it.
        _ = transaction.ListRightPushAsync(key, values);
        Read(() => transaction.Execute());
    }

    public byte[]? ReadAttachment(TenantId tenant, ReadOnlySpan<byte> key)
    {
        var redisKey = RedisKeys.Attachment(Tag(tenant), CheckedKey(key));
        return (byte[]?)Read(() => _db.StringGet(redisKey));
    }

    public async ValueTask PutAttachmentAsync(TenantId tenant, byte[] key, byte[] value, CancellationToken cancellationToken = default) =>
        await PutAsync(RedisKeys.Attachment(Tag(tenant), CheckedKey(key)), value).ConfigureAwait(false);

    public async ValueTask PutStateAsync(TenantId tenant, byte[] key, byte[] value, CancellationToken cancellationToken = default) =>
        await PutAsync(RedisKeys.State(Tag(tenant), CheckedKey(key)), value).ConfigureAwait(false);

    public byte[]? ReadState(TenantId tenant, ReadOnlySpan<byte> key)
    {
        var redisKey = RedisKeys.State(Tag(tenant), CheckedKey(key));
        return (byte[]?)Read(() => _db.StringGet(redisKey));
    }

    public async ValueTask<bool> TryHoldLeaseAsync(TenantId tenant, byte[] key, string holder, int milliseconds)
    {
        // Not waited for by a replica: a lease lost in a failover only lets two hosts do the job for
        // a moment (push delivery is at least once), never loses anything.
        var redisKey = RedisKeys.Lease(Tag(tenant), CheckedKey(key));
        var held = await EvaluateAsync(s_lease, [redisKey], [holder, milliseconds]).ConfigureAwait(false);
        return (long)held == 1;
    }

    // An empty value deletes (no attachment or state record is empty).
    private async Task PutAsync(RedisKey key, byte[] value)
    {
        await ReadAsync(() => value.Length == 0 ? _db.KeyDeleteAsync(key) : _db.StringSetAsync(key, value)).ConfigureAwait(false);
        await WaitForReplicasAsync(key).ConfigureAwait(false);
    }

    private static ReadOnlySpan<byte> CheckedKey(ReadOnlySpan<byte> key)
    {
        if (key.IsEmpty || key.Length > ResourceStore.MaxAttachmentKeyBytes)
        {
            throw new ArgumentException($"An attachment key is 1 to {ResourceStore.MaxAttachmentKeyBytes} bytes.", nameof(key));
        }

        return key;
    }

    public async ValueTask<int> SweepAttachmentsAsync(Func<byte[], bool> expired, CancellationToken cancellationToken = default)
    {
        int deleted = 0;
        foreach (var key in TenantKeys("a:*"))
        {
            cancellationToken.ThrowIfCancellationRequested();
            var value = (byte[]?)await ReadAsync(() => _db.StringGetAsync(key)).ConfigureAwait(false);
            if (value is not null && expired(value))
            {
                // Only if unchanged since read: a write may have reused the key meanwhile.
                var transaction = _db.CreateTransaction();
                transaction.AddCondition(Condition.StringEqual(key, value));
                _ = transaction.KeyDeleteAsync(key);
                if (await ReadAsync(() => transaction.ExecuteAsync()).ConfigureAwait(false))
                {
                    deleted++;
                }
            }
        }

        return deleted;
    }

    /// <summary>Keys matching a pattern on every primary (SCAN): sweeps and verify, never requests.</summary>
    /// <summary>
    /// Every tenant's keys of one kind ("a:*", "f"…). SCAN's '*' also matches '}', so a key built
    /// from user data ("{t:5}x:1:a}f") can match a pattern meant for another kind: each key is
    /// checked again, the tenant tag exactly and the kind right after it.
    /// </summary>
    internal IEnumerable<RedisKey> TenantKeys(string suffix)
    {
        string tagStart = "{" + _options.KeyPrefix + "t:";
        bool prefix = suffix.EndsWith('*');
        string literal = prefix ? suffix[..^1] : suffix;
        foreach (var key in KeysOnPrimaries(TenantKeyPattern(suffix)))
        {
            string name = key!;
            int end = name.IndexOf('}', StringComparison.Ordinal);
            if (end <= tagStart.Length || !name.StartsWith(tagStart, StringComparison.Ordinal) || !IsDigits(name.AsSpan(tagStart.Length, end - tagStart.Length)))
            {
                continue;
            }

            var rest = name.AsSpan(end + 1);
            if (prefix ? rest.StartsWith(literal, StringComparison.Ordinal) : rest.SequenceEqual(literal))
            {
                yield return key;
            }
        }

        static bool IsDigits(ReadOnlySpan<char> text)
        {
            foreach (char c in text)
            {
                if (!char.IsAsciiDigit(c))
                {
                    return false;
                }
            }

            return true;
        }
    }

    internal IEnumerable<RedisKey> KeysOnPrimaries(string pattern)
    {
        foreach (var endpoint in _redis.GetEndPoints())
        {
            var server = _redis.GetServer(endpoint);
            if (!server.IsConnected || server.IsReplica)
            {
                continue;
            }

            foreach (var key in server.Keys(pattern: pattern, pageSize: 1000))
            {
                yield return key;
            }
        }
    }
}
