using Scim.Fast.Storage.Feed;
using Scim.Fast.Storage.Resources;

using StackExchange.Redis;

namespace Scim.Fast.Storage.Redis;

/// <summary>
/// The change feed on Redis: a stream per tenant, appended by the write's own script (so an entry
/// exists exactly when its write does) with ids <c>0-&lt;sequence&gt;</c>, the sequence counted by the
/// same script: 1, 2, 3… in commit order, never a clock, whichever host wrote. Retention deletes
/// from the front and records the first kept sequence, so a reader behind it is told to resync.
/// </summary>
internal sealed class RedisChangeFeed(RedisResourceStore store) : IChangeFeed, IAsyncDisposable
{
    // Other hosts' writes are not announced here: long polls and streams also look again this often.
    private static readonly TimeSpan s_pollInterval = TimeSpan.FromMilliseconds(100);

    private readonly Lock _gate = new();
    private TaskCompletionSource _advanced = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long _published;
    private Timer? _timer;

    public Exception? Failure => null;

    public long Projected => Interlocked.Read(ref _published);

    public Task Advanced
    {
        get
        {
            lock (_gate)
            {
                _timer ??= new Timer(_ => Signal(), null, s_pollInterval, s_pollInterval);
                return _advanced.Task;
            }
        }
    }

    /// <summary>A write of this host appended to a feed: wake its readers now.</summary>
    public void Published(TenantId tenant)
    {
        Interlocked.Increment(ref _published);
        Signal();
    }

    private void Signal()
    {
        TaskCompletionSource advanced;
        lock (_gate)
        {
            advanced = _advanced;
            _advanced = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }

        advanced.TrySetResult();
    }

    public (long First, long Next) Bounds(TenantId tenant)
    {
        string tag = store.Tag(tenant);
        var values = RedisResourceStore.Read(() => store.Database.StringGet([RedisKeys.FeedFirst(tag), RedisKeys.FeedSequence(tag)]));
        long next = (values[1].IsNull ? 0 : (long)values[1]) + 1;
        long first = values[0].IsNull ? 1 : (long)values[0];
        return (Math.Min(first, next), next);
    }

    public FeedReadStatus Read(TenantId tenant, long after, int max, List<ChangeEntry> into)
    {
        var (first, next) = Bounds(tenant);
        if (after + 1 < first)
        {
            return FeedReadStatus.Expired;
        }

        if (after + 1 >= next || max <= 0)
        {
            return FeedReadStatus.Ok;
        }

        string tag = store.Tag(tenant);
        var entries = RedisResourceStore.Read(() => store.Database.StreamRange(RedisKeys.Feed(tag), "(0-" + after, "+", max));
        long expected = after + 1;
        foreach (var entry in entries)
        {
            long sequence = long.Parse(((string)entry.Id!).AsSpan(2), System.Globalization.CultureInfo.InvariantCulture);
            if (sequence != expected)
            {
                // Swept between the bounds check and this read: never a silent gap.
                return into.Count == 0 ? FeedReadStatus.Expired : FeedReadStatus.Ok;
            }

            into.Add(Decode(sequence, entry));
            expected++;
        }

        return FeedReadStatus.Ok;
    }

    private static ChangeEntry Decode(long sequence, StreamEntry entry)
    {
        long version = (long)entry["v"];
        var externalId = entry["x"];
        var decoded = ChangeEntry.Decode(sequence, (byte[])entry["e"]!);
        return decoded with { Version = version, ExternalId = externalId.IsNull ? null : (string?)externalId };
    }

    public async ValueTask<long> SweepAsync(long cutoffUnixMs, CancellationToken cancellationToken = default)
    {
        long dropped = 0;
        foreach (var key in store.TenantKeys("f"))
        {
            string name = key!;
            string tag = name[..^1];
            while (!cancellationToken.IsCancellationRequested)
            {
                var result = await store.EvaluateAsync(RedisResourceStore.SweepFeedScript, [key], [tag, cutoffUnixMs, 512]).ConfigureAwait(false);
                long step = (long)result;
                dropped += step;
                if (step < 512)
                {
                    break;
                }
            }
        }

        return dropped;
    }

    public ValueTask DisposeAsync()
    {
        lock (_gate)
        {
            _timer?.Dispose();
            _timer = null;
        }

        return ValueTask.CompletedTask;
    }
}
