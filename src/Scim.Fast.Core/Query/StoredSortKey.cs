using System.Text;

using Scim.Fast.Core.Schema;
using Scim.Fast.Core.Serialization;

namespace Scim.Fast.Core.Query;

/// <summary>
/// A sort value read straight off a stored record's JSON bytes, for a top-k sort that has no ordered
/// index (RFC 7644 §3.4.2.3): once the heap holds k resources, a record whose value sorts strictly
/// after the heap's last cannot enter it, and is never decoded. Most records of a sort over a
/// large tenant are such records.
/// <para>
/// Only for a single-valued string attribute (top-level, or the sub-attribute of a single-valued
/// complex one) whose name no other attribute of the resource type has, at any level: then the one
/// place its name can stand as a JSON property is that attribute (the stored form holds schema
/// attributes only, under their schema names), and it stands there at most once. A core attribute
/// may share its name with attributes of extensions (User's displayName and the enterprise
/// manager's): its name is then read only where no extension's object began before it (the stored
/// form writes the core attributes first). The value is compared as
/// <see cref="ScimSortComparer{TResource}"/> compares it. When the bytes cannot tell (an escape in
/// the value, a value that is not a string, a very long value, the name inside an extension) the
/// answer is "may enter", and the record is decoded as without this.
/// </para>
/// </summary>
public sealed class StoredSortKey
{
    // Longest value (in UTF-8 bytes) compared from the bytes; longer ones are decoded.
    private const int MaxChars = 512;

    private readonly byte[] _property;
    private readonly StringComparison _comparison;
    private readonly bool _descending;

    // The extensions' property names ("urn…":), when an extension has an attribute of the same name.
    private readonly byte[][] _extensionNames;

    private StoredSortKey(ScimAttribute attribute, bool descending, byte[][] extensionNames)
    {
        _property = Quoted(attribute.Name);
        _comparison = ScimValueComparison.For(attribute.CaseExact);
        _descending = descending;
        _extensionNames = extensionNames;
    }

    private static byte[] Quoted(string name) => Encoding.UTF8.GetBytes("\"" + name + "\"");

    /// <summary>
    /// The key for sorting <paramref name="type"/> by <paramref name="attribute"/>, or null when
    /// its value cannot be read off the bytes safely (see the class summary).
    /// <paramref name="inStoredJson"/> says whether the attribute is held in the stored JSON as the
    /// sort reads it (not a derived one).
    /// </summary>
    public static StoredSortKey? For(ScimResourceType type, ScimAttribute attribute, bool descending, Func<ScimAttribute, bool> inStoredJson)
    {
        if (attribute.Type != ScimAttributeType.String || attribute.MultiValued || !inStoredJson(attribute)
            || attribute.Parent is { MultiValued: true } || attribute.Parent?.Parent is not null)
        {
            return null;
        }

        bool sharedWithExtensions = false;
        for (int ordinal = 0; ordinal < type.OrdinalCount; ordinal++)
        {
            if (type.AttributeAt(ordinal) is { } other && !ReferenceEquals(other, attribute)
                && string.Equals(other.Name, attribute.Name, StringComparison.OrdinalIgnoreCase))
            {
                if (attribute.IsExtension || !other.IsExtension)
                {
                    return null;
                }

                sharedWithExtensions = true;
            }
        }

        var extensionNames = new List<byte[]>();
        if (sharedWithExtensions)
        {
            foreach (var extension in type.Extensions)
            {
                extensionNames.Add(Quoted(extension.Schema.Id));
            }
        }

        return new StoredSortKey(attribute, descending, [.. extensionNames]);
    }

    /// <summary>
    /// True only when a record with these JSON bytes and id <paramref name="id"/> sorts strictly
    /// after the resource with sort value <paramref name="last"/> and id <paramref name="lastId"/>
    /// (records the bytes cannot tell about are false).
    /// </summary>
    public bool SortsAfter(ReadOnlySpan<byte> json, string id, in ScimValue last, string lastId) =>
        Compare(json, last) switch
        {
            0 => Tie(string.CompareOrdinal(id, lastId)),
            int order => order > 0,
        };

    /// <summary>
    /// <see cref="SortsAfter(ReadOnlySpan{byte}, string, in ScimValue, string)"/> with the id as
    /// UTF-8 (a scan in storage order meets ids as the store's key bytes; no string per record).
    /// </summary>
    public bool SortsAfter(ReadOnlySpan<byte> json, ReadOnlySpan<byte> idUtf8, in ScimValue last, string lastId)
    {
        int order = Compare(json, last);
        if (order != 0)
        {
            return order > 0;
        }

        // Ties (rare) compare the ids as strings do: ordinally by UTF-16 code unit.
        Span<char> chars = idUtf8.Length <= 256 ? stackalloc char[idUtf8.Length] : new char[idUtf8.Length];
        int length = Encoding.UTF8.GetChars(idUtf8, chars);
        return Tie(MemoryExtensions.SequenceCompareTo(chars[..length], lastId.AsSpan()));
    }

    // Equal values: the ids decide, in the sort's direction.
    private bool Tie(int idOrder) => (_descending ? -idOrder : idOrder) > 0;

    // The record's value against last's, in the sort's direction: below 0 before, above 0 after,
    // 0 for a tie; below 0 also when the bytes cannot tell (the record is then decoded).
    private int Compare(ReadOnlySpan<byte> json, in ScimValue last)
    {
        var found = Read(json, out var utf8);
        if (found == Found.Unknown)
        {
            return -1;
        }

        // As ScimSortComparer: missing values last in either order, ties by id in the sort's
        // direction.
        int order;
        if (found == Found.Missing || last.IsNull)
        {
            order = found == Found.Missing ? (last.IsNull ? 0 : 1) : -1;
        }
        else if (last.Kind != ScimValueKind.String)
        {
            return -1;
        }
        else
        {
            // No more chars than UTF-8 bytes; Read refused values longer than MaxChars bytes.
            Span<char> chars = stackalloc char[utf8.Length];
            int length = Encoding.UTF8.GetChars(utf8, chars);
            order = MemoryExtensions.CompareTo(chars[..length], last.String.AsSpan(), _comparison);
            order = _descending ? -order : order;
        }

        return order;
    }

    private enum Found
    {
        Missing,
        Value,
        Unknown,
    }

    // The attribute's string value as UTF-8 without escapes; Missing when absent or null.
    private Found Read(ReadOnlySpan<byte> json, out ReadOnlySpan<byte> utf8)
    {
        utf8 = default;
        int colon = FindProperty(json, _property, json.Length);
        if (colon < 0)
        {
            return Found.Missing;
        }

        // Where an extension's object began before it, the name may be the extension's attribute.
        foreach (var extension in _extensionNames)
        {
            if (FindProperty(json, extension, colon) >= 0)
            {
                return Found.Unknown;
            }
        }

        int value = SkipWhitespace(json, colon + 1);
        if (value >= json.Length)
        {
            return Found.Unknown;
        }

        if (json[value..].StartsWith("null"u8))
        {
            return Found.Missing;
        }

        if (json[value] != (byte)'"')
        {
            return Found.Unknown;
        }

        var rest = json[(value + 1)..];
        int end = rest.IndexOfAny((byte)'"', (byte)'\\');
        if (end < 0 || rest[end] == (byte)'\\' || end > MaxChars)
        {
            return Found.Unknown;
        }

        utf8 = rest[..end];
        return Found.Value;
    }

    // The colon after the first property named name (a quoted UTF-8 name) that starts before limit,
    // or -1. A quote inside a string is escaped; an unescaped one opens or closes a string, and a
    // string followed by a colon is a property name (the same string as a value, say in "schemas",
    // is followed by a comma or a bracket).
    private static int FindProperty(ReadOnlySpan<byte> json, ReadOnlySpan<byte> name, int limit)
    {
        int from = 0;
        while (from < limit)
        {
            int at = json[from..].IndexOf(name);
            if (at < 0 || at + from >= limit)
            {
                return -1;
            }

            at += from;
            from = at + name.Length;
            if (JsonBytes.IsEscaped(json, at))
            {
                continue;
            }

            int colon = SkipWhitespace(json, from);
            if (colon < json.Length && json[colon] == (byte)':')
            {
                return colon;
            }
        }

        return -1;
    }

    private static int SkipWhitespace(ReadOnlySpan<byte> json, int i)
    {
        while (i < json.Length && json[i] is (byte)' ' or (byte)'\t' or (byte)'\n' or (byte)'\r')
        {
            i++;
        }

        return i;
    }
}
