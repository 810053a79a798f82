using System.Text.Json.Nodes;

using Scim.Fast.Core.Errors;
using Scim.Fast.Core.Schema;

namespace Scim.Fast.Core.Patch;

/// <summary>Operations on core and extension attributes: whole attributes, sub-attributes, value-path filters, extension blocks.</summary>
public sealed partial class ScimPatcher<TResource>
{
    private static ScimError? ApplyAttribute(ScimPatchOp op, ScimAttribute attribute, JsonObject? container, JsonNode? value, string pathText)
    {
        var current = container is null ? null : Member(container, attribute.Name);
        if (op == ScimPatchOp.Remove)
        {
            if (container is null || current is null)
            {
                return null;
            }

            if (attribute.Mutability == ScimMutability.Immutable)
            {
                return ScimError.Mutability($"'{pathText}' is immutable.");
            }

            if (attribute.MultiValued && value is not null)
            {
                // {"op":"remove","path":"emails","value":[{"value":"a@x"}]}: remove the listed values only.
                var removeError = RemoveListed(attribute, container, value, pathText);
                return removeError ?? (attribute.Required && Member(container, attribute.Name) is JsonArray { Count: 0 }
                    ? ScimError.Mutability($"'{pathText}' is required and cannot be emptied.")
                    : null);
            }

            if (attribute.Required)
            {
                return ScimError.Mutability($"'{pathText}' is required and cannot be removed.");
            }

            SetMember(container, attribute.Name, null);
            return null;
        }

        if (!TryNormalize(attribute, value, out var normalized, out var error))
        {
            return error;
        }

        if (attribute.Mutability == ScimMutability.Immutable && IsPresent(current) && !JsonNode.DeepEquals(current, normalized))
        {
            return ScimError.Mutability($"'{pathText}' is immutable and already has a value.");
        }

        if (attribute.MultiValued)
        {
            var list = normalized as JsonArray ?? [];
            if (op == ScimPatchOp.Replace)
            {
                SetMember(container!, attribute.Name, list);
                KeepOnePrimary(attribute, list, LastPrimary(list));
                return null;
            }

            if (current is not JsonArray existing)
            {
                existing = [];
                SetMember(container!, attribute.Name, existing);
            }

            // add: append what is not there yet (RFC 7644 §3.5.2.1: an existing value is no change).
            // Canonical JSON text as the key keeps this linear for large adds.
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var element in existing)
            {
                seen.Add(element?.ToJsonString() ?? "null");
            }

            foreach (var item in list.ToList())
            {
                if (seen.Add(item?.ToJsonString() ?? "null"))
                {
                    var added = item!.DeepClone();
                    existing.Add(added);
                    if (IsPrimary(added))
                    {
                        KeepOnePrimary(attribute, existing, added);
                    }
                }
            }

            return null;
        }

        if (attribute.Type == ScimAttributeType.Complex && current is JsonObject existingObject && normalized is JsonObject update)
        {
            // Sub-attributes not named in the value stay as they are (RFC 7644 §3.5.2.3).
            foreach (var (key, sub) in update.ToList())
            {
                SetMember(existingObject, key, sub);
            }

            return null;
        }

        SetMember(container!, attribute.Name, normalized);
        return null;
    }

    private static ScimError? ApplySubAttribute(ScimPatchOp op, ScimAttribute parent, ScimAttribute sub, JsonObject? container, JsonNode? value, string pathText)
    {
        if (parent.MultiValued)
        {
            // Which email's "value"? A value filter says; without one the path is ambiguous.
            return ScimError.InvalidPath($"'{pathText}' names a sub-attribute of the multi-valued '{parent.Name}': select the values with a filter, e.g. {parent.Name}[type eq \"work\"].{sub.Name}.");
        }

        var current = container is null ? null : Member(container, parent.Name) as JsonObject;
        if (op == ScimPatchOp.Remove)
        {
            if (current is null || Member(current, sub.Name) is null)
            {
                return null;
            }

            if (sub.Required)
            {
                return ScimError.Mutability($"'{pathText}' is required and cannot be removed.");
            }

            SetMember(current, sub.Name, null);
            return null;
        }

        if (!TryNormalize(sub, value, out var normalized, out var error))
        {
            return error;
        }

        if (current is null)
        {
            current = [];
            SetMember(container!, parent.Name, current);
        }

        if (sub.Mutability == ScimMutability.Immutable && IsPresent(Member(current, sub.Name)) && !JsonNode.DeepEquals(Member(current, sub.Name), normalized))
        {
            return ScimError.Mutability($"'{pathText}' is immutable and already has a value.");
        }

        SetMember(current, sub.Name, normalized);
        return null;
    }

    private static ScimError? ApplyFiltered(ScimPatchOp op, ScimPatchPath path, JsonObject? container, JsonNode? value, string pathText)
    {
        var attribute = path.Attribute!;
        var node = container is null ? null : Member(container, attribute.Name);
        var elements = node switch
        {
            JsonArray array => array.OfType<JsonObject>().ToList(),
            JsonObject single => [single],
            _ => [],
        };
        var matching = elements.Where(e => JsonElementFilter.Matches(path.Filter!, e)).ToList();
        var sub = path.SubAttribute;
        if (matching.Count == 0)
        {
            // Entra ID: add/replace on emails[type eq "work"].value with no work email creates one.
            if (op != ScimPatchOp.Remove && sub is not null && attribute.MultiValued && TryEqualities(path.Filter!, out var equalities))
            {
                if (!TryNormalize(sub, value, out var created, out var createError))
                {
                    return createError;
                }

                var element = new JsonObject();
                foreach (var (equalitySub, literal) in equalities)
                {
                    element[equalitySub.Name] = literal;
                }

                element[sub.Name] = created;
                if (node is not JsonArray list)
                {
                    list = [];
                    SetMember(container!, attribute.Name, list);
                }

                list.Add(element);
                if (IsPrimary(element))
                {
                    KeepOnePrimary(attribute, list, element);
                }

                return null;
            }

            return ScimError.NoTarget($"No value of '{attribute.Name}' matches '{pathText}'.");
        }

        if (op == ScimPatchOp.Remove)
        {
            foreach (var element in matching)
            {
                if (sub is null)
                {
                    if (node is JsonArray array)
                    {
                        array.Remove(element);
                    }
                    else
                    {
                        SetMember(container!, attribute.Name, null);
                    }
                }
                else if (sub.Required)
                {
                    return ScimError.Mutability($"'{pathText}' is required and cannot be removed.");
                }
                else
                {
                    SetMember(element, sub.Name, null);
                }
            }

            return null;
        }

        if (sub is not null)
        {
            if (!TryNormalize(sub, value, out var normalizedSub, out var subError))
            {
                return subError;
            }

            foreach (var element in matching)
            {
                if (sub.Mutability == ScimMutability.Immutable && IsPresent(Member(element, sub.Name)) && !JsonNode.DeepEquals(Member(element, sub.Name), normalizedSub))
                {
                    return ScimError.Mutability($"'{pathText}' is immutable and already has a value.");
                }

                SetMember(element, sub.Name, normalizedSub?.DeepClone());
                if (sub.Name == "primary" && IsPrimary(element) && node is JsonArray array)
                {
                    KeepOnePrimary(attribute, array, element);
                }
            }

            return null;
        }

        // A whole element: replace swaps matching elements for the value; add merges into them.
        if (!TryNormalizeElement(attribute, value, out var replacement, out var error))
        {
            return error;
        }

        foreach (var element in matching)
        {
            if (op == ScimPatchOp.Replace)
            {
                foreach (var key in element.Select(p => p.Key).ToList())
                {
                    element.Remove(key);
                }
            }

            foreach (var (key, member) in replacement)
            {
                SetMember(element, key, member?.DeepClone());
            }

            if (IsPrimary(element) && node is JsonArray array)
            {
                KeepOnePrimary(attribute, array, element);
            }
        }

        return null;
    }

    private ScimError? ApplyToExtension(PatchState state, ScimPatchOp op, ScimSchemaExtension extension, JsonNode? value, string pathText)
    {
        var block = Member(state.Document, extension.Schema.Id);
        if (op == ScimPatchOp.Remove)
        {
            foreach (var attribute in extension.Schema.Attributes)
            {
                if (attribute.Required && block is JsonObject present && Member(present, attribute.Name) is not null)
                {
                    return ScimError.Mutability($"'{pathText}' has the required attribute '{attribute.Name}'.");
                }
            }

            SetMember(state.Document, extension.Schema.Id, null);
            return null;
        }

        if (value is not JsonObject members)
        {
            return ScimError.InvalidValue($"'{pathText}' needs an object value.");
        }

        foreach (var (key, member) in members)
        {
            var attribute = extension.Schema.FindAttribute(key);
            if (attribute is null)
            {
                continue;
            }

            var error = ApplyAt(state, member is null ? ScimPatchOp.Remove : op, ScimPatchPath.ForAttribute(attribute), member, extension.Schema.Id + ":" + attribute.Name);
            if (error is not null)
            {
                return error;
            }
        }

        return null;
    }
}
