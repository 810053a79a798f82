using System.Diagnostics.CodeAnalysis;

using Scim.Fast.Core.Errors;
using Scim.Fast.Core.Query;
using Scim.Fast.Core.Schema;

namespace Scim.Fast.Core.Patch;

/// <summary>
/// A PATCH path (RFC 7644 §3.5.2: <c>PATH = attrPath / valuePath [subAttr]</c>) resolved against the
/// resource type: <c>userName</c>, <c>name.givenName</c>, <c>urn:…:enterprise:2.0:User:manager</c>,
/// <c>emails[type eq "work"]</c>, <c>emails[type eq "work"].value</c>, or an extension's URN.
/// </summary>
public sealed class ScimPatchPath
{
    private ScimPatchPath(ScimAttribute? attribute, FilterNode? filter, ScimAttribute? subAttribute, ScimSchemaExtension? extension)
    {
        Attribute = attribute;
        Filter = filter;
        SubAttribute = subAttribute;
        Extension = extension;
    }

    /// <summary>The attribute named (a sub-attribute for <c>name.givenName</c>); null for an extension URN.</summary>
    public ScimAttribute? Attribute { get; }

    /// <summary>The value filter of <c>attr[filter]</c>, over <see cref="Attribute"/>'s sub-attributes.</summary>
    public FilterNode? Filter { get; }

    /// <summary>The sub-attribute after the filter: <c>value</c> in <c>emails[type eq "work"].value</c>.</summary>
    public ScimAttribute? SubAttribute { get; }

    /// <summary>The whole extension, when the path is its URN.</summary>
    public ScimSchemaExtension? Extension { get; }

    public static ScimPatchPath ForAttribute(ScimAttribute attribute) => new(attribute, null, null, null);

    public static bool TryParse(string path, ScimResourceType resourceType, [NotNullWhen(true)] out ScimPatchPath? result, [NotNullWhen(false)] out ScimError? error)
    {
        result = null;
        error = null;
        if (resourceType.FindExtension(path) is { } extension)
        {
            result = new ScimPatchPath(null, null, null, extension);
            return true;
        }

        int open = path.IndexOf('[', StringComparison.Ordinal);
        if (open < 0)
        {
            var attribute = resourceType.ResolvePath(path);
            if (attribute is null)
            {
                error = ScimError.InvalidPath($"'{path}' names no attribute of {resourceType.Name}.");
                return false;
            }

            result = new ScimPatchPath(attribute, null, null, null);
            return true;
        }

        if (open == 0 || resourceType.ResolvePath(path.AsSpan(0, open)) is null)
        {
            error = ScimError.InvalidPath($"'{path}' names no attribute of {resourceType.Name} before its value filter.");
            return false;
        }

        int close = MatchingBracket(path, open);
        if (close < 0)
        {
            error = ScimError.InvalidPath($"'{path}': the value filter has no closing ']'.");
            return false;
        }

        // "emails[type eq "work"]" is itself a filter; the filter parser resolves and types it.
        if (!FilterParser.TryParse(path[..(close + 1)], resourceType, out var filter, out error))
        {
            return false;
        }

        if (filter is not FilterValuePath valuePath)
        {
            error = ScimError.InvalidPath($"'{path}' is not a value path.");
            return false;
        }

        ScimAttribute? sub = null;
        var rest = path.AsSpan(close + 1);
        if (!rest.IsEmpty)
        {
            if (rest[0] != '.' || (sub = valuePath.Attribute.FindSubAttribute(rest[1..])) is null)
            {
                error = ScimError.InvalidPath($"'{path}': '{rest.ToString()}' is not a sub-attribute of '{valuePath.Attribute.Name}'.");
                return false;
            }
        }

        result = new ScimPatchPath(valuePath.Attribute, valuePath.Inner, sub, null);
        return true;
    }

    // The ']' that closes the '[' at open, skipping brackets inside quoted strings.
    internal static int MatchingBracket(string path, int open)
    {
        bool quoted = false;
        for (int i = open + 1; i < path.Length; i++)
        {
            char c = path[i];
            if (quoted)
            {
                if (c == '\\')
                {
                    i++;
                }
                else if (c == '"')
                {
                    quoted = false;
                }
            }
            else if (c == '"')
            {
                quoted = true;
            }
            else if (c == ']')
            {
                return i;
            }
        }

        return -1;
    }
}
