using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text.Json;

using Microsoft.AspNetCore.Http;

using Scim.Fast.Core;
using Scim.Fast.Core.Errors;

namespace Scim.Fast.Server.Protocol;

/// <summary>
/// Reads a BulkRequest (RFC 7644 §3.7): the message's schema, failOnErrors, and each operation's
/// method, path, bulkId, version and data, which stays a slice of the request's bytes. Member
/// names are case-insensitive (RFC 7643 §2.1); maxOperations is enforced with 413 (§3.7.4).
/// </summary>
internal static class BulkRequestParser
{
    /// <summary>Parses a BulkRequest; the operations' data are slices of a copy of <paramref name="body"/>.</summary>
    internal static ScimError? Parse(ReadOnlySequence<byte> body, int maxOperations, out int failOnErrors, out List<BulkOperation> operations) =>
        Parse(body.ToArray(), maxOperations, out failOnErrors, out operations);

    /// <summary>Parses a BulkRequest; the operations' data are slices of <paramref name="body"/>, which must outlive them.</summary>
    internal static ScimError? Parse(ReadOnlyMemory<byte> body, int maxOperations, out int failOnErrors, out List<BulkOperation> operations)
    {
        try
        {
            return ParseRequest(body, maxOperations, out failOnErrors, out operations);
        }
        catch (InvalidOperationException)
        {
            // A string that is valid JSON but not valid text (a lone surrogate escape).
            failOnErrors = 0;
            operations = [];
            return ScimError.InvalidSyntax("The BulkRequest holds a string that is not valid Unicode.");
        }
    }

    private static ScimError? ParseRequest(ReadOnlyMemory<byte> body, int maxOperations, out int failOnErrors, out List<BulkOperation> operations)
    {
        failOnErrors = int.MaxValue;
        operations = [];
        JsonDocument document;
        try
        {
            // Parse reads the memory in place (ParseValue would copy it first).
            document = JsonDocument.Parse(body, new JsonDocumentOptions { MaxDepth = 64 });
        }
        catch (JsonException)
        {
            return ScimError.InvalidSyntax("The BulkRequest is not valid JSON.");
        }

        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                return ScimError.InvalidSyntax("A BulkRequest is a JSON object.");
            }

            bool schema = ListQuery.HasSchema(root, ScimUrns.BulkRequest);
            JsonElement? list = null;
            foreach (var property in root.EnumerateObject())
            {
                switch (property.Name.ToLowerInvariant())
                {
                    case "failonerrors":
                        if (property.Value.ValueKind != JsonValueKind.Number || !property.Value.TryGetInt32(out failOnErrors) || failOnErrors < 1)
                        {
                            return ScimError.InvalidValue("failOnErrors must be a positive integer.");
                        }

                        break;
                    case "operations":
                        list = property.Value;
                        break;
                }
            }

            if (!schema)
            {
                return ScimError.InvalidSyntax($"A BulkRequest names the schema {ScimUrns.BulkRequest}.");
            }

            if (list is not { ValueKind: JsonValueKind.Array } array)
            {
                return ScimError.InvalidSyntax("A BulkRequest needs an 'Operations' array.");
            }

            if (array.GetArrayLength() > maxOperations)
            {
                return new ScimError(StatusCodes.Status413PayloadTooLarge, ScimErrorType.TooMany,
                    $"The request has {array.GetArrayLength()} operations; maxOperations is {maxOperations}.");
            }

            var bulkIds = new HashSet<string>(StringComparer.Ordinal);
            foreach (var element in array.EnumerateArray())
            {
                if (element.ValueKind != JsonValueKind.Object)
                {
                    return ScimError.InvalidSyntax("Every bulk operation is a JSON object.");
                }

                string? method = null, path = null, bulkId = null, version = null;
                ReadOnlyMemory<byte>? data = null;
                foreach (var property in element.EnumerateObject())
                {
                    var value = property.Value;
                    switch (OperationMember(property))
                    {
                        case "method" when value.ValueKind == JsonValueKind.String:
                            method = Method(value);
                            break;
                        case "path" when value.ValueKind == JsonValueKind.String:
                            path = value.GetString();
                            break;
                        case "bulkid" when value.ValueKind == JsonValueKind.String:
                            bulkId = value.GetString();
                            break;
                        case "version" when value.ValueKind == JsonValueKind.String:
                            version = value.GetString();
                            break;
                        case "data" when value.ValueKind == JsonValueKind.Object:
                            data = SliceOf(body, JsonMarshal.GetRawUtf8Value(value));
                            break;
                    }
                }

                int index = operations.Count;
                if (method is null || path is null)
                {
                    return ScimError.InvalidSyntax($"Bulk operation {index + 1} needs a 'method' and a 'path'.");
                }

                if (method == "POST" && string.IsNullOrEmpty(bulkId))
                {
                    // §3.7: bulkId is REQUIRED for POST.
                    return ScimError.InvalidSyntax($"Bulk operation {index + 1} is a POST without a bulkId.");
                }

                if (bulkId is not null && !bulkIds.Add(bulkId))
                {
                    return ScimError.InvalidValue($"bulkId '{bulkId}' is used twice.");
                }

                if (method is "POST" or "PUT" or "PATCH" && data is null)
                {
                    return ScimError.InvalidSyntax($"Bulk operation {index + 1} ({method}) needs a 'data' object.");
                }

                var operation = new BulkOperation { Index = index, Method = method, Path = path, BulkId = bulkId, Version = version, Data = data };
                if (BulkReferences.Find(operation) is not { } references)
                {
                    return new ScimError(400, ScimErrorType.TooMany,
                        $"Bulk operation {index + 1} holds more than {BulkReferences.MaxPerOperation} bulkId references; split it.");
                }

                operation.References = references;
                operations.Add(operation);
            }
        }

        return null;
    }

    private static readonly (string Spelled, string Lower)[] s_operationMembers =
        [("method", "method"), ("path", "path"), ("bulkId", "bulkid"), ("version", "version"), ("data", "data")];

    private static readonly string[] s_methods = ["POST", "PUT", "PATCH", "DELETE"];

    // An operation's member name in lower case (names are case-insensitive, RFC 7643 §2.1): the
    // usual spelling is recognised without making a string of it.
    private static string OperationMember(JsonProperty property)
    {
        foreach (var (spelled, lower) in s_operationMembers)
        {
            if (property.NameEquals(spelled))
            {
                return lower;
            }
        }

        return property.Name.ToLowerInvariant();
    }

    // The method in upper case, without a string per operation for the usual spellings.
    private static string Method(JsonElement value)
    {
        foreach (var method in s_methods)
        {
            if (value.ValueEquals(method))
            {
                return method;
            }
        }

        return value.GetString()!.ToUpperInvariant();
    }

    // The memory of a span the document handed out, which points into body (read in place).
    private static ReadOnlyMemory<byte> SliceOf(ReadOnlyMemory<byte> body, ReadOnlySpan<byte> part)
    {
        long offset = Unsafe.ByteOffset(ref MemoryMarshal.GetReference(body.Span), ref MemoryMarshal.GetReference(part));
        return offset >= 0 && offset + part.Length <= body.Length ? body.Slice((int)offset, part.Length) : part.ToArray();
    }
}
