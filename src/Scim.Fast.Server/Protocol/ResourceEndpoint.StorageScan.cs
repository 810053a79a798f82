using System.Buffers;
using System.Text;

using Scim.Fast.Core.Errors;
using Scim.Fast.Core.Query;
using Scim.Fast.Core.Serialization;
using Scim.Fast.Storage.Resources;

namespace Scim.Fast.Server.Protocol;

/// <summary>
/// A scan in storage order (DESIGN-NOTES §9, issue 13): a query no index answers reads the store's
/// log sequentially, one part per core, instead of one point read per resource in id order (a
/// random access into the hash index and the read cache each: two thirds of a scan's time). The
/// log also holds superseded copies, so what a record says is only a candidate: a record that
/// could be on the page or in the count (it passes the filter, or would enter a sort's top-k) is
/// confirmed with a read by id, which is authoritative, and counted once. The page and the total
/// are the ones the walk in id order gives (ResourceEndpoint.Query.cs), which stays the path for
/// cursors, Redis, and tenants that are a small part of the store.
/// </summary>
internal abstract partial class ResourceEndpoint<T>
{
    // Resources confirmed (matches, or entries of a sort's heap) one scan keeps ids of, to count
    // each once; a query that matches more goes back to the walk by id, which keeps nothing.
    private const int MaxConfirmed = 16_384;

    // Rounds of reading what was written while the scan ran, at most (under a steady write load
    // the log never stops growing; a resource changed during the query may then be missed, as a
    // write just after it would be).
    private const int CatchUpRounds = 4;

    // Scans a sort may take before it gives up on confirming its heap (see TryScanInStorageOrder).
    private const int MaxSortRounds = 3;

    // Room a sort's heap keeps beyond twice the page's depth, for older copies (ConfirmBest).
    private const int SortSlack = 32;

    /// <summary>
    /// The query as a scan in storage order, when that is cheaper than the walk by id: false to
    /// walk (the store cannot, the tenant is a small part of the log, or too many resources
    /// match to count them without keeping their ids).
    /// </summary>
    private bool TryScanInStorageOrder(ScimScope scope, FilterNode? filter, ScimSortComparer<T>? comparer, bool descending, int skip, int count,
        out ListPage<T> page, out ScimError? error, int startIndex)
    {
        page = default;
        error = null;
        int resources = Store.OrderedCount(scope.Tenant, StoreType, Catalogue.ById.Number);
        if (resources <= Limits.ScanFreeResources)
        {
            return false;
        }

        // A deep page of a sort (startIndex in the thousands) would confirm twice its depth by id
        // at the end: the walk's heap of startIndex + count is cheaper there.
        if (filter is null && (long)skip + count > MaxConfirmed / 2)
        {
            return false;
        }

        var ranges = Store.StoredRanges(Environment.ProcessorCount > 1 ? 2 : 1);
        long logBytes = 0;
        foreach (var range in ranges)
        {
            logBytes += range.Bytes;
        }

        // A small tenant in a large store is read by id (Scim:Limits:StorageScanLogBytesPerResource).
        if (ranges.Count == 0 || logBytes > (long)resources * Limits.StorageScanLogBytesPerResource)
        {
            return false;
        }

        using (var guard = new ScanGuard(Scans, scope.Tenant, Limits, IndexedFilters))
        {
            // The same limits as the walk: every resource of the type is read.
            if (guard.Examine(resources) is { } refused)
            {
                error = refused;
                return true;
            }

            IComparer<T> order = comparer ?? (IComparer<T>)new IdOrder(Accessor, descending);
            int keep = count == 0 ? 0 : (int)Math.Min((long)skip + count, int.MaxValue);
            var compiled = filter is null ? null : CompiledFilter<T>.Compile(filter, Accessor);
            var prefilter = filter is null ? null : ScanPrefilter.For(filter, InStoredJson);
            var sortKey = filter is null && comparer is not null ? StoredSortKey.For(ResourceType, comparer.Attribute, descending, InStoredJson) : null;
            var readOptions = ReadOptionsFor(filter, comparer?.Attribute);

            // A sort without a filter keeps its heap unconfirmed while it scans (in the worst
            // order, every record enters it) and confirms the k kept at the end; a copy found out
            // of date there is left out and the log scanned again without it. Rarely more than one
            // round: only copies that sort among the first k and were rewritten since count.
            var seed = filter is null ? SampleBest(scope, order, keep, resources, readOptions) : null;
            var ignored = new HashSet<(string Id, long Version)>();
            var shared = new StorageScan(this, scope, filter, compiled, prefilter, readOptions, order, comparer, sortKey, keep, ignored, seed);
            List<(T Resource, long Version)>? best;
            HashSet<string>? counted = null;
            if (filter is not null)
            {
                // Matches were confirmed as they were met: one scan.
                var parts = ScanParts(shared, ranges);
                if (parts is null)
                {
                    // Too many matches to count by id: the walk counts them without keeping them.
                    return false;
                }

                counted = [];
                best = [];
                foreach (var part in parts)
                {
                    counted.UnionWith(part.Confirmed);
                    best.AddRange(part.Kept);
                }
            }
            else
            {
                best = null;
                for (int round = 0; round < MaxSortRounds && best is null; round++)
                {
                    // Never null here: only a filter's confirmed matches can overflow (the rounds
                    // share the scan: it is never stopped without a filter).
                    var parts = ScanParts(shared, ranges)!;
                    best = ConfirmBest(scope, parts, keep, ignored, seed, order, readOptions);
                    ranges = Store.StoredRanges(ranges.Count);
                }

                if (best is null)
                {
                    // Rewrites kept outdating the first k: the walk reads each resource as it is.
                    return false;
                }
            }

            // Each resource once (copies of one may have been kept by two parts); the window is the
            // one the walk would keep.
            var window = new TopK<T>(order, keep);
            var offered = new HashSet<string>(StringComparer.Ordinal);
            foreach (var (resource, _) in best)
            {
                if (offered.Add(resource.Id!))
                {
                    window.Offer(resource);
                }
            }

            // Without a filter every resource counts (the sort's heap only saw some).
            int total = filter is null ? resources : counted!.Count;
            var chosen = window.Slice(skip, count);
            var slice = new List<T>(chosen.Count);
            foreach (var resource in chosen)
            {
                if (Load(scope, resource.Id!) is { } whole)
                {
                    slice.Add(whole.Resource);
                }
            }

            System.Diagnostics.Activity.Current?.SetTag("scim.query.plan", "storage_scan");
            Telemetry.ScimMetrics.RecordStorageScan();
            page = new ListPage<T>(total, startIndex, slice, null);
            return true;
        }
    }

    // Every range on its own thread (the first on this one), then what was written meanwhile: a
    // write that moved a resource past the ranges. Null when a part overflowed (MaxConfirmed).
    private static StorageScanPart[]? ScanParts(StorageScan shared, IReadOnlyList<StoredRange> ranges)
    {
        var parts = new StorageScanPart[ranges.Count];
        for (int i = 0; i < parts.Length; i++)
        {
            parts[i] = new StorageScanPart(shared);
        }

        var helpers = new Task[parts.Length - 1];
        for (int i = 1; i < parts.Length; i++)
        {
            var (part, range) = (parts[i], ranges[i]);
            helpers[i - 1] = Task.Run(() => part.Scan(range));
        }

        try
        {
            parts[0].Scan(ranges[0]);
        }
        catch
        {
            // A failure here (a record that does not decode): the other parts stop too, and the
            // first failure is the one reported.
            shared.Stop();
            try
            {
                Task.WaitAll(helpers);
            }
            catch (AggregateException)
            {
            }

            throw;
        }

        if (parts[0].Overflowed)
        {
            shared.Stop();
        }

        Task.WaitAll(helpers);

        long end = ranges[^1].To;
        var store = shared.Endpoint.Store;
        for (int round = 0; round < CatchUpRounds && !shared.Stopped && store.StoredSince(end) is { } since; round++)
        {
            parts[0].Scan(since);
            end = since.To;
        }

        return shared.Stopped ? null : parts;
    }

    // Resources a sort reads by id, spread evenly over the id index (random in any other order),
    // before it scans: the first keep of them bound the scan from the start, so that a log written
    // in the sort's order (an export imported alphabetically, sorted descending) does not make
    // every record a candidate.
    private const int SortSample = 2048;

    // The first keep of an even sample of the resources, read by id (current), or null when the
    // page is too deep for a sample to bound it.
    private List<(T Resource, long Version)>? SampleBest(ScimScope scope, IComparer<T> order, int keep, int resources, ScimReadOptions readOptions)
    {
        int size = Math.Min(SortSample, resources);
        if (keep == 0 || keep > size / 4)
        {
            return null;
        }

        var ids = new string[size];
        int found = 0;
        for (int i = 0; i < size; i++)
        {
            var at = Store.Page(scope.Tenant, StoreType, Catalogue.ById.Number, after: null, count: 1, skip: (int)((long)i * resources / size));
            if (at.Count == 1)
            {
                ids[found++] = at[0].Id;
            }
        }

        // Read as a scan's candidate blocks are (records on disk requested together).
        var sample = new TopK<(T Resource, long Version)>(Comparer<(T Resource, long Version)>.Create((a, b) => order.Compare(a.Resource, b.Resource)), keep);
        var scratch = new ArrayBufferWriter<byte>(4096);
        Store.ReadBodiesEach(scope.Tenant, StoreType, ids, 0, found, (i, body, version) =>
        {
            scratch.ResetWrittenCount();
            scratch.Write(body);
            sample.Offer((DecodeStored(ids[i], scratch.WrittenMemory, readOptions), version));
        });

        var best = sample.Slice(0, keep);
        return best.Count == keep ? best : null;
    }

    // A sort's candidates: each part's heap holds the first copies it met (more than keep, so
    // copies of one resource at older versions do not crowd out others), each read by id. A part's
    // resources outside its heap sort after everything in it; when the heap holds keep current
    // resources (or every copy the part met), none of them can be on the page. Null when a part
    // fell short: its out-of-date copies are then ignored by the next round.
    private List<(T Resource, long Version)>? ConfirmBest(ScimScope scope, StorageScanPart[] parts, int keep, HashSet<(string Id, long Version)> ignored,
        List<(T Resource, long Version)>? seed, IComparer<T> order, ScimReadOptions readOptions)
    {
        // A later copy of a resource has a higher version (versions only grow): older ones are out
        // of date without a read. The sample was read by id: current.
        var newest = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var (resource, version) in seed ?? [])
        {
            newest[resource.Id!] = version;
        }

        foreach (var part in parts)
        {
            foreach (var (resource, version) in part.Kept)
            {
                newest[resource.Id!] = Math.Max(version, newest.GetValueOrDefault(resource.Id!, long.MinValue));
            }
        }

        var current = new Dictionary<string, bool>(StringComparer.Ordinal);
        var scratch = new ArrayBufferWriter<byte>(4096);
        var best = new List<(T Resource, long Version)>();
        foreach (var (resource, version) in seed ?? [])
        {
            // A copy met by the scan at a later version: the sample's is out of date (and that
            // copy is read below).
            if (newest[resource.Id!] == version)
            {
                current[resource.Id!] = true;
                best.Add((resource, version));
            }
        }

        bool exact = true;
        foreach (var part in parts)
        {
            var distinct = new HashSet<string>(StringComparer.Ordinal);
            foreach (var (resource, version) in part.Kept)
            {
                string id = resource.Id!;
                if (version != newest[id])
                {
                    ignored.Add((id, version));
                    continue;
                }

                if (!current.TryGetValue(id, out bool isCurrent))
                {
                    // Rewritten since, at the same place in the order (a write to another
                    // attribute): as good as current, and read as it is now.
                    scratch.ResetWrittenCount();
                    var now = (Resource: resource, Version: version);
                    if (Store.TryReadBody(scope.Tenant, StoreType, id, scratch, out var body, out long stored))
                    {
                        if (stored != version)
                        {
                            now = (DecodeStored(id, body, readOptions), stored);
                        }

                        isCurrent = stored == version || order.Compare(now.Resource, resource) == 0;
                    }

                    current[id] = isCurrent;
                    if (isCurrent)
                    {
                        best.Add(now);
                    }
                }

                if (!isCurrent)
                {
                    ignored.Add((id, version));
                    continue;
                }

                distinct.Add(id);
            }

            exact &= !part.HeapFull || distinct.Count >= keep;
        }

        return exact ? best : null;
    }

    /// <summary>What the parts of one scan share: the query, compiled once, and a stop flag.</summary>
    private sealed class StorageScan(ResourceEndpoint<T> endpoint, ScimScope scope, FilterNode? filter, CompiledFilter<T>? compiled, ScanPrefilter? prefilter,
        ScimReadOptions readOptions, IComparer<T> order, ScimSortComparer<T>? comparer, StoredSortKey? sortKey, int keep, HashSet<(string Id, long Version)> ignored,
        List<(T Resource, long Version)>? seed)
    {
        private volatile bool _stopped;

        public ResourceEndpoint<T> Endpoint => endpoint;

        public ScimScope Scope => scope;

        public FilterNode? Filter => filter;

        public CompiledFilter<T>? Compiled => compiled;

        public ScanPrefilter? Prefilter => prefilter;

        public ScimReadOptions ReadOptions => readOptions;

        public IComparer<T> Order => order;

        public ScimSortComparer<T>? Comparer => comparer;

        public StoredSortKey? SortKey => sortKey;

        public int Keep => keep;

        /// <summary>Copies a sort's earlier round found out of date (read-only while the parts scan).</summary>
        public HashSet<(string Id, long Version)> Ignored => ignored;

        /// <summary>The last of a sort's sample (SampleBest): what sorts after it cannot be on the page.</summary>
        public T? SeedLast { get; } = seed is { Count: > 0 } ? seed[^1].Resource : default;

        public bool NeedsMeta { get; } = filter is not null && (FilterPaths.Mentions(filter, "meta.version") || FilterPaths.Mentions(filter, "meta.location"));

        public bool Stopped => _stopped;

        public void Stop() => _stopped = true;
    }

    /// <summary>
    /// One thread's part of a scan: the records of its log range tested on their bytes and decoded
    /// only when the bytes allow a match. With a filter, a match is confirmed by id at once and
    /// counted; a sort without one keeps a heap of the copies it met, confirmed at the end
    /// (ConfirmBest).
    /// </summary>
    private sealed class StorageScanPart
    {
        private readonly StorageScan _scan;
        private readonly TopK<(T Resource, long Version)> _heap;
        private readonly ArrayBufferWriter<byte> _body = new(4096);
        private readonly ArrayBufferWriter<byte> _live = new(4096);
        private readonly IResourceStore.StoredRecordReader _onRecord;
        private readonly int _capacity;

        // A sort's heap: the copies in it (a second copy of one at the same version stays out),
        // and the value and id of its last, for the byte test.
        private readonly HashSet<(string Id, long Version)> _inHeap = [];
        private ScimValue _lastValue;
        private string? _lastId;

        public StorageScanPart(StorageScan scan)
        {
            _scan = scan;
            // A sort keeps room for older copies beside the current ones (ConfirmBest).
            _capacity = scan.Filter is null ? (int)Math.Min((2L * scan.Keep) + SortSlack, int.MaxValue) : scan.Keep;
            _heap = new TopK<(T Resource, long Version)>(Comparer<(T Resource, long Version)>.Create((a, b) => scan.Order.Compare(a.Resource, b.Resource)), _capacity);
            _onRecord = OnRecord;
            if (scan.SeedLast is { } seedLast)
            {
                _lastValue = scan.Comparer!.SortValue(seedLast);
                _lastId = seedLast.Id;
            }
        }

        /// <summary>Ids of the matches this part confirmed (with a filter).</summary>
        public HashSet<string> Confirmed { get; } = new(StringComparer.Ordinal);

        /// <summary>What this part's heap kept, in no order: confirmed with a filter, copies as met without.</summary>
        public IEnumerable<(T Resource, long Version)> Kept => _heap.Items;

        public bool Overflowed { get; private set; }

        /// <summary>Whether the heap is full (copies the part met may have been left out).</summary>
        public bool HeapFull => _heap.Count >= _capacity;

        public void Scan(StoredRange range)
        {
            var endpoint = _scan.Endpoint;
            try
            {
                endpoint.Store.ScanStored(_scan.Scope.Tenant, endpoint.StoreType, range, _onRecord);
            }
            catch (OperationCanceledException) when (_scan.Stopped)
            {
                // This part or another overflowed: the result no longer matters.
            }
        }

        private void OnRecord(ReadOnlySpan<byte> id, ReadOnlySpan<byte> body, long version)
        {
            if (_scan.Stopped)
            {
                // The store's scan has no stop of its own: leave it by throwing.
                throw new OperationCanceledException();
            }

            if (_scan.Filter is null)
            {
                OfferCopy(id, body, version);
                return;
            }

            if (_scan.Prefilter is { } prefilter && !prefilter.MayMatch(body))
            {
                return;
            }

            string resourceId = Encoding.UTF8.GetString(id);
            if (Confirmed.Contains(resourceId))
            {
                // Another copy of a resource this part counted already.
                return;
            }

            _body.ResetWrittenCount();
            _body.Write(body);
            if (Decide(resourceId, _body.WrittenMemory, version) is not { } match)
            {
                return;
            }

            // Confirmed by id: the record may be an older copy of a resource changed since, or one
            // changed in place after it was read; then the resource as it is now decides.
            _live.ResetWrittenCount();
            var endpoint = _scan.Endpoint;
            if (!endpoint.Store.TryReadBody(_scan.Scope.Tenant, endpoint.StoreType, resourceId, _live, out var liveBody, out long liveVersion))
            {
                return;
            }

            if (liveVersion != version)
            {
                if (Decide(resourceId, liveBody, liveVersion) is not { } live)
                {
                    return;
                }

                match = live;
            }

            Confirmed.Add(resourceId);
            if (Confirmed.Count > MaxConfirmed)
            {
                Overflowed = true;
                _scan.Stop();
                throw new OperationCanceledException();
            }

            _heap.Offer((match, liveVersion), out _, out _);
        }

        // A sort without a filter: a copy that would enter the heap goes in as it is.
        private void OfferCopy(ReadOnlySpan<byte> id, ReadOnlySpan<byte> body, long version)
        {
            if (_scan.SortKey is { } sortKey && _lastId is not null && sortKey.SortsAfter(body, id, _lastValue, _lastId))
            {
                return;
            }

            string resourceId = Encoding.UTF8.GetString(id);
            if ((_scan.Ignored.Count > 0 && _scan.Ignored.Contains((resourceId, version))) || _inHeap.Contains((resourceId, version)))
            {
                return;
            }

            _body.ResetWrittenCount();
            _body.Write(body);
            var copy = Decide(resourceId, _body.WrittenMemory, version)!;
            if ((_scan.SeedLast is { } seedLast && _scan.Order.Compare(copy, seedLast) > 0)
                || !_heap.Offer((copy, version), out bool pushedOut, out var evicted))
            {
                return;
            }

            _inHeap.Add((resourceId, version));
            if (pushedOut)
            {
                _inHeap.Remove((evicted.Resource.Id!, evicted.Version));
            }

            // Once full, the heap's last sorts before the sample's (everything in it did).
            if (_heap.TryPeekLast(out var last))
            {
                _lastValue = _scan.Comparer!.SortValue(last.Resource);
                _lastId = last.Resource.Id;
            }
        }

        private T? Decide(string id, ReadOnlyMemory<byte> body, long version) =>
            _scan.Endpoint.DecodeCandidate(_scan.Scope, id, body, version, _scan.ReadOptions, _scan.Filter, _scan.Compiled, _scan.NeedsMeta);
    }
}
