namespace Scim.Fast.Core.Query;

/// <summary>
/// The planner hook (DESIGN-NOTES §5): which parts of a filter an index can answer. A store looks up
/// the conjuncts it indexes, intersects or picks the most selective, then runs the compiled filter
/// on the candidates only.
/// </summary>
public static class FilterPlanner
{
    /// <summary>
    /// The comparisons that must all hold for the filter to match: the top-level <c>and</c> chain,
    /// including a value filter of a single comparison (<c>emails[value eq "x"]</c> is
    /// <c>emails.value eq "x"</c>). Every resource the filter matches satisfies each one.
    /// </summary>
    public static List<FilterComparison> Conjuncts(FilterNode filter)
    {
        var result = new List<FilterComparison>();
        Collect(filter, result);
        return result;
    }

    /// <summary>The conjuncts an index of <paramref name="catalogue"/> can answer.</summary>
    public static List<FilterComparison> IndexableConjuncts(FilterNode filter, ScimIndexCatalogue catalogue)
    {
        var result = Conjuncts(filter);
        result.RemoveAll(c => !catalogue.IsIndexable(c));
        return result;
    }

    private static void Collect(FilterNode node, List<FilterComparison> result)
    {
        switch (node)
        {
            case FilterAnd and:
                Collect(and.Left, result);
                Collect(and.Right, result);
                break;
            case FilterComparison comparison:
                result.Add(comparison);
                break;
            case FilterValuePath valuePath:
                // "some element has value = x (and type = work …)" implies "emails.value eq x" for
                // each comparison of the element's and-chain; not so for ne or null tests, nor
                // through or / not.
                CollectElement(valuePath.Inner, result);
                break;
        }
    }

    private static void CollectElement(FilterNode node, List<FilterComparison> result)
    {
        switch (node)
        {
            case FilterAnd and:
                CollectElement(and.Left, result);
                CollectElement(and.Right, result);
                break;
            case FilterComparison comparison when comparison.Operator != FilterOperator.Ne && !comparison.Value.IsNull:
                result.Add(comparison);
                break;
        }
    }
}
