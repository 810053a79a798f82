using System.Collections.Concurrent;

namespace Scim.Fast.Storage.Resources;

/// <summary>A position in an ordered index: the sort key and the id that breaks ties.</summary>
public readonly record struct OrderedPosition(string Key, string Id);

/// <summary>
/// A range of an ordered index: the positions strictly above <see cref="Above"/> and strictly below
/// <see cref="Below"/> (either open). Bounds on keys alone use the ids "" and <see cref="MaxId"/>,
/// which no stored id is, so "key ≥ x" is "above (x, "")" and "key &gt; x" is "above (x, MaxId)".
/// </summary>
public readonly record struct OrderedRange(OrderedPosition? Above, OrderedPosition? Below)
{
    /// <summary>Sorts after any stored id (ids are valid UTF-16 that does not start like this).</summary>
    public const string MaxId = "\uFFFF\uFFFF\uFFFF\uFFFF";

    public static OrderedRange All => default;

    public static OrderedRange GreaterThan(string key) => new(new OrderedPosition(key, MaxId), null);

    public static OrderedRange AtLeast(string key) => new(new OrderedPosition(key, ""), null);

    public static OrderedRange LessThan(string key) => new(null, new OrderedPosition(key, ""));

    public static OrderedRange AtMost(string key) => new(null, new OrderedPosition(key, MaxId));

    /// <summary>Keys that start with <paramref name="prefix"/>: from the prefix up to the next prefix.</summary>
    public static OrderedRange StartingWith(string prefix)
    {
        // The least string above every string with this prefix: the prefix with its last char
        // raised (trailing U+FFFF chars dropped first); none when the prefix is all U+FFFF.
        int end = prefix.Length;
        while (end > 0 && prefix[end - 1] == '\uFFFF')
        {
            end--;
        }

        OrderedPosition? below = end == 0 ? null : new OrderedPosition(string.Concat(prefix.AsSpan(0, end - 1), ((char)(prefix[end - 1] + 1)).ToString()), "");
        return new OrderedRange(new OrderedPosition(prefix, ""), below);
    }

    /// <summary>The positions in both ranges.</summary>
    public OrderedRange Intersect(OrderedRange other) => new(
        Above is null ? other.Above : other.Above is null ? Above : PositionOrder.Instance.Compare(Above.Value, other.Above.Value) >= 0 ? Above : other.Above,
        Below is null ? other.Below : other.Below is null ? Below : PositionOrder.Instance.Compare(Below.Value, other.Below.Value) <= 0 ? Below : other.Below);
}

/// <summary>
/// In-memory ordered indexes over (sort key, id), one counted B+tree per tenant, resource type and
/// index number (DESIGN-NOTES §1, first option; §9): FASTER's hash index has no order, so sortBy,
/// paging, cursors and ranges (meta.lastModified gt, userName sw) walk these. Each tree has its own
/// lock, so one tenant's deep page or long walk never waits on another's writes, and knows its
/// subtree sizes, so startIndex and range counts cost O(log n). Keys compare ordinally; callers pass
/// keys already folded or formatted so that ordinal order is the order they want (case-folded
/// userName, fixed-width UTC timestamps). Rebuilt from the primary records, or loaded from the
/// checkpoint's snapshot, when the store opens.
/// </summary>
internal sealed class OrderedIndex
{
    private sealed class Slot
    {
        public CountedTree Tree = new();
    }

    private volatile ConcurrentDictionary<(uint Tenant, byte Type, byte Index), Slot> _slots = new();

    // While a snapshot loads in the background, changes queue here (in order) and readers wait.
    private readonly object _loadLock = new();
    private Task? _loading;
    private volatile List<(bool Add, (uint, byte, byte, string, string) Entry)>? _pending;

    public void Add(TenantId tenant, byte type, byte index, string key, string id) => Change(true, (tenant.Value, type, index, key, id));

    public void Remove(TenantId tenant, byte type, byte index, string key, string id) => Change(false, (tenant.Value, type, index, key, id));

    /// <summary>One resource's key in one tree changed: out and in under the tree's lock, so a reader sees it at one place.</summary>
    public void Move(TenantId tenant, byte type, byte index, string oldKey, string newKey, string id)
    {
        if (Queued((false, (tenant.Value, type, index, oldKey, id)), (true, (tenant.Value, type, index, newKey, id))))
        {
            return;
        }

        var slot = _slots.GetOrAdd((tenant.Value, type, index), static _ => new Slot());
        lock (slot)
        {
            slot.Tree.Remove(new OrderedPosition(oldKey, id));
            slot.Tree.Add(new OrderedPosition(newKey, id));
        }
    }

    private void Change(bool add, (uint Tenant, byte Type, byte Index, string Key, string Id) entry)
    {
        if (!Queued((add, entry)))
        {
            Apply(add, entry);
        }
    }

    // While a load runs, changes wait in its queue, in order (Install applies them): true when queued.
    private bool Queued(params ReadOnlySpan<(bool Add, (uint, byte, byte, string, string) Entry)> changes)
    {
        if (_pending is null)
        {
            return false;
        }

        lock (_loadLock)
        {
            if (_pending is not { } pending)
            {
                return false;
            }

            foreach (var change in changes)
            {
                pending.Add(change);
            }

            return true;
        }
    }

    private void Apply(bool add, (uint Tenant, byte Type, byte Index, string Key, string Id) entry)
    {
        var slot = add ? _slots.GetOrAdd((entry.Tenant, entry.Type, entry.Index), static _ => new Slot()) : _slots.GetValueOrDefault((entry.Tenant, entry.Type, entry.Index));
        if (slot is null)
        {
            return;
        }

        lock (slot)
        {
            if (add)
            {
                slot.Tree.Add(new OrderedPosition(entry.Key, entry.Id));
            }
            else
            {
                slot.Tree.Remove(new OrderedPosition(entry.Key, entry.Id));
            }
        }
    }

    /// <summary>Every entry, in order (a copy): for Verify, not for requests.</summary>
    public List<(uint Tenant, byte Type, byte Index, string Key, string Id)> All()
    {
        var all = new List<(uint, byte, byte, string, string)>();
        foreach (var (key, slot) in SortedSlots())
        {
            lock (slot)
            {
                foreach (var position in slot.Tree.All())
                {
                    all.Add((key.Tenant, key.Type, key.Index, position.Key, position.Id));
                }
            }
        }

        return all;
    }

    public bool Contains(TenantId tenant, byte type, byte index, string key, string id)
    {
        WaitUntilLoaded();
        if (_slots.GetValueOrDefault((tenant.Value, type, index)) is not { } slot)
        {
            return false;
        }

        lock (slot)
        {
            return slot.Tree.Contains(new OrderedPosition(key, id));
        }
    }

    /// <summary><see cref="Contains"/> for each entry, under one lock.</summary>
    public bool[] ContainsEach(TenantId tenant, byte type, byte index, IReadOnlyList<(string Key, string Id)> entries)
    {
        WaitUntilLoaded();
        var found = new bool[entries.Count];
        if (_slots.GetValueOrDefault((tenant.Value, type, index)) is not { } slot)
        {
            return found;
        }

        lock (slot)
        {
            for (int i = 0; i < entries.Count; i++)
            {
                found[i] = slot.Tree.Contains(new OrderedPosition(entries[i].Key, entries[i].Id));
            }
        }

        return found;
    }

    public int Count(TenantId tenant, byte type, byte index) => Count(tenant, type, index, OrderedRange.All);

    /// <summary>Entries in a range: two descents (order statistics), not a walk.</summary>
    public int Count(TenantId tenant, byte type, byte index, OrderedRange range)
    {
        WaitUntilLoaded();
        if (_slots.GetValueOrDefault((tenant.Value, type, index)) is not { } slot)
        {
            return 0;
        }

        lock (slot)
        {
            var (low, high) = Ranks(slot.Tree, range);
            return Math.Max(0, high - low);
        }
    }

    /// <summary>
    /// Up to <paramref name="count"/> positions of <paramref name="range"/> strictly after
    /// <paramref name="after"/> (or from the range's start), ascending or descending, past the first
    /// <paramref name="skip"/> (startIndex paging, RFC 7644 §3.4.2.4): O(log n + count) however
    /// deep. A cursor is simply the last position returned.
    /// </summary>
    public List<OrderedPosition> Page(TenantId tenant, byte type, byte index, OrderedRange range, OrderedPosition? after, int count, bool descending = false, int skip = 0)
    {
        WaitUntilLoaded();
        var page = new List<OrderedPosition>(Math.Clamp(count, 0, 1024));
        if (_slots.GetValueOrDefault((tenant.Value, type, index)) is not { } slot)
        {
            return page;
        }

        lock (slot)
        {
            var tree = slot.Tree;
            var (low, high) = Ranks(tree, range);
            if (after is { } cursor)
            {
                if (descending)
                {
                    high = Math.Min(high, tree.Rank(cursor));
                }
                else
                {
                    low = Math.Max(low, RankAbove(tree, cursor));
                }
            }

            if (descending)
            {
                long start = (long)high - 1 - Math.Max(0, skip);
                if (start >= low)
                {
                    tree.CopyFrom((int)start, count, descending: true, stop: low - 1, page);
                }
            }
            else
            {
                long start = (long)low + Math.Max(0, skip);
                if (start < high)
                {
                    tree.CopyFrom((int)start, count, descending: false, stop: high, page);
                }
            }
        }

        return page;
    }

    // The ranks [low, high) a range covers.
    private static (int Low, int High) Ranks(CountedTree tree, OrderedRange range) =>
        (range.Above is { } above ? RankAbove(tree, above) : 0, range.Below is { } below ? tree.Rank(below) : tree.Count);

    // Entries at or below a position: the rank of the first entry strictly above it.
    private static int RankAbove(CountedTree tree, OrderedPosition position) =>
        tree.Rank(position) + (tree.Contains(position) ? 1 : 0);

    private List<KeyValuePair<(uint Tenant, byte Type, byte Index), Slot>> SortedSlots()
    {
        var slots = _slots.ToList();
        slots.Sort(static (a, b) => a.Key.CompareTo(b.Key));
        return slots;
    }

    /// <summary>
    /// Writes every entry, in order, to <paramref name="path"/> (via a temporary file and a rename),
    /// headed by <paramref name="mark"/>: the log address from which replay brings it up to date.
    /// Taken while writes go on, a tree a chunk at a time under its lock (a fuzzy snapshot: see
    /// <see cref="OrderedIndexSnapshot.SaveUnderLocks"/>), so a restart loads it instead of reading
    /// every resource back (DESIGN-NOTES §1).
    /// </summary>
    public void Save(string path, long mark)
    {
        WaitUntilLoaded();
        var trees = new List<((uint Tenant, byte Type, byte Index), CountedTree, object)>();
        foreach (var (key, slot) in SortedSlots())
        {
            trees.Add((key, slot.Tree, slot));
        }

        OrderedIndexSnapshot.SaveUnderLocks(path, mark, trees);
    }

    /// <summary>Whether the snapshot at <paramref name="path"/> was taken at <paramref name="mark"/>.</summary>
    public static bool SnapshotMatches(string path, long mark) => OrderedIndexSnapshot.Matches(path, mark);

    /// <summary>
    /// Starts loading a matching snapshot in the background, so the store opens (and the server
    /// answers id and index lookups) without waiting for millions of entries. Until it is loaded,
    /// changes queue up and are applied in order afterwards; ordered reads wait for it. When the
    /// load fails, <paramref name="rebuild"/> produces the entries instead.
    /// </summary>
    public void LoadInBackground(string path, long mark, Func<IEnumerable<(uint Tenant, byte Type, byte Index, string Key, string Id)>> rebuild, Task<(long Mark, Dictionary<(uint, byte, byte), CountedTree>? Trees)?>? preloaded = null)
    {
        lock (_loadLock)
        {
            _pending = [];
            _loading = Task.Run(() =>
            {
                try
                {
                    long started = System.Diagnostics.Stopwatch.GetTimestamp();
                    if (!TryLoad(path, mark, preloaded))
                    {
                        Install(Rebuild(rebuild()));
                    }

                    LoadTime = System.Diagnostics.Stopwatch.GetElapsedTime(started);
                }
                catch (Exception e)
                {
                    // Neither the snapshot nor a rebuild worked: ordered reads fail, the store stops
                    // taking writes (it checks LoadFailure), and a restart tries again.
                    lock (_loadLock)
                    {
                        _pending = null;
                        LoadFailure = e;
                    }
                }
            });
        }
    }

    /// <summary>The background load (completes when it has finished, loaded or failed).</summary>
    public Task Loading => _loading ?? Task.CompletedTask;

    /// <summary>How long the background load took (snapshot or rebuild).</summary>
    public TimeSpan LoadTime { get; private set; }

    /// <summary>Entries in every tree (a count, for logs).</summary>
    public long TotalCount
    {
        get
        {
            long total = 0;
            foreach (var slot in _slots.Values)
            {
                total += slot.Tree.Count;
            }

            return total;
        }
    }

    /// <summary>
    /// Starts reading the snapshot at <paramref name="path"/> at once, before recovery says which mark
    /// it must have (<see cref="LoadInBackground"/> takes it if the mark is right): the read overlaps
    /// the key-value store's recovery. Null when there is no snapshot.
    /// </summary>
    public static Task<(long Mark, Dictionary<(uint, byte, byte), CountedTree>? Trees)?>? Preload(string path) =>
        File.Exists(path) ? Task.Run(() => OrderedIndexSnapshot.TryLoadAny(path)) : null;

    /// <summary>Whether the ordered indexes are in memory (no background load running; failed counts as not).</summary>
    public bool IsLoaded => _loading is null or { IsCompleted: true } && LoadFailure is null;

    /// <summary>Why a background load failed, if it did.</summary>
    public Exception? LoadFailure { get; private set; }

    /// <summary>Blocks until a background load has finished (Verify, and the first ordered reads); throws if it failed.</summary>
    public void WaitUntilLoaded()
    {
        _loading?.GetAwaiter().GetResult();
        if (LoadFailure is { } failure)
        {
            throw new InvalidOperationException("The ordered indexes failed to load; restart to rebuild them.", failure);
        }
    }

    // Entries in any order (a scan of the primary records): grouped per tree, sorted, deduplicated.
    private static ConcurrentDictionary<(uint, byte, byte), Slot> Rebuild(IEnumerable<(uint Tenant, byte Type, byte Index, string Key, string Id)> entries)
    {
        var groups = new Dictionary<(uint, byte, byte), List<OrderedPosition>>();
        foreach (var (tenant, type, index, key, id) in entries)
        {
            if (!groups.TryGetValue((tenant, type, index), out var list))
            {
                groups[(tenant, type, index)] = list = [];
            }

            list.Add(new OrderedPosition(key, id));
        }

        var slots = new ConcurrentDictionary<(uint, byte, byte), Slot>();
        foreach (var (slotKey, list) in groups)
        {
            list.Sort(PositionOrder.Instance);
            int distinct = 0;
            for (int i = 0; i < list.Count; i++)
            {
                if (distinct == 0 || PositionOrder.Instance.Compare(list[distinct - 1], list[i]) != 0)
                {
                    list[distinct++] = list[i];
                }
            }

            list.RemoveRange(distinct, list.Count - distinct);
            slots[slotKey] = new Slot { Tree = CountedTree.FromSorted(list) };
        }

        return slots;
    }

    // Swaps in loaded trees, then applies what changed meanwhile, in order. The queue stays open
    // until it has been applied: a writer that came in meanwhile waits on the lock and then goes
    // after it. (It was closed first, so a new change could land before an older queued one of
    // the same resource: an update's old key came back after the new one was added, one entry
    // too many, seen after crash recovery when a fast load finished under the replay's writes.)
    private void Install(ConcurrentDictionary<(uint, byte, byte), Slot> slots)
    {
        lock (_loadLock)
        {
            _slots = slots;
            foreach (var (add, entry) in _pending ?? [])
            {
                Apply(add, entry);
            }

            _pending = null;
        }
    }

    /// <summary>Loads a snapshot written by <see cref="Save"/> if it matches <paramref name="mark"/>; false otherwise.</summary>
    private bool TryLoad(string path, long mark, Task<(long Mark, Dictionary<(uint, byte, byte), CountedTree>? Trees)?>? preloaded)
    {
        // The snapshot read while the key-value store recovered, when it is this mark's.
        (long Mark, Dictionary<(uint, byte, byte), CountedTree>? Trees)? early = null;
        try
        {
            early = preloaded?.GetAwaiter().GetResult();
        }
        catch (Exception)
        {
            // The early read failed (it should not: it returns null on damage): read the file now.
        }

        var loaded = early is { } read && read.Mark == mark ? read.Trees : OrderedIndexSnapshot.TryLoad(path, mark);
        if (loaded is not { } trees)
        {
            return false;
        }

        var slots = new ConcurrentDictionary<(uint, byte, byte), Slot>();
        foreach (var (key, tree) in trees)
        {
            slots[key] = new Slot { Tree = tree };
        }

        Install(slots);
        return true;
    }
}

/// <summary>
/// The order of positions: key, then id, ordinally. A sealed comparer rather than a delegate: a
/// descent calls it a dozen times.
/// </summary>
internal sealed class PositionOrder : IComparer<OrderedPosition>
{
    public static readonly PositionOrder Instance = new();

    public int Compare(OrderedPosition a, OrderedPosition b)
    {
        int c = string.CompareOrdinal(a.Key, b.Key);
        return c != 0 ? c : string.CompareOrdinal(a.Id, b.Id);
    }
}
