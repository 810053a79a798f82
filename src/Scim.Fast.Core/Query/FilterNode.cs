using Scim.Fast.Core.Schema;

namespace Scim.Fast.Core.Query;

/// <summary>The comparison operators of RFC 7644 §3.4.2.2, plus "pr".</summary>
public enum FilterOperator : byte
{
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Gt,
    Ge,
    Lt,
    Le,
    Pr,
}

/// <summary>
/// A parsed filter (RFC 7644 §3.4.2.2) whose attribute paths are already resolved against a
/// resource type's schema tables and whose literals already have the attribute's type. Produced by
/// <see cref="FilterParser"/>, compiled by <see cref="CompiledFilter{TResource}"/>, inspected by
/// storage planners through <see cref="FilterPlanner"/>.
/// </summary>
public abstract class FilterNode
{
    private protected FilterNode()
    {
    }
}

/// <summary><c>left and right</c>.</summary>
public sealed class FilterAnd(FilterNode left, FilterNode right) : FilterNode
{
    public FilterNode Left { get; } = left;

    public FilterNode Right { get; } = right;

    public override string ToString() => $"({Left} and {Right})";
}

/// <summary><c>left or right</c>.</summary>
public sealed class FilterOr(FilterNode left, FilterNode right) : FilterNode
{
    public FilterNode Left { get; } = left;

    public FilterNode Right { get; } = right;

    public override string ToString() => $"({Left} or {Right})";
}

/// <summary><c>not (inner)</c>.</summary>
public sealed class FilterNot(FilterNode inner) : FilterNode
{
    public FilterNode Inner { get; } = inner;

    public override string ToString() => $"not ({Inner})";
}

/// <summary>
/// <c>attrPath op value</c> or <c>attrPath pr</c>. <see cref="Value"/> has the attribute's type;
/// it is Null for <c>pr</c> and for the comparisons with the literal <c>null</c>.
/// </summary>
public sealed class FilterComparison(ScimAttribute attribute, FilterOperator op, ScimValue value) : FilterNode
{
    public ScimAttribute Attribute { get; } = attribute;

    public FilterOperator Operator { get; } = op;

    public ScimValue Value { get; } = value;

    public override string ToString() => Operator == FilterOperator.Pr
        ? $"{Attribute.Path} pr"
        : $"{Attribute.Path} {Operator.ToString().ToLowerInvariant()} {(Value.Kind == ScimValueKind.String ? "\"" + Value + "\"" : Value.ToString())}";
}

/// <summary><c>emails[type eq "work" and value co "@example.com"]</c>: some element matches the inner filter.</summary>
public sealed class FilterValuePath(ScimAttribute attribute, FilterNode inner) : FilterNode
{
    /// <summary>The complex attribute whose elements are tested.</summary>
    public ScimAttribute Attribute { get; } = attribute;

    /// <summary>A filter over <see cref="Attribute"/>'s sub-attributes.</summary>
    public FilterNode Inner { get; } = inner;

    public override string ToString() => $"{Attribute.Path}[{Inner}]";
}
