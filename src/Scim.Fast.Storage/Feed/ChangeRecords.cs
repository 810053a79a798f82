using System.Buffers.Binary;

using Scim.Fast.Storage.Resources;

namespace Scim.Fast.Storage.Feed;

/// <summary>What a write did to its resource, as SCIM events name it (RFC 9967 §2.4).</summary>
public enum ChangeOperation : byte
{
    Create = 1,
    Replace = 2,
    Patch = 3,
    Delete = 4,
}

/// <summary>Whether a write flipped a user's <c>active</c> (RFC 9967 prov:activate / prov:deactivate).</summary>
public enum ActiveChange : byte
{
    None = 0,
    Activated = 1,
    Deactivated = 2,
}

/// <summary>
/// The change a write makes, handed to the store with the write and logged in the same record, so
/// the change exists exactly when the write is durable (DESIGN-NOTES §10).
/// </summary>
/// <param name="Transaction">The request id (RFC 8417 <c>txn</c>); a /Bulk operation's is <c>id:index</c>.</param>
/// <param name="Data">For a PATCH, the PatchOp as sent; otherwise empty (the new state is the record's body).</param>
public sealed record WriteEvent(ChangeOperation Operation, ActiveChange Active, string? Transaction, ReadOnlyMemory<byte> Data = default);

/// <summary>One entry of a tenant's change feed: a write, in commit order.</summary>
/// <param name="Sequence">Position in the tenant's feed: 1, 2, 3… in commit order, never a clock.</param>
/// <param name="Time">When the write was made (Unix ms; RFC 8417 <c>toe</c>).</param>
/// <param name="Data">The resource's new state for a create or replace (group members included), the PatchOp for a patch, empty for a delete.</param>
public sealed record ChangeEntry(long Sequence, ChangeOperation Operation, ActiveChange Active, byte Type, string Id, string? ExternalId, long Version, long Time, string? Transaction, ReadOnlyMemory<byte> Data)
{
    private const byte Format = 1;

    // Layout: format(1) operation(1) active(1) type(1) version(8) time(8), id, externalId,
    // transaction (length(2) + UTF-8, 0xFFFF for null), data length(4) + data.
    public byte[] Encode()
    {
        var buffer = new byte[20 + EventRecord.StringSize(Id) + EventRecord.StringSize(ExternalId) + EventRecord.StringSize(Transaction) + 4 + Data.Length];
        var span = buffer.AsSpan();
        span[0] = Format;
        span[1] = (byte)Operation;
        span[2] = (byte)Active;
        span[3] = Type;
        BinaryPrimitives.WriteInt64LittleEndian(span[4..], Version);
        BinaryPrimitives.WriteInt64LittleEndian(span[12..], Time);
        int position = 20;
        position += EventRecord.WriteString(span[position..], Id);
        position += EventRecord.WriteString(span[position..], ExternalId);
        position += EventRecord.WriteString(span[position..], Transaction);
        BinaryPrimitives.WriteInt32LittleEndian(span[position..], Data.Length);
        Data.Span.CopyTo(span[(position + 4)..]);
        return buffer;
    }

    public static ChangeEntry Decode(long sequence, byte[] bytes)
    {
        var span = bytes.AsSpan();
        int position = 20;
        string id = EventRecord.ReadString(span, ref position)!;
        string? externalId = EventRecord.ReadString(span, ref position);
        string? transaction = EventRecord.ReadString(span, ref position);
        int length = BinaryPrimitives.ReadInt32LittleEndian(span[position..]);
        return new ChangeEntry(sequence, (ChangeOperation)span[1], (ActiveChange)span[2], span[3],
            id, externalId, BinaryPrimitives.ReadInt64LittleEndian(span[4..]), BinaryPrimitives.ReadInt64LittleEndian(span[12..]),
            transaction, bytes.AsMemory(position + 4, length));
    }

    /// <summary>When the entry was written, without decoding the rest (the retention sweep).</summary>
    internal static long TimeOf(ReadOnlySpan<byte> encoded) => BinaryPrimitives.ReadInt64LittleEndian(encoded[12..]);
}

/// <summary>
/// A write with its change (a <see cref="WriteEvent"/>) as one log record, so the change is durable
/// exactly when the write is. Layout: kind 7 (1), the inner record's length (4), the inner record
/// (resource, combined or attached), operation (1), active (1), time in Unix ms (8), transaction
/// (length(2) + UTF-8, 0xFFFF for null), data length (4) + data.
/// </summary>
internal static class EventRecord
{
    public const byte Kind = 7;

    public static byte[] Encode(ReadOnlySpan<byte> inner, WriteEvent change, long time)
    {
        var buffer = Start(inner.Length, change);
        inner.CopyTo(buffer.AsSpan(5));
        Finish(buffer, inner.Length, change, time);
        return buffer;
    }

    /// <summary>
    /// The event record of a resource record encoded in place (no separate copy of the resource):
    /// its bytes are <see cref="Inner"/> of the result.
    /// </summary>
    public static byte[] Encode(ResourceRecord inner, WriteEvent change, long time)
    {
        int innerLength = inner.EncodedSize();
        var buffer = new byte[EncodedSize(innerLength, change)];
        EncodeInto(buffer, inner, innerLength, change, time);
        return buffer;
    }

    /// <summary>The length of an event record around an inner record of <paramref name="innerLength"/> bytes.</summary>
    public static int EncodedSize(int innerLength, WriteEvent change) =>
        1 + 4 + innerLength + 2 + 8 + StringSize(change.Transaction) + 4 + change.Data.Length;

    /// <summary>
    /// <see cref="Encode(ResourceRecord, WriteEvent, long)"/> into <paramref name="span"/>, exactly
    /// <see cref="EncodedSize"/> long (the batch path writes into pooled chunks).
    /// </summary>
    public static void EncodeInto(Span<byte> span, ResourceRecord inner, int innerLength, WriteEvent change, long time)
    {
        Start(span, innerLength);
        inner.EncodeInto(span.Slice(5, innerLength));
        Finish(span, innerLength, change, time);
    }

    private static byte[] Start(int innerLength, WriteEvent change)
    {
        var buffer = new byte[EncodedSize(innerLength, change)];
        Start(buffer, innerLength);
        return buffer;
    }

    private static void Start(Span<byte> span, int innerLength)
    {
        span[0] = Kind;
        BinaryPrimitives.WriteInt32LittleEndian(span[1..], innerLength);
    }

    private static void Finish(Span<byte> span, int innerLength, WriteEvent change, long time)
    {
        int position = 5 + innerLength;
        span[position] = (byte)change.Operation;
        span[position + 1] = (byte)change.Active;
        BinaryPrimitives.WriteInt64LittleEndian(span[(position + 2)..], time);
        position += 10;
        position += WriteString(span[position..], change.Transaction);
        BinaryPrimitives.WriteInt32LittleEndian(span[position..], change.Data.Length);
        change.Data.Span.CopyTo(span[(position + 4)..]);
    }

    public static ReadOnlyMemory<byte> Inner(ReadOnlyMemory<byte> record) =>
        record.Slice(5, BinaryPrimitives.ReadInt32LittleEndian(record.Span[1..]));

    public static (WriteEvent Change, long Time) DecodeChange(ReadOnlyMemory<byte> record)
    {
        var span = record.Span;
        int position = 5 + BinaryPrimitives.ReadInt32LittleEndian(span[1..]);
        var operation = (ChangeOperation)span[position];
        var active = (ActiveChange)span[position + 1];
        long time = BinaryPrimitives.ReadInt64LittleEndian(span[(position + 2)..]);
        position += 10;
        string? transaction = ReadString(span, ref position);
        int length = BinaryPrimitives.ReadInt32LittleEndian(span[position..]);
        return (new WriteEvent(operation, active, transaction, record.Slice(position + 4, length)), time);
    }

    public static int StringSize(string? value) => ResourceRecord.StringSize(value);

    public static int WriteString(Span<byte> destination, string? value) => ResourceRecord.WriteString(destination, value);

    public static string? ReadString(ReadOnlySpan<byte> span, ref int position) => ResourceRecord.ReadString(span, ref position);
}
