using System.Buffers;
using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Text;
using System.Text.Json;

using Scim.Fast.Core.Errors;
using Scim.Fast.Core.Schema;
using Scim.Fast.Core.Serialization;

namespace Scim.Fast.Core.Query;

/// <summary>Limits that keep hostile filters cheap to reject.</summary>
public sealed class FilterParserOptions
{
    public static FilterParserOptions Default { get; } = new();

    /// <summary>Longest filter accepted, in UTF-8 bytes. Default 8 KiB.</summary>
    public int MaxLength { get; init; } = 8 * 1024;

    /// <summary>Deepest nesting of parentheses, <c>not</c> and value paths. Default 32.</summary>
    public int MaxDepth { get; init; } = 32;
}

/// <summary>
/// Parses the filter language of RFC 7644 §3.4.2.2 from UTF-8 and resolves it against a resource
/// type in the same pass: attribute paths become <see cref="ScimAttribute"/>s, literals take the
/// attribute's type (§3.4.2.2: comparisons follow the attribute type), so a filter that names an
/// unknown attribute or compares a boolean with <c>gt</c> fails here with 400 invalidFilter.
/// </summary>
/// <remarks>
/// Operators and keywords are case-insensitive; attribute names are too (RFC 7643 §2.1). Lenient
/// where real clients are sloppy: a bare token where a value belongs (<c>externalId eq 12345</c>,
/// <c>userName sw O</c>, <c>meta.created gt 2015-10-10T14:38:21-07:00</c>) is read as a value of the
/// attribute's type, and a string is accepted for a boolean, number or dateTime if it parses as one.
/// Unknown attributes are an error rather than "matches nothing": a typo should not silently
/// return an empty result to an identity provider that then creates duplicates.
/// </remarks>
public ref struct FilterParser
{
    private readonly ReadOnlySpan<byte> _text;
    private readonly ScimResourceType _resourceType;
    private readonly FilterParserOptions _options;
    private int _pos;
    private int _depth;
    private ScimError? _error;

    private FilterParser(ReadOnlySpan<byte> text, ScimResourceType resourceType, FilterParserOptions options)
    {
        _text = text;
        _resourceType = resourceType;
        _options = options;
        _pos = 0;
        _depth = 0;
        _error = null;
    }

    /// <summary>Parses a filter given as UTF-8 (already form-decoded, see <see cref="ScimQueryString"/>).</summary>
    public static bool TryParse(
        ReadOnlySpan<byte> utf8Filter,
        ScimResourceType resourceType,
        [NotNullWhen(true)] out FilterNode? filter,
        [NotNullWhen(false)] out ScimError? error,
        FilterParserOptions? options = null)
    {
        options ??= FilterParserOptions.Default;
        filter = null;
        if (utf8Filter.Length > options.MaxLength)
        {
            error = ScimError.InvalidFilter($"The filter is longer than {options.MaxLength} bytes.");
            return false;
        }

        var parser = new FilterParser(utf8Filter, resourceType, options);
        var node = parser.ParseOr(scope: null);
        if (node is not null)
        {
            parser.SkipSpaces();
            if (parser._pos < parser._text.Length)
            {
                node = parser.Fail(parser._text[parser._pos] == (byte)')' ? "no '(' for this ')'" : "'and', 'or' or the end of the filter");
            }
        }

        if (node is null)
        {
            error = parser._error!;
            return false;
        }

        filter = node;
        error = null;
        return true;
    }

    /// <inheritdoc cref="TryParse(ReadOnlySpan{byte}, ScimResourceType, out FilterNode, out ScimError, FilterParserOptions)"/>
    public static bool TryParse(
        string filter,
        ScimResourceType resourceType,
        [NotNullWhen(true)] out FilterNode? node,
        [NotNullWhen(false)] out ScimError? error,
        FilterParserOptions? options = null)
    {
        int max = Encoding.UTF8.GetMaxByteCount(filter.Length);
        byte[]? rented = max > 1024 ? ArrayPool<byte>.Shared.Rent(max) : null;
        Span<byte> buffer = rented ?? stackalloc byte[1024];
        try
        {
            int length = Encoding.UTF8.GetBytes(filter, buffer);
            return TryParse(buffer[..length], resourceType, out node, out error, options);
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<byte>.Shared.Return(rented);
            }
        }
    }

    // filter = orExpr; orExpr = andExpr *("or" andExpr); "and" binds tighter than "or" (§3.4.2.2, Table 3).
    private FilterNode? ParseOr(ScimAttribute? scope)
    {
        var left = ParseAnd(scope);
        while (left is not null && TryKeyword("or"u8))
        {
            var right = ParseAnd(scope);
            left = right is null ? null : new FilterOr(left, right);
        }

        return left;
    }

    private FilterNode? ParseAnd(ScimAttribute? scope)
    {
        var left = ParseUnary(scope);
        while (left is not null && TryKeyword("and"u8))
        {
            var right = ParseUnary(scope);
            left = right is null ? null : new FilterAnd(left, right);
        }

        return left;
    }

    private FilterNode? ParseUnary(ScimAttribute? scope)
    {
        SkipSpaces();
        if (_pos >= _text.Length)
        {
            return Fail("an attribute path, 'not' or '('");
        }

        if (_text[_pos] == (byte)'(')
        {
            return ParseGroup(scope);
        }

        if (TryKeyword("not"u8))
        {
            SkipSpaces();
            if (_pos >= _text.Length || _text[_pos] != (byte)'(')
            {
                return Fail("'(' after 'not'");
            }

            var inner = ParseGroup(scope);
            return inner is null ? null : new FilterNot(inner);
        }

        return ParseAttributeExpression(scope);
    }

    private FilterNode? ParseGroup(ScimAttribute? scope)
    {
        if (!Enter())
        {
            return null;
        }

        _pos++; // '('
        var inner = ParseOr(scope);
        if (inner is null)
        {
            return null;
        }

        SkipSpaces();
        if (_pos >= _text.Length || _text[_pos] != (byte)')')
        {
            return Fail("')'");
        }

        _pos++;
        _depth--;
        return inner;
    }

    private FilterNode? ParseAttributeExpression(ScimAttribute? scope)
    {
        int start = _pos;
        var path = ReadPath();
        if (path.IsEmpty)
        {
            return Fail("an attribute path");
        }

        if (scope is not null && _pos < _text.Length && _text[_pos] == (byte)'[')
        {
            return FailAt(_pos, "a value filter cannot contain another value filter");
        }

        var attribute = Resolve(path, scope);
        if (attribute is null)
        {
            return FailAt(start, $"unknown attribute '{Encoding.UTF8.GetString(path)}'");
        }

        // valuePath = attrPath "[" valFilter "]"
        if (_pos < _text.Length && _text[_pos] == (byte)'[')
        {
            if (attribute.Type != ScimAttributeType.Complex)
            {
                return FailAt(start, $"'{attribute.Path}' is not complex, so it has no value filter");
            }

            if (!Enter())
            {
                return null;
            }

            _pos++; // '['
            var inner = ParseOr(attribute);
            if (inner is null)
            {
                return null;
            }

            SkipSpaces();
            if (_pos >= _text.Length || _text[_pos] != (byte)']')
            {
                return Fail("']'");
            }

            _pos++;
            _depth--;
            if (_pos < _text.Length && _text[_pos] == (byte)'.')
            {
                // emails[type eq "work"].value eq "x" (Entra ID's matching filter): one element must
                // satisfy both the value filter and the comparison on its sub-attribute.
                int subStart = ++_pos;
                var sub = Resolve(ReadPath(), attribute);
                if (sub is null)
                {
                    return FailAt(subStart, $"'{attribute.Name}' has no such sub-attribute");
                }

                var comparison = ParseComparison(sub, subStart);
                return comparison is null ? null : new FilterValuePath(attribute, new FilterAnd(inner, comparison));
            }

            return new FilterValuePath(attribute, inner);
        }

        return ParseComparison(attribute, start);
    }

    // The rest of attrExp after the path: SP "pr" / SP compareOp SP compValue.
    private FilterNode? ParseComparison(ScimAttribute attribute, int start)
    {
        if (!SkipRequiredSpace())
        {
            return Fail("a space and an operator");
        }

        int operatorStart = _pos;
        var word = ReadWord();
        if (!TryOperator(word, out var op))
        {
            return FailAt(operatorStart, word.IsEmpty ? "expected an operator" : $"unknown operator '{Encoding.UTF8.GetString(word)}'");
        }

        if (op == FilterOperator.Pr)
        {
            return new FilterComparison(attribute, op, ScimValue.Null);
        }

        // A complex attribute compared as a whole means its "value" sub-attribute (RFC 7644 §3.10).
        if (attribute.Type == ScimAttributeType.Complex)
        {
            var value = attribute.FindSubAttribute("value");
            if (value is null)
            {
                return FailAt(start, "a complex attribute without a 'value' sub-attribute only supports 'pr'");
            }

            attribute = value;
        }

        if (!SkipRequiredSpace())
        {
            return Fail("a space and a value");
        }

        int valueStart = _pos;
        if (!TryReadLiteral(out var literal, out bool quoted))
        {
            return null;
        }

        return Typed(attribute, op, literal, quoted, valueStart);
    }

    // Converts the literal to the attribute's type and checks the operator fits the type.
    private FilterNode? Typed(ScimAttribute attribute, FilterOperator op, string literal, bool quoted, int valueStart)
    {
        if (!quoted && literal == "null")
        {
            // "title eq null" tests for no value; nothing else is defined for null.
            return op is FilterOperator.Eq or FilterOperator.Ne
                ? new FilterComparison(attribute, op, ScimValue.Null)
                : FailAt(valueStart, $"'{OperatorName(op)}' cannot compare with null");
        }

        bool ordering = op is FilterOperator.Gt or FilterOperator.Ge or FilterOperator.Lt or FilterOperator.Le;
        bool substring = op is FilterOperator.Co or FilterOperator.Sw or FilterOperator.Ew;
        switch (attribute.Type)
        {
            case ScimAttributeType.String:
            case ScimAttributeType.Reference:
                return new FilterComparison(attribute, op, ScimValue.From(literal));

            case ScimAttributeType.Binary:
                // RFC 7644 §3.4.2.2: gt/ge/lt/le on binary are invalidFilter; substrings of base64 mean nothing.
                return ordering || substring
                    ? FailAt(valueStart, $"'{OperatorName(op)}' is not defined for binary attribute '{attribute.Path}'")
                    : new FilterComparison(attribute, op, ScimValue.From(literal));

            case ScimAttributeType.Boolean:
                if (ordering || substring)
                {
                    return FailAt(valueStart, $"'{OperatorName(op)}' is not defined for boolean attribute '{attribute.Path}'");
                }

                if (literal.Equals("true", StringComparison.OrdinalIgnoreCase) || literal.Equals("false", StringComparison.OrdinalIgnoreCase))
                {
                    return new FilterComparison(attribute, op, ScimValue.From(literal.Length == 4));
                }

                return FailAt(valueStart, $"'{attribute.Path}' is boolean: expected true or false");

            case ScimAttributeType.Integer:
                if (substring)
                {
                    return FailAt(valueStart, $"'{OperatorName(op)}' is not defined for integer attribute '{attribute.Path}'");
                }

                if (long.TryParse(literal, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long integer))
                {
                    return new FilterComparison(attribute, op, ScimValue.From(integer));
                }

                return FailAt(valueStart, $"'{attribute.Path}' is an integer: '{literal}' is not one");

            case ScimAttributeType.Decimal:
                if (substring)
                {
                    return FailAt(valueStart, $"'{OperatorName(op)}' is not defined for decimal attribute '{attribute.Path}'");
                }

                if (decimal.TryParse(literal, NumberStyles.Float, CultureInfo.InvariantCulture, out decimal number))
                {
                    return new FilterComparison(attribute, op, ScimValue.From(number));
                }

                return FailAt(valueStart, $"'{attribute.Path}' is a decimal: '{literal}' is not a number");

            case ScimAttributeType.DateTime:
                if (substring)
                {
                    return FailAt(valueStart, $"'{OperatorName(op)}' is not defined for dateTime attribute '{attribute.Path}'");
                }

                if (ScimJsonRead.TryParseDateTime(literal, out var instant))
                {
                    return new FilterComparison(attribute, op, ScimValue.From(instant));
                }

                return FailAt(valueStart, $"'{attribute.Path}' is a dateTime: '{literal}' is not an xsd:dateTime");

            default:
                return FailAt(valueStart, $"'{attribute.Path}' cannot be compared");
        }
    }

    private ScimAttribute? Resolve(ReadOnlySpan<byte> path, ScimAttribute? scope)
    {
        Span<char> chars = path.Length <= 256 ? stackalloc char[path.Length] : new char[path.Length];
        for (int i = 0; i < path.Length; i++)
        {
            chars[i] = (char)path[i]; // ReadPath admits ASCII only
        }

        if (scope is null)
        {
            return _resourceType.ResolvePath(chars);
        }

        // Inside emails[...]: names are sub-attributes of emails; "emails.type" is accepted too.
        var name = (ReadOnlySpan<char>)chars;
        if (name.StartsWith(scope.Name, StringComparison.OrdinalIgnoreCase) && name.Length > scope.Name.Length && name[scope.Name.Length] == '.')
        {
            name = name[(scope.Name.Length + 1)..];
        }

        return scope.FindSubAttribute(name);
    }

    // attrPath = [URI ":"] ATTRNAME *1subAttr: letters, digits and "-_.:$" (URNs contain ':' and '.').
    private ReadOnlySpan<byte> ReadPath()
    {
        int start = _pos;
        while (_pos < _text.Length && IsPathByte(_text[_pos]))
        {
            _pos++;
        }

        return _text[start.._pos];
    }

    private ReadOnlySpan<byte> ReadWord()
    {
        int start = _pos;
        while (_pos < _text.Length && IsAsciiLetter(_text[_pos]))
        {
            _pos++;
        }

        return _text[start.._pos];
    }

    private bool TryReadLiteral(out string literal, out bool quoted)
    {
        literal = "";
        quoted = false;
        if (_pos >= _text.Length)
        {
            Fail("a value");
            return false;
        }

        if (_text[_pos] == (byte)'"')
        {
            // A JSON string (RFC 7644 §3.4.2.2 compValue): find its end, let Utf8JsonReader unescape it.
            int start = _pos++;
            while (_pos < _text.Length && _text[_pos] != (byte)'"')
            {
                _pos += _text[_pos] == (byte)'\\' ? 2 : 1;
            }

            if (_pos >= _text.Length)
            {
                FailAt(start, "a string that is never closed");
                return false;
            }

            _pos++;
            try
            {
                var reader = new Utf8JsonReader(_text[start.._pos]);
                reader.Read();
                literal = reader.GetString()!;
                quoted = true;
                return true;
            }
            catch (Exception e) when (e is JsonException or InvalidOperationException)
            {
                FailAt(start, "a string with an invalid escape or invalid UTF-8");
                return false;
            }
        }

        // A bare token: true / false / null / a number, or (leniently) any unquoted value.
        int tokenStart = _pos;
        while (_pos < _text.Length && _text[_pos] is not ((byte)' ' or (byte)')' or (byte)']' or (byte)'\t'))
        {
            _pos++;
        }

        if (_pos == tokenStart)
        {
            Fail("a value");
            return false;
        }

        try
        {
            literal = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(_text[tokenStart.._pos]);
            return true;
        }
        catch (DecoderFallbackException)
        {
            FailAt(tokenStart, "a value that is valid UTF-8");
            return false;
        }
    }

    private bool TryKeyword(ReadOnlySpan<byte> keyword)
    {
        int save = _pos;
        SkipSpaces();
        if (_pos + keyword.Length <= _text.Length
            && System.Text.Ascii.EqualsIgnoreCase(_text.Slice(_pos, keyword.Length), keyword)
            && (_pos + keyword.Length == _text.Length || !IsPathByte(_text[_pos + keyword.Length])))
        {
            _pos += keyword.Length;
            return true;
        }

        _pos = save;
        return false;
    }

    private static bool TryOperator(ReadOnlySpan<byte> word, out FilterOperator op)
    {
        op = default;
        if (word.Length != 2)
        {
            return false;
        }

        // Operators are case-insensitive (RFC 7644 §3.4.2.2): fold the two ASCII letters.
        int code = ((word[0] | 0x20) << 8) | (word[1] | 0x20);
        op = code switch
        {
            ('e' << 8) | 'q' => FilterOperator.Eq,
            ('n' << 8) | 'e' => FilterOperator.Ne,
            ('c' << 8) | 'o' => FilterOperator.Co,
            ('s' << 8) | 'w' => FilterOperator.Sw,
            ('e' << 8) | 'w' => FilterOperator.Ew,
            ('g' << 8) | 't' => FilterOperator.Gt,
            ('g' << 8) | 'e' => FilterOperator.Ge,
            ('l' << 8) | 't' => FilterOperator.Lt,
            ('l' << 8) | 'e' => FilterOperator.Le,
            ('p' << 8) | 'r' => FilterOperator.Pr,
            _ => (FilterOperator)255,
        };
        return op != (FilterOperator)255;
    }

    public static string OperatorName(FilterOperator op) => op switch
    {
        FilterOperator.Eq => "eq",
        FilterOperator.Ne => "ne",
        FilterOperator.Co => "co",
        FilterOperator.Sw => "sw",
        FilterOperator.Ew => "ew",
        FilterOperator.Gt => "gt",
        FilterOperator.Ge => "ge",
        FilterOperator.Lt => "lt",
        FilterOperator.Le => "le",
        _ => "pr",
    };

    private bool Enter()
    {
        if (++_depth > _options.MaxDepth)
        {
            FailAt(_pos, $"nesting deeper than {_options.MaxDepth} levels");
            return false;
        }

        return true;
    }

    private void SkipSpaces()
    {
        while (_pos < _text.Length && _text[_pos] is (byte)' ' or (byte)'\t')
        {
            _pos++;
        }
    }

    private bool SkipRequiredSpace()
    {
        int start = _pos;
        SkipSpaces();
        return _pos > start;
    }

    private FilterNode? Fail(string expected) =>
        FailAt(_pos, _pos >= _text.Length ? $"expected {expected}, found the end of the filter" : $"expected {expected}");

    // Keeps the first error: it is the one nearest its cause.
    private FilterNode? FailAt(int position, string message)
    {
        _error ??= ScimError.InvalidFilter($"Invalid filter at position {position + 1}: {message}.");
        return null;
    }

    private static bool IsPathByte(byte b) =>
        IsAsciiLetter(b) || b is (>= (byte)'0' and <= (byte)'9') or (byte)'-' or (byte)'_' or (byte)'.' or (byte)':' or (byte)'$';

    private static bool IsAsciiLetter(byte b) => (uint)((b | 0x20) - 'a') <= 'z' - 'a';
}
