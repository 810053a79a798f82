using Scim.Fast.Core.Query;
using Scim.Fast.Core.Schema;

namespace Scim.Fast.Core.Patch;

/// <summary>
/// Typed edits of one resource type by attribute ordinal, generated from the schema like the
/// accessor: a deep copy, setting or unassigning a simple attribute, appending an element, pruning,
/// comparing.
/// <see cref="ScimPatcher{TResource}"/> applies PATCH operations through it on a copy of the typed
/// model (RFC 7644 §3.5.2: all operations or none), never through JSON.
/// </summary>
/// <remarks>
/// Ordinals and value numbers are the accessor's: for a sub-attribute of a multi-valued complex
/// attribute, <c>index</c> is the element.
/// </remarks>
public abstract class ScimResourceEditor<TResource>
    where TResource : class
{
    /// <summary>Reads values by ordinal (filters inside value paths use it).</summary>
    public abstract ScimResourceAccessor<TResource> Accessor { get; }

    /// <summary>A copy sharing nothing mutable with <paramref name="resource"/> (strings are shared).</summary>
    public abstract TResource Clone(TResource resource);

    /// <summary>
    /// Sets the singular simple attribute (or sub-attribute; of element <paramref name="index"/> for a
    /// multi-valued parent) to <paramref name="value"/>, creating a missing singular parent or
    /// extension block; <see cref="ScimValue.Null"/> unassigns it. False, and nothing changed, when
    /// the ordinal is not such an attribute or the value's kind is not the attribute's type
    /// (string, reference and boolean attributes only: other types go through the JSON engine).
    /// </summary>
    public abstract bool TrySet(TResource resource, int ordinal, int index, in ScimValue value);

    /// <summary>Appends an empty element to the multi-valued complex attribute; its index, or -1.</summary>
    public abstract int AddElement(TResource resource, int ordinal);

    /// <summary>
    /// Unassigns what became empty (RFC 7643 §2.5): complex values and elements without a value,
    /// empty lists, extension blocks without attributes. True when anything was removed.
    /// </summary>
    public abstract bool Prune(TResource resource);

    /// <summary>
    /// True when the two hold the same values, as their JSON forms would be the same
    /// (strings ordinal, dateTimes with their offsets, lists in order).
    /// </summary>
    public abstract bool Same(TResource a, TResource b);

    /// <summary>The generated <see cref="TrySet"/>'s string conversion: a string, or null to unassign.</summary>
    protected static bool TryString(in ScimValue value, out string? text)
    {
        text = null;
        if (value.IsNull)
        {
            return true;
        }

        if (value.Kind != ScimValueKind.String)
        {
            return false;
        }

        text = value.String;
        return true;
    }

    /// <summary>The generated <see cref="TrySet"/>'s boolean conversion.</summary>
    protected static bool TryBoolean(in ScimValue value, out bool? flag)
    {
        flag = null;
        if (value.IsNull)
        {
            return true;
        }

        if (value.Kind != ScimValueKind.Boolean)
        {
            return false;
        }

        flag = value.Boolean;
        return true;
    }

    /// <summary>A copy of a list whose elements are copied by <paramref name="copy"/>.</summary>
    protected static List<TItem>? CloneList<TItem>(List<TItem>? list, Func<TItem, TItem> copy)
    {
        if (list is null)
        {
            return null;
        }

        var result = new List<TItem>(list.Count);
        for (int i = 0; i < list.Count; i++)
        {
            result.Add(copy(list[i]));
        }

        return result;
    }

    /// <summary>A copy of a list of simple values.</summary>
    protected static List<TItem>? CloneList<TItem>(List<TItem>? list) => list is null ? null : [.. list];

    /// <summary>Drops the elements <paramref name="isEmpty"/> says are empty; true when any was dropped.</summary>
    protected static bool RemoveEmpty<TItem>(List<TItem>? list, Func<TItem, bool> isEmpty)
    {
        if (list is null)
        {
            return false;
        }

        int kept = 0;
        for (int i = 0; i < list.Count; i++)
        {
            if (list[i] is { } item && !isEmpty(item))
            {
                list[kept++] = item;
            }
        }

        bool removed = kept != list.Count;
        list.RemoveRange(kept, list.Count - kept);
        return removed;
    }

    /// <summary>The generated <see cref="Same"/>'s comparison of two complex values.</summary>
    protected static bool SameComplex<TItem>(TItem? a, TItem? b, Func<TItem, TItem, bool> same)
        where TItem : class =>
        ReferenceEquals(a, b) || (a is not null && b is not null && same(a, b));

    /// <summary>The generated <see cref="Same"/>'s comparison of two lists of complex values.</summary>
    protected static bool SameList<TItem>(List<TItem>? a, List<TItem>? b, Func<TItem, TItem, bool> same)
        where TItem : class
    {
        if (ReferenceEquals(a, b))
        {
            return true;
        }

        if (a is null || b is null || a.Count != b.Count)
        {
            return false;
        }

        for (int i = 0; i < a.Count; i++)
        {
            if (!SameComplex(a[i], b[i], same))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>The generated <see cref="Same"/>'s comparison of two lists of simple values.</summary>
    protected static bool SameValues<TItem>(List<TItem>? a, List<TItem>? b) =>
        ReferenceEquals(a, b) || (a is not null && b is not null && a.SequenceEqual(b));

    /// <summary>The generated <see cref="Same"/>'s dateTime comparison: the same instant written the same way.</summary>
    protected static bool SameInstant(DateTimeOffset? a, DateTimeOffset? b) =>
        a.HasValue == b.HasValue && (!a.HasValue || a.GetValueOrDefault().EqualsExact(b.GetValueOrDefault()));
}
