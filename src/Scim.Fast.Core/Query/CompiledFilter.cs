using Scim.Fast.Core.Schema;

namespace Scim.Fast.Core.Query;

/// <summary>
/// A filter bound to a resource type's generated accessor: every attribute path is an ordinal, every
/// literal already typed, so <see cref="Matches"/> walks a small tree of sealed nodes and allocates
/// nothing.
/// </summary>
/// <remarks>
/// Semantics (RFC 7644 §3.4.2.2): a multi-valued attribute matches if any value matches; a value
/// filter <c>emails[…]</c> matches if one element satisfies the whole inner filter; <c>ne</c> is the
/// negation of <c>eq</c>, so an attribute with no value is "not equal" to anything; <c>pr</c> is false
/// for null, empty strings, empty arrays and complex values with no present sub-attribute;
/// <c>eq null</c> is "not present".
/// </remarks>
public sealed class CompiledFilter<TResource>
    where TResource : class
{
    private readonly Node _root;

    private CompiledFilter(FilterNode source, Node root)
    {
        Source = source;
        _root = root;
    }

    /// <summary>The parsed filter, for planners and diagnostics.</summary>
    public FilterNode Source { get; }

    public static CompiledFilter<TResource> Compile(FilterNode filter, ScimResourceAccessor<TResource> accessor) =>
        new(filter, Build(filter, accessor));

    /// <summary>Whether the resource matches the filter.</summary>
    public bool Matches(TResource resource) => _root.Evaluate(resource, -1);

    /// <summary>
    /// For a filter compiled from a value filter's inner expression (the <c>type eq "work"</c> of
    /// <c>emails[type eq "work"]</c>): whether element number <paramref name="element"/> of that
    /// multi-valued attribute matches it.
    /// </summary>
    public bool MatchesElement(TResource resource, int element) => _root.Evaluate(resource, element);

    private static Node Build(FilterNode filter, ScimResourceAccessor<TResource> accessor) => filter switch
    {
        FilterAnd and => new AndNode(Build(and.Left, accessor), Build(and.Right, accessor)),
        FilterOr or => new OrNode(Build(or.Left, accessor), Build(or.Right, accessor)),
        FilterNot not => new NotNode(Build(not.Inner, accessor)),
        FilterValuePath valuePath => new ValuePathNode(accessor, valuePath.Attribute.Ordinal, Build(valuePath.Inner, accessor)),
        FilterComparison { Operator: FilterOperator.Pr } present => Present(present.Attribute, accessor),
        FilterComparison { Value.IsNull: true } nullTest => nullTest.Operator == FilterOperator.Eq
            ? new NotNode(Present(nullTest.Attribute, accessor))
            : Present(nullTest.Attribute, accessor),
        FilterComparison comparison => new CompareNode(accessor, comparison.Attribute.Ordinal, comparison.Operator, comparison.Value, ScimValueComparison.For(comparison.Attribute.CaseExact)),
        _ => throw new ArgumentException("Unknown filter node " + filter.GetType().Name, nameof(filter)),
    };

    private static Node Present(ScimAttribute attribute, ScimResourceAccessor<TResource> accessor)
    {
        if (attribute.Type != ScimAttributeType.Complex)
        {
            return new PresentNode(accessor, attribute.Ordinal);
        }

        var subOrdinals = new int[attribute.SubAttributes.Count];
        for (int i = 0; i < subOrdinals.Length; i++)
        {
            subOrdinals[i] = attribute.SubAttributes[i].Ordinal;
        }

        return new ComplexPresentNode(accessor, attribute.Ordinal, subOrdinals);
    }

    /// <summary>
    /// A filter node. <paramref name="element"/> is -1 at the top level, or the index of the element
    /// a value filter is testing, in which case attributes are read at that index only.
    /// </summary>
    private abstract class Node
    {
        public abstract bool Evaluate(TResource resource, int element);
    }

    private sealed class AndNode(Node left, Node right) : Node
    {
        public override bool Evaluate(TResource resource, int element) => left.Evaluate(resource, element) && right.Evaluate(resource, element);
    }

    private sealed class OrNode(Node left, Node right) : Node
    {
        public override bool Evaluate(TResource resource, int element) => left.Evaluate(resource, element) || right.Evaluate(resource, element);
    }

    private sealed class NotNode(Node inner) : Node
    {
        public override bool Evaluate(TResource resource, int element) => !inner.Evaluate(resource, element);
    }

    private sealed class CompareNode(ScimResourceAccessor<TResource> accessor, int ordinal, FilterOperator op, ScimValue literal, StringComparison comparison) : Node
    {
        public override bool Evaluate(TResource resource, int element)
        {
            // ne is "no value equals": an attribute without a value is not equal to the literal.
            var test = op == FilterOperator.Ne ? FilterOperator.Eq : op;
            bool any;
            if (element >= 0)
            {
                var value = accessor.Get(resource, ordinal, element);
                any = !value.IsNull && ScimValueComparison.Test(value, test, literal, comparison);
            }
            else
            {
                any = false;
                int count = accessor.Count(resource, ordinal);
                for (int i = 0; i < count && !any; i++)
                {
                    var value = accessor.Get(resource, ordinal, i);
                    any = !value.IsNull && ScimValueComparison.Test(value, test, literal, comparison);
                }
            }

            return op == FilterOperator.Ne ? !any : any;
        }
    }

    private sealed class PresentNode(ScimResourceAccessor<TResource> accessor, int ordinal) : Node
    {
        public override bool Evaluate(TResource resource, int element)
        {
            if (element >= 0)
            {
                return ScimValueComparison.IsPresent(accessor.Get(resource, ordinal, element));
            }

            int count = accessor.Count(resource, ordinal);
            for (int i = 0; i < count; i++)
            {
                if (ScimValueComparison.IsPresent(accessor.Get(resource, ordinal, i)))
                {
                    return true;
                }
            }

            return false;
        }
    }

    // A complex value is present when one of its elements has a present sub-attribute.
    private sealed class ComplexPresentNode(ScimResourceAccessor<TResource> accessor, int ordinal, int[] subOrdinals) : Node
    {
        public override bool Evaluate(TResource resource, int element)
        {
            int count = accessor.Count(resource, ordinal);
            for (int i = 0; i < count; i++)
            {
                foreach (int sub in subOrdinals)
                {
                    if (ScimValueComparison.IsPresent(accessor.Get(resource, sub, i)))
                    {
                        return true;
                    }
                }
            }

            return false;
        }
    }

    private sealed class ValuePathNode(ScimResourceAccessor<TResource> accessor, int ordinal, Node inner) : Node
    {
        public override bool Evaluate(TResource resource, int element)
        {
            int count = accessor.Count(resource, ordinal);
            for (int i = 0; i < count; i++)
            {
                if (inner.Evaluate(resource, i))
                {
                    return true;
                }
            }

            return false;
        }
    }
}
