using System.Globalization;
using System.Text.Json.Nodes;

using Scim.Fast.Core.Errors;
using Scim.Fast.Core.Query;
using Scim.Fast.Core.Schema;

namespace Scim.Fast.Core.Patch;

/// <summary>The delta attribute (Group.members) and removals listed by value.</summary>
public sealed partial class ScimPatcher<TResource>
{
    // Group.members: never loaded; operations become a delta (DESIGN-NOTES §4).
    private static ScimError? ApplyDelta(PatchState state, ScimPatchOp op, ScimPatchPath path, JsonNode? value, string pathText)
    {
        var attribute = path.Attribute!;
        if (attribute.Parent is not null || path.SubAttribute is not null)
        {
            var sub = path.SubAttribute ?? attribute;
            return sub.Mutability == ScimMutability.ReadOnly
                ? ScimError.Mutability($"'{pathText}' is readOnly.")
                : ScimError.InvalidPath($"'{pathText}': members are added and removed whole; their sub-attributes cannot be patched.");
        }

        if (path.Filter is not null)
        {
            if (op != ScimPatchOp.Remove)
            {
                return ScimError.InvalidPath($"'{pathText}': a member filter can only be used to remove members.");
            }

            if (!TryMemberIds(path.Filter, out var ids))
            {
                return ScimError.InvalidFilter($"'{pathText}': members can only be selected by 'value eq \"id\"' (joined with 'or').");
            }

            foreach (var id in ids)
            {
                state.Remove(id);
            }

            return null;
        }

        if (op == ScimPatchOp.Remove && value is null)
        {
            state.RemoveAll();
            return null;
        }

        if (!TryNormalize(attribute, value, out var normalized, out var error))
        {
            return error;
        }

        var items = normalized as JsonArray ?? [];
        if (op == ScimPatchOp.Replace)
        {
            // Okta's group push: "replace members []" empties the group.
            state.RemoveAll();
        }

        foreach (var item in items)
        {
            if (item is not JsonObject member || Member(member, "value") is not JsonValue idValue || !idValue.TryGetValue(out string? id) || id.Length == 0)
            {
                return ScimError.InvalidValue($"Every value of '{pathText}' needs a non-empty 'value' (the member's id).");
            }

            if (op == ScimPatchOp.Remove)
            {
                state.Remove(id);
            }
            else
            {
                state.Add(id, member);
            }
        }

        return null;
    }

    // members[value eq "a" or value eq "b"] → a, b.
    private static bool TryMemberIds(FilterNode filter, out List<string> ids)
    {
        ids = [];
        return Collect(filter, ids);

        static bool Collect(FilterNode node, List<string> ids)
        {
            switch (node)
            {
                case FilterOr or:
                    return Collect(or.Left, ids) && Collect(or.Right, ids);
                case FilterComparison { Operator: FilterOperator.Eq, Attribute.Name: "value", Value.Kind: ScimValueKind.String } comparison:
                    ids.Add(comparison.Value.String);
                    return true;
                default:
                    return false;
            }
        }
    }

    // type eq "work" (and primary eq true …): the values a created element gets.
    private static bool TryEqualities(FilterNode filter, out List<(ScimAttribute Sub, JsonNode? Literal)> equalities)
    {
        equalities = [];
        return Collect(filter, equalities);

        static bool Collect(FilterNode node, List<(ScimAttribute, JsonNode?)> equalities)
        {
            switch (node)
            {
                case FilterAnd and:
                    return Collect(and.Left, equalities) && Collect(and.Right, equalities);
                case FilterComparison { Operator: FilterOperator.Eq, Value.IsNull: false } comparison:
                    equalities.Add((comparison.Attribute, ToJson(comparison.Value)));
                    return true;
                default:
                    return false;
            }
        }
    }

    private static JsonNode? ToJson(in ScimValue value) => value.Kind switch
    {
        ScimValueKind.String => JsonValue.Create(value.String),
        ScimValueKind.Boolean => JsonValue.Create(value.Boolean),
        ScimValueKind.Integer => JsonValue.Create(value.Integer),
        ScimValueKind.Decimal => JsonValue.Create(value.Decimal),
        ScimValueKind.DateTime => JsonValue.Create(new DateTimeOffset(value.UtcTicks, TimeSpan.Zero).ToString("yyyy-MM-dd'T'HH:mm:ss.FFFFFFFK", CultureInfo.InvariantCulture)),
        _ => null,
    };

    private static ScimError? RemoveListed(ScimAttribute attribute, JsonObject container, JsonNode value, string pathText)
    {
        if (Member(container, attribute.Name) is not JsonArray existing)
        {
            return null;
        }

        var listed = value as JsonArray ?? [value.DeepClone()];
        var valueSub = attribute.FindSubAttribute("value");
        var wanted = new HashSet<string>(valueSub?.CaseExact ?? attribute.CaseExact ? StringComparer.Ordinal : StringComparer.OrdinalIgnoreCase);
        foreach (var item in listed)
        {
            string? text = item is JsonObject obj ? Text(Member(obj, "value")) : Text(item);
            if (text is null)
            {
                return ScimError.InvalidValue($"The values to remove from '{pathText}' need a 'value'.");
            }

            wanted.Add(text);
        }

        foreach (var element in existing.ToList())
        {
            string? actual = element is JsonObject e ? Text(Member(e, "value")) : Text(element);
            if (actual is not null && wanted.Contains(actual))
            {
                existing.Remove(element);
            }
        }

        return null;
    }
}
