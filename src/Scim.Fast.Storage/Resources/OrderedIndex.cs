namespace Scim.Fast.Storage.Resources;

/// <summary>A position in an ordered index: the sort key and the id that breaks ties.</summary>
public readonly record struct OrderedPosition(string Key, string Id);

/// <summary>
/// In-memory ordered indexes over (sort key, id) per tenant, resource type and index number
/// (DESIGN-NOTES §1, first option): FASTER's hash index has no order, so sortBy, paging, cursors and
/// "meta.lastModified gt" walk these. They are rebuilt from the primary records when the store opens.
/// Keys compare ordinally; callers pass keys already folded or formatted so that ordinal order is the
/// order they want (case-folded userName, fixed-width UTC timestamps).
/// </summary>
/// <remarks>
/// Built on <see cref="SortedSet{T}"/> (a red-black tree): O(log n) insert, remove and seek; a page
/// after a position costs O(log n + page), so cursor pages stay cheap however deep. startIndex paging
/// skips linearly. A struct-node B+tree off the GC's hot path is the planned replacement past a few
/// million entries.
/// </remarks>
internal sealed class OrderedIndex
{
    private static readonly Comparer<(uint Tenant, byte Type, byte Index, string Key, string Id)> s_order =
        Comparer<(uint Tenant, byte Type, byte Index, string Key, string Id)>.Create(static (a, b) =>
        {
            int c = a.Tenant.CompareTo(b.Tenant);
            if (c == 0)
            {
                c = a.Type.CompareTo(b.Type);
            }

            if (c == 0)
            {
                c = a.Index.CompareTo(b.Index);
            }

            if (c == 0)
            {
                c = string.CompareOrdinal(a.Key, b.Key);
            }

            return c != 0 ? c : string.CompareOrdinal(a.Id, b.Id);
        });

    private readonly SortedSet<(uint Tenant, byte Type, byte Index, string Key, string Id)> _entries = new(s_order);
    private readonly object _lock = new();

    public void Add(TenantId tenant, byte type, byte index, string key, string id)
    {
        lock (_lock)
        {
            _entries.Add((tenant.Value, type, index, key, id));
        }
    }

    public void Remove(TenantId tenant, byte type, byte index, string key, string id)
    {
        lock (_lock)
        {
            _entries.Remove((tenant.Value, type, index, key, id));
        }
    }

    public bool Contains(TenantId tenant, byte type, byte index, string key, string id)
    {
        lock (_lock)
        {
            return _entries.Contains((tenant.Value, type, index, key, id));
        }
    }

    public int Count(TenantId tenant, byte type, byte index)
    {
        lock (_lock)
        {
            return Range(tenant, type, index).Count;
        }
    }

    /// <summary>
    /// Up to <paramref name="count"/> positions strictly after <paramref name="after"/> (or from the
    /// start), in ascending or descending order. A cursor is simply the last position returned.
    /// </summary>
    public List<OrderedPosition> Page(TenantId tenant, byte type, byte index, OrderedPosition? after, int count, bool descending = false)
    {
        var page = new List<OrderedPosition>(Math.Min(count, 1024));
        lock (_lock)
        {
            var low = (tenant.Value, type, index, "", "");
            var high = (tenant.Value, type, index, Highest, Highest);
            if (after is { } from)
            {
                var pivot = (tenant.Value, type, index, from.Key, from.Id);
                if (descending)
                {
                    high = pivot;
                }
                else
                {
                    low = pivot;
                }
            }

            var view = _entries.GetViewBetween(low, high);
            foreach (var entry in descending ? view.Reverse() : view)
            {
                if (page.Count == count)
                {
                    break;
                }

                // Strictly after the cursor: the cursor's own entry (if still there) is skipped.
                if (after is { } cursor && entry.Key == cursor.Key && entry.Id == cursor.Id)
                {
                    continue;
                }

                page.Add(new OrderedPosition(entry.Key, entry.Id));
            }
        }

        return page;
    }

    // The slice of one (tenant, type, index): from the smallest possible entry to the largest.
    private SortedSet<(uint Tenant, byte Type, byte Index, string Key, string Id)> Range(TenantId tenant, byte type, byte index) =>
        _entries.GetViewBetween((tenant.Value, type, index, "", ""), (tenant.Value, type, index, Highest, Highest));

    // Sorts after any real key (store keys are valid UTF-16 without this prefix).
    private const string Highest = "\uFFFF\uFFFF\uFFFF\uFFFF";
}
