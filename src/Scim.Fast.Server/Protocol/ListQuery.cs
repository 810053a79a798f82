using System.Buffers;
using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Text.Json;

using Microsoft.AspNetCore.Http;

using Scim.Fast.Core;
using Scim.Fast.Core.Errors;

namespace Scim.Fast.Server.Protocol;

/// <summary>
/// The query of a list request (RFC 7644 §3.4.2) from a GET's query string or a POST /.search body
/// (§3.4.3), plus RFC 9865's cursor. Unknown parameters are ignored (Entra appends its own).
/// </summary>
internal sealed class ListQuery
{
    public string? Filter { get; init; }

    public string? SortBy { get; init; }

    public string? SortOrder { get; init; }

    /// <summary>1-based; values below 1 mean 1 (§3.4.2.4).</summary>
    public int StartIndex { get; init; } = 1;

    public bool HasStartIndex { get; init; }

    /// <summary>Null: the configured default page size.</summary>
    public int? Count { get; init; }

    /// <summary>RFC 9865: null without cursor paging; empty for the first page; else the opaque cursor.</summary>
    public string? Cursor { get; init; }

    public string? Attributes { get; init; }

    public string? ExcludedAttributes { get; init; }

    /// <summary>
    /// From the query string. ASP.NET Core's parser form-decodes (a '+' is a space, every %XX is
    /// decoded), which is how Entra ID encodes its filters.
    /// </summary>
    public static bool TryFromQuery(IQueryCollection query, [NotNullWhen(true)] out ListQuery? result, [NotNullWhen(false)] out ScimError? error)
    {
        result = null;
        int startIndex = 1;
        bool hasStartIndex = false;
        int? count = null;
        if (query.TryGetValue("startIndex", out var startValues))
        {
            if (!TryParseInt(startValues.ToString(), "startIndex", out startIndex, out error))
            {
                return false;
            }

            hasStartIndex = true;
        }

        if (query.TryGetValue("count", out var countValues))
        {
            if (!TryParseInt(countValues.ToString(), "count", out int parsed, out error))
            {
                return false;
            }

            count = parsed;
        }

        result = new ListQuery
        {
            Filter = Single(query, "filter"),
            SortBy = Single(query, "sortBy"),
            SortOrder = Single(query, "sortOrder"),
            StartIndex = Math.Max(1, startIndex),
            HasStartIndex = hasStartIndex,
            Count = count,
            Cursor = query.TryGetValue("cursor", out var cursor) ? cursor.ToString() : null,
            Attributes = Single(query, "attributes"),
            ExcludedAttributes = Single(query, "excludedAttributes"),
        };
        error = null;
        return true;
    }

    /// <summary>From a SearchRequest body (RFC 7644 §3.4.3).</summary>
    public static bool TryFromSearchRequest(ReadOnlySequence<byte> body, [NotNullWhen(true)] out ListQuery? result, [NotNullWhen(false)] out ScimError? error)
    {
        try
        {
            return TryReadSearchRequest(body, out result, out error);
        }
        catch (InvalidOperationException)
        {
            // A string that is valid JSON but not valid text (a lone surrogate escape).
            result = null;
            error = ScimError.InvalidSyntax("The SearchRequest holds a string that is not valid Unicode.");
            return false;
        }
    }

    private static bool TryReadSearchRequest(ReadOnlySequence<byte> body, [NotNullWhen(true)] out ListQuery? result, [NotNullWhen(false)] out ScimError? error)
    {
        result = null;
        JsonDocument document;
        try
        {
            var reader = new Utf8JsonReader(body, new JsonReaderOptions { MaxDepth = 8 });
            document = JsonDocument.ParseValue(ref reader);
        }
        catch (JsonException)
        {
            error = ScimError.InvalidSyntax("The SearchRequest is not valid JSON.");
            return false;
        }

        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                error = ScimError.InvalidSyntax("A SearchRequest is a JSON object.");
                return false;
            }

            if (!HasSchema(root, ScimUrns.SearchRequest))
            {
                error = ScimError.InvalidSyntax($"A SearchRequest names the schema {ScimUrns.SearchRequest}.");
                return false;
            }

            int startIndex = 1;
            bool hasStartIndex = false;
            int? count = null;
            string? filter = null, sortBy = null, sortOrder = null, cursor = null, attributes = null, excluded = null;
            foreach (var property in root.EnumerateObject())
            {
                var value = property.Value;
                switch (property.Name.ToLowerInvariant())
                {
                    case "filter" when value.ValueKind == JsonValueKind.String:
                        filter = value.GetString();
                        break;
                    case "sortby" when value.ValueKind == JsonValueKind.String:
                        sortBy = value.GetString();
                        break;
                    case "sortorder" when value.ValueKind == JsonValueKind.String:
                        sortOrder = value.GetString();
                        break;
                    case "cursor" when value.ValueKind == JsonValueKind.String:
                        cursor = value.GetString();
                        break;
                    case "startindex" when value.ValueKind == JsonValueKind.Number:
                        startIndex = value.TryGetInt32(out int s) ? s : int.MaxValue;
                        hasStartIndex = true;
                        break;
                    case "count" when value.ValueKind == JsonValueKind.Number:
                        count = value.TryGetInt32(out int c) ? c : int.MaxValue;
                        break;
                    case "attributes":
                        attributes = JoinNames(value);
                        break;
                    case "excludedattributes":
                        excluded = JoinNames(value);
                        break;
                    case "filter" or "sortby" or "sortorder" or "cursor" or "startindex" or "count":
                        error = ScimError.InvalidValue($"SearchRequest '{property.Name}' has the wrong JSON type.");
                        return false;
                }
            }

            result = new ListQuery
            {
                Filter = filter,
                SortBy = sortBy,
                SortOrder = sortOrder,
                StartIndex = Math.Max(1, startIndex),
                HasStartIndex = hasStartIndex,
                Count = count,
                Cursor = cursor,
                Attributes = attributes,
                ExcludedAttributes = excluded,
            };
            error = null;
            return true;
        }
    }

    /// <summary>Whether a message's "schemas" names <paramref name="urn"/> (RFC 7644 §3.4.3, §3.7).</summary>
    internal static bool HasSchema(JsonElement root, string urn)
    {
        foreach (var property in root.EnumerateObject())
        {
            if (property.Name.Equals("schemas", StringComparison.OrdinalIgnoreCase) && property.Value.ValueKind == JsonValueKind.Array)
            {
                foreach (var item in property.Value.EnumerateArray())
                {
                    if (item.ValueKind == JsonValueKind.String && string.Equals(item.GetString(), urn, StringComparison.OrdinalIgnoreCase))
                    {
                        return true;
                    }
                }
            }
        }

        return false;
    }

    // "attributes" is a multi-valued string in a SearchRequest; one comma-separated string is accepted too.
    private static string? JoinNames(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.String => value.GetString(),
        JsonValueKind.Array => string.Join(',', value.EnumerateArray().Where(e => e.ValueKind == JsonValueKind.String).Select(e => e.GetString())),
        _ => null,
    };

    private static string? Single(IQueryCollection query, string name) =>
        query.TryGetValue(name, out var values) && values.Count > 0 ? values[0] : null;

    private static bool TryParseInt(string text, string name, out int value, [NotNullWhen(false)] out ScimError? error)
    {
        if (int.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out value))
        {
            error = null;
            return true;
        }

        // Out of range but numeric: clamp rather than fail (a huge count is capped anyway).
        if (text.Length > 0 && text.TrimStart('-').All(char.IsAsciiDigit))
        {
            value = text.StartsWith('-') ? int.MinValue : int.MaxValue;
            error = null;
            return true;
        }

        error = ScimError.InvalidValue($"'{name}' must be an integer.");
        return false;
    }
}
