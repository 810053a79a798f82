using System.Text;

namespace Scim.Fast.Generators;

/// <summary>Attribute names (RFC 7643 §2.1) to C# identifiers, and C# literals.</summary>
internal static class Names
{
    /// <summary>ATTRNAME = ALPHA *(nameChar), nameChar = "-" / "_" / DIGIT / ALPHA; plus "$ref" (§2.1).</summary>
    public static bool IsAttributeName(string name)
    {
        if (name == "$ref")
        {
            return true;
        }

        if (name.Length == 0 || !IsAsciiLetter(name[0]))
        {
            return false;
        }

        foreach (char c in name)
        {
            if (!IsAsciiLetter(c) && c is not (>= '0' and <= '9') and not '-' and not '_')
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>A PascalCase identifier: "userName" → "UserName", "$ref" → "Ref", "x-y" → "XY".</summary>
    public static string TypeName(string name)
    {
        var builder = new StringBuilder(name.Length);
        bool upper = true;
        foreach (char c in name)
        {
            if (IsAsciiLetter(c) || (c is >= '0' and <= '9' && builder.Length > 0))
            {
                builder.Append(upper ? char.ToUpperInvariant(c) : c);
                upper = false;
            }
            else
            {
                upper = true;
            }
        }

        return builder.ToString();
    }

    /// <summary>The property for an attribute; never the enclosing type's own name (CS0542).</summary>
    public static string PropertyName(string attributeName, string enclosingType)
    {
        string name = TypeName(attributeName);
        return name == enclosingType ? name + "Attribute" : name;
    }

    /// <summary>A C# string literal for any text.</summary>
    public static string Literal(string value)
    {
        var builder = new StringBuilder(value.Length + 2);
        builder.Append('"');
        foreach (char c in value)
        {
            switch (c)
            {
                case '"': builder.Append("\\\""); break;
                case '\\': builder.Append("\\\\"); break;
                case '\n': builder.Append("\\n"); break;
                case '\r': builder.Append("\\r"); break;
                case '\t': builder.Append("\\t"); break;
                default:
                    if (c < ' ' || c > '~')
                    {
                        builder.Append("\\u").Append(((int)c).ToString("X4", System.Globalization.CultureInfo.InvariantCulture));
                    }
                    else
                    {
                        builder.Append(c);
                    }

                    break;
            }
        }

        return builder.Append('"').ToString();
    }

    /// <summary>A UTF-8 literal of the JSON property prefix <c>"name":</c>.</summary>
    public static string JsonNameLiteral(string name) => Literal("\"" + name + "\":") + "u8";

    /// <summary>Text for an XML doc comment.</summary>
    public static string Xml(string text) =>
        text.Replace("&", "&amp;").Replace("<", "&lt;").Replace(">", "&gt;").Replace("\r", " ").Replace("\n", " ")
            .Replace("\u0085", " ").Replace("\u2028", " ").Replace("\u2029", " ");

    private static bool IsAsciiLetter(char c) => c is (>= 'a' and <= 'z') or (>= 'A' and <= 'Z');
}
