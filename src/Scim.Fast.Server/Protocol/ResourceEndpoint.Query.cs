using Scim.Fast.Core.Errors;
using Scim.Fast.Core.Query;
using Scim.Fast.Core.Schema;
using Scim.Fast.Core.Serialization;
using Scim.Fast.Storage.Resources;

namespace Scim.Fast.Server.Protocol;

/// <summary>
/// The query executor: a list request (RFC 7644 §3.4.2) as a pipeline, never a list of the tenant
/// (DESIGN-NOTES §9). Candidates come from an equality lookup, a range of an ordered index, or a
/// walk of every resource; the compiled filter checks each; the page is kept as the candidates
/// stream by (when they arrive in the order asked for) or in a bounded top-k heap (when they do
/// not); totals are counted, not kept. A filter an index range answers exactly (meta.lastModified
/// gt/ge/lt/le, id ranges) is not even walked: its total and page come from order statistics.
/// </summary>
internal abstract partial class ResourceEndpoint<T>
{
    // Where a query's candidates come from: ids from an equality lookup; a range of an ordered index
    // (Exact: the range alone decides the filter); or, with neither, every resource.
    private readonly record struct QueryPlan(IReadOnlyList<string>? Ids, byte? RangeIndex, OrderedRange Range, bool Exact);

    /// <summary>
    /// A list request: plan, then the cheapest of three ways: the page straight off an ordered index
    /// (no filter, or one a range answers exactly), a stream over an index walked in the order asked
    /// for (keeping only the page), or candidates kept in a top-k heap of startIndex + count.
    /// </summary>
    /// <param name="scope">Tenant and base URL.</param>
    /// <param name="query">The list parameters.</param>
    /// <param name="page">The page, when there is no error.</param>
    /// <param name="parsedFilter">The query's filter when the caller parsed it already.</param>
    public ScimError? Query(ScimScope scope, ListQuery query, out ListPage<T> page, FilterNode? parsedFilter = null)
    {
        page = default;
        int count = Math.Min(Math.Max(query.Count ?? Limits.DefaultCount, 0), Limits.MaxCount);
        bool cursorMode = query.Cursor is not null;
        if (cursorMode && query.HasStartIndex)
        {
            return ScimError.InvalidValue("Use either startIndex or cursor, not both (RFC 9865 §2).");
        }

        FilterNode? filter = parsedFilter;
        if (filter is null && !string.IsNullOrWhiteSpace(query.Filter)
            && !FilterParser.TryParse(query.Filter, ResourceType, out filter, out var filterError, _filterOptions))
        {
            return filterError;
        }

        ScimSortComparer<T>? comparer = null;
        if (!string.IsNullOrWhiteSpace(query.SortBy)
            && !ScimSortComparer<T>.TryCreate(Accessor, query.SortBy, query.SortOrder, out comparer, out var sortError))
        {
            return sortError;
        }

        string cursorContext = cursorMode ? Protocol.Cursors.Context(scope.Tenant, StoreType, query.Filter, query.SortBy, query.SortOrder) : "";
        bool descending = string.Equals(query.SortOrder, "descending", StringComparison.OrdinalIgnoreCase);
        var plan = Plan(scope, filter);

        // The ordered index that yields candidates in the order asked for, if one does: without
        // sortBy, the id index for a walk of everything and the range's own index for a range (RFC
        // 7644 leaves the order without sortBy to the server; a delta sync gets its changes in time
        // order); with sortBy, its index when the candidates can come from it.
        byte? walkIndex = plan.Ids is not null ? null
            : plan.RangeIndex is { } rangeIndex ? (comparer is null || OrderedIndexFor(scope, query.SortBy!) == rangeIndex ? rangeIndex : null)
            : comparer is null ? Catalogue.ById.Number : OrderedIndexFor(scope, query.SortBy!);

        // A cursor says how its first page was read; the plan follows the data (a lookup or another
        // range may have become the cheaper source since), so the cursor's kind wins: a keyset
        // cursor walks its index again (in the same order), an offset goes through the heap.
        if (cursorMode && query.Cursor!.Length > 0)
        {
            if (!Cursors.TryDecodeKind(cursorContext, query.Cursor, out byte? cursorKind))
            {
                return InvalidCursor();
            }

            if (cursorKind != walkIndex)
            {
                walkIndex = cursorKind;
                if (cursorKind is { } keyed && plan.RangeIndex != keyed)
                {
                    plan = new QueryPlan(null, keyed, OrderedRange.All, false);
                }
            }
        }

        if (walkIndex is { } index && (filter is null || plan.Exact))
        {
            return IndexPage(scope, query, index, plan.Range, count, cursorMode, descending, cursorContext, out page);
        }

        // Cursors: over candidates walked in an index's order, the position of the last resource
        // returned (keyset: stable while others are created and deleted); over a heap, an offset.
        int skip = cursorMode ? 0 : query.StartIndex - 1;
        OrderedPosition? after = null;
        if (cursorMode && query.Cursor!.Length > 0)
        {
            if (walkIndex is { } keyed)
            {
                if (!Cursors.TryDecodePosition(cursorContext, query.Cursor, keyed, descending, out var position))
                {
                    return InvalidCursor();
                }

                after = position;
            }
            else if (!Cursors.TryDecodeOffset(cursorContext, query.Cursor, out skip))
            {
                return InvalidCursor();
            }
        }

        // A query no index answers, over a tenant that is most of the store: the log read in
        // storage order rather than every resource by id (ResourceEndpoint.StorageScan.cs).
        if (after is null && !cursorMode && plan.Ids is null && plan.RangeIndex is null
            && (walkIndex is null || walkIndex == Catalogue.ById.Number) && !(count == 0 && filter is null)
            && TryScanInStorageOrder(scope, filter, comparer, descending, skip, count, out page, out var storageScanError, query.StartIndex))
        {
            return storageScanError;
        }

        // Candidates in the order asked for keep only the window; others go through a heap of the
        // first skip + count in that order. Either way memory is the page's, not the tenant's.
        // The index the candidates are walked on, when its keys can change under the walk: a write
        // moves a resource to a new lastModified or name, possibly ahead of the walk, which would
        // meet it twice. The ids counted are remembered for such walks (about 24 bytes a match),
        // so each resource counts once, at the first position the walk met it.
        byte? movable = walkIndex ?? (plan.Ids is null ? plan.RangeIndex : null);
        if (movable == Catalogue.ById.Number)
        {
            movable = null;
        }

        var counted = movable is null ? null : new HashSet<string>(StringComparer.Ordinal);

        // The planner's choice on the request's span (README, "Operations"): never the filter's values.
        System.Diagnostics.Activity.Current?.SetTag("scim.query.plan", plan.Ids is not null ? "lookup" : plan.RangeIndex is not null ? "range" : walkIndex is not null ? "ordered_walk" : "scan");
        IEnumerable<OrderedPosition> candidates = walkIndex is { } walk
            ? Store.Walk(scope.Tenant, StoreType, walk, plan.Range, after: null, descending)
            : plan.Ids is { } ids ? ids.Select(static id => new OrderedPosition("", id))
            : Store.Walk(scope.Tenant, StoreType, plan.RangeIndex ?? Catalogue.ById.Number, plan.Range);

        IComparer<T> order = comparer ?? (IComparer<T>)new IdOrder(Accessor, descending);
        var window = walkIndex is null ? new TopK<T>(order, count == 0 ? 0 : (int)Math.Min((long)skip + count, int.MaxValue)) : null;
        var kept = new List<T>(Math.Min(count, 1024));
        var compiled = filter is null ? null : CompiledFilter<T>.Compile(filter, Accessor);
        var prefilter = filter is null ? null : ScanPrefilter.For(filter, InStoredJson);
        var readOptions = ReadOptionsFor(filter, comparer?.Attribute);

        // A lookup's few candidates get a block their size; a walk gets a second block once the
        // first is full.
        int blockSize = Math.Clamp(plan.Ids?.Count ?? CandidateBlock.MaxSize, 1, CandidateBlock.MaxSize);
        var firstBlock = new CandidateBlock(this, scope, filter, compiled, prefilter, readOptions, blockSize);
        CandidateBlock? secondBlock = null;

        // A sort without a filter (every candidate matches) reads each record's sort value off its
        // bytes: once the heap is full, what sorts after its last is counted and never decoded.
        var sortKey = window is not null && filter is null && comparer is not null
            ? StoredSortKey.For(ResourceType, comparer.Attribute, descending, InStoredJson)
            : null;
        // Only totalResults is asked for (count=0) and every candidate matches: nothing is read.
        bool totalOnly = window is not null && count == 0 && filter is null;
        int matches = 0;
        bool pastCursor = after is null;
        bool more = false;
        OrderedPosition lastKept = default;
        using var scan = new ScanGuard(Scans, scope.Tenant, Limits, IndexedFilters);

        // A full block is evaluated while the walk fills the other (DESIGN-NOTES §9: a scan uses both
        // cores); blocks are consumed in walk order, so the page is the one a serial walk would keep.
        var evaluation = new BlockEvaluation();
        CandidateBlock? filling = firstBlock;
        try
        {
            foreach (var position in candidates)
            {
                if (scan.Examine() is { } scanError)
                {
                    return scanError;
                }

                filling ??= secondBlock = new CandidateBlock(this, scope, filter, compiled, prefilter, readOptions, CandidateBlock.MaxSize);
                if (filling.Add(position))
                {
                    filling = Hand(filling);
                }
            }

            if (evaluation.Finish() is { } walked)
            {
                Consume(walked);
            }

            if (filling is { Count: > 0 })
            {
                Hand(filling);
                if (evaluation.Finish() is { } last)
                {
                    Consume(last);
                }
            }
        }
        finally
        {
            // An early return (a scan limit) or a failure leaves no evaluation running behind it.
            evaluation.Abandon();
        }

        // A full block: the one evaluated before it is consumed (its matches move the heap's
        // bound), then this one starts; the other block is filled next.
        CandidateBlock? Hand(CandidateBlock full)
        {
            if (totalOnly)
            {
                Consume(full);
                return full;
            }

            if (evaluation.Finish() is { } previous)
            {
                Consume(previous);
            }

            if (sortKey is not null && window!.TryPeekLast(out var last))
            {
                full.SortBound(sortKey, comparer!.SortValue(last), last.Id!);
            }

            evaluation.Start(full);
            // Null until a candidate comes for the second block.
            return ReferenceEquals(full, firstBlock) ? secondBlock : firstBlock;
        }

        // Matches in candidate order: the window keeps what falls in [skip, skip + count), or
        // (keyset cursor) the first count past the cursor's position.
        void Consume(CandidateBlock full)
        {
            if (totalOnly)
            {
                for (int i = 0; i < full.Count; i++)
                {
                    CountOnly(full.PositionAt(i));
                }

                full.Clear();
                return;
            }

            for (int i = 0; i < full.Count; i++)
            {
                pastCursor = pastCursor || Beyond(full.PositionAt(i), after!.Value, descending);
                if (full.SortsAfterBound[i])
                {
                    // A match (no filter) that cannot enter the heap.
                    CountOnly(full.PositionAt(i));
                    continue;
                }

                if (full.Matched[i] is not { } resource || (counted is not null && !counted.Add(full.PositionAt(i).Id)))
                {
                    continue;
                }

                if (window is not null)
                {
                    window.Offer(resource);
                }
                else if (pastCursor && matches >= skip)
                {
                    if (kept.Count < count)
                    {
                        kept.Add(resource);
                        lastKept = full.PositionAt(i);
                    }
                    else
                    {
                        more = true;
                    }
                }

                matches++;
            }

            full.Clear();
        }

        // A match that is counted and not kept.
        void CountOnly(OrderedPosition position)
        {
            if (counted is null || counted.Add(position.Id))
            {
                matches++;
            }
        }

        // Candidates were decoded only as far as the filter and sort look: what is returned is
        // read again, whole (a resource deleted in between drops out of the page, and the offset
        // of the next page still counts it).
        var chosen = window is null ? kept : window.Slice(skip, count);
        var slice = new List<T>(chosen.Count);
        foreach (var resource in chosen)
        {
            if (Load(scope, resource.Id!) is { } whole)
            {
                slice.Add(whole.Resource);
            }
        }

        string? nextCursor = !cursorMode ? null
            : walkIndex is { } cursorIndex ? (more && kept.Count > 0 ? Cursors.EncodePosition(cursorContext, cursorIndex, descending, lastKept) : null)
            : count > 0 && skip + chosen.Count < matches ? Cursors.EncodeOffset(cursorContext, skip + chosen.Count) : null;
        page = new ListPage<T>(matches, cursorMode ? null : query.StartIndex, slice, nextCursor);
        return null;
    }

    // The page straight off an ordered index (the whole index, or a range that is the filter):
    // total by order statistics, startIndex by descent, keyset cursors (RFC 9865).
    private ScimError? IndexPage(ScimScope scope, ListQuery query, byte index, OrderedRange range, int count, bool cursorMode, bool descending, string cursorContext, out ListPage<T> page)
    {
        page = default;
        OrderedPosition? after = null;
        if (cursorMode && query.Cursor!.Length > 0)
        {
            if (!Cursors.TryDecodePosition(cursorContext, query.Cursor, index, descending, out var position))
            {
                return InvalidCursor();
            }

            after = position;
        }

        int total = Store.OrderedCount(scope.Tenant, StoreType, index, range);
        var positions = count == 0 ? [] : Store.Page(scope.Tenant, StoreType, index, range, after, count + (cursorMode ? 1 : 0), descending, cursorMode ? 0 : query.StartIndex - 1);
        bool more = cursorMode && positions.Count > count;
        var resources = new List<T>(Math.Min(count, positions.Count));
        // The first count positions only (the extra one tells whether more follow): a position
        // whose resource was deleted meanwhile leaves a gap rather than pulling in the next page's
        // first resource, which the cursor (the count-th position) would then return again.
        int shown = Math.Min(count, positions.Count);
        if (Store.ReadsAreRemote && shown > 0)
        {
            // A remote store: the page's bodies in one round trip, not one per resource.
            var ids = new string[shown];
            for (int i = 0; i < shown; i++)
            {
                ids[i] = positions[i].Id;
            }

            var bodies = Store.ReadBodies(scope.Tenant, StoreType, ids);
            for (int i = 0; i < shown; i++)
            {
                if (bodies[i] is { } read)
                {
                    var resource = DecodeStored(ids[i], read.Body);
                    SetResponseMeta(scope, resource, read.Version);
                    resources.Add(resource);
                }
            }
        }
        else
        {
            for (int i = 0; i < shown; i++)
            {
                if (Load(scope, positions[i].Id) is { } loaded)
                {
                    resources.Add(loaded.Resource);
                }
            }
        }

        string? next = more ? Cursors.EncodePosition(cursorContext, index, descending, positions[count - 1]) : null;
        page = new ListPage<T>(total, cursorMode ? null : query.StartIndex, resources, next);
        return null;
    }

    // Whether a walk position lies past the cursor's in the walk's direction (keys, then ids, ordinally: the index's order).
    private static bool Beyond(OrderedPosition position, OrderedPosition cursor, bool descending)
    {
        int order = string.CompareOrdinal(position.Key, cursor.Key);
        if (order == 0)
        {
            order = string.CompareOrdinal(position.Id, cursor.Id);
        }

        return descending ? order < 0 : order > 0;
    }

    // The cheapest source of candidates: the smallest equality lookup or index range among the
    // conjuncts that must all hold (FilterPlanner.Conjuncts), else every resource.
    private QueryPlan Plan(ScimScope scope, FilterNode? filter)
    {
        if (filter is null)
        {
            return new QueryPlan(null, null, OrderedRange.All, false);
        }

        var conjuncts = FilterPlanner.Conjuncts(filter);
        IReadOnlyList<string>? ids = null;
        var ranges = new Dictionary<byte, (OrderedRange Range, int Terms, bool Exact)>();
        foreach (var conjunct in conjuncts)
        {
            if (CandidatesFor(scope, conjunct) is { } found && (ids is null || found.Count < ids.Count))
            {
                ids = found;
            }

            if (RangeFor(conjunct) is { } term)
            {
                ranges[term.Index] = ranges.TryGetValue(term.Index, out var known)
                    ? (known.Range.Intersect(term.Range), known.Terms + 1, known.Exact && term.Exact)
                    : (term.Range, 1, term.Exact);
            }
        }

        byte? bestIndex = null;
        int bestCount = int.MaxValue;
        foreach (var (index, (range, _, _)) in ranges)
        {
            int size = Store.OrderedCount(scope.Tenant, StoreType, index, range);
            if (size < bestCount)
            {
                (bestIndex, bestCount) = (index, size);
            }
        }

        if (ids is not null && ids.Count <= bestCount)
        {
            return new QueryPlan(ids, null, OrderedRange.All, false);
        }

        if (bestIndex is { } chosen)
        {
            // Exact when the filter is nothing but an and-chain of exact range terms on this index.
            var (range, terms, exact) = ranges[chosen];
            return new QueryPlan(null, chosen, range, exact && terms == conjuncts.Count && IsAndChain(filter));
        }

        return new QueryPlan(null, null, OrderedRange.All, false);
    }

    private static bool IsAndChain(FilterNode node) => node switch
    {
        FilterAnd and => IsAndChain(and.Left) && IsAndChain(and.Right),
        FilterComparison => true,
        _ => false,
    };

    // Candidates are decoded only as far as the filter and the sort need (ScimReadOptions.Only,
    // StopWhenRead).
    private ScimReadOptions ReadOptionsFor(FilterNode? filter, ScimAttribute? sortAttribute)
    {
        var attributes = new List<ScimAttribute>();

        if (filter is not null)
        {
            CollectAttributes(filter, attributes);
        }

        if (sortAttribute is not null)
        {
            // A multi-valued parent whole: the sort reads its "primary" flags too.
            attributes.Add(sortAttribute.Parent is { MultiValued: true } parent ? parent : sortAttribute);
        }

        return new ScimReadOptions
        {
            IgnoreReadOnly = s_stored.IgnoreReadOnly,
            RequireSchemas = s_stored.RequireSchemas,
            Only = ScimProjection.ForReading(ResourceType, attributes),

            // Our own stored form: once what the filter and sort need is read, the rest is not.
            StopWhenRead = true,
        };
    }

    private static void CollectAttributes(FilterNode node, List<ScimAttribute> attributes)
    {
        switch (node)
        {
            case FilterAnd and:
                CollectAttributes(and.Left, attributes);
                CollectAttributes(and.Right, attributes);
                break;
            case FilterOr or:
                CollectAttributes(or.Left, attributes);
                CollectAttributes(or.Right, attributes);
                break;
            case FilterNot not:
                CollectAttributes(not.Inner, attributes);
                break;
            case FilterValuePath valuePath:
                attributes.Add(valuePath.Attribute);
                break;
            case FilterComparison comparison:
                attributes.Add(comparison.Attribute);
                break;
        }
    }

    // Resources by id, ordinally (descending with sortOrder=descending, as an index walk gives
    // them): the order of a filtered list without sortBy.
    private sealed class IdOrder(ScimResourceAccessor<T> accessor, bool descending) : IComparer<T>
    {
        private readonly int _id = accessor.ResourceType.ResolvePath("id")!.Ordinal;

        public int Compare(T? x, T? y)
        {
            int order = string.CompareOrdinal(accessor.Get(x!, _id, 0).String, accessor.Get(y!, _id, 0).String);
            return descending ? -order : order;
        }
    }
}

/// <summary>
/// The first <c>k</c> items in an order, from a stream of any length, in O(k) memory: a max-heap
/// whose top is the worst item kept, replaced when a better one comes by.
/// </summary>
internal sealed class TopK<TItem>(IComparer<TItem> order, int k)
{
    private readonly PriorityQueue<TItem, TItem> _heap = new(Comparer<TItem>.Create((a, b) => order.Compare(b, a)));

    /// <summary>How many items are kept (at most k).</summary>
    public int Count => _heap.Count;

    /// <summary>The last item kept, once k are (an item after it cannot enter).</summary>
    public bool TryPeekLast([System.Diagnostics.CodeAnalysis.MaybeNullWhen(false)] out TItem last)
    {
        if (k > 0 && _heap.Count == k)
        {
            last = _heap.Peek();
            return true;
        }

        last = default;
        return false;
    }

    public void Offer(TItem item) => Offer(item, out _, out _);

    /// <summary>Offers an item; true when it was kept, with the item it pushed out when one was (<paramref name="pushedOut"/>).</summary>
    public bool Offer(TItem item, out bool pushedOut, out TItem? evicted)
    {
        pushedOut = false;
        evicted = default;
        if (_heap.Count < k)
        {
            _heap.Enqueue(item, item);
            return true;
        }

        if (k > 0 && order.Compare(item, _heap.Peek()) < 0)
        {
            evicted = _heap.DequeueEnqueue(item, item);
            pushedOut = true;
            return true;
        }

        return false;
    }

    /// <summary>The items kept, in no order.</summary>
    public IEnumerable<TItem> Items
    {
        get
        {
            foreach (var (item, _) in _heap.UnorderedItems)
            {
                yield return item;
            }
        }
    }

    /// <summary>Items at positions [skip, skip + count) of the order, among those offered.</summary>
    public List<TItem> Slice(int skip, int count)
    {
        var all = new TItem[_heap.Count];
        for (int i = all.Length - 1; i >= 0; i--)
        {
            all[i] = _heap.Dequeue();
        }

        var slice = new List<TItem>(Math.Max(0, Math.Min(count, all.Length - skip)));
        for (int i = Math.Max(0, skip); i < all.Length && slice.Count < count; i++)
        {
            slice.Add(all[i]);
        }

        return slice;
    }
}
