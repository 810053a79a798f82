using System.Collections.Concurrent;

using HdrHistogram;

namespace Scim.Fast.Load.Tests;

/// <summary>
/// The engine against its bare Kestrel baseline on 127.0.0.1: many workers record into shared
/// recorders at once, and what the report counts must be exactly what was sent.
/// </summary>
public sealed class LoadEngineTests
{
    // Each operation one real GET. The recorders were LongHistogram, which loses concurrent
    // increments: totals fell short of the operations, and reading an interval's maximum could throw.
    [Fact]
    public async Task ConcurrentWorkers_AreCountedOnce_InEveryHistogram()
    {
        var samples = new ConcurrentDictionary<string, (int Status, byte[] Body)>(StringComparer.Ordinal);
        samples["get"] = (200, "{\"id\":\"x\"}"u8.ToArray());
        await using var baseline = await BaselineServer.StartAsync(samples);
        var options = new LoadOptions { Scenario = "test", Concurrency = 32, Warmup = TimeSpan.Zero, Duration = TimeSpan.FromMinutes(2) };
        using var context = new LoadContext(options, new Uri(baseline.Address, "scim/v2"), baselineMode: true);
        const long operations = 30_000;

        var result = await LoadEngine.RunAsync("engine test", new OneGet(), context, TimeSpan.Zero, options.Duration, operations, quiet: true);

        Assert.Equal(operations, result.Operations);
        Assert.Equal(0, result.FailedOperations);
        Assert.Equal(operations, result.OperationLatency.TotalCount);
        Assert.Equal(operations, result.RequestLatency["get"].TotalCount);
        Assert.InRange(result.OperationLatency.GetMaxValue(), 1, 60_000_000);
    }

    private sealed class OneGet : IScenario
    {
        public Task SetupAsync(LoadContext context, CancellationToken cancellationToken) => Task.CompletedTask;

        public async Task<bool> ExecuteAsync(LoadContext context, long sequence, CancellationToken cancellationToken)
        {
            var reply = await context.SendAsync("get", HttpMethod.Get, "/Users/x", cancellationToken: cancellationToken);
            return reply.Status == 200;
        }
    }
}
