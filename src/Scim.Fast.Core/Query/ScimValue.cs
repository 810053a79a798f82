namespace Scim.Fast.Core.Query;

/// <summary>What a <see cref="ScimValue"/> holds.</summary>
public enum ScimValueKind : byte
{
    Null,
    String,
    Boolean,
    Integer,
    Decimal,
    DateTime,

    /// <summary>A complex value (one element of <c>emails</c>, the <c>name</c> object).</summary>
    Complex,
}

/// <summary>
/// One attribute value read through a generated accessor, without boxing: filters, sorting and
/// indexes compare these. DateTimes are held as UTC ticks, since SCIM compares them as instants.
/// </summary>
public readonly struct ScimValue
{
    private readonly object? _object;
    private readonly long _integer;
    private readonly decimal _decimal;

    private ScimValue(ScimValueKind kind, object? obj, long integer, decimal dec)
    {
        Kind = kind;
        _object = obj;
        _integer = integer;
        _decimal = dec;
    }

    public static ScimValue Null => default;

    public ScimValueKind Kind { get; }

    public bool IsNull => Kind == ScimValueKind.Null;

    public string String => (string)_object!;

    public bool Boolean => _integer != 0;

    public long Integer => _integer;

    public decimal Decimal => _decimal;

    /// <summary>UTC ticks of a dateTime value.</summary>
    public long UtcTicks => _integer;

    /// <summary>The element of a complex value.</summary>
    public object Complex => _object!;

    public static ScimValue From(string? value) => value is null ? default : new(ScimValueKind.String, value, 0, 0);

    public static ScimValue From(bool? value) => value is { } b ? new(ScimValueKind.Boolean, null, b ? 1 : 0, 0) : default;

    public static ScimValue From(long? value) => value is { } l ? new(ScimValueKind.Integer, null, l, 0) : default;

    public static ScimValue From(decimal? value) => value is { } d ? new(ScimValueKind.Decimal, null, 0, d) : default;

    public static ScimValue From(DateTimeOffset? value) => value is { } t ? new(ScimValueKind.DateTime, null, t.UtcTicks, 0) : default;

    public static ScimValue FromComplex(object? element) => element is null ? default : new(ScimValueKind.Complex, element, 0, 0);

    public override string ToString() => Kind switch
    {
        ScimValueKind.Null => "null",
        ScimValueKind.String => String,
        ScimValueKind.Boolean => Boolean ? "true" : "false",
        ScimValueKind.Integer => Integer.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ScimValueKind.Decimal => Decimal.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ScimValueKind.DateTime => new DateTimeOffset(UtcTicks, TimeSpan.Zero).ToString("O", System.Globalization.CultureInfo.InvariantCulture),
        _ => "(complex)",
    };
}

/// <summary>
/// Generated per resource type: reads any attribute or sub-attribute by ordinal, so compiled filters,
/// sort comparers and index planners work on typed models without reflection.
/// </summary>
/// <remarks>
/// Values are addressed as (ordinal, index). A singular attribute has 0 or 1 values; a multi-valued
/// attribute has one per element; a sub-attribute of a multi-valued complex attribute has one per
/// element of its parent (Null where that element lacks it), so index i of <c>emails.type</c> and of
/// <c>emails.value</c> are the same email — which is what value filters (<c>emails[type eq "work"]</c>) need.
/// </remarks>
public abstract class ScimResourceAccessor<TResource>
    where TResource : class
{
    public abstract Schema.ScimResourceType ResourceType { get; }

    /// <summary>How many values the attribute has on this resource.</summary>
    public abstract int Count(TResource resource, int ordinal);

    /// <summary>Value number <paramref name="index"/> (0 ≤ index &lt; Count) of the attribute.</summary>
    public abstract ScimValue Get(TResource resource, int ordinal, int index);

    /// <summary>
    /// Removes the values of the multi-valued attribute <paramref name="ordinal"/> whose index is
    /// true in <paramref name="remove"/> (a response narrowed by a value filter in "attributes",
    /// RFC 7644 §3.9). Other ordinals are left alone.
    /// </summary>
    public virtual void RemoveValues(TResource resource, int ordinal, ReadOnlySpan<bool> remove)
    {
    }

    /// <summary>The generated <see cref="RemoveValues"/>'s one step: drops the marked elements of a list, keeping order.</summary>
    protected static void RemoveMarked<TItem>(List<TItem>? list, ReadOnlySpan<bool> remove)
    {
        if (list is null)
        {
            return;
        }

        int kept = 0;
        for (int i = 0; i < list.Count; i++)
        {
            if (i >= remove.Length || !remove[i])
            {
                list[kept++] = list[i];
            }
        }

        list.RemoveRange(kept, list.Count - kept);
    }
}
