using System.Buffers;
using System.Diagnostics.CodeAnalysis;
using System.Text.Json;
using System.Text.Json.Nodes;

using Scim.Fast.Core.Errors;

namespace Scim.Fast.Core.Patch;

/// <summary>The three PATCH operations of RFC 7644 §3.5.2.</summary>
public enum ScimPatchOp
{
    Add,
    Remove,
    Replace,
}

/// <summary>
/// One operation: op, optional path, optional value (RFC 7644 §3.5.2). <see cref="HasValue"/> tells
/// a missing "value" from an explicit JSON null, which add and replace treat as "unassign".
/// </summary>
public sealed record ScimPatchOperation(ScimPatchOp Op, string? Path, JsonNode? Value, bool HasValue = true);

/// <summary>
/// A parsed <c>urn:ietf:params:scim:api:messages:2.0:PatchOp</c> body. Member names and <c>op</c>
/// values are read case-insensitively: Entra ID sends <c>"Operations"</c> with <c>"op":"Replace"</c>,
/// others <c>"operations"</c> and <c>"replace"</c>.
/// </summary>
public sealed class ScimPatchRequest
{
    private ScimPatchRequest(IReadOnlyList<ScimPatchOperation> operations) => Operations = operations;

    public IReadOnlyList<ScimPatchOperation> Operations { get; }

    /// <summary>Most operations one request may carry; more is 400 (a guard against hostile bodies).</summary>
    public const int MaxOperations = 1000;

    public static bool TryParse(ReadOnlySequence<byte> utf8Json, [NotNullWhen(true)] out ScimPatchRequest? request, [NotNullWhen(false)] out ScimError? error)
    {
        try
        {
            return TryParseDocument(utf8Json, out request, out error);
        }
        catch (InvalidOperationException)
        {
            // JsonNode reads member names lazily: invalid UTF-8 or a lone surrogate escape in one
            // surfaces only when the object is first enumerated (found by the fuzzer).
            request = null;
            error = ScimError.InvalidSyntax("The PATCH body holds a string or member name that is not valid Unicode.");
            return false;
        }
    }

    private static void EnsureText(JsonElement element)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.Object:
                foreach (var property in element.EnumerateObject())
                {
                    _ = property.Name;
                    EnsureText(property.Value);
                }

                break;
            case JsonValueKind.Array:
                foreach (var item in element.EnumerateArray())
                {
                    EnsureText(item);
                }

                break;
            case JsonValueKind.String:
                _ = element.GetString();
                break;
        }
    }

    private static bool TryParseDocument(ReadOnlySequence<byte> utf8Json, [NotNullWhen(true)] out ScimPatchRequest? request, [NotNullWhen(false)] out ScimError? error)
    {
        request = null;
        JsonNode? root;
        try
        {
            // JsonDocument rejects duplicate member names and trailing content; JsonNode.Parse alone
            // would accept both and throw later, on first access.
            using var document = JsonDocument.Parse(utf8Json, new JsonDocumentOptions { MaxDepth = 32, AllowDuplicateProperties = false });

            // Strings are decoded lazily, long after this point (in the patcher): decode every one
            // now, so invalid UTF-8 or a lone surrogate is this request's 400, not a later throw.
            EnsureText(document.RootElement);
            root = document.RootElement.ValueKind switch
            {
                JsonValueKind.Object => JsonObject.Create(document.RootElement.Clone()),
                _ => null,
            };
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException)
        {
            error = Serialization.ScimJsonRead.MalformedJson(e);
            return false;
        }

        if (root is not JsonObject body)
        {
            error = ScimError.InvalidSyntax("The PATCH body must be a JSON object.");
            return false;
        }

        // RFC 7644 §3.5.2: "schemas" names the PatchOp message.
        if (Member(body, "schemas") is not JsonArray schemas
            || !schemas.Any(s => s is JsonValue v && v.TryGetValue(out string? urn) && urn.Equals(ScimUrns.PatchOp, StringComparison.OrdinalIgnoreCase)))
        {
            error = ScimError.InvalidSyntax($"'schemas' must list '{ScimUrns.PatchOp}'.");
            return false;
        }

        var operationsNode = Member(body, "Operations");
        if (operationsNode is null)
        {
            error = ScimError.InvalidSyntax("'Operations' is required.");
            return false;
        }

        if (operationsNode is not JsonArray array)
        {
            error = ScimError.InvalidSyntax("'Operations' must be an array.");
            return false;
        }

        if (array.Count > MaxOperations)
        {
            error = new ScimError(400, ScimErrorType.TooMany, $"A PATCH request carries at most {MaxOperations} operations; send the rest in another request.");
            return false;
        }

        var operations = new List<ScimPatchOperation>(array.Count);
        for (int i = 0; i < array.Count; i++)
        {
            if (array[i] is not JsonObject operation)
            {
                error = ScimError.InvalidSyntax($"Operations[{i}] must be an object.");
                return false;
            }

            string? opText = Member(operation, "op") is JsonValue opValue && opValue.TryGetValue(out string? text) ? text : null;
            ScimPatchOp op;
            if (string.Equals(opText, "add", StringComparison.OrdinalIgnoreCase))
            {
                op = ScimPatchOp.Add;
            }
            else if (string.Equals(opText, "remove", StringComparison.OrdinalIgnoreCase))
            {
                op = ScimPatchOp.Remove;
            }
            else if (string.Equals(opText, "replace", StringComparison.OrdinalIgnoreCase))
            {
                op = ScimPatchOp.Replace;
            }
            else
            {
                error = ScimError.InvalidSyntax($"Operations[{i}].op must be add, remove or replace, not '{opText ?? "(missing)"}'.");
                return false;
            }

            string? path = null;
            var pathNode = Member(operation, "path");
            if (pathNode is JsonValue pathValue && pathValue.TryGetValue(out string? pathText))
            {
                path = string.IsNullOrWhiteSpace(pathText) ? null : pathText.Trim();
            }
            else if (pathNode is not null)
            {
                error = ScimError.InvalidPath($"Operations[{i}].path must be a string.");
                return false;
            }

            bool hasValue = HasMember(operation, "value");
            var value = Member(operation, "value");
            operations.Add(new ScimPatchOperation(op, path, value, hasValue));
        }

        request = new ScimPatchRequest(operations);
        error = null;
        return true;
    }

    private static bool HasMember(JsonObject obj, string name)
    {
        foreach (var (key, _) in obj)
        {
            if (key.Equals(name, StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>A member by name, ignoring case (RFC 7643 §2.1 applies to message attributes too).</summary>
    internal static JsonNode? Member(JsonObject obj, string name)
    {
        foreach (var (key, value) in obj)
        {
            if (key.Equals(name, StringComparison.OrdinalIgnoreCase))
            {
                return value;
            }
        }

        return null;
    }
}
