using System.Globalization;
using System.Text.Json.Nodes;

using Scim.Fast.Core.Query;
using Scim.Fast.Core.Schema;

namespace Scim.Fast.Core.Tests.Query;

/// <summary>
/// A plain filter interpreter over a resource's JSON, written apart from the compiled evaluator:
/// no accessors, no ordinals, just names, JSON values and the RFC 7644 §3.4.2.2 rules.
/// </summary>
public static class ReferenceInterpreter
{
    public static bool Evaluate(FilterNode node, JsonObject resource, JsonObject? element)
    {
        switch (node)
        {
            case FilterAnd and:
                return Evaluate(and.Left, resource, element) && Evaluate(and.Right, resource, element);
            case FilterOr or:
                return Evaluate(or.Left, resource, element) || Evaluate(or.Right, resource, element);
            case FilterNot not:
                return !Evaluate(not.Inner, resource, element);
            case FilterValuePath valuePath:
                foreach (var item in Values(valuePath.Attribute, resource, null))
                {
                    if (item is JsonObject obj && Evaluate(valuePath.Inner, resource, obj))
                    {
                        return true;
                    }
                }

                return false;
            case FilterComparison comparison:
                var values = Values(comparison.Attribute, resource, element);
                if (comparison.Operator == FilterOperator.Pr)
                {
                    return values.Any(IsPresent);
                }

                if (comparison.Value.IsNull)
                {
                    return comparison.Operator == FilterOperator.Eq ? !values.Any(IsPresent) : values.Any(IsPresent);
                }

                if (comparison.Operator == FilterOperator.Ne)
                {
                    return !values.Any(v => Satisfies(comparison, v, FilterOperator.Eq));
                }

                return values.Any(v => Satisfies(comparison, v, comparison.Operator));
            default:
                throw new InvalidOperationException();
        }
    }

    // The JSON values an attribute has: one per element for sub-attributes of multi-valued attributes.
    private static List<JsonNode?> Values(ScimAttribute attribute, JsonObject resource, JsonObject? element)
    {
        if (element is not null)
        {
            return [Member(element, attribute.Name)];
        }

        JsonObject container = resource;
        if (!attribute.SchemaId.Equals("urn:ietf:params:scim:schemas:core:2.0:User", StringComparison.OrdinalIgnoreCase) && attribute.Name != "schemas")
        {
            var block = Member(resource, attribute.SchemaId);
            if (block is not JsonObject extension)
            {
                return [];
            }

            container = extension;
        }

        if (attribute.Parent is { } parent)
        {
            var parentValue = Member(container, parent.Name);
            var items = parentValue is JsonArray array ? array.ToList() : [parentValue];
            return [.. items.Where(i => i is JsonObject).Select(i => Member((JsonObject)i!, attribute.Name))];
        }

        var value = Member(container, attribute.Name);
        return value is JsonArray list ? [.. list] : [value];
    }

    private static JsonNode? Member(JsonObject obj, string name) =>
        obj.FirstOrDefault(p => string.Equals(p.Key, name, StringComparison.OrdinalIgnoreCase)).Value;

    private static bool IsPresent(JsonNode? value) => value switch
    {
        null => false,
        JsonObject obj => obj.Any(p => IsPresent(p.Value)),
        JsonArray array => array.Any(IsPresent),
        _ => !(value.GetValueKind() == System.Text.Json.JsonValueKind.String && value.GetValue<string>().Length == 0),
    };

    private static bool Satisfies(FilterComparison comparison, JsonNode? value, FilterOperator op)
    {
        if (value is null || value is JsonObject || value is JsonArray)
        {
            return false;
        }

        var literal = comparison.Value;
        int order;
        switch (comparison.Attribute.Type)
        {
            case ScimAttributeType.Boolean:
                return op == FilterOperator.Eq && value.GetValue<bool>() == literal.Boolean;
            case ScimAttributeType.DateTime:
                order = DateTimeOffset.Parse(value.GetValue<string>(), CultureInfo.InvariantCulture).UtcTicks.CompareTo(literal.UtcTicks);
                break;
            case ScimAttributeType.Integer:
                order = value.GetValue<long>().CompareTo(literal.Integer);
                break;
            case ScimAttributeType.Decimal:
                order = value.GetValue<decimal>().CompareTo(literal.Decimal);
                break;
            default:
                string text = value.GetValue<string>();
                var comparison2 = comparison.Attribute.CaseExact ? StringComparison.Ordinal : StringComparison.OrdinalIgnoreCase;
                switch (op)
                {
                    case FilterOperator.Co: return text.Contains(literal.String, comparison2);
                    case FilterOperator.Sw: return text.StartsWith(literal.String, comparison2);
                    case FilterOperator.Ew: return text.EndsWith(literal.String, comparison2);
                }

                order = string.Compare(text, literal.String, comparison2);
                break;
        }

        return op switch
        {
            FilterOperator.Eq => order == 0,
            FilterOperator.Gt => order > 0,
            FilterOperator.Ge => order >= 0,
            FilterOperator.Lt => order < 0,
            FilterOperator.Le => order <= 0,
            _ => false,
        };
    }
}
