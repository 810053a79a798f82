using System.Diagnostics.CodeAnalysis;

using Scim.Fast.Core.Errors;
using Scim.Fast.Core.Schema;

namespace Scim.Fast.Core.Query;

/// <summary>
/// Orders resources by one attribute (RFC 7644 §3.4.2.3): by the attribute's type, strings by its
/// caseExact; a multi-valued attribute sorts by its primary value, or its first if none is primary.
/// Resources without a value sort last in either order; ties fall back to <c>id</c>, so paging
/// through a sorted result is deterministic.
/// </summary>
public sealed class ScimSortComparer<TResource> : IComparer<TResource>
    where TResource : class
{
    private readonly ScimResourceAccessor<TResource> _accessor;
    private readonly int _ordinal;
    private readonly int _primaryOrdinal;
    private readonly int _idOrdinal;
    private readonly bool _descending;
    private readonly StringComparison _comparison;

    private ScimSortComparer(ScimResourceAccessor<TResource> accessor, ScimAttribute attribute, int primaryOrdinal, bool descending)
    {
        _accessor = accessor;
        Attribute = attribute;
        _ordinal = attribute.Ordinal;
        _primaryOrdinal = primaryOrdinal;
        _descending = descending;
        _comparison = ScimValueComparison.For(attribute.CaseExact);
        _idOrdinal = accessor.ResourceType.ResolvePath("id")!.Ordinal;
    }

    /// <summary>The attribute sorted by (a complex attribute's "value"); its multi-valued parent's "primary" is read too.</summary>
    public ScimAttribute Attribute { get; }

    /// <summary>
    /// Builds a comparer for <c>sortBy</c> / <c>sortOrder</c>. An unknown attribute is 400 invalidPath;
    /// a complex attribute without a "value" sub-attribute cannot be ordered (400 invalidValue).
    /// </summary>
    public static bool TryCreate(
        ScimResourceAccessor<TResource> accessor,
        string sortBy,
        string? sortOrder,
        [NotNullWhen(true)] out ScimSortComparer<TResource>? comparer,
        [NotNullWhen(false)] out ScimError? error)
    {
        comparer = null;
        bool descending;
        if (string.IsNullOrEmpty(sortOrder) || sortOrder.Equals("ascending", StringComparison.OrdinalIgnoreCase))
        {
            descending = false;
        }
        else if (sortOrder.Equals("descending", StringComparison.OrdinalIgnoreCase))
        {
            descending = true;
        }
        else
        {
            error = ScimError.InvalidValue($"sortOrder must be 'ascending' or 'descending', not '{sortOrder}'.");
            return false;
        }

        var attribute = accessor.ResourceType.ResolvePath(sortBy.Trim());
        if (attribute is null)
        {
            error = ScimError.InvalidPath($"sortBy names no attribute of {accessor.ResourceType.Name}: '{sortBy}'.");
            return false;
        }

        if (attribute.Type == ScimAttributeType.Complex)
        {
            attribute = attribute.FindSubAttribute("value");
            if (attribute is null)
            {
                error = ScimError.InvalidValue($"sortBy '{sortBy}' is complex and has no 'value' to sort by.");
                return false;
            }
        }

        // The "primary" flag of the multi-valued complex attribute the sort value belongs to.
        int primaryOrdinal = -1;
        if (attribute.Parent is { MultiValued: true } parent && parent.FindSubAttribute("primary") is { Type: ScimAttributeType.Boolean } primary)
        {
            primaryOrdinal = primary.Ordinal;
        }

        comparer = new ScimSortComparer<TResource>(accessor, attribute, primaryOrdinal, descending);
        error = null;
        return true;
    }

    public int Compare(TResource? x, TResource? y)
    {
        if (ReferenceEquals(x, y))
        {
            return 0;
        }

        if (x is null || y is null)
        {
            return x is null ? 1 : -1;
        }

        var left = SortValue(x);
        var right = SortValue(y);
        int order;
        if (left.IsNull || right.IsNull)
        {
            // Missing values last, whatever the order.
            order = left.IsNull == right.IsNull ? 0 : left.IsNull ? 1 : -1;
        }
        else
        {
            order = ScimValueComparison.Compare(left, right, _comparison);
            if (_descending)
            {
                order = -order;
            }
        }

        if (order != 0)
        {
            return order;
        }

        // Ties by id, in the sort's direction: descending is then exactly the reverse of ascending
        // (missing values aside), as an ordered index walked backwards gives it.
        var leftId = _accessor.Get(x, _idOrdinal, 0);
        var rightId = _accessor.Get(y, _idOrdinal, 0);
        int byId = leftId.IsNull || rightId.IsNull ? leftId.IsNull.CompareTo(rightId.IsNull) : string.CompareOrdinal(leftId.String, rightId.String);
        return _descending ? -byId : byId;
    }

    /// <summary>The value a resource sorts by: the primary element's, else the first present one.</summary>
    public ScimValue SortValue(TResource resource)
    {
        int count = _accessor.Count(resource, _ordinal);
        if (_primaryOrdinal >= 0)
        {
            for (int i = 0; i < count; i++)
            {
                var primary = _accessor.Get(resource, _primaryOrdinal, i);
                if (primary.Kind == ScimValueKind.Boolean && primary.Boolean)
                {
                    var value = _accessor.Get(resource, _ordinal, i);
                    if (!value.IsNull)
                    {
                        return value;
                    }
                }
            }
        }

        for (int i = 0; i < count; i++)
        {
            var value = _accessor.Get(resource, _ordinal, i);
            if (!value.IsNull)
            {
                return value;
            }
        }

        return ScimValue.Null;
    }
}
