using System.Text.Json.Nodes;

using Scim.Fast.Core.Query;
using Scim.Fast.Core.Schema;

namespace Scim.Fast.Core.Patch;

/// <summary>
/// Evaluates a value filter (the inside of <c>emails[…]</c>) against one element in JSON form, with
/// the same comparison rules as <see cref="CompiledFilter{TResource}"/> (RFC 7644 §3.4.2.2).
/// </summary>
internal static class JsonElementFilter
{
    public static bool Matches(FilterNode filter, JsonObject element) => filter switch
    {
        FilterAnd and => Matches(and.Left, element) && Matches(and.Right, element),
        FilterOr or => Matches(or.Left, element) || Matches(or.Right, element),
        FilterNot not => !Matches(not.Inner, element),
        FilterComparison comparison => Test(comparison, element),
        _ => false,
    };

    private static bool Test(FilterComparison comparison, JsonObject element) =>
        Test(comparison, Read(comparison.Attribute, ScimPatchRequest.Member(element, comparison.Attribute.Name)));

    /// <summary>One comparison against the element's value of its attribute (Null when absent).</summary>
    public static bool Test(FilterComparison comparison, in ScimValue value)
    {
        bool present = ScimValueComparison.IsPresent(value);
        if (comparison.Operator == FilterOperator.Pr)
        {
            return present;
        }

        if (comparison.Value.IsNull)
        {
            return comparison.Operator == FilterOperator.Eq ? !present : present;
        }

        var comparisonKind = ScimValueComparison.For(comparison.Attribute.CaseExact);
        if (comparison.Operator == FilterOperator.Ne)
        {
            return value.IsNull || !ScimValueComparison.Test(value, FilterOperator.Eq, comparison.Value, comparisonKind);
        }

        return !value.IsNull && ScimValueComparison.Test(value, comparison.Operator, comparison.Value, comparisonKind);
    }

    private static ScimValue Read(ScimAttribute attribute, JsonNode? node)
    {
        if (node is not JsonValue json)
        {
            return ScimValue.Null;
        }

        switch (attribute.Type)
        {
            case ScimAttributeType.Boolean:
                if (json.TryGetValue(out bool flag))
                {
                    return ScimValue.From(flag);
                }

                return json.TryGetValue(out string? text) && bool.TryParse(text, out flag) ? ScimValue.From(flag) : ScimValue.Null;
            case ScimAttributeType.Integer:
                return json.TryGetValue(out long integer) ? ScimValue.From(integer) : ScimValue.Null;
            case ScimAttributeType.Decimal:
                return json.TryGetValue(out decimal number) ? ScimValue.From(number) : ScimValue.Null;
            case ScimAttributeType.DateTime:
                return json.TryGetValue(out string? date) && Serialization.ScimJsonRead.TryParseDateTime(date, out var instant) ? ScimValue.From(instant) : ScimValue.Null;
            default:
                return json.TryGetValue(out string? s) ? ScimValue.From(s) : ScimValue.Null;
        }
    }
}
