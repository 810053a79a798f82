using System.Buffers.Binary;
using System.Text;

namespace Scim.Fast.Storage.Resources;

/// <summary>A tenant: every key, index and log record is scoped by one (DESIGN-NOTES §7).</summary>
public readonly record struct TenantId(uint Value)
{
    public static TenantId Default => new(0);
}

/// <summary>A stored resource: the body bytes (the stored JSON form) with its version and index keys.</summary>
public sealed record StoredResource(string Id, long Version, string? UniqueKey, string? ExternalId, byte[] Body);

/// <summary>
/// A key the resource is found by in index <see cref="Index"/> (the caller numbers its indexes).
/// Below <see cref="FirstLookupIndex"/> the index is ordered: kept sorted in memory (sortBy, paging,
/// cursors, ranges such as meta.lastModified gt), keys compare ordinally, one key per resource and
/// index. From <see cref="FirstLookupIndex"/> on it is a lookup index: equality only, held in the
/// key-value store (so larger than memory), many resources per key and many keys per resource
/// (every address in emails.value, say).
/// </summary>
public readonly record struct IndexEntry(byte Index, string Key)
{
    /// <summary>The first index number of the lookup (hash) indexes.</summary>
    public const byte FirstLookupIndex = 128;

    public bool IsLookup => Index >= FirstLookupIndex;
}

/// <summary>
/// One resource of a batch create. When <see cref="Body"/> is a whole array the store keeps that
/// array instead of a copy: the caller must not change it afterwards. <see cref="IdIsFresh"/> says
/// the id was drawn just now from a cryptographically secure random source with at least 122 random
/// bits (a version 4 UUID, RFC 9562 §5.4): no resource and no tombstone can hold it, so the store
/// does not look (two key-value reads a create, most of a batch's checks before its commit, issue
/// 14). Ids given by anyone else (an import) are checked.
/// </summary>
public sealed record NewResource(string Id, string? UniqueKey, string? ExternalId, ReadOnlyMemory<byte> Body, IReadOnlyList<IndexEntry>? IndexEntries = null, MemberChange? Members = null, Feed.WriteEvent? Change = null, bool IdIsFresh = false);

/// <summary>
/// A change to a group's members written together with the group itself: one log record, one
/// commit, applied all or nothing (a PATCH that renames a group and adds members, a create or PUT
/// with members). Costs O(changed members) unless <see cref="RemoveAll"/>.
/// </summary>
public sealed record MemberChange(bool RemoveAll, IReadOnlyList<string> Added, IReadOnlyList<string> Removed);

/// <summary>The outcome of a write.</summary>
public enum StoreStatus
{
    Ok,
    NotFound,

    /// <summary>The expected version (If-Match, RFC 7644 §3.14) did not match: 412.</summary>
    VersionMismatch,

    /// <summary>The unique key (userName) belongs to another resource: 409 uniqueness.</summary>
    UniquenessConflict,

    /// <summary>A create for an id that exists.</summary>
    AlreadyExists,

    /// <summary>A userName or externalId the store cannot key (over 1,024 UTF-8 bytes, or not valid UTF-16).</summary>
    InvalidValue,

    /// <summary>The resource is larger than one record may be.</summary>
    TooLarge,
}

/// <summary>
/// One logical write as it goes into the write-ahead log: the whole new state of one resource (or
/// its deletion) with the index keys, so replay needs nothing else and is idempotent by version.
/// Layout (little-endian): kind(1) tenant(4) type(1) version(8) id, uniqueKey, externalId (each
/// length(2) + UTF-8, length 0xFFFF for null), body length(4) + body.
/// </summary>
internal sealed record ResourceRecord(bool IsDelete, TenantId Tenant, byte Type, long Version, string Id, string? UniqueKey, string? ExternalId, byte[] Body, IReadOnlyList<IndexEntry>? IndexEntries = null)
{
    private const ushort NullLength = 0xFFFF;

    public byte[] Encode()
    {
        var buffer = new byte[EncodedSize()];
        EncodeInto(buffer);
        return buffer;
    }

    /// <summary>The length of <see cref="Encode"/>'s bytes.</summary>
    public int EncodedSize()
    {
        int size = 1 + 4 + 1 + 8 + StringSize(Id) + StringSize(UniqueKey) + StringSize(ExternalId) + 4 + Body.Length + 1;
        foreach (var entry in IndexEntries ?? [])
        {
            size += 1 + StringSize(entry.Key);
        }

        return size;
    }

    /// <summary>Writes <see cref="Encode"/>'s bytes into <paramref name="span"/> (exactly <see cref="EncodedSize"/> long), where a larger record holds them.</summary>
    public void EncodeInto(Span<byte> span)
    {
        span[0] = IsDelete ? (byte)2 : (byte)1;
        BinaryPrimitives.WriteUInt32LittleEndian(span[1..], Tenant.Value);
        span[5] = Type;
        BinaryPrimitives.WriteInt64LittleEndian(span[6..], Version);
        int position = 14;
        position += WriteString(span[position..], Id);
        position += WriteString(span[position..], UniqueKey);
        position += WriteString(span[position..], ExternalId);
        BinaryPrimitives.WriteInt32LittleEndian(span[position..], Body.Length);
        Body.CopyTo(span[(position + 4)..]);
        position += 4 + Body.Length;
        span[position++] = (byte)(IndexEntries?.Count ?? 0);
        foreach (var entry in IndexEntries ?? [])
        {
            span[position++] = entry.Index;
            position += WriteString(span[position..], entry.Key);
        }
    }

    /// <param name="body">False: the record without its body (<see cref="Body"/> empty; its length is
    /// still checked against the record's), for what keeps many records and reads only their keys.</param>
    public static ResourceRecord Decode(ReadOnlySpan<byte> span, bool body = true)
    {
        bool isDelete = span[0] == 2;
        var tenant = new TenantId(BinaryPrimitives.ReadUInt32LittleEndian(span[1..]));
        byte type = span[5];
        long version = BinaryPrimitives.ReadInt64LittleEndian(span[6..]);
        int position = 14;
        string id = ReadString(span, ref position)!;
        string? uniqueKey = ReadString(span, ref position);
        string? externalId = ReadString(span, ref position);
        int bodyLength = BinaryPrimitives.ReadInt32LittleEndian(span[position..]);
        var bodyBytes = span.Slice(position + 4, bodyLength);
        position += 4 + bodyLength;
        var indexEntries = new List<IndexEntry>();
        int count = position < span.Length ? span[position++] : 0;
        for (int i = 0; i < count; i++)
        {
            byte index = span[position++];
            indexEntries.Add(new IndexEntry(index, ReadString(span, ref position)!));
        }

        return new ResourceRecord(isDelete, tenant, type, version, id, uniqueKey, externalId, body ? bodyBytes.ToArray() : [], indexEntries);
    }

    /// <summary>The unique key of an encoded record, nothing else decoded.</summary>
    public static string? ReadUniqueKey(ReadOnlySpan<byte> span)
    {
        int position = 14;
        ushort idLength = BinaryPrimitives.ReadUInt16LittleEndian(span[position..]);
        position += 2 + (idLength == NullLength ? 0 : idLength);
        return ReadString(span, ref position);
    }

    /// <summary>Finds the version and the body inside an encoded record without decoding anything.</summary>
    public static void LocateBody(ReadOnlySpan<byte> span, out long version, out int bodyStart, out int bodyLength)
    {
        version = BinaryPrimitives.ReadInt64LittleEndian(span[6..]);
        int position = 14;
        for (int i = 0; i < 3; i++)
        {
            ushort length = BinaryPrimitives.ReadUInt16LittleEndian(span[position..]);
            position += 2 + (length == NullLength ? 0 : length);
        }

        bodyLength = BinaryPrimitives.ReadInt32LittleEndian(span[position..]);
        bodyStart = position + 4;
    }

    // Shared with the change feed's records (Feed/ChangeRecords.cs): one string layout.
    internal static int StringSize(string? value) => 2 + (value is null ? 0 : Encoding.UTF8.GetByteCount(value));

    internal static int WriteString(Span<byte> span, string? value)
    {
        if (value is null)
        {
            BinaryPrimitives.WriteUInt16LittleEndian(span, NullLength);
            return 2;
        }

        int length = Encoding.UTF8.GetBytes(value, span[2..]);
        BinaryPrimitives.WriteUInt16LittleEndian(span, checked((ushort)length));
        return 2 + length;
    }

    internal static string? ReadString(ReadOnlySpan<byte> span, ref int position)
    {
        ushort length = BinaryPrimitives.ReadUInt16LittleEndian(span[position..]);
        position += 2;
        if (length == NullLength)
        {
            return null;
        }

        string value = Encoding.UTF8.GetString(span.Slice(position, length));
        position += length;
        return value;
    }
}

/// <summary>
/// A membership change as it goes into the write-ahead log: the deltas of one PATCH (DESIGN-NOTES §4),
/// never the whole member list. Replay is idempotent: adding a member twice or removing an absent
/// one changes nothing. Layout: kind 3 (1), tenant (4), removeAll (1), group id, then the added and
/// the removed ids as length-prefixed lists.
/// </summary>
internal sealed record MembershipRecord(TenantId Tenant, string GroupId, bool RemoveAll, List<string> Added, List<string> Removed)
{
    public const byte Kind = 3;

    public byte[] Encode()
    {
        var group = Encoding.UTF8.GetBytes(GroupId);
        var added = PagedSet.EncodeIds(Added);
        var removed = PagedSet.EncodeIds(Removed);
        var buffer = new byte[1 + 4 + 1 + 2 + group.Length + 4 + added.Length + 4 + removed.Length];
        var span = buffer.AsSpan();
        span[0] = Kind;
        BinaryPrimitives.WriteUInt32LittleEndian(span[1..], Tenant.Value);
        span[5] = RemoveAll ? (byte)1 : (byte)0;
        BinaryPrimitives.WriteUInt16LittleEndian(span[6..], checked((ushort)group.Length));
        group.CopyTo(span[8..]);
        int position = 8 + group.Length;
        BinaryPrimitives.WriteInt32LittleEndian(span[position..], added.Length);
        added.CopyTo(span[(position + 4)..]);
        position += 4 + added.Length;
        BinaryPrimitives.WriteInt32LittleEndian(span[position..], removed.Length);
        removed.CopyTo(span[(position + 4)..]);
        return buffer;
    }

    public static MembershipRecord Decode(ReadOnlySpan<byte> span)
    {
        var tenant = new TenantId(BinaryPrimitives.ReadUInt32LittleEndian(span[1..]));
        bool removeAll = span[5] == 1;
        int groupLength = BinaryPrimitives.ReadUInt16LittleEndian(span[6..]);
        string group = Encoding.UTF8.GetString(span.Slice(8, groupLength));
        int position = 8 + groupLength;
        int addedLength = BinaryPrimitives.ReadInt32LittleEndian(span[position..]);
        var added = PagedSet.DecodeIds(span.Slice(position + 4, addedLength));
        position += 4 + addedLength;
        int removedLength = BinaryPrimitives.ReadInt32LittleEndian(span[position..]);
        var removed = PagedSet.DecodeIds(span.Slice(position + 4, removedLength));
        return new MembershipRecord(tenant, group, removeAll, added, removed);
    }
}

/// <summary>
/// A resource write and a membership change of that resource (a group) as one log record:
/// kind 4 (1), the resource record's length (4), the resource record, the membership record.
/// </summary>
internal static class CombinedRecord
{
    public const byte Kind = 4;

    public static byte[] Encode(ResourceRecord resource, MembershipRecord members)
    {
        var first = resource.Encode();
        var second = members.Encode();
        var buffer = new byte[1 + 4 + first.Length + second.Length];
        buffer[0] = Kind;
        BinaryPrimitives.WriteInt32LittleEndian(buffer.AsSpan(1), first.Length);
        first.CopyTo(buffer, 5);
        second.CopyTo(buffer, 5 + first.Length);
        return buffer;
    }

    public static (ResourceRecord Resource, MembershipRecord Members) Decode(ReadOnlySpan<byte> span)
    {
        int length = BinaryPrimitives.ReadInt32LittleEndian(span[1..]);
        return (ResourceRecord.Decode(span.Slice(5, length)), MembershipRecord.Decode(span[(5 + length)..]));
    }
}

/// <summary>
/// A write with a key-value entry that rides in its log record (an idempotency record, see
/// <see cref="ResourceStore.ReadAttachment"/>): the entry exists exactly when the write is durable.
/// Layout: kind 5 (1), the inner record's length (4), the inner record (a resource, membership or
/// combined record; empty for an entry on its own), key length (2), key, value length (4), value.
/// </summary>
internal static class AttachedRecord
{
    public const byte Kind = 5;

    public static byte[] Encode(ReadOnlySpan<byte> inner, ReadOnlySpan<byte> key, ReadOnlySpan<byte> value)
    {
        var buffer = new byte[1 + 4 + inner.Length + 2 + key.Length + 4 + value.Length];
        var span = buffer.AsSpan();
        span[0] = Kind;
        BinaryPrimitives.WriteInt32LittleEndian(span[1..], inner.Length);
        inner.CopyTo(span[5..]);
        int position = 5 + inner.Length;
        BinaryPrimitives.WriteUInt16LittleEndian(span[position..], checked((ushort)key.Length));
        key.CopyTo(span[(position + 2)..]);
        position += 2 + key.Length;
        BinaryPrimitives.WriteInt32LittleEndian(span[position..], value.Length);
        value.CopyTo(span[(position + 4)..]);
        return buffer;
    }

    public static (ReadOnlyMemory<byte> Inner, byte[] Key, byte[] Value) Decode(ReadOnlyMemory<byte> record)
    {
        var span = record.Span;
        int innerLength = BinaryPrimitives.ReadInt32LittleEndian(span[1..]);
        int position = 5 + innerLength;
        int keyLength = BinaryPrimitives.ReadUInt16LittleEndian(span[position..]);
        var key = span.Slice(position + 2, keyLength).ToArray();
        position += 2 + keyLength;
        int valueLength = BinaryPrimitives.ReadInt32LittleEndian(span[position..]);
        return (record.Slice(5, innerLength), key, span.Slice(position + 4, valueLength).ToArray());
    }
}

/// <summary>
/// New index entries for a resource at one version, body and version unchanged: what the background
/// build of an index added to the catalogue writes. Replay applies it only to that very version (a
/// later write carried its own entries; an earlier state is not the one it was derived from).
/// Layout: kind(1) + the resource record.
/// </summary>
internal static class ReindexRecord
{
    public const byte Kind = 6;

    public static byte[] Encode(ResourceRecord record)
    {
        var inner = record.Encode();
        var buffer = new byte[1 + inner.Length];
        buffer[0] = Kind;
        inner.CopyTo(buffer.AsSpan(1));
        return buffer;
    }

    public static ResourceRecord Decode(ReadOnlySpan<byte> record) => ResourceRecord.Decode(record[1..]);
}
