using System.Diagnostics;
using System.Threading.Channels;

using HdrHistogram;

namespace Scim.Fast.Load;

/// <summary>One second of a run: throughput and latency, for the progress line and the charts.</summary>
internal readonly record struct TimelinePoint(double Second, long Operations, long Errors, double P50Ms, double P99Ms, double MaxMs);

/// <summary>What a measured run produced.</summary>
internal sealed class RunResult
{
    public required string Name { get; init; }

    public required string Model { get; init; }

    public required TimeSpan Elapsed { get; init; }

    public required long Operations { get; init; }

    public required long FailedOperations { get; init; }

    public required HistogramBase OperationLatency { get; init; }

    public required Dictionary<string, HistogramBase> RequestLatency { get; init; }

    public required Dictionary<string, long> Errors { get; init; }

    public required List<TimelinePoint> Timeline { get; init; }

    public double OperationsPerSecond => Operations / Elapsed.TotalSeconds;

    public long Requests
    {
        get
        {
            long total = 0;
            foreach (var histogram in RequestLatency.Values)
            {
                total += histogram.TotalCount;
            }

            return total;
        }
    }

    public double RequestsPerSecond => Requests / Elapsed.TotalSeconds;
}

/// <summary>
/// Runs a scenario under a closed model (N operations in flight, each worker starting the next as
/// soon as its last one finished) or an open model (operations start at a constant rate whatever
/// the server does; latency counts from the intended start, so a stalled server shows up as
/// latency instead of silently lowering the load: no coordinated omission).
/// </summary>
internal static class LoadEngine
{
    public static async Task<RunResult> RunAsync(string name, IScenario scenario, LoadContext context, TimeSpan warmup, TimeSpan duration, long? maxOperations, bool quiet = false)
    {
        if (warmup > TimeSpan.Zero)
        {
            context.Measuring = false;
            await RunPhaseAsync(scenario, context, warmup, null, null, quiet: true).ConfigureAwait(false);
        }

        context.Measuring = true;
        return await RunPhaseAsync(scenario, context, duration, maxOperations, name, quiet).ConfigureAwait(false);
    }

    private static async Task<RunResult> RunPhaseAsync(IScenario scenario, LoadContext context, TimeSpan duration, long? maxOperations, string? name, bool quiet)
    {
        var options = context.Options;
        var operations = LoadContext.NewRecorder();
        long completed = 0, failed = 0, next = 0;
        using var stop = new CancellationTokenSource();
        var started = Stopwatch.GetTimestamp();
        var timeline = new List<TimelinePoint>();
        var total = new LongHistogram(60_000_000, 3);

        async Task Execute(long sequence, long intendedStart)
        {
            bool ok;
            try
            {
                ok = await scenario.ExecuteAsync(context, sequence, stop.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is HttpRequestException or IOException or TaskCanceledException)
            {
                context.CountError("exception: " + e.GetType().Name);
                ok = false;
            }

            long micros = (long)Stopwatch.GetElapsedTime(intendedStart).TotalMicroseconds;
            operations.RecordValue(Math.Clamp(micros, 1, 60_000_000));
            Interlocked.Increment(ref completed);
            if (!ok)
            {
                Interlocked.Increment(ref failed);
            }
        }

        bool Done() => stop.IsCancellationRequested || Stopwatch.GetElapsedTime(started) >= duration;

        Task load;
        if (options.Rate is { } rate)
        {
            // Open model: a dispatcher releases operation i at start + i / rate; workers (at most
            // --concurrency in flight) take them in order. Waiting in the channel is latency.
            var due = Channel.CreateUnbounded<(long Sequence, long Intended)>(new UnboundedChannelOptions { SingleWriter = true });
            var dispatcher = Task.Run(async () =>
            {
                double ticksPerOperation = Stopwatch.Frequency / rate;
                for (long i = 0; !Done() && (maxOperations is null || i < maxOperations); i++)
                {
                    long intended = started + (long)(i * ticksPerOperation);
                    long wait = intended - Stopwatch.GetTimestamp();
                    if (wait > Stopwatch.Frequency / 1000)
                    {
                        await Task.Delay(TimeSpan.FromSeconds((double)wait / Stopwatch.Frequency)).ConfigureAwait(false);
                    }

                    due.Writer.TryWrite((i, intended));
                }

                due.Writer.Complete();
            });
            var workers = Enumerable.Range(0, options.Concurrency).Select(_ => Task.Run(async () =>
            {
                await foreach (var (sequence, intended) in due.Reader.ReadAllAsync().ConfigureAwait(false))
                {
                    if (Done())
                    {
                        continue;
                    }

                    await Execute(sequence, intended).ConfigureAwait(false);
                }
            }));
            load = Task.WhenAll([dispatcher, .. workers]);
        }
        else
        {
            var workers = Enumerable.Range(0, options.Concurrency).Select(_ => Task.Run(async () =>
            {
                while (!Done())
                {
                    long sequence = Interlocked.Increment(ref next) - 1;
                    if (maxOperations is { } max && sequence >= max)
                    {
                        return;
                    }

                    await Execute(sequence, Stopwatch.GetTimestamp()).ConfigureAwait(false);
                }
            }));
            load = Task.WhenAll(workers);
        }

        // Once a second: the interval histogram becomes a timeline point and a progress line.
        long lastFailed = 0;
        while (!load.IsCompleted)
        {
            await Task.WhenAny(load, Task.Delay(1000)).ConfigureAwait(false);
            var interval = operations.GetIntervalHistogram();
            total.Add(interval);
            long failedNow = Interlocked.Read(ref failed);
            var point = new TimelinePoint(
                Stopwatch.GetElapsedTime(started).TotalSeconds,
                interval.TotalCount,
                failedNow - lastFailed,
                interval.TotalCount == 0 ? 0 : interval.GetValueAtPercentile(50) / 1000.0,
                interval.TotalCount == 0 ? 0 : interval.GetValueAtPercentile(99) / 1000.0,
                interval.TotalCount == 0 ? 0 : interval.GetMaxValue() / 1000.0);
            lastFailed = failedNow;
            if (name is not null)
            {
                timeline.Add(point);
                if (!quiet)
                {
                    Console.Error.Write($"\r[{point.Second,6:0.0}s] {Interlocked.Read(ref completed),10:N0} ops  {point.Operations,8:N0}/s  p50 {point.P50Ms,7:0.00} ms  p99 {point.P99Ms,7:0.00} ms  errors {failedNow:N0}   ");
                }
            }

            if (Stopwatch.GetElapsedTime(started) >= duration)
            {
                await stop.CancelAsync().ConfigureAwait(false);
            }
        }

        await load.ConfigureAwait(false);
        total.Add(operations.GetIntervalHistogram());
        var elapsed = Stopwatch.GetElapsedTime(started);
        if (name is not null && !quiet)
        {
            Console.Error.WriteLine();
        }

        var requests = new Dictionary<string, HistogramBase>(StringComparer.Ordinal);
        foreach (var (kind, recorder) in context.Kinds)
        {
            var histogram = recorder.GetIntervalHistogram();
            if (histogram.TotalCount > 0)
            {
                requests[kind] = histogram;
            }
        }

        return new RunResult
        {
            Name = name ?? "warmup",
            Model = options.Rate is { } r ? $"open {r:0}/s, max {options.Concurrency} in flight" : $"closed, {options.Concurrency} in flight",
            Elapsed = elapsed,
            Operations = Interlocked.Read(ref completed),
            FailedOperations = Interlocked.Read(ref failed),
            OperationLatency = total,
            RequestLatency = requests,
            Errors = new Dictionary<string, long>(context.Errors),
            Timeline = timeline,
        };
    }
}

/// <summary>A scenario: optional unmeasured set-up, then operations the engine runs and times.</summary>
internal interface IScenario
{
    /// <summary>Creates what the measured operations need (seed users, groups). Not measured.</summary>
    Task SetupAsync(LoadContext context, CancellationToken cancellationToken);

    /// <summary>One operation (one or more requests); false when a response was wrong or an error.</summary>
    Task<bool> ExecuteAsync(LoadContext context, long sequence, CancellationToken cancellationToken);
}
