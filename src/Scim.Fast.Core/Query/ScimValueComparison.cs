namespace Scim.Fast.Core.Query;

/// <summary>Comparisons by attribute type (RFC 7644 §3.4.2.2), shared by filters and sorting.</summary>
public static class ScimValueComparison
{
    /// <summary>The string comparison an attribute calls for: caseExact or not (RFC 7643 §2.2).</summary>
    public static StringComparison For(bool caseExact) => caseExact ? StringComparison.Ordinal : StringComparison.OrdinalIgnoreCase;

    /// <summary>Orders two non-null values of the same kind.</summary>
    public static int Compare(in ScimValue left, in ScimValue right, StringComparison comparison) => left.Kind switch
    {
        ScimValueKind.String => string.Compare(left.String, right.String, comparison),
        ScimValueKind.Integer => left.Integer.CompareTo(right.Integer),
        ScimValueKind.Decimal => left.Decimal.CompareTo(right.Decimal),
        ScimValueKind.DateTime => left.UtcTicks.CompareTo(right.UtcTicks),
        ScimValueKind.Boolean => left.Boolean.CompareTo(right.Boolean),
        _ => 0,
    };

    /// <summary>
    /// Whether a non-null attribute value satisfies <c>value op literal</c> for every operator but
    /// <c>ne</c> and <c>pr</c> (the filter defines those through <c>eq</c> and presence).
    /// </summary>
    public static bool Test(in ScimValue value, FilterOperator op, in ScimValue literal, StringComparison comparison)
    {
        if (value.Kind == ScimValueKind.String)
        {
            string actual = value.String;
            string expected = literal.String;
            return op switch
            {
                FilterOperator.Eq => string.Equals(actual, expected, comparison),
                FilterOperator.Co => actual.Contains(expected, comparison),
                FilterOperator.Sw => actual.StartsWith(expected, comparison),
                FilterOperator.Ew => actual.EndsWith(expected, comparison),
                FilterOperator.Gt => string.Compare(actual, expected, comparison) > 0,
                FilterOperator.Ge => string.Compare(actual, expected, comparison) >= 0,
                FilterOperator.Lt => string.Compare(actual, expected, comparison) < 0,
                FilterOperator.Le => string.Compare(actual, expected, comparison) <= 0,
                _ => false,
            };
        }

        if (value.Kind != literal.Kind)
        {
            return false;
        }

        int order = Compare(value, literal, comparison);
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

    /// <summary>A value counts as present unless null or an empty string (RFC 7644 §3.4.2.2, "pr").</summary>
    public static bool IsPresent(in ScimValue value) =>
        value.Kind != ScimValueKind.Null && !(value.Kind == ScimValueKind.String && value.String.Length == 0);
}
