using System.Globalization;
using System.Text.Json.Nodes;

using CsvHelper;

namespace Scim.Fast.Cli;

/// <summary>
/// Users from a CSV file (RFC 4180: quoted fields, doubled quotes, line breaks inside quotes) and a
/// column mapping file that names, per CSV column, the SCIM attribute it fills:
/// <code>
/// { "columns": {
///     "Email": "userName",
///     "First name": "name.givenName",
///     "Work email": "emails[type eq \"work\"].value",
///     "Department": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
///     "Enabled": { "path": "active", "type": "boolean" } } }
/// </code>
/// Paths are an attribute, a sub-attribute (<c>a.b</c>), a multi-valued attribute's element of one
/// type (<c>a[type eq "t"].b</c>, RFC 7644 §3.10 value path) or an extension attribute after its
/// schema URN (RFC 7643 §3.3). Types: string (default), boolean (true/false/yes/no/1/0), integer,
/// decimal. An empty cell sets nothing. Each row becomes one User, or an error for its row.
/// </summary>
internal sealed class CsvUsers
{
    private const string UserSchema = "urn:ietf:params:scim:schemas:core:2.0:User";

    private readonly List<Column> _columns;

    private CsvUsers(List<Column> columns) => _columns = columns;

    private sealed record Column(string Header, string? Urn, string Attribute, string? TypeFilter, string? Sub, string Type);

    /// <summary>Reads and checks a mapping file; a bad one is a usage error (exit code 2).</summary>
    public static CsvUsers LoadMapping(FileInfo file)
    {
        JsonObject? columns;
        try
        {
            columns = JsonNode.Parse(File.ReadAllText(file.FullName))?["columns"] as JsonObject;
        }
        catch (Exception e) when (e is System.Text.Json.JsonException or IOException)
        {
            throw new ToolException($"{file.Name}: {e.Message}", exitCode: 2);
        }

        if (columns is null || columns.Count == 0)
        {
            throw new ToolException($"{file.Name}: needs a \"columns\" object mapping CSV headers to SCIM attribute paths.", exitCode: 2);
        }

        var parsed = new List<Column>();
        foreach (var (header, value) in columns)
        {
            string? path = value is JsonValue ? (string?)value : (string?)value?["path"];
            string type = value is JsonObject ? (string?)value["type"] ?? "string" : "string";
            if (path is null || type is not ("string" or "boolean" or "integer" or "decimal"))
            {
                throw new ToolException($"{file.Name}: column '{header}' needs a path and a type of string, boolean, integer or decimal.", exitCode: 2);
            }

            parsed.Add(Parse(header, path, type) ?? throw new ToolException($"{file.Name}: column '{header}': '{path}' is not an attribute path this import understands.", exitCode: 2));
        }

        return new CsvUsers(parsed);
    }

    // [urn:…:]attr[type eq "x"][.sub]
    private static Column? Parse(string header, string path, string type)
    {
        string? urn = null;
        if (path.StartsWith("urn:", StringComparison.OrdinalIgnoreCase))
        {
            int colon = path.LastIndexOf(':');
            urn = path[..colon];
            path = path[(colon + 1)..];
        }

        string? filter = null;
        int open = path.IndexOf('[');
        if (open >= 0)
        {
            int close = path.IndexOf(']', open);
            const string prefix = "type eq \"";
            string inside = close > open ? path[(open + 1)..close].Trim() : "";
            if (!inside.StartsWith(prefix, StringComparison.OrdinalIgnoreCase) || !inside.EndsWith('"') || inside.Length <= prefix.Length + 1)
            {
                return null;
            }

            filter = inside[prefix.Length..^1];
            path = path[..open] + path[(close + 1)..];
        }

        var parts = path.Split('.');
        if (parts.Length > 2 || parts.Any(p => p.Length == 0 || !p.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-' or '$')))
        {
            return null;
        }

        return new Column(header, urn, parts[0], filter, parts.Length == 2 ? parts[1] : filter is null ? null : "value", type);
    }

    /// <summary>One record per data row, numbered by the line of the file it starts on (the header is line 1).</summary>
    public IEnumerable<ImportRecord> Read(FileInfo file)
    {
        // Malformed quoting skips that row and reports it; everything else is read.
        var malformed = new Queue<CsvMalformedRecord>();
        var options = new CsvReaderOptions
        {
            TrackLineNumbers = true,
            MalformedData = CsvMalformedDataHandling.Skip,
            OnMalformedRecord = record => malformed.Enqueue(record),
        };
        using var csv = CsvReader.FromFile(file.FullName, options);
        var indexes = ColumnIndexes(csv, file);

        while (true)
        {
            bool more = csv.Read();
            while (malformed.TryDequeue(out var bad))
            {
                yield return new ImportRecord(bad.LineNumber, null, "invalidSyntax", $"Malformed CSV ({bad.Reason}); the row was skipped.");
            }

            if (!more)
            {
                yield break;
            }

            yield return ToUser(csv.LineNumber, i => csv.GetString(indexes[i]));
        }
    }

    /// <summary>Checks that the file's header has every mapped column (before anything is imported).</summary>
    public void CheckHeader(FileInfo file)
    {
        using var csv = CsvReader.FromFile(file.FullName, new CsvReaderOptions());
        ColumnIndexes(csv, file);
    }

    private int[] ColumnIndexes(CsvReader csv, FileInfo file)
    {
        csv.ReadHeader();
        var indexes = new int[_columns.Count];
        for (int i = 0; i < _columns.Count; i++)
        {
            if (!csv.TryGetFieldIndex(_columns[i].Header, out indexes[i]))
            {
                throw new ToolException($"{file.Name}: the mapping's column '{_columns[i].Header}' is not in the header ({string.Join(", ", csv.Headers)}).", exitCode: 2);
            }
        }

        return indexes;
    }

    private ImportRecord ToUser(long row, Func<int, string> cell)
    {
        var user = new JsonObject();
        var schemas = new JsonArray(UserSchema);
        for (int i = 0; i < _columns.Count; i++)
        {
            var column = _columns[i];
            string text = cell(i);
            if (text.Length == 0)
            {
                continue;
            }

            JsonNode? value = Convert(text, column.Type);
            if (value is null)
            {
                return new ImportRecord(row, null, "invalidValue", $"Column '{column.Header}': '{text}' is not a {column.Type}.");
            }

            var target = user;
            if (column.Urn is { } urn)
            {
                if (user[urn] is not JsonObject extension)
                {
                    user[urn] = extension = [];
                    schemas.Add(urn);
                }

                target = extension;
            }

            Set(target, column, value);
        }

        user["schemas"] = schemas;
        return new ImportRecord(row, user);
    }

    private static void Set(JsonObject target, Column column, JsonNode value)
    {
        if (column.TypeFilter is { } type)
        {
            // The element of that type in the multi-valued attribute (made when missing).
            if (target[column.Attribute] is not JsonArray list)
            {
                target[column.Attribute] = list = [];
            }

            var element = list.OfType<JsonObject>().FirstOrDefault(e => (string?)e["type"] == type);
            if (element is null)
            {
                list.Add(element = new JsonObject { ["type"] = type });
            }

            element[column.Sub!] = value;
        }
        else if (column.Sub is { } sub)
        {
            if (target[column.Attribute] is not JsonObject complex)
            {
                target[column.Attribute] = complex = [];
            }

            complex[sub] = value;
        }
        else
        {
            target[column.Attribute] = value;
        }
    }

    private static JsonNode? Convert(string text, string type) => type switch
    {
        "boolean" => text.Trim().ToLowerInvariant() switch
        {
            "true" or "yes" or "1" => JsonValue.Create(true),
            "false" or "no" or "0" => JsonValue.Create(false),
            _ => null,
        },
        "integer" => long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out long n) ? JsonValue.Create(n) : null,
        "decimal" => decimal.TryParse(text, NumberStyles.Number, CultureInfo.InvariantCulture, out decimal d) ? JsonValue.Create(d) : null,
        _ => JsonValue.Create(text),
    };
}
