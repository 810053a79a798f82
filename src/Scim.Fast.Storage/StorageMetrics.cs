using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Scim.Fast.Storage;

/// <summary>
/// The store's meter and activity source, "Scim.Fast.Storage": what only the store can time
/// (log commits, checkpoints, writes). The server exports them with its own ("Scim.Fast").
/// </summary>
public static class StorageMetrics
{
    public const string Name = "Scim.Fast.Storage";

    private static readonly Meter s_meter = new(Name, "1.0");

    /// <summary>A span per durable write (locks, log append, apply, durability wait), under the request's span.</summary>
    public static readonly ActivitySource Source = new(Name, "1.0");

    private static readonly Histogram<double> s_commitDuration = s_meter.CreateHistogram<double>(
        "scim.store.log.commit.duration", "s", "Duration of write-ahead log commits (write and fsync).",
        advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1] });

    private static readonly Histogram<long> s_commitWrites = s_meter.CreateHistogram<long>(
        "scim.store.log.commit.writes", "{write}", "Writes acknowledged by one group commit (the group's size).",
        advice: new InstrumentAdvice<long> { HistogramBucketBoundaries = [1, 2, 4, 8, 16, 32, 64, 128, 256, 1024] });

    private static readonly Histogram<double> s_checkpointDuration = s_meter.CreateHistogram<double>(
        "scim.store.checkpoint.duration", "s", "Duration of checkpoints, start to flushed (writes go on during the flush).",
        advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30] });

    private static readonly Histogram<double> s_checkpointPause = s_meter.CreateHistogram<double>(
        "scim.store.checkpoint.pause", "s", "How long a checkpoint held writes back (in-flight writes draining, then the version cut).",
        advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5] });

    internal static void RecordCommit(long startedTimestamp, int writes)
    {
        if (s_commitDuration.Enabled)
        {
            s_commitDuration.Record(Stopwatch.GetElapsedTime(startedTimestamp).TotalSeconds);
            s_commitWrites.Record(writes);
        }
    }

    internal static void RecordCheckpointPause(long startedTimestamp) =>
        s_checkpointPause.Record(Stopwatch.GetElapsedTime(startedTimestamp).TotalSeconds);

    internal static void RecordCheckpoint(long startedTimestamp) =>
        s_checkpointDuration.Record(Stopwatch.GetElapsedTime(startedTimestamp).TotalSeconds);
}
