using Scim.Fast.Core.Query;
using Scim.Fast.Core.Serialization;
using Scim.Fast.Storage.Resources;

namespace Scim.Fast.Server.Protocol;

/// <summary>
/// The executor's reading of candidates (DESIGN-NOTES §9): blocks of candidates read from the store
/// and tested on both cores while the walk goes on. The plan, the walk and the page:
/// ResourceEndpoint.Query.cs.
/// </summary>
internal abstract partial class ResourceEndpoint<T>
{
    /// <summary>
    /// A full block's evaluation: a pool thread starts on its chunks at once, and the request thread
    /// takes the chunks left when it has walked the next block (walking is cheap next to reading),
    /// so both cores read while the walk goes on. Chunks rather than halves: a half that met
    /// records on disk no longer leaves the other core idle. One block at a time.
    /// </summary>
    private sealed class BlockEvaluation
    {
        private readonly System.Buffers.ArrayBufferWriter<byte> _ownScratch = new(4096);
        private readonly System.Buffers.ArrayBufferWriter<byte> _helperScratch = new(4096);
        private CandidateBlock? _running;
        private Task? _helper;

        public void Start(CandidateBlock block)
        {
            block.BeginEvaluation();
            _running = block;
            _helper = Environment.ProcessorCount > 1 && block.Chunks > 1
                ? Task.Run(() => block.EvaluateChunks(_helperScratch))
                : null;
        }

        /// <summary>The running block once every chunk is evaluated (the caller helps); null when none runs.</summary>
        public CandidateBlock? Finish()
        {
            if (_running is not { } block)
            {
                return null;
            }

            try
            {
                block.EvaluateChunks(_ownScratch);
            }
            finally
            {
                var helper = _helper;
                _running = null;
                _helper = null;
                helper?.GetAwaiter().GetResult();
            }

            return block;
        }

        /// <summary>Waits for a helper still running (its result no longer matters).</summary>
        public void Abandon()
        {
            if (_helper is { } helper)
            {
                _running?.StopTakingChunks();
                _running = null;
                _helper = null;
                try
                {
                    helper.GetAwaiter().GetResult();
                }
                catch (Exception)
                {
                    // Already failing or returning early: the first outcome is the one reported.
                }
            }
        }
    }

    /// <summary>
    /// Candidates evaluated a block at a time: each is read into a reused buffer (no copy of the
    /// stored bytes), tested on its bytes (<see cref="ScanPrefilter"/>), then decoded and tested
    /// against the filter. A block is evaluated in chunks that threads take in turn
    /// (<see cref="BlockEvaluation"/>). Nothing of a rejected candidate is kept; what is returned is
    /// read again whole.
    /// </summary>
    private sealed class CandidateBlock(ResourceEndpoint<T> endpoint, ScimScope scope, FilterNode? filter, CompiledFilter<T>? compiled, ScanPrefilter? prefilter, ScimReadOptions readOptions, int size)
    {
        /// <summary>Candidates a block holds at most.</summary>
        public const int MaxSize = 1024;

        // A chunk is one store read of many keys (one session, one Redis round trip).
        private const int ChunkSize = 128;

        private readonly OrderedPosition[] _positions = new OrderedPosition[size];
        private readonly string[] _ids = new string[size];
        private readonly bool _needsMeta = filter is not null && (FilterPaths.Mentions(filter, "meta.version") || FilterPaths.Mentions(filter, "meta.location"));
        private int _nextChunk;

        public T?[] Matched { get; } = new T?[size];

        /// <summary>Candidates whose stored sort value comes after the heap's last (never decoded).</summary>
        public bool[] SortsAfterBound { get; } = new bool[size];

        private StoredSortKey? _sortKey;
        private ScimValue _last;
        private string _lastId = "";

        /// <summary>For the next evaluation: candidates sorting after the resource with <paramref name="last"/> and <paramref name="lastId"/> are not decoded.</summary>
        public void SortBound(StoredSortKey key, ScimValue last, string lastId)
        {
            _sortKey = key;
            _last = last;
            _lastId = lastId;
        }

        public int Count { get; private set; }

        public int Chunks => (Count + ChunkSize - 1) / ChunkSize;

        /// <summary>Adds a candidate (its id, and its position in the walk); true when the block is full.</summary>
        public bool Add(OrderedPosition position)
        {
            _ids[Count] = position.Id;
            _positions[Count++] = position;
            return Count == _ids.Length;
        }

        public OrderedPosition PositionAt(int i) => _positions[i];

        public void BeginEvaluation() => Volatile.Write(ref _nextChunk, 0);

        public void StopTakingChunks() => Volatile.Write(ref _nextChunk, int.MaxValue / 2);

        /// <summary>Evaluates chunks until none is left to take; each chunk is taken by one thread only.</summary>
        public void EvaluateChunks(System.Buffers.ArrayBufferWriter<byte> scratch)
        {
            while (true)
            {
                int chunk = Interlocked.Increment(ref _nextChunk) - 1;
                if (chunk >= Chunks)
                {
                    return;
                }

                int from = chunk * ChunkSize;
                Evaluate(from, Math.Min(from + ChunkSize, Count), scratch);
            }
        }

        public void Clear()
        {
            Array.Clear(Matched, 0, Count);
            Array.Clear(SortsAfterBound, 0, Count);
            Array.Clear(_ids, 0, Count);
            Count = 0;
        }

        private void Evaluate(int from, int to, System.Buffers.ArrayBufferWriter<byte> scratch)
        {
            Array.Clear(Matched, from, to - from);

            // The store hands each record over as it reads it: those in memory at once, those on
            // disk after it asked for all of them (a cold scan's reads overlap); Redis reads the
            // chunk in one pipelined round trip.
            endpoint.Store.ReadBodiesEach(scope.Tenant, endpoint.StoreType, _ids, from, to, (i, body, version) =>
            {
                if (!AfterBound(i, body) && MayMatch(body))
                {
                    // The decoder reads memory: one copy, only of records the bytes did not rule out.
                    scratch.ResetWrittenCount();
                    System.Buffers.BuffersExtensions.Write(scratch, body);
                    Decide(i, scratch.WrittenMemory, version);
                }
            });
        }

        private bool AfterBound(int i, ReadOnlySpan<byte> body)
        {
            if (_sortKey is null || !_sortKey.SortsAfter(body, _ids[i], _last, _lastId))
            {
                return false;
            }

            SortsAfterBound[i] = true;
            return true;
        }

        // Most candidates of a scan fail on their bytes and are never decoded.
        private bool MayMatch(ReadOnlySpan<byte> body) => prefilter is null || prefilter.MayMatch(body);

        private void Decide(int i, ReadOnlyMemory<byte> body, long version) =>
            Matched[i] = endpoint.DecodeCandidate(scope, _ids[i], body, version, readOptions, filter, compiled, _needsMeta);
    }

    /// <summary>
    /// A query's candidate decoded as far as its filter and sort look (readOptions), or null when
    /// the filter rejects it. A filter on meta.version or meta.location sees them as a response would.
    /// </summary>
    private T? DecodeCandidate(ScimScope scope, string id, ReadOnlyMemory<byte> body, long version, ScimReadOptions readOptions,
        FilterNode? filter, CompiledFilter<T>? compiled, bool needsMeta)
    {
        var resource = DecodeStored(id, body, readOptions);
        if (needsMeta)
        {
            SetResponseMeta(scope, resource, version);
        }

        if (compiled is not null)
        {
            DeriveForFilter(scope, resource, filter!);
            if (!compiled.Matches(resource))
            {
                return null;
            }
        }

        return resource;
    }
}
