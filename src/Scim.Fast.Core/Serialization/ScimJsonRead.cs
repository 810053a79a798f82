using System.Buffers;
using System.ComponentModel;
using System.Globalization;
using System.Text;
using System.Text.Json;

using Scim.Fast.Core.Errors;

namespace Scim.Fast.Core.Serialization;

/// <summary>
/// Value readers for generated code. Each takes a reader positioned on a value token and returns
/// false when the JSON type does not fit the attribute type; JSON null reads as "unassigned"
/// (RFC 7643 §2.5).
/// </summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public static class ScimJsonRead
{
    /// <summary>Longest property name matched; longer names are unknown by construction.</summary>
    public const int MaxNameLength = 512;

    private static readonly string[] s_dateTimeFormats =
    [
        "yyyy-MM-dd'T'HH:mm:ssK",
        "yyyy-MM-dd'T'HH:mm:ss.FFFFFFFK",
    ];

    [ThreadStatic]
    private static byte[]? t_scratch;

    /// <summary>
    /// The current property name or string value as UTF-8 bytes, unescaped. Points into the input
    /// when it can, else into a per-thread buffer that stays valid until the next call; text longer
    /// than <see cref="MaxNameLength"/> bytes comes back empty (such names match nothing).
    /// </summary>
    public static ReadOnlySpan<byte> GetUtf8(ref Utf8JsonReader reader)
    {
        if (!reader.HasValueSequence && !reader.ValueIsEscaped)
        {
            return reader.ValueSpan;
        }

        return GetUtf8Slow(ref reader);
    }

    // Escaped or segment-spanning text is rare; keep its copy out of the inlined path.
    private static ReadOnlySpan<byte> GetUtf8Slow(ref Utf8JsonReader reader)
    {
        long length = reader.HasValueSequence ? reader.ValueSequence.Length : reader.ValueSpan.Length;
        if (length > MaxNameLength)
        {
            return default;
        }

        var scratch = t_scratch ??= new byte[MaxNameLength];
        int written = reader.CopyString(scratch);
        return scratch.AsSpan(0, written);
    }

    /// <summary>The current property name as text, for error messages only.</summary>
    public static string NameForError(ReadOnlySpan<byte> name) =>
        name.IsEmpty ? "(a name too long to show)"
        : name.Length > 128 ? Encoding.UTF8.GetString(name[..128]) + "…"
        : Encoding.UTF8.GetString(name);

    public static bool TryReadString(ref Utf8JsonReader reader, out string? value)
    {
        switch (reader.TokenType)
        {
            case JsonTokenType.String:
                value = reader.GetString();
                return true;
            case JsonTokenType.Null:
                value = null;
                return true;
            default:
                value = null;
                return false;
        }
    }

    /// <summary>
    /// A string that is often one of a few known values (canonicalValues, RFC 7643 §7): an exact
    /// match returns the shared instance instead of transcoding and allocating a new string.
    /// </summary>
    public static bool TryReadString(ref Utf8JsonReader reader, string[] knownValues, out string? value)
    {
        if (reader.TokenType == JsonTokenType.String && !reader.HasValueSequence && !reader.ValueIsEscaped)
        {
            var utf8 = reader.ValueSpan;
            foreach (var known in knownValues)
            {
                if (known.Length == utf8.Length && System.Text.Ascii.Equals(utf8, known))
                {
                    value = known;
                    return true;
                }
            }
        }

        return TryReadString(ref reader, out value);
    }

    /// <summary>Booleans; also the strings "True"/"False" in any case, as Entra ID sends them.</summary>
    public static bool TryReadBoolean(ref Utf8JsonReader reader, out bool? value)
    {
        switch (reader.TokenType)
        {
            case JsonTokenType.True:
                value = true;
                return true;
            case JsonTokenType.False:
                value = false;
                return true;
            case JsonTokenType.Null:
                value = null;
                return true;
            case JsonTokenType.String when !reader.HasValueSequence && !reader.ValueIsEscaped:
                if (System.Text.Ascii.EqualsIgnoreCase(reader.ValueSpan, "true"u8))
                {
                    value = true;
                    return true;
                }

                if (System.Text.Ascii.EqualsIgnoreCase(reader.ValueSpan, "false"u8))
                {
                    value = false;
                    return true;
                }

                break;
        }

        value = null;
        return false;
    }

    public static bool TryReadInteger(ref Utf8JsonReader reader, out long? value)
    {
        if (reader.TokenType == JsonTokenType.Number && reader.TryGetInt64(out long number))
        {
            value = number;
            return true;
        }

        value = null;
        return reader.TokenType == JsonTokenType.Null;
    }

    public static bool TryReadDecimal(ref Utf8JsonReader reader, out decimal? value)
    {
        if (reader.TokenType == JsonTokenType.Number && reader.TryGetDecimal(out decimal number))
        {
            value = number;
            return true;
        }

        value = null;
        return reader.TokenType == JsonTokenType.Null;
    }

    /// <summary>
    /// An xsd:dateTime string (RFC 7643 §2.3.5). A value without an offset is taken as UTC, so the
    /// result does not depend on the server's time zone.
    /// </summary>
    public static bool TryReadDateTime(ref Utf8JsonReader reader, out DateTimeOffset? value)
    {
        value = null;
        if (reader.TokenType == JsonTokenType.Null)
        {
            return true;
        }

        if (reader.TokenType != JsonTokenType.String)
        {
            return false;
        }

        // Fast path: a value with an explicit offset or 'Z' is exactly what Utf8JsonReader's ISO 8601
        // parser reads, without transcoding or format strings.
        if (!reader.HasValueSequence && !reader.ValueIsEscaped && HasExplicitOffset(reader.ValueSpan)
            && reader.TryGetDateTimeOffset(out var fast))
        {
            value = fast;
            return true;
        }

        long length = reader.HasValueSequence ? reader.ValueSequence.Length : reader.ValueSpan.Length;
        if (length > 64)
        {
            return false;
        }

        Span<byte> utf8 = stackalloc byte[64];
        int byteCount = reader.CopyString(utf8);
        Span<char> chars = stackalloc char[64];
        for (int i = 0; i < byteCount; i++)
        {
            if (utf8[i] > 0x7F)
            {
                return false;
            }

            chars[i] = (char)utf8[i];
        }

        if (TryParseDateTime(chars[..byteCount], out var parsed))
        {
            value = parsed;
            return true;
        }

        return false;
    }

    /// <summary>Parses an xsd:dateTime (RFC 7643 §2.3.5); no offset means UTC.</summary>
    public static bool TryParseDateTime(ReadOnlySpan<char> text, out DateTimeOffset value) =>
        DateTimeOffset.TryParseExact(text, s_dateTimeFormats, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out value);

    // "…T04:56:22Z", "…T14:38:21-07:00": a 'Z' or a sign after the date part.
    private static bool HasExplicitOffset(ReadOnlySpan<byte> text)
    {
        if (text.Length < 20 || text[10] is not ((byte)'T' or (byte)'t'))
        {
            return false;
        }

        byte last = text[^1];
        return last is (byte)'Z' or (byte)'z' || (text.Length >= 25 && text[^6] is (byte)'+' or (byte)'-');
    }

    /// <summary>A base64 string (RFC 7643 §2.3.6), kept in its text form.</summary>
    public static bool TryReadBinary(ref Utf8JsonReader reader, out string? value)
    {
        if (!TryReadString(ref reader, out value))
        {
            return false;
        }

        return value is null || System.Buffers.Text.Base64.IsValid(value);
    }

    /// <summary>Turns an exception of <see cref="Utf8JsonReader"/> (malformed JSON, invalid UTF-8) into a SCIM error.</summary>
    public static ScimError MalformedJson(Exception exception) => exception switch
    {
        JsonException { LineNumber: long line, BytePositionInLine: long column } => ScimError.InvalidSyntax(
            $"The request body is not valid JSON (line {line + 1}, byte {column + 1})."),
        JsonException => ScimError.InvalidSyntax("The request body is not valid JSON."),
        _ => ScimError.InvalidSyntax("The request body is not valid UTF-8 JSON."),
    };

    public static ScimError NotAnObject() => ScimError.InvalidSyntax("The request body must be a JSON object.");

    public static ScimError TrailingContent() => ScimError.InvalidSyntax("Unexpected content after the JSON object.");

    public static ScimError Truncated() => ScimError.InvalidSyntax("The JSON ends before the object is complete.");

    public static ScimError WrongType(string path, string expected) =>
        ScimError.InvalidValue($"Attribute '{path}' must be {expected}.");

    public static ScimError UnknownAttribute(string path) =>
        ScimError.InvalidSyntax($"Unknown attribute '{path}'.");

    public static ScimError UnknownSchema(string urn) =>
        ScimError.InvalidSyntax($"Unknown schema '{urn}' in 'schemas'.");

    public static ScimError MissingCoreSchema(string coreSchema) =>
        ScimError.InvalidSyntax($"'schemas' must list '{coreSchema}'.");

    public static JsonReaderOptions ReaderOptions(ScimReadOptions options) => new()
    {
        MaxDepth = options.MaxDepth,
        CommentHandling = JsonCommentHandling.Disallow,
        AllowTrailingCommas = false,
    };

    /// <summary>True when the name starts with "urn:" in any case.</summary>
    public static bool IsUrn(ReadOnlySpan<byte> name) =>
        name.Length > 4 && System.Text.Ascii.EqualsIgnoreCase(name[..4], "urn:"u8);

    /// <summary>
    /// When <paramref name="name"/> is <paramref name="urn"/> followed by ':' and more, returns the
    /// rest (the attribute name of a fully qualified <c>urn:…:User:userName</c>).
    /// </summary>
    public static bool TryStripUrn(ReadOnlySpan<byte> name, ReadOnlySpan<byte> urn, out ReadOnlySpan<byte> rest)
    {
        if (name.Length > urn.Length + 1
            && name[urn.Length] == (byte)':'
            && System.Text.Ascii.EqualsIgnoreCase(name[..urn.Length], urn))
        {
            rest = name[(urn.Length + 1)..];
            return true;
        }

        rest = default;
        return false;
    }
}
