using System.Buffers;
using System.Buffers.Text;
using System.Runtime.CompilerServices;
using System.Text.Unicode;

namespace Scim.Fast.Core.Serialization;

/// <summary>
/// A forward-only UTF-8 JSON writer over an <see cref="IBufferWriter{T}"/>, for generated code.
/// Unlike Utf8JsonWriter it does not validate structure (the generator emits well-formed calls)
/// and writes non-ASCII text as raw UTF-8, escaping only what JSON requires (RFC 8259 §7).
/// A ref struct so the current span lives in registers and nothing is allocated.
/// </summary>
public ref struct ScimJsonWriter
{
    // Strings up to this many UTF-16 chars are transcoded in one step into a reserved span.
    private const int DirectStringLimit = 16 * 1024;

    // Bytes that JSON requires escaped: control characters, quote and backslash.
    private static readonly SearchValues<byte> s_needsEscape = SearchValues.Create(
        "\0\u0001\u0002\u0003\u0004\u0005\u0006\u0007\b\t\n\u000B\f\r\u000E\u000F\u0010\u0011\u0012\u0013\u0014\u0015\u0016\u0017\u0018\u0019\u001A\u001B\u001C\u001D\u001E\u001F\"\\"u8);

    // The same set as UTF-16 code units, for the escaping path.
    private static readonly SearchValues<char> s_needsEscapeChars = SearchValues.Create(
        "\0\u0001\u0002\u0003\u0004\u0005\u0006\u0007\b\t\n\u000B\f\r\u000E\u000F\u0010\u0011\u0012\u0013\u0014\u0015\u0016\u0017\u0018\u0019\u001A\u001B\u001C\u001D\u001E\u001F\"\\");

    private readonly IBufferWriter<byte> _output;
    private Span<byte> _span;
    private int _buffered;
    private bool _needComma;

    public ScimJsonWriter(IBufferWriter<byte> output)
        : this(output, continuesList: false)
    {
    }

    /// <param name="output">Where the JSON goes.</param>
    /// <param name="continuesList">
    /// True when this writer continues an array or object another writer started and wrote values
    /// into (a stream written in chunks, with a flush between them): the next value gets a comma.
    /// </param>
    public ScimJsonWriter(IBufferWriter<byte> output, bool continuesList)
    {
        _output = output;
        _span = output.GetSpan();
        _buffered = 0;
        _needComma = continuesList;
    }

    /// <summary>Commits the buffered bytes to the underlying writer.</summary>
    public void Flush()
    {
        if (_buffered > 0)
        {
            _output.Advance(_buffered);
            _buffered = 0;

            // The next write asks for a span when it needs one: a flush at the end of a response
            // must not take a fresh pipe segment.
            _span = default;
        }
    }

    /// <summary>
    /// Opens a SCIM message (RFC 7644 §3.4.2, §3.7.3, §3.12): <c>{"schemas":["urn"]</c>, ready for
    /// the message's next attribute.
    /// </summary>
    public void WriteStartMessage(string schemaUrn)
    {
        WriteStartObject();
        WriteName("\"schemas\":"u8);
        WriteStartArray();
        WriteString(schemaUrn);
        WriteEndArray();
    }

    public void WriteStartObject()
    {
        Reserve(2);
        WriteCommaUnchecked();
        _span[_buffered++] = (byte)'{';
        _needComma = false;
    }

    public void WriteEndObject()
    {
        Reserve(1);
        _span[_buffered++] = (byte)'}';
        _needComma = true;
    }

    public void WriteStartArray()
    {
        Reserve(2);
        WriteCommaUnchecked();
        _span[_buffered++] = (byte)'[';
        _needComma = false;
    }

    public void WriteEndArray()
    {
        Reserve(1);
        _span[_buffered++] = (byte)']';
        _needComma = true;
    }

    /// <summary>Writes a pre-encoded property name including quotes and colon: <c>"\"userName\":"u8</c>.</summary>
    public void WriteName(scoped ReadOnlySpan<byte> quotedNameAndColon)
    {
        Reserve(quotedNameAndColon.Length + 1);
        WriteCommaUnchecked();
        quotedNameAndColon.CopyTo(_span[_buffered..]);
        _buffered += quotedNameAndColon.Length;
        _needComma = false;
    }

    /// <summary>Writes a pre-encoded value (already valid JSON), e.g. a quoted URN literal.</summary>
    public void WriteRawValue(scoped ReadOnlySpan<byte> json)
    {
        Reserve(json.Length + 1);
        WriteCommaUnchecked();
        json.CopyTo(_span[_buffered..]);
        _buffered += json.Length;
        _needComma = true;
    }

    /// <summary>
    /// Copies a JSON fragment as is, with no separator before it: the start of an object or array
    /// whose members follow (a stored document reopened to add members). The next member gets a comma.
    /// </summary>
    public void WriteRawFragment(scoped ReadOnlySpan<byte> json)
    {
        Reserve(json.Length);
        json.CopyTo(_span[_buffered..]);
        _buffered += json.Length;
        _needComma = true;
    }

    public void WriteNull() => WriteRawValue("null"u8);

    public void WriteBoolean(bool value) => WriteRawValue(value ? "true"u8 : "false"u8);

    public void WriteNumber(long value)
    {
        Reserve(21);
        WriteCommaUnchecked();
        Utf8Formatter.TryFormat(value, _span[_buffered..], out int written);
        _buffered += written;
        _needComma = true;
    }

    public void WriteNumber(decimal value)
    {
        Reserve(33);
        WriteCommaUnchecked();
        Utf8Formatter.TryFormat(value, _span[_buffered..], out int written);
        _buffered += written;
        _needComma = true;
    }

    /// <summary>
    /// Writes an xsd:dateTime (RFC 7643 §2.3.5): <c>2010-01-23T04:56:22Z</c>, fractional seconds only
    /// when present, the offset as given when it is not UTC.
    /// </summary>
    public void WriteDateTime(DateTimeOffset value)
    {
        Reserve(36);
        WriteCommaUnchecked();
        var dst = _span[_buffered..];
        dst[0] = (byte)'"';
        int pos = 1;
        var local = value.DateTime;
        pos += WriteDigits(dst[pos..], local.Year, 4);
        dst[pos++] = (byte)'-';
        pos += WriteDigits(dst[pos..], local.Month, 2);
        dst[pos++] = (byte)'-';
        pos += WriteDigits(dst[pos..], local.Day, 2);
        dst[pos++] = (byte)'T';
        pos += WriteDigits(dst[pos..], local.Hour, 2);
        dst[pos++] = (byte)':';
        pos += WriteDigits(dst[pos..], local.Minute, 2);
        dst[pos++] = (byte)':';
        pos += WriteDigits(dst[pos..], local.Second, 2);
        int fraction = (int)(local.Ticks % TimeSpan.TicksPerSecond);
        if (fraction != 0)
        {
            dst[pos++] = (byte)'.';
            int digits = 7;
            while (fraction % 10 == 0)
            {
                fraction /= 10;
                digits--;
            }

            pos += WriteDigits(dst[pos..], fraction, digits);
        }

        var offset = value.Offset;
        if (offset == TimeSpan.Zero)
        {
            dst[pos++] = (byte)'Z';
        }
        else
        {
            dst[pos++] = offset < TimeSpan.Zero ? (byte)'-' : (byte)'+';
            int minutes = Math.Abs((int)offset.TotalMinutes);
            pos += WriteDigits(dst[pos..], minutes / 60, 2);
            dst[pos++] = (byte)':';
            pos += WriteDigits(dst[pos..], minutes % 60, 2);
        }

        dst[pos++] = (byte)'"';
        _buffered += pos;
        _needComma = true;
    }

    /// <summary>Writes a JSON string from UTF-16 text, escaping what RFC 8259 §7 requires.</summary>
    public void WriteString(string value)
    {
        if (value.Length <= DirectStringLimit)
        {
            // Fast path for ASCII-sized output: reserve one byte per char, transcode straight into the
            // output and scan once for bytes to escape. Non-ASCII text that does not fit, and text
            // that needs escapes, take the slow path (reserving 3 bytes per char would make long
            // strings ask the pipe for oversized segments).
            Reserve(value.Length + 3);
            var dst = _span[_buffered..];
            int comma = _needComma ? 1 : 0;
            if (Utf8.FromUtf16(value, dst[(comma + 1)..^1], out _, out int written, replaceInvalidSequences: true) == OperationStatus.Done
                && dst.Slice(comma + 1, written).IndexOfAny(s_needsEscape) < 0)
            {
                if (comma == 1)
                {
                    dst[0] = (byte)',';
                }

                dst[comma] = (byte)'"';
                dst[comma + 1 + written] = (byte)'"';
                _buffered += comma + written + 2;
                _needComma = true;
                return;
            }
        }

        WriteStringEscaped(value);
    }

    /// <summary>Writes a JSON string from UTF-8 text.</summary>
    public void WriteString(scoped ReadOnlySpan<byte> utf8)
    {
        if (utf8.IndexOfAny(s_needsEscape) >= 0)
        {
            WriteStringEscaped(System.Text.Encoding.UTF8.GetString(utf8));
            return;
        }

        Reserve(utf8.Length + 3);
        WriteCommaUnchecked();
        _span[_buffered++] = (byte)'"';
        utf8.CopyTo(_span[_buffered..]);
        _buffered += utf8.Length;
        _span[_buffered++] = (byte)'"';
        _needComma = true;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void WriteStringEscaped(string value)
    {
        Reserve(2);
        WriteCommaUnchecked();
        _span[_buffered++] = (byte)'"';
        var text = value.AsSpan();
        while (!text.IsEmpty)
        {
            // Copy the run up to the next character that needs escaping, then escape it.
            int run = text.IndexOfAny(s_needsEscapeChars);

            var plain = run < 0 ? text : text[..run];
            while (!plain.IsEmpty)
            {
                // Chunks keep the reservation bounded for megabyte strings; a surrogate pair split
                // at a chunk edge is handled by Utf8.FromUtf16 reporting it as not consumed.
                var chunk = plain.Length > 1024 ? plain[..1024] : plain;
                Reserve((chunk.Length * 3) + 3);
                Utf8.FromUtf16(chunk, _span[_buffered..], out int read, out int written, replaceInvalidSequences: true, isFinalBlock: chunk.Length == plain.Length);
                _buffered += written;
                plain = plain[read..];
            }

            if (run < 0)
            {
                break;
            }

            WriteEscape(text[run]);
            text = text[(run + 1)..];
        }

        Reserve(1);
        _span[_buffered++] = (byte)'"';
        _needComma = true;
    }

    private void WriteEscape(char c)
    {
        Reserve(6);
        var dst = _span[_buffered..];
        dst[0] = (byte)'\\';
        switch (c)
        {
            case '"': dst[1] = (byte)'"'; _buffered += 2; return;
            case '\\': dst[1] = (byte)'\\'; _buffered += 2; return;
            case '\n': dst[1] = (byte)'n'; _buffered += 2; return;
            case '\r': dst[1] = (byte)'r'; _buffered += 2; return;
            case '\t': dst[1] = (byte)'t'; _buffered += 2; return;
            case '\b': dst[1] = (byte)'b'; _buffered += 2; return;
            case '\f': dst[1] = (byte)'f'; _buffered += 2; return;
            default:
                dst[1] = (byte)'u';
                dst[2] = (byte)'0';
                dst[3] = (byte)'0';
                dst[4] = (byte)"0123456789ABCDEF"[c >> 4];
                dst[5] = (byte)"0123456789ABCDEF"[c & 0xF];
                _buffered += 6;
                return;
        }
    }

    private static int WriteDigits(Span<byte> dst, int value, int count)
    {
        for (int i = count - 1; i >= 0; i--)
        {
            dst[i] = (byte)('0' + (value % 10));
            value /= 10;
        }

        return count;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void WriteCommaUnchecked()
    {
        if (_needComma)
        {
            _span[_buffered++] = (byte)',';
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Reserve(int count)
    {
        if (_span.Length - _buffered < count)
        {
            Grow(count);
        }
    }

    // Kept out of line so the inlined fast path stays a compare and a branch.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void Grow(int count)
    {
        _output.Advance(_buffered);
        _buffered = 0;
        _span = _output.GetSpan(Math.Max(count, 4096));
    }
}
