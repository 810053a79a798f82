using System.Buffers;
using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Text;

using Scim.Fast.Storage.Kv;

namespace Scim.Fast.Storage.Resources;

/// <summary>
/// A set of ids per owner (a group's members, or a user's groups) kept as fixed-size pages of ids
/// plus one small record per (owner, id) pointing at its page (DESIGN-NOTES §4). Adding or removing
/// one id reads and writes one page, one pair record and the head, whatever the set's size: adding a
/// member to a group of a million costs what it costs for a group of ten. Listing reads page by page.
/// Callers serialize changes to one owner (the store's striped locks).
/// </summary>
internal sealed class PagedSet
{
    /// <summary>
    /// Ids per page: one membership change rewrites one page, so pages stay small (about 2.5 KB of
    /// GUID ids); with 256 ids a change on a big group copied 10 KB where a small group's page was
    /// a few hundred bytes, and that showed in its latency. Pages written when this was larger stay valid.
    /// </summary>
    public const int PageSize = 64;

    /// <summary>
    /// A set of at most this many ids, all on page 0, keeps a copy of that page in its head: a user's
    /// groups (one or two after an initial sync) are listed by one read instead of two on every GET
    /// of the user. Pages stay the truth and are written as before; the copy is rewritten with the
    /// head on every change (every change writes the head), and a reader that finds no copy (a head
    /// written before this, or a larger set) reads the pages.
    /// </summary>
    public const int InlineIds = 8;

    // The copy's room at most (eight GUID ids are 304 bytes).
    private const int InlineBytes = 512;

    // A head: the last page in use and the count, then the inline copy of page 0 if any.
    private const int HeadBytes = 12;

    private readonly FasterByteStore _kv;
    private readonly byte _headPrefix;
    private readonly byte _pagePrefix;
    private readonly byte _pairPrefix;

    public PagedSet(FasterByteStore kv, byte headPrefix, byte pagePrefix, byte pairPrefix)
    {
        _kv = kv;
        _headPrefix = headPrefix;
        _pagePrefix = pagePrefix;
        _pairPrefix = pairPrefix;
    }

    public long Count(TenantId tenant, string owner) => ReadHead(tenant, owner).Count;

    public bool Contains(TenantId tenant, string owner, string id) => _kv.TryRead(PairKey(tenant, owner, id), out _);

    /// <summary>Adds the id; false when it was there already (so replays are no-ops).</summary>
    public bool Add(TenantId tenant, string owner, string id) => AddMany(tenant, owner, [id]) == 1;

    /// <summary>
    /// Adds ids not yet present; returns how many were added. The head is read and written once and
    /// each touched page once, and pages are extended as bytes (no id is decoded), so a batch of a
    /// thousand members costs a few page writes, not a thousand.
    /// </summary>
    public int AddMany(TenantId tenant, string owner, IReadOnlyList<string> ids)
    {
        var head = ReadHead(tenant, owner);
        int page = head.LastPage;
        bool pageRead = false;
        int pageCount = 0;
        int added = 0;
        Span<byte> location = stackalloc byte[4];
        HashSet<string>? seen = ids.Count > 1 ? new HashSet<string>(StringComparer.Ordinal) : null;

        // The page grows in a reused buffer and each pair key is written over the owner's prefix in
        // one rented array: per member, no arrays but what the store keeps (an initial sync's groups
        // add a million members; a List<byte> and two arrays each were a tenth of that phase).
        var buffer = t_page ??= new ArrayBufferWriter<byte>(4096);
        buffer.ResetWrittenCount();
        Span<byte> pageRoom = stackalloc byte[StackKeyBytes];
        int prefixLength = KeyLength(owner, "", -1);
        var pairKey = ArrayPool<byte>.Shared.Rent(prefixLength + 3 * 1024);
        WriteKey(pairKey.AsSpan(0, prefixLength), _pairPrefix, tenant, owner, "", -1);
        try
        {
            foreach (var id in ids)
            {
                if (prefixLength + Encoding.UTF8.GetMaxByteCount(id.Length) > pairKey.Length)
                {
                    var larger = ArrayPool<byte>.Shared.Rent(prefixLength + Encoding.UTF8.GetMaxByteCount(id.Length));
                    pairKey.AsSpan(0, prefixLength).CopyTo(larger);
                    ArrayPool<byte>.Shared.Return(pairKey);
                    pairKey = larger;
                }

                int idLength = Encoding.UTF8.GetBytes(id, pairKey.AsSpan(prefixLength));
                var key = pairKey.AsSpan(0, prefixLength + idLength);
                if ((seen is not null && !seen.Add(id)) || _kv.Contains(key))
                {
                    continue;
                }

                if (!pageRead)
                {
                    _kv.TryRead(KeyIn(pageRoom, _pagePrefix, tenant, owner, null, page), buffer);
                    pageCount = CountIds(buffer.WrittenSpan);
                    pageRead = true;
                }

                if (pageCount >= PageSize)
                {
                    _kv.Upsert(KeyIn(pageRoom, _pagePrefix, tenant, owner, null, page), buffer.WrittenSpan);
                    page++;
                    buffer.ResetWrittenCount();
                    pageCount = 0;
                }

                var entry = buffer.GetSpan(2 + idLength);
                BinaryPrimitives.WriteUInt16BigEndian(entry, (ushort)idLength);
                key[prefixLength..].CopyTo(entry[2..]);
                buffer.Advance(2 + idLength);
                pageCount++;
                BinaryPrimitives.WriteInt32LittleEndian(location, page);
                _kv.Upsert(key, location);
                added++;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(pairKey);
        }

        if (added > 0)
        {
            _kv.Upsert(KeyIn(pageRoom, _pagePrefix, tenant, owner, null, page), buffer.WrittenSpan);
            WriteHead(tenant, owner, (page, head.Count + added), page == 0 ? buffer.WrittenSpan : default);
        }

        return added;
    }

    // The page AddMany builds (not re-entered: AddMany calls no one who adds).
    [ThreadStatic]
    private static ArrayBufferWriter<byte>? t_page;

    /// <summary>Removes the id; false when it was not there.</summary>
    public bool Remove(TenantId tenant, string owner, string id)
    {
        var pairKey = PairKey(tenant, owner, id);
        if (!_kv.TryRead(pairKey, out var location))
        {
            return false;
        }

        int page = BinaryPrimitives.ReadInt32LittleEndian(location);
        var pageKey = PageKey(tenant, owner, page);
        var bytes = _kv.TryRead(pageKey, out var existing) ? existing : [];
        var target = Encoding.UTF8.GetBytes(id);
        var remaining = WithoutId(bytes, target);
        if (remaining.Length == 0)
        {
            _kv.Delete(pageKey);
        }
        else
        {
            _kv.Upsert(pageKey, remaining);
        }

        _kv.Delete(pairKey);
        var head = ReadHead(tenant, owner);
        if (head.Count <= 1)
        {
            _kv.Delete(HeadKey(tenant, owner));
        }
        else
        {
            // The last page emptied: step back over empty pages, so listing stops earlier and
            // adds refill from there instead of opening ever higher pages after churn.
            int lastPage = head.LastPage;
            if (remaining.Length == 0 && page == lastPage)
            {
                do
                {
                    lastPage--;
                }
                while (lastPage > 0 && !_kv.Contains(PageKey(tenant, owner, lastPage)));

                lastPage = Math.Max(lastPage, 0);
            }

            WriteHead(tenant, owner, (lastPage, head.Count - 1), page == 0 && lastPage == 0 ? remaining : default);
        }

        return true;
    }

    /// <summary>
    /// Removes every id and returns the pages as they were (length-prefixed UTF-8 ids): each page
    /// and pair record is deleted once, where removing id by id would rewrite every page many times.
    /// </summary>
    public List<byte[]> TakeAll(TenantId tenant, string owner)
    {
        var pages = new List<byte[]>();
        var head = ReadHead(tenant, owner);
        if (head.Count == 0)
        {
            return pages;
        }

        for (int page = 0; page <= head.LastPage; page++)
        {
            var pageKey = PageKey(tenant, owner, page);
            if (!_kv.TryRead(pageKey, out var bytes))
            {
                continue;
            }

            for (int position = 0; position + 2 <= bytes.Length;)
            {
                int length = BinaryPrimitives.ReadUInt16BigEndian(bytes.AsSpan(position));
                _kv.Delete(PairKey(tenant, owner, bytes.AsSpan(position + 2, length)));
                position += 2 + length;
            }

            _kv.Delete(pageKey);
            pages.Add(bytes);
        }

        _kv.Delete(HeadKey(tenant, owner));
        return pages;
    }

    /// <summary>
    /// For Verify: what is wrong with a head's copy of page 0 (null when the head has no copy or the
    /// copy is page 0 and the set's only page). <paramref name="headKey"/> is a key of this set's head prefix.
    /// </summary>
    internal string? CheckHeadCopy(byte[] headKey, byte[] head)
    {
        if (head.Length <= HeadBytes)
        {
            return null;
        }

        var tenant = new TenantId(BinaryPrimitives.ReadUInt32BigEndian(headKey.AsSpan(1)));
        string owner = Encoding.UTF8.GetString(headKey, 5, headKey.Length - 5);
        var page = _kv.TryRead(PageKey(tenant, owner, 0), out var bytes) ? bytes : [];
        int lastPage = BinaryPrimitives.ReadInt32LittleEndian(head);
        long count = BinaryPrimitives.ReadInt64LittleEndian(head.AsSpan(4));
        return lastPage == 0 && count == CountIds(page) && head.AsSpan(HeadBytes).SequenceEqual(page)
            ? null
            : $"head {Convert.ToHexString(headKey)} holds a copy of page 0 that is not the set (last page {lastPage}, count {count}, page 0 holds {CountIds(page)})";
    }

    /// <summary>Whether the head holds a copy of the set's only page (for tests).</summary>
    internal bool HeadHoldsPage(TenantId tenant, string owner) => _kv.TryRead(HeadKey(tenant, owner), out var head) && head.Length > HeadBytes;

    /// <summary>The highest page number in use (for tests of page reuse).</summary>
    internal int LastPage(TenantId tenant, string owner) => ReadHead(tenant, owner).LastPage;

    // Pages are length-prefixed UTF-8 ids back to back: counted and edited as bytes.
    private static int CountIds(ReadOnlySpan<byte> page)
    {
        int count = 0;
        for (int position = 0; position + 2 <= page.Length; count++)
        {
            position += 2 + BinaryPrimitives.ReadUInt16BigEndian(page[position..]);
        }

        return count;
    }

    private static byte[] WithoutId(byte[] page, ReadOnlySpan<byte> id)
    {
        for (int position = 0; position + 2 <= page.Length;)
        {
            int length = BinaryPrimitives.ReadUInt16BigEndian(page.AsSpan(position));
            if (page.AsSpan(position + 2, length).SequenceEqual(id))
            {
                var result = new byte[page.Length - 2 - length];
                page.AsSpan(0, position).CopyTo(result);
                page.AsSpan(position + 2 + length).CopyTo(result.AsSpan(position));
                return result;
            }

            position += 2 + length;
        }

        return page;
    }

    /// <summary>The ids, page by page (pages read lazily).</summary>
    public IEnumerable<string> Enumerate(TenantId tenant, string owner)
    {
        var head = ReadHead(tenant, owner);
        if (head.Count == 0)
        {
            yield break;
        }

        for (int page = 0; page <= head.LastPage; page++)
        {
            foreach (var id in ReadPage(tenant, owner, page))
            {
                yield return id;
            }
        }
    }

    /// <summary>
    /// <see cref="Enumerate"/> for request threads: page by page, a head or page on disk awaited
    /// instead of waited for (a million-member group streamed to a client is 15,625 pages, and on a
    /// cold cache each held a pool thread while the disk answered).
    /// </summary>
    public async IAsyncEnumerable<string> EnumerateAsync(TenantId tenant, string owner, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var buffer = new ArrayBufferWriter<byte>(512);
        if (!await _kv.TryReadAsync(HeadKey(tenant, owner), buffer, sizeHint: 64).ConfigureAwait(false))
        {
            yield break;
        }

        int lastPage = BinaryPrimitives.ReadInt32LittleEndian(buffer.WrittenSpan);
        long count = BinaryPrimitives.ReadInt64LittleEndian(buffer.WrittenSpan[4..]);
        var ids = new List<string>(PageSize);
        if (buffer.WrittenCount > HeadBytes)
        {
            // The head holds the only page.
            AddIds(buffer.WrittenSpan[HeadBytes..], ids);
            foreach (var id in ids)
            {
                yield return id;
            }

            yield break;
        }

        for (int page = 0; count > 0 && page <= lastPage; page++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            buffer.ResetWrittenCount();
            ids.Clear();
            if (await _kv.TryReadAsync(PageKey(tenant, owner, page), buffer, sizeHint: 512).ConfigureAwait(false))
            {
                AddIds(buffer.WrittenSpan, ids);
            }

            foreach (var id in ids)
            {
                yield return id;
            }
        }
    }

    /// <summary>
    /// Every id, read with awaits when the head or a page is on disk, so a request thread is never
    /// held by the disk (a user's groups on GET); in memory it completes at once, allocating the
    /// list and its strings. For small sets: the ids are collected, not streamed.
    /// </summary>
    public ValueTask<List<string>> ReadAllAsync(TenantId tenant, string owner)
    {
        var buffer = t_head ?? new ArrayBufferWriter<byte>(64);
        t_head = null;
        buffer.ResetWrittenCount();
        var read = _kv.TryReadAsync(HeadKey(tenant, owner), buffer, sizeHint: 64);
        if (read.IsCompletedSuccessfully)
        {
            return PagesAfterHead(tenant, owner, read.Result, buffer);
        }

        // The pending read owns the buffer until it completes; this thread makes a new one.
        return AwaitHeadAsync(read, buffer, tenant, owner);
    }

    private async ValueTask<List<string>> AwaitHeadAsync(ValueTask<bool> read, ArrayBufferWriter<byte> buffer, TenantId tenant, string owner) =>
        await PagesAfterHead(tenant, owner, await read.ConfigureAwait(false), buffer).ConfigureAwait(false);

    private ValueTask<List<string>> PagesAfterHead(TenantId tenant, string owner, bool found, ArrayBufferWriter<byte> buffer)
    {
        int lastPage = found ? BinaryPrimitives.ReadInt32LittleEndian(buffer.WrittenSpan) : 0;
        long count = found ? BinaryPrimitives.ReadInt64LittleEndian(buffer.WrittenSpan[4..]) : 0;
        var ids = new List<string>((int)Math.Min(count, 64));
        if (found && buffer.WrittenCount > HeadBytes)
        {
            // The head holds the only page: no page read.
            AddIds(buffer.WrittenSpan[HeadBytes..], ids);
            t_head = buffer;
            return new(ids);
        }

        for (int page = 0; count > 0 && page <= lastPage; page++)
        {
            buffer.ResetWrittenCount();
            var read = _kv.TryReadAsync(PageKey(tenant, owner, page), buffer, sizeHint: 512);
            if (!read.IsCompletedSuccessfully)
            {
                return AwaitPagesAsync(read, page, lastPage, buffer, ids, tenant, owner);
            }

            if (read.Result)
            {
                AddIds(buffer.WrittenSpan, ids);
            }
        }

        t_head = buffer;
        return new(ids);
    }

    private async ValueTask<List<string>> AwaitPagesAsync(
        ValueTask<bool> read, int page, int lastPage, ArrayBufferWriter<byte> buffer, List<string> ids, TenantId tenant, string owner)
    {
        if (await read.ConfigureAwait(false))
        {
            AddIds(buffer.WrittenSpan, ids);
        }

        while (++page <= lastPage)
        {
            buffer.ResetWrittenCount();
            if (await _kv.TryReadAsync(PageKey(tenant, owner, page), buffer, sizeHint: 512).ConfigureAwait(false))
            {
                AddIds(buffer.WrittenSpan, ids);
            }
        }

        t_head = buffer;
        return ids;
    }

    [ThreadStatic]
    private static ArrayBufferWriter<byte>? t_head;

    // Heads are read and written once per membership change on each side (a member's list of
    // groups takes one change per group it joins): keys in stack memory, the value in a reused
    // buffer, no array per call.
    private (int LastPage, long Count) ReadHead(TenantId tenant, string owner)
    {
        Span<byte> room = stackalloc byte[StackKeyBytes];
        var key = KeyIn(room, _headPrefix, tenant, owner, null, -1);
        var value = t_headValue ??= new ArrayBufferWriter<byte>(16);
        value.ResetWrittenCount();
        if (!_kv.TryRead(key, value))
        {
            return (0, 0);
        }

        var head = value.WrittenSpan;
        return (BinaryPrimitives.ReadInt32LittleEndian(head), BinaryPrimitives.ReadInt64LittleEndian(head[4..]));
    }

    [ThreadStatic]
    private static ArrayBufferWriter<byte>? t_headValue;

    // pageZero: page 0 as just written, when the change wrote page 0 (copied in when the set is small
    // and all on it).
    private void WriteHead(TenantId tenant, string owner, (int LastPage, long Count) head, ReadOnlySpan<byte> pageZero)
    {
        bool inline = head.LastPage == 0 && head.Count <= InlineIds && !pageZero.IsEmpty && pageZero.Length <= InlineBytes
            && CountIds(pageZero) == head.Count;
        Span<byte> bytes = stackalloc byte[HeadBytes + (inline ? pageZero.Length : 0)];
        if (inline)
        {
            pageZero.CopyTo(bytes[HeadBytes..]);
        }

        BinaryPrimitives.WriteInt32LittleEndian(bytes, head.LastPage);
        BinaryPrimitives.WriteInt64LittleEndian(bytes[4..], head.Count);
        Span<byte> room = stackalloc byte[StackKeyBytes];
        _kv.Upsert(KeyIn(room, _headPrefix, tenant, owner, null, -1), bytes);
    }

    // Room on the stack for a head or page key of an owner id up to the store's key limit; a longer
    // owner (never stored: ids are validated first) gets an array.
    private const int StackKeyBytes = 10 + ResourceStore.MaxKeyBytes;

    private static Span<byte> KeyIn(Span<byte> room, byte prefix, TenantId tenant, string owner, string? id, int page)
    {
        int length = KeyLength(owner, id, page);
        var key = length <= room.Length ? room[..length] : new byte[length];
        WriteKey(key, prefix, tenant, owner, id, page);
        return key;
    }

    private List<string> ReadPage(TenantId tenant, string owner, int page) =>
        _kv.TryRead(PageKey(tenant, owner, page), out var bytes) ? DecodeIds(bytes) : [];

    private byte[] HeadKey(TenantId tenant, string owner) => Key(_headPrefix, tenant, owner, null, -1);

    private byte[] PageKey(TenantId tenant, string owner, int page) => Key(_pagePrefix, tenant, owner, null, page);

    private byte[] PairKey(TenantId tenant, string owner, string id) => Key(_pairPrefix, tenant, owner, id, -1);

    private byte[] PairKey(TenantId tenant, string owner, ReadOnlySpan<byte> id)
    {
        var prefix = Key(_pairPrefix, tenant, owner, "", -1);
        var key = new byte[prefix.Length + id.Length];
        prefix.CopyTo(key, 0);
        id.CopyTo(key.AsSpan(prefix.Length));
        return key;
    }

    // prefix, tenant (4, big-endian), owner, then 0x00 and the id or the page number.
    private static byte[] Key(byte prefix, TenantId tenant, string owner, string? id, int page)
    {
        var key = new byte[KeyLength(owner, id, page)];
        WriteKey(key, prefix, tenant, owner, id, page);
        return key;
    }

    private static int KeyLength(string owner, string? id, int page) =>
        5 + Encoding.UTF8.GetByteCount(owner) + (id is not null ? 1 + Encoding.UTF8.GetByteCount(id) : page >= 0 ? 5 : 0);

    private static void WriteKey(Span<byte> key, byte prefix, TenantId tenant, string owner, string? id, int page)
    {
        key[0] = prefix;
        BinaryPrimitives.WriteUInt32BigEndian(key[1..], tenant.Value);
        int ownerLength = Encoding.UTF8.GetBytes(owner, key[5..]);
        if (id is not null)
        {
            key[5 + ownerLength] = 0;
            Encoding.UTF8.GetBytes(id, key[(6 + ownerLength)..]);
        }
        else if (page >= 0)
        {
            key[5 + ownerLength] = 0;
            BinaryPrimitives.WriteInt32BigEndian(key[(6 + ownerLength)..], page);
        }
    }

    internal static byte[] EncodeIds(List<string> ids)
    {
        int size = 0;
        foreach (var id in ids)
        {
            size += 2 + Encoding.UTF8.GetByteCount(id);
        }

        var buffer = new byte[size];
        int position = 0;
        foreach (var id in ids)
        {
            int length = Encoding.UTF8.GetBytes(id, buffer.AsSpan(position + 2));
            BinaryPrimitives.WriteUInt16BigEndian(buffer.AsSpan(position), checked((ushort)length));
            position += 2 + length;
        }

        return buffer;
    }

    internal static List<string> DecodeIds(ReadOnlySpan<byte> bytes)
    {
        var ids = new List<string>();
        AddIds(bytes, ids);
        return ids;
    }

    // Ids as a page stores them: a 16-bit big-endian length, then the id's UTF-8 bytes.
    private static void AddIds(ReadOnlySpan<byte> bytes, List<string> ids)
    {
        for (int position = 0; position + 2 <= bytes.Length;)
        {
            int length = BinaryPrimitives.ReadUInt16BigEndian(bytes[position..]);
            ids.Add(Encoding.UTF8.GetString(bytes.Slice(position + 2, length)));
            position += 2 + length;
        }
    }
}
