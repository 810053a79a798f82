using System.Globalization;

using Scim.Fast.Core.Schema;

namespace Scim.Fast.Core.Query;

/// <summary>How an index keeps its keys (DESIGN-NOTES §8).</summary>
public enum ScimIndexKind : byte
{
    /// <summary>The type's unique name (User.userName, Group.displayName): claimed by the store, folded by it.</summary>
    Unique,

    /// <summary>Equality only: a key lists the ids holding it (externalId, emails.value).</summary>
    Lookup,

    /// <summary>Ordered with subtree counts: ranges, prefixes, sortBy and startIndex in O(log n).</summary>
    Ordered,

    /// <summary>The membership pairs the store keeps both ways (Group members.value).</summary>
    Membership,
}

/// <summary>The filter operators an index answers (RFC 7644 §3.4.2.2).</summary>
[Flags]
public enum ScimIndexOperators : byte
{
    None = 0,
    Eq = 1,
    Sw = 2,
    Gt = 4,
    Ge = 8,
    Lt = 16,
    Le = 32,
}

/// <summary>
/// One index of the catalogue, generated from <c>schemas/indexes/*.json</c>: the only place an index
/// is declared. The planner, the write path (which keys a resource carries), sortBy and the key
/// encoding all read it.
/// </summary>
public sealed class ScimIndex
{
    /// <summary>The number an index is stored under when it has none of its own (unique, externalId, membership).</summary>
    public const byte Unnumbered = 255;

    public ScimIndex(ScimResourceType resourceType, string name, ScimIndexKind kind, byte number, string attribute, bool caseExact, ScimIndexOperators operators, bool sortBy)
    {
        Name = name;
        Kind = kind;
        Number = number;
        Attribute = resourceType.ResolvePath(attribute) ?? throw new ArgumentException($"'{attribute}' is not an attribute of {resourceType.Name}.", nameof(attribute));
        CaseExact = caseExact;
        Operators = operators;
        SortBy = sortBy;
    }

    public string Name { get; }

    public ScimIndexKind Kind { get; }

    /// <summary>The store's number of an ordered (0–127) or lookup (128–254) index; part of the stored form.</summary>
    public byte Number { get; }

    public ScimAttribute Attribute { get; }

    /// <summary>Whether keys keep their case; otherwise they are upper-cased (invariant) on both sides.</summary>
    public bool CaseExact { get; }

    public ScimIndexOperators Operators { get; }

    /// <summary>Whether the index's order serves <c>sortBy</c> on its attribute (RFC 7644 §3.4.2.3).</summary>
    public bool SortBy { get; }

    /// <summary>
    /// Whether the key order is the filter's own comparison, so a range on the index is exactly
    /// the matches: dateTime keys (instants, fixed-width UTC) and case-exact strings (ordinal).
    /// Folded keys give a superset the compiled filter narrows: upper-casing and .NET's
    /// ignore-case ordering differ for a few characters (U+017F, surrogates against
    /// U+E000–U+FFFF), which is why a folded index declares no gt/ge/lt/le.
    /// </summary>
    public bool IsExactOrder => Attribute.Type == ScimAttributeType.DateTime || (CaseExact && Attribute.CaseExact);

    /// <summary>Whether the index answers <paramref name="op"/> for this value.</summary>
    public bool Answers(FilterOperator op, in ScimValue value)
    {
        if (value.IsNull || !KindFits(value.Kind))
        {
            return false;
        }

        var flag = op switch
        {
            FilterOperator.Eq => ScimIndexOperators.Eq,
            FilterOperator.Sw => ScimIndexOperators.Sw,
            FilterOperator.Gt => ScimIndexOperators.Gt,
            FilterOperator.Ge => ScimIndexOperators.Ge,
            FilterOperator.Lt => ScimIndexOperators.Lt,
            FilterOperator.Le => ScimIndexOperators.Le,
            _ => ScimIndexOperators.None,
        };
        return flag != ScimIndexOperators.None && (Operators & flag) != 0;
    }

    private bool KindFits(ScimValueKind kind) => Attribute.Type == ScimAttributeType.DateTime
        ? kind == ScimValueKind.DateTime
        : kind == ScimValueKind.String;

    /// <summary>
    /// The key a value is stored and asked under: a string as is or upper-cased (invariant) when the
    /// index is not case-exact; a dateTime as fixed-width UTC, so ordinal order is time order.
    /// </summary>
    public string KeyOf(in ScimValue value) => value.Kind switch
    {
        ScimValueKind.String => CaseExact || Kind == ScimIndexKind.Unique ? value.String : value.String.ToUpperInvariant(),
        ScimValueKind.DateTime => Instant(value.UtcTicks),
        _ => throw new ArgumentException($"Index '{Name}' keys strings and dateTimes, not {value.Kind}.", nameof(value)),
    };

    /// <summary>Fixed width, UTC, 100 ns: the key of a dateTime (ordinal order is time order).</summary>
    public static string Instant(long utcTicks) =>
        new DateTime(utcTicks, DateTimeKind.Utc).ToString("yyyy-MM-dd'T'HH:mm:ss.fffffff'Z'", CultureInfo.InvariantCulture);

    /// <summary>
    /// What defines the index's stored keys: number, kind, attribute and key form
    /// ("2 ordered meta.lastModified instant"). A store records the definitions it is complete for;
    /// another definition under the same number is another index, built again.
    /// </summary>
    public string Definition =>
        $"{Number} {Kind.ToString().ToLowerInvariant()} {Attribute.Path} {(Attribute.Type == ScimAttributeType.DateTime ? "instant" : CaseExact ? "case-exact" : "folded")}";

    public override string ToString() => $"{Name} ({Kind} on {Attribute.Path})";
}

/// <summary>Receives the index values of one resource, from the generated <c>{Type}Indexes.Collect</c>.</summary>
public interface IScimIndexSink
{
    void Add(ScimIndex index, in ScimValue value);
}

/// <summary>The indexes of one resource type, as declared in its catalogue.</summary>
public sealed class ScimIndexCatalogue
{
    private readonly ScimIndex?[] _orderedByNumber = new ScimIndex?[128];

    public ScimIndexCatalogue(ScimResourceType resourceType, IReadOnlyList<ScimIndex> indexes)
    {
        ResourceType = resourceType;
        Indexes = indexes;
        foreach (var index in indexes)
        {
            switch (index.Kind)
            {
                case ScimIndexKind.Unique:
                    Unique = index;
                    break;
                case ScimIndexKind.Ordered:
                    _orderedByNumber[index.Number] = index;
                    if (index.Attribute.Path == "id")
                    {
                        ById = index;
                    }

                    break;
                case ScimIndexKind.Lookup when index.Attribute.Path == "externalId":
                    ExternalId = index;
                    break;
            }
        }

        if (ById is null)
        {
            throw new ArgumentException($"The {resourceType.Name} catalogue has no ordered index on id: lists and cursors walk it.", nameof(indexes));
        }
    }

    public ScimResourceType ResourceType { get; }

    public IReadOnlyList<ScimIndex> Indexes { get; }

    /// <summary>The unique name, if the type has one.</summary>
    public ScimIndex? Unique { get; }

    /// <summary>The ordered index on id: the default list order and the store's walk of a type.</summary>
    public ScimIndex ById { get; } = null!;

    /// <summary>The externalId lookup (kept in the store's own slot), if declared.</summary>
    public ScimIndex? ExternalId { get; }

    /// <summary>
    /// The filters the catalogue answers, for error messages and docs: each attribute with the
    /// operators its indexes answer together ("userName (eq, sw)"), in declaration order.
    /// </summary>
    public string Describe()
    {
        var operators = new Dictionary<string, ScimIndexOperators>(StringComparer.Ordinal);
        var order = new List<string>();
        foreach (var index in Indexes)
        {
            string path = index.Attribute.Path;
            if (!operators.TryGetValue(path, out var known))
            {
                order.Add(path);
            }

            operators[path] = known | index.Operators;
        }

        var parts = new List<string>(order.Count);
        foreach (string path in order)
        {
            var answered = new List<string>();
            foreach (ScimIndexOperators op in Enum.GetValues<ScimIndexOperators>())
            {
                if (op != ScimIndexOperators.None && operators[path].HasFlag(op))
                {
                    answered.Add(op.ToString().ToLowerInvariant());
                }
            }

            parts.Add(answered.Count == 0 ? path : $"{path} ({string.Join(", ", answered)})");
        }

        return string.Join(", ", parts);
    }

    /// <summary>The ordered index with this number, if declared.</summary>
    public ScimIndex? Ordered(byte number) => number < _orderedByNumber.Length ? _orderedByNumber[number] : null;

    /// <summary>The ordered index whose order is a sortBy on <paramref name="attribute"/>, if any.</summary>
    public ScimIndex? SortIndexFor(ScimAttribute attribute)
    {
        foreach (var index in Indexes)
        {
            if (index.Kind == ScimIndexKind.Ordered && index.SortBy && index.Attribute.Ordinal == attribute.Ordinal)
            {
                return index;
            }
        }

        return null;
    }

    /// <summary>Whether any index answers the comparison (the planner's first question).</summary>
    public bool IsIndexable(FilterComparison comparison)
    {
        foreach (var index in Indexes)
        {
            if (index.Attribute.Ordinal == comparison.Attribute.Ordinal && index.Answers(comparison.Operator, comparison.Value))
            {
                return true;
            }
        }

        return false;
    }
}
