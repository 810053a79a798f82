using System.Reflection;

namespace Scim.Fast.Storage.Kv;

/// <summary>
/// The pages of a FASTER log's in-memory buffer (FasterKV's hybrid log, FasterLog's tail), to
/// allocate them before the writes reach them.
/// </summary>
/// <remarks>
/// FASTER allocates each page the first time the log's tail reaches it, on the writer that crossed
/// into it, inside the epoch: a pinned array, zeroed twice, and on this project's machines first
/// touching memory costs about 4 ms per MiB. Every other writer meanwhile retries: FasterLog's
/// appenders spin in <c>AllocatorBase.TryAllocateRetryNow</c> (no yield), FasterKV's sessions yield
/// and retry. With 32 writers on two cores the crossing thread waited behind their time slices:
/// timing each call during `write --op post` on a fresh server, appends took 400-650 us on average
/// over the log's first 64 MiB (2-4 us afterwards) and upserts 25 us over the key-value store's first
/// 256 MiB (3 us afterwards), 30 s and 16 s of thread time in a 30 s run.
/// FASTER can preallocate a FasterKV's buffer itself (<c>LogSettings.PreallocateLog</c>), but only
/// in its constructor: 1.0-1.4 s more before the server is ready, which a restart cannot afford, and
/// FasterLogSettings does not pass the setting through at all. So the pages are allocated here, the
/// way FASTER's own preallocation does it (<c>AllocatorBase.Initialize</c>), through reflection on
/// the internals of the pinned 2.6.5 (Directory.Packages.props). If those are not found, nothing is
/// allocated ahead and FASTER allocates as before; the tests that append and upsert across pages
/// without allocating then fail.
/// </remarks>
internal sealed class LogPages
{
    private const BindingFlags Members = BindingFlags.Instance | BindingFlags.NonPublic | BindingFlags.Public;

    private readonly object _allocator;
    private readonly MethodInfo _isAllocated;
    private readonly MethodInfo _allocate;

    private LogPages(object allocator, int count, MethodInfo isAllocated, MethodInfo allocate)
    {
        _allocator = allocator;
        Count = count;
        _isAllocated = isAllocated;
        _allocate = allocate;
    }

    /// <summary>Pages in the buffer.</summary>
    public int Count { get; }

    /// <summary>The pages of the allocator held in <paramref name="owner"/>'s field <paramref name="field"/>, or null.</summary>
    public static LogPages? Of(object owner, string field)
    {
        if (owner.GetType().GetField(field, Members)?.GetValue(owner) is not { } allocator)
        {
            return null;
        }

        var type = allocator.GetType();
        var isAllocated = type.GetMethod("IsAllocated", Members, [typeof(int)]);
        var allocate = type.GetMethod("AllocatePage", Members, [typeof(int)]);
        FieldInfo? bufferSize = null;
        for (var t = type; t is not null && bufferSize is null; t = t.BaseType)
        {
            bufferSize = t.GetField("BufferSize", Members | BindingFlags.DeclaredOnly);
        }

        return bufferSize?.GetValue(allocator) is int count && isAllocated is not null && allocate is not null
            ? new LogPages(allocator, count, isAllocated, allocate)
            : null;
    }

    public bool IsAllocated(int page) => _isAllocated.Invoke(_allocator, [page]) is true;

    /// <summary>
    /// Allocates <paramref name="page"/> if it is not yet. The caller makes sure that no write can
    /// be crossing into a page meanwhile (FASTER would allocate the same page).
    /// </summary>
    public void Allocate(int page)
    {
        if (!IsAllocated(page))
        {
            _allocate.Invoke(_allocator, [page]);
        }
    }

    /// <summary>
    /// Allocates every page not allocated yet, once <paramref name="after"/> has completed, one at a
    /// time inside <paramref name="exclusively"/>, which keeps out every write that could cross into
    /// a page meanwhile. Ends early at <paramref name="stop"/>, or at a failure (out of memory, say):
    /// FASTER then allocates the rest when the tail reaches them, as before.
    /// </summary>
    public async Task AllocateAllAsync(Task after, Action<Action> exclusively, CancellationToken stop)
    {
        try
        {
            await after.WaitAsync(stop).ConfigureAwait(false);
        }
        catch (Exception)
        {
            // Closed before, or whoever opened the log sees that failure (the pages are wanted all
            // the same, unless closed: the loop below checks).
        }

        try
        {
            for (int page = 0; page < Count && !stop.IsCancellationRequested; page++)
            {
                if (!IsAllocated(page))
                {
                    int current = page;
                    exclusively(() => Allocate(current));
                }
            }
        }
        catch (Exception)
        {
            // See the summary.
        }
    }
}
