using System.Buffers;
using System.Text;

using Scim.Fast.Storage.Kv;

namespace Scim.Fast.Storage.Resources;

/// <summary>Reads: resources by id (whole, or the stored body for the hot path), the unique, externalId and lookup indexes, ordered pages and walks.</summary>
public sealed partial class ResourceStore
{
    public StoredResource? Get(TenantId tenant, byte type, string id)
    {
        var record = Read(ResourceKey(tenant, type, id));
        return record is null ? null : new StoredResource(record.Id, record.Version, record.UniqueKey, record.ExternalId, record.Body);
    }

    /// <summary>A resource's unique key (a group's displayName), from memory when read before (<see cref="UniqueKeyCache"/>).</summary>
    public ValueTask<string?> GetUniqueKeyAsync(TenantId tenant, byte type, string id)
    {
        if (_uniqueKeys.TryGet(tenant, type, id, out var known))
        {
            return new(known);
        }

        long stamp = _uniqueKeys.Stamp;
        var scratch = TakeSmallScratch();
        var read = SmallReadAsync(ReadRecordAsync(tenant, type, id, scratch, sizeHint: 512), scratch, s_uniqueKeyOf);
        if (read.IsCompletedSuccessfully)
        {
            Remember(tenant, type, id, read.Result, stamp);
            return read;
        }

        return AwaitKeyAsync(read, tenant, type, id, stamp);

        async ValueTask<string?> AwaitKeyAsync(ValueTask<string?> read, TenantId tenant, byte type, string id, long stamp)
        {
            string? key = await read.ConfigureAwait(false);
            Remember(tenant, type, id, key, stamp);
            return key;
        }
    }

    private void Remember(TenantId tenant, byte type, string id, string? key, long stamp)
    {
        if (key is not null)
        {
            _uniqueKeys.Put(tenant, type, id, key, stamp);
        }
    }

    public ValueTask<string?> FindByUniqueKeyAsync(TenantId tenant, byte type, string uniqueKey)
    {
        var scratch = TakeSmallScratch();
        return SmallReadAsync(_kv.TryReadAsync(UniqueKey(tenant, type, uniqueKey), scratch, sizeHint: 512), scratch, s_idOf);
    }

    // Reads a short string on a request thread: the thread's scratch buffer goes with the read, and
    // comes back when the string is made; a read that went to disk owns it until it completes, and
    // the thread makes a new one meanwhile.
    private delegate string? SmallDecoder(ReadOnlySpan<byte> bytes);

    private static readonly SmallDecoder s_uniqueKeyOf = static record => ResourceRecord.ReadUniqueKey(record);
    private static readonly SmallDecoder s_idOf = static id => Encoding.UTF8.GetString(id);

    private static ArrayBufferWriter<byte> TakeSmallScratch()
    {
        var scratch = t_uniqueKeyScratch ?? new ArrayBufferWriter<byte>(512);
        t_uniqueKeyScratch = null;
        scratch.ResetWrittenCount();
        return scratch;
    }

    private static ValueTask<string?> SmallReadAsync(ValueTask<bool> read, ArrayBufferWriter<byte> scratch, SmallDecoder decode)
    {
        return read.IsCompletedSuccessfully ? new(Decode(read.Result, scratch, decode)) : AwaitAsync(read, scratch, decode);

        static async ValueTask<string?> AwaitAsync(ValueTask<bool> read, ArrayBufferWriter<byte> scratch, SmallDecoder decode) =>
            Decode(await read.ConfigureAwait(false), scratch, decode);
    }

    private static string? Decode(bool found, ArrayBufferWriter<byte> scratch, SmallDecoder decode)
    {
        string? text = found ? decode(scratch.WrittenSpan) : null;
        t_uniqueKeyScratch = scratch;
        return text;
    }

    [ThreadStatic]
    private static ArrayBufferWriter<byte>? t_uniqueKeyScratch;

    /// <summary>Whether a resource exists, without copying or decoding it.</summary>
    public bool Exists(TenantId tenant, byte type, string id)
    {
        int keyLength = 6 + Encoding.UTF8.GetByteCount(id);
        if (keyLength > 6 + MaxKeyBytes)
        {
            return false;
        }

        Span<byte> key = stackalloc byte[keyLength];
        WriteKey(key, ResourcePrefix, tenant, type, id);
        return _kv.Contains(key);
    }

    /// <summary>
    /// The hot read path: the stored body (the resource's JSON as written) and its version, copied
    /// once into <paramref name="scratch"/> (which the caller resets and reuses), with nothing decoded.
    /// </summary>
    public bool TryReadBody(TenantId tenant, byte type, string id, ArrayBufferWriter<byte> scratch, out ReadOnlyMemory<byte> body, out long version)
    {
        body = default;
        version = 0;
        int keyLength = 6 + Encoding.UTF8.GetByteCount(id);
        byte[]? rented = keyLength > 512 ? System.Buffers.ArrayPool<byte>.Shared.Rent(keyLength) : null;
        Span<byte> key = (rented ?? stackalloc byte[512])[..keyLength];
        try
        {
            WriteKey(key, ResourcePrefix, tenant, type, id);
            int start = scratch.WrittenCount;
            bool found;
            (found, body, version) = Located(_kv.TryRead(key, scratch), scratch, start);
            return found;
        }
        finally
        {
            if (rented is not null)
            {
                System.Buffers.ArrayPool<byte>.Shared.Return(rented);
            }
        }
    }

    /// <summary>
    /// <see cref="TryReadBody"/> for request threads: a record on disk is awaited, not waited for
    /// (see <see cref="FasterByteStore.TryReadAsync"/>). Complete at once, without allocating, when
    /// the record is in memory. <paramref name="scratch"/> belongs to the read until it completes.
    /// </summary>
    public ValueTask<(bool Found, ReadOnlyMemory<byte> Body, long Version)> TryReadBodyAsync(TenantId tenant, byte type, string id, ArrayBufferWriter<byte> scratch)
    {
        int start = scratch.WrittenCount;
        var read = ReadRecordAsync(tenant, type, id, scratch, sizeHint: 4096);
        return read.IsCompletedSuccessfully ? new(Located(read.Result, scratch, start)) : AwaitBodyAsync(read, scratch, start);

        static async ValueTask<(bool, ReadOnlyMemory<byte>, long)> AwaitBodyAsync(ValueTask<bool> read, ArrayBufferWriter<byte> scratch, int start) =>
            Located(await read.ConfigureAwait(false), scratch, start);
    }

    // A resource's encoded record appended to scratch; a record on disk is awaited. Complete at
    // once, without allocating, when the record is in memory.
    private ValueTask<bool> ReadRecordAsync(TenantId tenant, byte type, string id, ArrayBufferWriter<byte> scratch, int sizeHint)
    {
        int keyLength = 6 + Encoding.UTF8.GetByteCount(id);
        if (keyLength > 6 + MaxKeyBytes)
        {
            return new(false);
        }

        byte[] key = ArrayPool<byte>.Shared.Rent(keyLength);
        WriteKey(key.AsSpan(0, keyLength), ResourcePrefix, tenant, type, id);
        var read = _kv.TryReadAsync(key.AsMemory(0, keyLength), scratch, sizeHint);
        if (read.IsCompletedSuccessfully)
        {
            ArrayPool<byte>.Shared.Return(key);
            return new(read.Result);
        }

        return AwaitRecordAsync(read, key);

        static async ValueTask<bool> AwaitRecordAsync(ValueTask<bool> read, byte[] key)
        {
            try
            {
                return await read.ConfigureAwait(false);
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(key);
            }
        }
    }

    // The body and version of a record a read just appended to the scratch buffer at start.
    private static (bool Found, ReadOnlyMemory<byte> Body, long Version) Located(bool found, ArrayBufferWriter<byte> scratch, int start)
    {
        if (!found)
        {
            return (false, default, 0);
        }

        var record = scratch.WrittenMemory[start..];
        ResourceRecord.LocateBody(record.Span, out long version, out int bodyStart, out int bodyLength);
        return (true, record.Slice(bodyStart, bodyLength), version);
    }

    // Reads are memory or local disk: callers read one at a time, without copies.
    public bool ReadsAreRemote => false;

    public (byte[] Body, long Version)?[] ReadBodies(TenantId tenant, byte type, IReadOnlyList<string> ids)
    {
        var bodies = new (byte[] Body, long Version)?[ids.Count];
        var scratch = new ArrayBufferWriter<byte>();
        for (int i = 0; i < ids.Count; i++)
        {
            scratch.ResetWrittenCount();
            if (TryReadBody(tenant, type, ids[i], scratch, out var body, out long version))
            {
                bodies[i] = (body.ToArray(), version);
            }
        }

        return bodies;
    }

    public void ReadBodiesEach(TenantId tenant, byte type, string[] ids, int from, int to, IResourceStore.BodyReader onBody)
    {
        for (int start = from; start < to; start += FasterByteStore.MaxReadEach)
        {
            int first = start;
            _kv.ReadEach(
                Math.Min(FasterByteStore.MaxReadEach, to - start),
                (i, destination) =>
                {
                    string id = ids[first + i];
                    int length = 6 + Encoding.UTF8.GetByteCount(id);
                    WriteKey(destination[..length], ResourcePrefix, tenant, type, id);
                    return length;
                },
                (i, record) =>
                {
                    ResourceRecord.LocateBody(record, out long version, out int bodyStart, out int bodyLength);
                    onBody(first + i, record.Slice(bodyStart, bodyLength), version);
                });
        }
    }

    public IReadOnlyList<StoredRange> StoredRanges(int parts)
    {
        var (begin, tail) = _kv.LogExtent;
        var ranges = new List<StoredRange>(parts);
        foreach (var (from, to) in _kv.SplitLog(begin, tail, parts))
        {
            ranges.Add(new StoredRange(from, to));
        }

        return ranges;
    }

    public StoredRange? StoredSince(long end)
    {
        long tail = _kv.LogExtent.Tail;
        return tail > end ? new StoredRange(end, tail) : null;
    }

    public void ScanStored(TenantId tenant, byte type, StoredRange range, IResourceStore.StoredRecordReader onRecord)
    {
        Span<byte> prefix = stackalloc byte[6];
        WriteKeyHead(prefix, ResourcePrefix, tenant, type);
        _kv.ScanLog(range.From, range.To, prefix, (key, record) =>
        {
            ResourceRecord.LocateBody(record, out long version, out int bodyStart, out int bodyLength);
            onRecord(key[6..], record.Slice(bodyStart, bodyLength), version);
        });
    }

    /// <summary>The id owning <paramref name="uniqueKey"/> (compared case-insensitively), if any.</summary>
    public string? FindByUniqueKey(TenantId tenant, byte type, string uniqueKey) =>
        _kv.TryRead(UniqueKey(tenant, type, uniqueKey), out var id) ? Encoding.UTF8.GetString(id) : null;

    /// <summary>
    /// Ids whose entries in lookup index <paramref name="index"/> include <paramref name="key"/>
    /// (exactly as the caller keyed them: a caller that folds case folds the key it asks for too).
    /// </summary>
    /// Null when the index cannot answer: the key is overflowed (<see cref="MaxListedIds"/>), or the
    /// store holds data from before lookup indexes (see <see cref="LookupIndexesComplete"/>).
    public IReadOnlyList<string>? FindByLookup(TenantId tenant, byte type, byte index, string key)
    {
        if (!LookupIndexesComplete)
        {
            return null;
        }

        return index >= IndexEntry.FirstLookupIndex && IsStorableKey(key) ? ReadIdList(LookupKey(tenant, type, index, key)) : [];
    }

    /// <summary>
    /// Whether every resource's lookup entries are indexed: true for stores created by a version that
    /// keeps lookup indexes. An older store's resources carry none until rewritten, so its lookups
    /// answer null (callers scan) rather than silently missing them.
    /// </summary>
    public bool LookupIndexesComplete { get; private set; }

    /// <summary>Ids with this externalId (caseExact, RFC 7643 §3.1).</summary>
    /// Null when the externalId is shared by more than <see cref="MaxListedIds"/> resources (callers scan).
    public IReadOnlyList<string>? FindByExternalId(TenantId tenant, byte type, string externalId) =>
        IsStorableKey(externalId) ? ReadIdList(IndexKey(ExternalPrefix, tenant, type, externalId)) : [];

    public ValueTask<IReadOnlyList<string>?> FindByLookupAsync(TenantId tenant, byte type, byte index, string key)
    {
        if (!LookupIndexesComplete)
        {
            return new((IReadOnlyList<string>?)null);
        }

        return index >= IndexEntry.FirstLookupIndex && IsStorableKey(key) ? ReadIdListAsync(LookupKey(tenant, type, index, key)) : new([]);
    }

    public ValueTask<IReadOnlyList<string>?> FindByExternalIdAsync(TenantId tenant, byte type, string externalId) =>
        IsStorableKey(externalId) ? ReadIdListAsync(IndexKey(ExternalPrefix, tenant, type, externalId)) : new([]);

    // ReadIdList with the read awaited when the list is on disk (the identity providers' externalId
    // eq lookups on a store larger than its read cache held a pool thread each).
    private ValueTask<IReadOnlyList<string>?> ReadIdListAsync(byte[] key)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        var read = _kv.TryReadAsync(key, buffer, sizeHint: 256);
        return read.IsCompletedSuccessfully ? new(IdListOf(read.Result, buffer)) : AwaitAsync(read, buffer);

        static async ValueTask<IReadOnlyList<string>?> AwaitAsync(ValueTask<bool> read, ArrayBufferWriter<byte> buffer) =>
            IdListOf(await read.ConfigureAwait(false), buffer);
    }

    private static IReadOnlyList<string>? IdListOf(bool found, ArrayBufferWriter<byte> buffer) =>
        IdListOf(found, buffer.WrittenSpan);

    // An id list as stored: none (absent), too many to answer (overflowed: null), or the ids.
    private static IReadOnlyList<string>? IdListOf(bool found, ReadOnlySpan<byte> list) =>
        !found ? [] : list.SequenceEqual(s_overflowed) ? null : PagedSet.DecodeIds(list);

    private IReadOnlyList<string>? ReadIdList(byte[] key) => IdListOf(_kv.TryRead(key, out var list), list);

    /// <summary>
    /// Resources in the order of ordered index <paramref name="index"/>: up to <paramref name="count"/>
    /// positions strictly after <paramref name="after"/> (a cursor is the last position of the
    /// previous page, RFC 9865), ascending or descending, past the first <paramref name="skip"/>.
    /// O(log n + count), however deep.
    /// </summary>
    public List<OrderedPosition> Page(TenantId tenant, byte type, byte index, OrderedPosition? after, int count, bool descending = false, int skip = 0) =>
        _ordered.Page(tenant, type, index, OrderedRange.All, after, count, descending, skip);

    /// <summary>As <see cref="Page(TenantId, byte, byte, OrderedPosition?, int, bool, int)"/>, within a range of the index.</summary>
    public List<OrderedPosition> Page(TenantId tenant, byte type, byte index, OrderedRange range, OrderedPosition? after, int count, bool descending = false, int skip = 0) =>
        _ordered.Page(tenant, type, index, range, after, count, descending, skip);

    /// <summary>
    /// Every position of an ordered index after <paramref name="after"/> (or from the start), in
    /// order, read a page at a time: scans, delta syncs and exports walk with this.
    /// </summary>
    public IEnumerable<OrderedPosition> Walk(TenantId tenant, byte type, byte index, OrderedPosition? after = null) =>
        Walk(tenant, type, index, OrderedRange.All, after);

    /// <summary>The positions of a range in order (descending: from its top), a page at a time.</summary>
    public IEnumerable<OrderedPosition> Walk(TenantId tenant, byte type, byte index, OrderedRange range, OrderedPosition? after = null, bool descending = false)
    {
        const int pageSize = 1024;
        while (true)
        {
            var page = _ordered.Page(tenant, type, index, range, after, pageSize, descending);
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

    /// <summary>Entries in one ordered index (totalResults of an unfiltered list).</summary>
    public int OrderedCount(TenantId tenant, byte type, byte index) => _ordered.Count(tenant, type, index);

    /// <summary>Entries in a range of an ordered index, counted in O(log n) (totalResults of a range query).</summary>
    public int OrderedCount(TenantId tenant, byte type, byte index, OrderedRange range) => _ordered.Count(tenant, type, index, range);

    public bool OrderedContains(TenantId tenant, byte type, byte index, string key, string id) => _ordered.Contains(tenant, type, index, key, id);

    // Deletes applied since the store opened (replay included): a write that checked its members
    // exist, then wrote, need not check again when no delete came in between.
    private long _deletesApplied;

    public long DeletionMark => Volatile.Read(ref _deletesApplied);

    public bool MayHaveDeletedSince(long mark) => Volatile.Read(ref _deletesApplied) != mark;

    public bool[] OrderedContainsEach(TenantId tenant, byte type, byte index, IReadOnlyList<(string Key, string Id)> entries) =>
        _ordered.ContainsEach(tenant, type, index, entries);
}
