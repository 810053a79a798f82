using System.Diagnostics.CodeAnalysis;
using System.Text.Json.Nodes;

using Scim.Fast.Core.Errors;
using Scim.Fast.Core.Schema;

namespace Scim.Fast.Core.Patch;

/// <summary>Values in the schema's shape: normalizing, containers, primary, member names, pruning.</summary>
public sealed partial class ScimPatcher<TResource>
{
    private static string? Text(JsonNode? node) => node is JsonValue v && v.TryGetValue(out string? s) ? s : null;

    // The value in the attribute's canonical shape: canonical member names, unknown and readOnly
    // sub-attributes dropped, a single value for a multi-valued attribute wrapped in an array.
    private static bool TryNormalize(ScimAttribute attribute, JsonNode? value, out JsonNode? normalized, [NotNullWhen(false)] out ScimError? error)
    {
        error = null;
        normalized = null;
        if (value is null)
        {
            return true;
        }

        if (attribute.MultiValued)
        {
            var array = new JsonArray();
            foreach (var item in value is JsonArray list ? [.. list] : new JsonNode?[] { value })
            {
                if (item is null)
                {
                    continue;
                }

                if (attribute.Type == ScimAttributeType.Complex)
                {
                    if (!TryNormalizeElement(attribute, item, out var element, out error))
                    {
                        return false;
                    }

                    array.Add(element);
                }
                else
                {
                    array.Add(item.DeepClone());
                }
            }

            normalized = array;
            return true;
        }

        if (attribute.Type == ScimAttributeType.Complex)
        {
            // Entra's legacy manager form: "value":[{"value":"9a4d7e21"}] for a singular attribute.
            if (value is JsonArray { Count: 1 } single)
            {
                value = single[0];
            }

            if (!TryNormalizeElement(attribute, value, out var element, out error))
            {
                return false;
            }

            normalized = element;
            return true;
        }

        normalized = value.DeepClone();
        return true;
    }

    private static bool TryNormalizeElement(ScimAttribute attribute, JsonNode? value, out JsonObject element, [NotNullWhen(false)] out ScimError? error)
    {
        element = [];
        error = null;
        if (value is JsonValue scalar && attribute.FindSubAttribute("value") is { } valueSub)
        {
            // A bare value for a complex attribute is its "value" (Entra sends manager this way).
            element[valueSub.Name] = scalar.DeepClone();
            return true;
        }

        if (value is not JsonObject obj)
        {
            error = ScimError.InvalidValue($"A value of '{attribute.Name}' must be an object.");
            return false;
        }

        foreach (var (key, member) in obj)
        {
            var sub = attribute.FindSubAttribute(key);
            if (sub is null || member is null || sub.Mutability == ScimMutability.ReadOnly)
            {
                // Unknown and readOnly sub-attributes are ignored, as the reader ignores them on create.
                continue;
            }

            element[sub.Name] = member.DeepClone();
        }

        return true;
    }

    // Core and common attributes live at the top of the document; extension attributes in their block.
    private JsonObject? Container(JsonObject document, ScimAttribute top, bool create)
    {
        if (top.SchemaId.Equals(_resourceType.Schema.Id, StringComparison.OrdinalIgnoreCase))
        {
            return document;
        }

        if (Member(document, top.SchemaId) is JsonObject block)
        {
            return block;
        }

        if (!create)
        {
            return null;
        }

        block = [];
        document[top.SchemaId] = block;
        return block;
    }

    private static bool IsPresent(JsonNode? node) => node switch
    {
        null => false,
        JsonArray array => array.Count > 0,
        JsonObject obj => obj.Count > 0,
        _ => true,
    };

    private static bool IsPrimary(JsonNode? element) =>
        element is JsonObject obj && Member(obj, "primary") is JsonValue v
        && ((v.TryGetValue(out bool b) && b) || (v.TryGetValue(out string? s) && s.Equals("true", StringComparison.OrdinalIgnoreCase)));

    private static JsonNode? LastPrimary(JsonArray list) => list.LastOrDefault(IsPrimary);

    // RFC 7643 §2.4: "primary" true appears at most once; the value just set wins.
    private static void KeepOnePrimary(ScimAttribute attribute, JsonArray list, JsonNode? winner)
    {
        if (winner is null || attribute.FindSubAttribute("primary") is null)
        {
            return;
        }

        foreach (var element in list)
        {
            if (!ReferenceEquals(element, winner) && IsPrimary(element))
            {
                element!.AsObject()["primary"] = false;
            }
        }
    }

    private static JsonNode? Member(JsonObject obj, string name) => ScimPatchRequest.Member(obj, name);

    // Sets (or with null removes) a member, replacing one whose name differs only in case.
    private static void SetMember(JsonObject obj, string name, JsonNode? value)
    {
        foreach (var key in obj.Select(p => p.Key).ToList())
        {
            if (key.Equals(name, StringComparison.OrdinalIgnoreCase))
            {
                obj.Remove(key);
            }
        }

        if (value is not null)
        {
            // A node has one parent: move a copy, never the caller's node.
            obj[name] = value.Parent is null ? value : value.DeepClone();
        }
    }

    // Empty complex values and extension blocks are "unassigned" (RFC 7643 §2.5).
    private static void Prune(JsonObject document)
    {
        foreach (var (key, value) in document.ToList())
        {
            if (value is JsonObject obj)
            {
                Prune(obj);
                if (obj.Count == 0)
                {
                    document.Remove(key);
                }
            }
            else if (value is JsonArray array)
            {
                foreach (var item in array.ToList())
                {
                    if (item is JsonObject element)
                    {
                        Prune(element);
                        if (element.Count == 0)
                        {
                            array.Remove(element);
                        }
                    }
                }

                if (array.Count == 0)
                {
                    document.Remove(key);
                }
            }
        }
    }
}
