using Microsoft.Extensions.Logging;

using Scim.Fast.Core.Query;
using Scim.Fast.Storage.Resources;

namespace Scim.Fast.Server.Protocol;

/// <summary>
/// Everything the endpoint knows about indexes, read from the type's generated catalogue
/// (schemas/indexes/*.json, DESIGN-NOTES §8): the keys a write carries, which comparisons an
/// equality lookup or an index range answers, and which sortBy an ordered index keeps.
/// </summary>
internal abstract partial class ResourceEndpoint<T>
{
    /// <summary>The indexes of this type, as its catalogue declares them.</summary>
    public ScimIndexCatalogue Catalogue { get; }

    /// <summary>What the catalogue's indexes answer ("userName (eq, sw), …"): the advice of scan errors.</summary>
    private string IndexedFilters => _indexedFilters ??= Catalogue.Describe();

    private string? _indexedFilters;

    // Numbered indexes the catalogue declares that some stored resources carry no entries for yet
    // (an index added since the store was written): the planner leaves them alone, so queries on
    // them scan, until the background build has given every resource its entries.
    private volatile byte[] _building = [];

    /// <summary>Whether the index can answer queries now (false while its background build runs).</summary>
    private bool IsReady(ScimIndex index) => index.Number == ScimIndex.Unnumbered || Array.IndexOf(_building, index.Number) < 0;

    /// <summary>The numbered indexes not built yet (empty when the store has them all).</summary>
    public IReadOnlyList<byte> IndexesBuilding => _building;

    /// <summary>
    /// Compares the catalogue with the indexes the store was built with, before any request is
    /// served: an index the store lacks, or has under another definition (kind, attribute, case
    /// rule), is marked building (queries on it scan); one the catalogue dropped is forgotten, so
    /// adding it back later builds it again instead of trusting stale entries. A store created just
    /// now has them all; one written before the catalogue existed has what that version wrote.
    /// </summary>
    public void PrepareIndexes()
    {
        var declared = DeclaredIndexes();
        var recorded = Store.BuiltIndexes(StoreType);
        var built = recorded ?? (Store.IsNew ? [.. declared.Values] : BeforeTheCatalogue());
        if (recorded is null || built.Any(definition => !declared.ContainsValue(definition)))
        {
            Store.MarkIndexesBuilt(StoreType, [.. built.Where(declared.ContainsValue)]);
        }

        var missing = new List<byte>();
        foreach (var (number, description) in declared)
        {
            if (number != Catalogue.ById.Number && !built.Contains(description))
            {
                missing.Add(number);
            }
        }

        _building = [.. missing];
    }

    // What the server wrote before indexes were declared in a catalogue (the same keys the
    // catalogue's first version declares): stores from then need no build for these.
    private IReadOnlyList<string> BeforeTheCatalogue()
    {
        string unique = ResourceType.Name == "Group" ? "displayName" : "userName";
        var wrote = new List<string> { "0 ordered id case-exact", $"1 ordered {unique} folded", "2 ordered meta.lastModified instant" };
        if (ResourceType.Name == "User" && Store.LookupIndexesComplete)
        {
            wrote.Add("128 lookup emails.value folded");
        }

        return wrote;
    }

    /// <summary>
    /// Gives every stored resource of this type, in every tenant, the entries of the indexes being
    /// built: each is read, decoded, keyed by the catalogue and rewritten with its new entries at its
    /// own version (<see cref="ResourceStore.ReindexAsync"/>: no ETag changes). Writes meanwhile carry
    /// the full catalogue's entries themselves. Idempotent: a restart mid-build starts over and
    /// rewrites nothing already right. A resource whose new entries cannot be stored (a key too
    /// long, too many keys) leaves the indexes unbuilt: queries on them keep scanning.
    /// </summary>
    public async Task BuildIndexesAsync(IEnumerable<TenantId> tenants, ILogger logger, CancellationToken cancellationToken)
    {
        if (_building.Length == 0)
        {
            return;
        }

        var started = System.Diagnostics.Stopwatch.StartNew();
        logger.LogInformation("Building {Type} indexes {Indexes}: queries on them scan until done", ResourceType.Name, string.Join(", ", _building));
        await Task.Run(Store.WaitForOrderedIndexes, cancellationToken).ConfigureAwait(false);

        // Many re-keyings in flight at once, so they share the log's group commits (one at a time,
        // a store whose every resource needs new entries would wait for a flush per resource).
        long examined = 0, refused = 0;
        var inFlight = new List<Task<StoreStatus>>(256);
        async Task DrainAsync()
        {
            foreach (var status in await Task.WhenAll(inFlight).ConfigureAwait(false))
            {
                refused += status is StoreStatus.InvalidValue or StoreStatus.TooLarge ? 1 : 0;
            }

            inFlight.Clear();
        }

        try
        {
            foreach (var tenant in tenants)
            {
                foreach (var position in Store.Walk(tenant, StoreType, Catalogue.ById.Number))
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    if (Store.Get(tenant, StoreType, position.Id) is not { } stored)
                    {
                        continue;
                    }

                    examined++;
                    var keys = KeysOf(DecodeStored(stored.Id, stored.Body));
                    inFlight.Add(Store.ReindexAsync(tenant, StoreType, stored.Id, stored.Version, keys.Entries).AsTask());
                    if (inFlight.Count == inFlight.Capacity)
                    {
                        await DrainAsync().ConfigureAwait(false);
                    }
                }
            }
        }
        finally
        {
            // The re-keyings started are not cancellable: wait for them either way.
            await DrainAsync().ConfigureAwait(false);
        }

        if (refused > 0)
        {
            logger.LogWarning("{Refused} {Type} resources could not be given entries of indexes {Indexes} (a key too long or too many keys): those indexes stay unbuilt and queries on them scan", refused, ResourceType.Name, string.Join(", ", _building));
            return;
        }

        Store.MarkIndexesBuilt(StoreType, [.. DeclaredIndexes().Values]);
        _building = [];
        logger.LogInformation("Built {Type} indexes: {Examined} resources read in {Seconds:F1} s", ResourceType.Name, examined, started.Elapsed.TotalSeconds);
    }

    // Each numbered index with its definition (ScimIndex.Definition).
    private Dictionary<byte, string> DeclaredIndexes()
    {
        var declared = new Dictionary<byte, string>();
        foreach (var index in Catalogue.Indexes)
        {
            if (index.Number != ScimIndex.Unnumbered)
            {
                declared[index.Number] = index.Definition;
            }
        }

        return declared;
    }

    /// <summary>Hands the resource's indexed values to the sink (the generated <c>{Type}Indexes.Collect</c>).</summary>
    protected abstract void CollectIndexValues(T resource, ref StoreKeys keys);

    /// <summary>The unique attribute's path (userName, Group displayName), for messages.</summary>
    protected string UniqueAttributeName => Catalogue.Unique?.Attribute.Path ?? "id";

    /// <summary>The unique name of a resource (compared case-insensitively by the store), if the type has one.</summary>
    protected string? UniqueKeyOf(T resource) =>
        Catalogue.Unique is { } unique && Accessor.Count(resource, unique.Attribute.Ordinal) > 0 ? Accessor.Get(resource, unique.Attribute.Ordinal, 0).String : null;

    /// <summary>What the store is told a resource is indexed under: its unique name, externalId and index entries.</summary>
    internal struct StoreKeys : IScimIndexSink
    {
        public string? UniqueKey;
        public string? ExternalId;
        public List<IndexEntry> Entries;

        public void Add(ScimIndex index, in ScimValue value)
        {
            switch (index.Kind)
            {
                case ScimIndexKind.Unique:
                    UniqueKey = value.String;
                    break;
                case ScimIndexKind.Lookup when index.Number == ScimIndex.Unnumbered:
                    ExternalId = value.String;
                    break;
                case ScimIndexKind.Lookup or ScimIndexKind.Ordered:
                    // A lookup keys each distinct value once (two emails that differ only in case).
                    var entry = new IndexEntry(index.Number, index.KeyOf(value));
                    if (index.Kind == ScimIndexKind.Ordered || !Entries.Contains(entry))
                    {
                        Entries.Add(entry);
                    }

                    break;
            }
        }
    }

    private StoreKeys KeysOf(T resource)
    {
        var keys = new StoreKeys { Entries = new List<IndexEntry>(4) };
        CollectIndexValues(resource, ref keys);
        return keys;
    }

    /// <summary>What a write the store cannot key (<see cref="StoreStatus.InvalidValue"/>) is told.</summary>
    private string InvalidKeyMessage
    {
        get
        {
            var attributes = new List<string>();
            foreach (var index in Catalogue.Indexes)
            {
                if (index.Kind != ScimIndexKind.Membership && !attributes.Contains(index.Attribute.Path))
                {
                    attributes.Add(index.Attribute.Path);
                }
            }

            return $"A value of {string.Join(", ", attributes)} is longer than {ResourceStore.MaxKeyBytes} UTF-8 bytes or not valid text, or the {ResourceType.Name} has more than {ResourceStore.MaxIndexEntries} index keys (distinct values of its lookup attributes).";
        }
    }

    /// <summary>
    /// The ordered index that keeps a sortBy order, or null when only an in-memory sort can. Only
    /// when every resource of the tenant has a key in it: one without the attribute is still in the
    /// list (sorted last, RFC 7644 §3.4.2.3) and an index walk would leave it out.
    /// </summary>
    private byte? OrderedIndexFor(ScimScope scope, string sortBy)
    {
        if (ResourceType.ResolvePath(sortBy.Trim()) is not { } attribute || Catalogue.SortIndexFor(attribute) is not { } index || !IsReady(index))
        {
            return null;
        }

        // The index yields every resource only when every resource has the attribute: certain for a
        // required one (RFC 7643 §2.2) and for meta, which the server sets; otherwise counted. The
        // two counts are two reads, which a write between them can make differ for a moment (on
        // Redis, two round trips): then the query takes the heap, slower but as correct.
        return index == Catalogue.ById || attribute.Required || attribute.Parent?.Name == "meta"
            || Store.OrderedCount(scope.Tenant, StoreType, index.Number) == Store.OrderedCount(scope.Tenant, StoreType, Catalogue.ById.Number)
            ? index.Number
            : null;
    }

    /// <summary>
    /// The index range a comparison selects, if an ordered index answers it. Exact when the index's
    /// key order is the filter's own comparison (<see cref="ScimIndex.IsExactOrder"/>): then the
    /// range alone is the answer; otherwise a superset the compiled filter narrows.
    /// </summary>
    private (byte Index, OrderedRange Range, bool Exact)? RangeFor(FilterComparison comparison)
    {
        foreach (var index in Catalogue.Indexes)
        {
            if (index.Kind == ScimIndexKind.Ordered && index.Attribute.Ordinal == comparison.Attribute.Ordinal && IsReady(index)
                && index.Answers(comparison.Operator, comparison.Value) && Range(comparison.Operator, index.KeyOf(comparison.Value)) is { } range)
            {
                return (index.Number, range, index.IsExactOrder);
            }
        }

        return null;
    }

    private static OrderedRange? Range(FilterOperator op, string key) => op switch
    {
        FilterOperator.Gt => OrderedRange.GreaterThan(key),
        FilterOperator.Ge => OrderedRange.AtLeast(key),
        FilterOperator.Lt => OrderedRange.LessThan(key),
        FilterOperator.Le => OrderedRange.AtMost(key),
        FilterOperator.Eq => OrderedRange.AtLeast(key).Intersect(OrderedRange.AtMost(key)),
        FilterOperator.Sw => OrderedRange.StartingWith(key),
        _ => null,
    };

    /// <summary>
    /// The ids an equality lookup gives for <c>attribute eq value</c>: the id itself (a key read),
    /// the unique name's owner, an externalId or lookup list, or the groups a member belongs to.
    /// Null when no index answers it (or a key is overflowed): the caller scans. The query filters
    /// them; <see cref="TryIndexCandidates"/> says when they are the matches themselves.
    /// </summary>
    protected IReadOnlyList<string>? CandidatesFor(ScimScope scope, FilterComparison comparison)
    {
        if (EqualityIndexFor(comparison) is { } index)
        {
            switch (index.Kind)
            {
                case ScimIndexKind.Ordered:
                    return [comparison.Value.String];
                case ScimIndexKind.Unique:
                    return Store.FindByUniqueKey(scope.Tenant, StoreType, comparison.Value.String) is { } owner ? [owner] : [];
                case ScimIndexKind.Lookup when index == Catalogue.ExternalId:
                    return Store.FindByExternalId(scope.Tenant, StoreType, comparison.Value.String);
                case ScimIndexKind.Lookup:
                    return Store.FindByLookup(scope.Tenant, StoreType, index.Number, index.KeyOf(comparison.Value));
                case ScimIndexKind.Membership:
                    return Store.GetGroupsOf(scope.Tenant, comparison.Value.String);
            }
        }

        return null;
    }

    /// <summary>
    /// <see cref="CandidatesFor"/> on a request thread: the index read awaited when it is on disk.
    /// <paramref name="exact"/>: the ids are the matches (no filter needed), which holds for an id;
    /// for the unique name (the store folds it as SCIM compares it, RFC 7643 §4.1.1); and for a
    /// lookup keyed as the attribute compares (case-exact on both sides). Otherwise a superset the
    /// filter narrows (a lookup keyed case-insensitively, emails.value). False
    /// when no index gives candidates (the caller plans a query); the ids are null when the index
    /// cannot answer this value (an overflowed key: the caller scans).
    /// </summary>
    protected bool TryIndexCandidates(ScimScope scope, FilterComparison comparison, out ValueTask<IReadOnlyList<string>?> ids, out bool exact)
    {
        ids = default;
        exact = true;
        switch (EqualityIndexFor(comparison))
        {
            case { Kind: ScimIndexKind.Ordered }:
                ids = new([comparison.Value.String]);
                return true;
            case { Kind: ScimIndexKind.Unique }:
                ids = OwnerAsList(Store.FindByUniqueKeyAsync(scope.Tenant, StoreType, comparison.Value.String));
                return true;
            case { Kind: ScimIndexKind.Lookup } index:
                exact = index.CaseExact && comparison.Attribute.CaseExact;
                ids = index == Catalogue.ExternalId
                    ? Store.FindByExternalIdAsync(scope.Tenant, StoreType, comparison.Value.String)
                    : Store.FindByLookupAsync(scope.Tenant, StoreType, index.Number, index.KeyOf(comparison.Value));
                return true;
            default:
                return false;
        }

        static async ValueTask<IReadOnlyList<string>?> OwnerAsList(ValueTask<string?> owner) =>
            await owner.ConfigureAwait(false) is { } id ? [id] : [];
    }

    // The first declared index, built and ready, that answers an equality with candidates
    // (CandidatesFor reads it): the id index, the unique name where SCIM folds it, any lookup, the
    // membership pairs. Other ordered indexes answer eq as ranges (RangeFor), not here.
    private ScimIndex? EqualityIndexFor(FilterComparison comparison)
    {
        if (comparison.Operator != FilterOperator.Eq)
        {
            return null;
        }

        foreach (var index in Catalogue.Indexes)
        {
            if (index.Attribute.Ordinal != comparison.Attribute.Ordinal || !index.Answers(FilterOperator.Eq, comparison.Value) || !IsReady(index))
            {
                continue;
            }

            bool gives = index.Kind switch
            {
                ScimIndexKind.Ordered => index == Catalogue.ById,
                ScimIndexKind.Unique => !comparison.Attribute.CaseExact,
                ScimIndexKind.Lookup or ScimIndexKind.Membership => true,
                _ => false,
            };
            if (gives)
            {
                return index;
            }
        }

        return null;
    }
}
