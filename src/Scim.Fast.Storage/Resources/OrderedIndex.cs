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
    private static readonly EntryOrder s_order = new();

    private SortedSet<(uint Tenant, byte Type, byte Index, string Key, string Id)> _entries = new(s_order);
    private readonly object _lock = new();

    // Entries per (tenant, type, index): a SortedSet view counts by walking, O(n); totalResults of an
    // unfiltered list must not cost a walk over a million entries.
    private readonly Dictionary<(uint Tenant, byte Type, byte Index), int> _counts = [];

    // While a snapshot loads in the background, changes queue here (in order) and readers wait.
    private Task? _loading;
    private List<(bool Add, (uint, byte, byte, string, string) Entry)>? _pending;

    public void Add(TenantId tenant, byte type, byte index, string key, string id)
    {
        lock (_lock)
        {
            if (_pending is not null)
            {
                _pending.Add((true, (tenant.Value, type, index, key, id)));
                return;
            }

            if (_entries.Add((tenant.Value, type, index, key, id)))
            {
                var slot = (tenant.Value, type, index);
                _counts[slot] = _counts.GetValueOrDefault(slot) + 1;
            }
        }
    }

    public void Remove(TenantId tenant, byte type, byte index, string key, string id)
    {
        lock (_lock)
        {
            if (_pending is not null)
            {
                _pending.Add((false, (tenant.Value, type, index, key, id)));
                return;
            }

            if (_entries.Remove((tenant.Value, type, index, key, id)))
            {
                _counts[(tenant.Value, type, index)]--;
            }
        }
    }

    /// <summary>Every entry, in order (a copy taken under the lock): for Verify, not for requests.</summary>
    public List<(uint Tenant, byte Type, byte Index, string Key, string Id)> All()
    {
        lock (_lock)
        {
            return [.. _entries];
        }
    }

    public bool Contains(TenantId tenant, byte type, byte index, string key, string id)
    {
        WaitUntilLoaded();
        lock (_lock)
        {
            return _entries.Contains((tenant.Value, type, index, key, id));
        }
    }

    public int Count(TenantId tenant, byte type, byte index)
    {
        WaitUntilLoaded();
        lock (_lock)
        {
            return _counts.GetValueOrDefault((tenant.Value, type, index));
        }
    }

    /// <summary>
    /// Up to <paramref name="count"/> positions strictly after <paramref name="after"/> (or from the
    /// start), in ascending or descending order. A cursor is simply the last position returned.
    /// </summary>
    public List<OrderedPosition> Page(TenantId tenant, byte type, byte index, OrderedPosition? after, int count, bool descending = false, int skip = 0)
    {
        WaitUntilLoaded();
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

            // A cursor beyond every real key (hand-made) leaves an empty range, not an exception.
            if (s_order.Compare(low, high) > 0)
            {
                return page;
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

                // startIndex paging (RFC 7644 §3.4.2.4) skips linearly; cursors do not need to.
                if (skip > 0)
                {
                    skip--;
                    continue;
                }

                page.Add(new OrderedPosition(entry.Key, entry.Id));
            }
        }

        return page;
    }

    // Sorts after any real key (store keys are valid UTF-16 without this prefix).
    private const string Highest = "\uFFFF\uFFFF\uFFFF\uFFFF";

    /// <summary>
    /// Writes every entry, in order, to <paramref name="path"/> (via a temporary file and a rename),
    /// headed by <paramref name="mark"/>: the log address the snapshot is consistent with. Taken
    /// while writers are paused for a checkpoint, so a restart loads it instead of reading every
    /// resource back (DESIGN-NOTES §1).
    /// </summary>
    public void Save(string path, long mark)
    {
        WaitUntilLoaded();
        string temporary = path + ".tmp";
        using (var stream = new FileStream(temporary, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20))
        using (var writer = new BinaryWriter(stream, System.Text.Encoding.UTF8))
        {
            lock (_lock)
            {
                writer.Write(SnapshotMagic);
                writer.Write(mark);
                writer.Write(_entries.Count);
                foreach (var (tenant, type, index, key, id) in _entries)
                {
                    writer.Write(tenant);
                    writer.Write(type);
                    writer.Write(index);
                    writer.Write(key);
                    writer.Write(id);
                }
            }

            writer.Flush();
            stream.Flush(flushToDisk: true);
        }

        File.Move(temporary, path, overwrite: true);
    }

    /// <summary>Whether the snapshot at <paramref name="path"/> was taken at <paramref name="mark"/>.</summary>
    public static bool SnapshotMatches(string path, long mark)
    {
        try
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 64);
            using var reader = new BinaryReader(stream);
            return reader.ReadInt64() == SnapshotMagic && reader.ReadInt64() == mark;
        }
        catch (Exception e) when (e is IOException or EndOfStreamException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>
    /// Starts loading a matching snapshot in the background, so the store opens (and the server
    /// answers id and index lookups) without waiting for millions of entries. Until it is loaded,
    /// changes queue up and are applied in order afterwards; ordered reads wait for it. When the
    /// load fails, <paramref name="rebuild"/> produces the entries instead.
    /// </summary>
    public void LoadInBackground(string path, long mark, Func<IEnumerable<(uint Tenant, byte Type, byte Index, string Key, string Id)>> rebuild)
    {
        lock (_lock)
        {
            _pending = [];
            _loading = Task.Run(() =>
            {
                try
                {
                    LoadOrRebuild(path, mark, rebuild);
                }
                catch (Exception e)
                {
                    // Neither the snapshot nor a rebuild worked: ordered reads fail, the store stops
                    // taking writes (it checks LoadFailure), and a restart tries again.
                    lock (_lock)
                    {
                        _pending = null;
                        LoadFailure = e;
                    }
                }
            });
        }
    }

    /// <summary>Why a background load failed, if it did.</summary>
    public Exception? LoadFailure { get; private set; }

    private void LoadOrRebuild(string path, long mark, Func<IEnumerable<(uint Tenant, byte Type, byte Index, string Key, string Id)>> rebuild)
    {
        {
            {
                if (!TryLoad(path, mark))
                {
                    var rebuilt = new SortedSet<(uint Tenant, byte Type, byte Index, string Key, string Id)>(s_order);
                    var counts = new Dictionary<(uint Tenant, byte Type, byte Index), int>();
                    foreach (var entry in rebuild())
                    {
                        if (rebuilt.Add(entry))
                        {
                            var slot = (entry.Tenant, entry.Type, entry.Index);
                            counts[slot] = counts.GetValueOrDefault(slot) + 1;
                        }
                    }

                    Install(rebuilt, counts);
                }
            }
        }
    }

    /// <summary>Blocks until a background load has finished (Verify, and the first ordered reads); throws if it failed.</summary>
    public void WaitUntilLoaded()
    {
        _loading?.GetAwaiter().GetResult();
        if (LoadFailure is { } failure)
        {
            throw new InvalidOperationException("The ordered indexes failed to load; restart to rebuild them.", failure);
        }
    }

    // Swaps in a loaded set, then applies what changed meanwhile, in order.
    private void Install(SortedSet<(uint Tenant, byte Type, byte Index, string Key, string Id)> set, Dictionary<(uint Tenant, byte Type, byte Index), int> counts)
    {
        lock (_lock)
        {
            _entries = set;
            _counts.Clear();
            foreach (var (slot, n) in counts)
            {
                _counts[slot] = n;
            }

            var pending = _pending ?? [];
            _pending = null;
            foreach (var (add, entry) in pending)
            {
                var slot = (entry.Item1, entry.Item2, entry.Item3);
                if (add ? _entries.Add(entry) : _entries.Remove(entry))
                {
                    _counts[slot] = _counts.GetValueOrDefault(slot) + (add ? 1 : -1);
                }
            }
        }
    }

    /// <summary>Loads a snapshot written by <see cref="Save"/> if it matches <paramref name="mark"/>; false otherwise.</summary>
    private bool TryLoad(string path, long mark)
    {
        if (!File.Exists(path))
        {
            return false;
        }

        try
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20);
            using var reader = new BinaryReader(stream, System.Text.Encoding.UTF8);
            if (reader.ReadInt64() != SnapshotMagic || reader.ReadInt64() != mark)
            {
                return false;
            }

            int count = reader.ReadInt32();
            var entries = new (uint, byte, byte, string, string)[count];
            var counts = new Dictionary<(uint Tenant, byte Type, byte Index), int>();
            // Ids repeat once per index: share one string per id.
            var ids = new Dictionary<string, string>(StringComparer.Ordinal);
            for (int i = 0; i < count; i++)
            {
                uint tenant = reader.ReadUInt32();
                byte type = reader.ReadByte();
                byte index = reader.ReadByte();
                string key = reader.ReadString();
                string id = reader.ReadString();
                if (ids.TryGetValue(id, out var shared))
                {
                    id = shared;
                }
                else
                {
                    ids[id] = id;
                }

                entries[i] = (tenant, type, index, key, id);
                var slot = (tenant, type, index);
                counts[slot] = counts.GetValueOrDefault(slot) + 1;
            }

            // Written in order: the set is built from the sorted array without re-sorting work
            // beyond a check (SortedSet's constructor sorts; already-sorted input is its fast case).
            Install(new SortedSet<(uint Tenant, byte Type, byte Index, string Key, string Id)>(entries, s_order), counts);
            return true;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // Any damage to the file (truncated, wrong counts): fall back to the rebuild.
            return false;
        }
    }

    private const long SnapshotMagic = 0x314E5041534F4453; // "SDOSAPN1"
}

/// <summary>
/// The order of ordered-index entries: tenant, type, index, then key and id ordinally. A sealed
/// comparer rather than a delegate: the tree calls it some twenty times per insert.
/// </summary>
internal sealed class EntryOrder : IComparer<(uint Tenant, byte Type, byte Index, string Key, string Id)>
{
    public int Compare((uint Tenant, byte Type, byte Index, string Key, string Id) a, (uint Tenant, byte Type, byte Index, string Key, string Id) b)
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
    }
}
