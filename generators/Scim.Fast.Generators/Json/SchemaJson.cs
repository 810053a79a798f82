using System;
using System.Collections.Generic;
using System.Globalization;
using System.Text;

namespace Scim.Fast.Generators.Json;

// A small JSON reader for schema files that keeps the offset of every value, so diagnostics can
// name the line. The compiler host offers no JSON library to netstandard2.0 analyzers, and these
// files are small: plain recursive descent, cold path, readable over fast.

internal abstract class JsonValue
{
    protected JsonValue(int start) => Start = start;

    /// <summary>Character offset of the value in the file.</summary>
    public int Start { get; }
}

internal sealed class JsonObject : JsonValue
{
    public JsonObject(int start, List<JsonMember> members)
        : base(start) => Members = members;

    public List<JsonMember> Members { get; }

    /// <summary>The member with this name (schema keywords are case-sensitive JSON names).</summary>
    public JsonMember? Find(string name)
    {
        foreach (var member in Members)
        {
            if (member.Name == name)
            {
                return member;
            }
        }

        return null;
    }
}

internal sealed class JsonMember
{
    public JsonMember(string name, int nameStart, JsonValue value)
    {
        Name = name;
        NameStart = nameStart;
        Value = value;
    }

    public string Name { get; }

    public int NameStart { get; }

    public JsonValue Value { get; }
}

internal sealed class JsonArray : JsonValue
{
    public JsonArray(int start, List<JsonValue> items)
        : base(start) => Items = items;

    public List<JsonValue> Items { get; }
}

internal sealed class JsonString : JsonValue
{
    public JsonString(int start, string value)
        : base(start) => Value = value;

    public string Value { get; }
}

internal sealed class JsonLiteral : JsonValue
{
    public JsonLiteral(int start, string text)
        : base(start) => Text = text;

    /// <summary>true, false, null or the number's text.</summary>
    public string Text { get; }
}

internal sealed class JsonParseException : Exception
{
    public JsonParseException(int offset, string message)
        : base(message) => Offset = offset;

    public int Offset { get; }
}

internal sealed class JsonParser
{
    private const int MaxDepth = 64;
    private readonly string _text;
    private int _pos;

    private JsonParser(string text) => _text = text;

    public static JsonValue Parse(string text)
    {
        var parser = new JsonParser(text);
        parser.SkipWhitespace();
        var value = parser.ParseValue(0);
        parser.SkipWhitespace();
        if (parser._pos != text.Length)
        {
            throw new JsonParseException(parser._pos, "unexpected text after the JSON value");
        }

        return value;
    }

    private JsonValue ParseValue(int depth)
    {
        if (depth > MaxDepth)
        {
            throw new JsonParseException(_pos, "nesting is too deep");
        }

        if (_pos >= _text.Length)
        {
            throw new JsonParseException(_pos, "unexpected end of file");
        }

        char c = _text[_pos];
        switch (c)
        {
            case '{':
                return ParseObject(depth);
            case '[':
                return ParseArray(depth);
            case '"':
                int start = _pos;
                return new JsonString(start, ParseString());
            default:
                return ParseLiteral();
        }
    }

    private JsonObject ParseObject(int depth)
    {
        int start = _pos++;
        var members = new List<JsonMember>();
        SkipWhitespace();
        if (Peek() == '}')
        {
            _pos++;
            return new JsonObject(start, members);
        }

        while (true)
        {
            SkipWhitespace();
            if (Peek() != '"')
            {
                throw new JsonParseException(_pos, "expected a member name in double quotes");
            }

            int nameStart = _pos;
            string name = ParseString();
            SkipWhitespace();
            Expect(':');
            SkipWhitespace();
            members.Add(new JsonMember(name, nameStart, ParseValue(depth + 1)));
            SkipWhitespace();
            char next = Peek();
            _pos++;
            if (next == '}')
            {
                return new JsonObject(start, members);
            }

            if (next != ',')
            {
                throw new JsonParseException(_pos - 1, "expected ',' or '}'");
            }
        }
    }

    private JsonArray ParseArray(int depth)
    {
        int start = _pos++;
        var items = new List<JsonValue>();
        SkipWhitespace();
        if (Peek() == ']')
        {
            _pos++;
            return new JsonArray(start, items);
        }

        while (true)
        {
            SkipWhitespace();
            items.Add(ParseValue(depth + 1));
            SkipWhitespace();
            char next = Peek();
            _pos++;
            if (next == ']')
            {
                return new JsonArray(start, items);
            }

            if (next != ',')
            {
                throw new JsonParseException(_pos - 1, "expected ',' or ']'");
            }
        }
    }

    private string ParseString()
    {
        _pos++; // opening quote
        var builder = new StringBuilder();
        while (true)
        {
            if (_pos >= _text.Length)
            {
                throw new JsonParseException(_pos, "unterminated string");
            }

            char c = _text[_pos++];
            if (c == '"')
            {
                return builder.ToString();
            }

            if (c < ' ')
            {
                throw new JsonParseException(_pos - 1, "control character in string");
            }

            if (c != '\\')
            {
                builder.Append(c);
                continue;
            }

            if (_pos >= _text.Length)
            {
                throw new JsonParseException(_pos, "unterminated escape");
            }

            char e = _text[_pos++];
            switch (e)
            {
                case '"': builder.Append('"'); break;
                case '\\': builder.Append('\\'); break;
                case '/': builder.Append('/'); break;
                case 'b': builder.Append('\b'); break;
                case 'f': builder.Append('\f'); break;
                case 'n': builder.Append('\n'); break;
                case 'r': builder.Append('\r'); break;
                case 't': builder.Append('\t'); break;
                case 'u':
                    if (_pos + 4 > _text.Length
                        || !int.TryParse(_text.Substring(_pos, 4), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out int code))
                    {
                        throw new JsonParseException(_pos, "invalid \\u escape");
                    }

                    builder.Append((char)code);
                    _pos += 4;
                    break;
                default:
                    throw new JsonParseException(_pos - 1, "invalid escape");
            }
        }
    }

    private JsonLiteral ParseLiteral()
    {
        int start = _pos;
        while (_pos < _text.Length && (char.IsLetterOrDigit(_text[_pos]) || _text[_pos] is '-' or '+' or '.'))
        {
            _pos++;
        }

        string text = _text.Substring(start, _pos - start);
        if (text is "true" or "false" or "null"
            || double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out _))
        {
            return new JsonLiteral(start, text);
        }

        throw new JsonParseException(start, text.Length == 0 ? "expected a JSON value" : $"invalid JSON value '{text}'");
    }

    private char Peek()
    {
        if (_pos >= _text.Length)
        {
            throw new JsonParseException(_pos, "unexpected end of file");
        }

        return _text[_pos];
    }

    private void Expect(char c)
    {
        if (Peek() != c)
        {
            throw new JsonParseException(_pos, $"expected '{c}'");
        }

        _pos++;
    }

    private void SkipWhitespace()
    {
        while (_pos < _text.Length && _text[_pos] is ' ' or '\t' or '\r' or '\n')
        {
            _pos++;
        }
    }
}
