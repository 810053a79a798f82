using System.Globalization;
using System.Runtime.InteropServices;

using Scim.Fast.Load;
using Scim.Fast.Load.Reports;
using Scim.Fast.Load.Scenarios;

// Scim.Fast load suite: replays identity-provider traffic against a running server. See LoadOptions.Usage.
if (args is [BaselineServer.ServeVerb, string samplesFile])
{
    // The baseline endpoint's own process, started by BaselineServer.StartProcessAsync.
    return await BaselineServer.ServeAsync(samplesFile).ConfigureAwait(false);
}

LoadOptions options;
try
{
    options = LoadOptions.Parse(args);
}
catch (Exception e) when (e is ArgumentException or FormatException or UriFormatException)
{
    Console.Error.WriteLine("error: " + e.Message);
    Console.Error.WriteLine(LoadOptions.Usage);
    return 2;
}

string run = DateTime.UtcNow.ToString("yyyyMMddHHmmss", CultureInfo.InvariantCulture);
string machine = $"{Environment.ProcessorCount} cores, {RuntimeInformation.OSDescription}, .NET {Environment.Version}";
using var cancel = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    cancel.Cancel();
};

using var context = new LoadContext(options, options.Target, baselineMode: false);
var results = new List<(RunResult Run, RunResult? Baseline)>();
Dictionary<string, object?>? extra = null;
try
{
    switch (options.Scenario)
    {
        case "initial-sync":
            await InitialSyncAsync().ConfigureAwait(false);
            break;
        case "events":
            await EventsAsync().ConfigureAwait(false);
            break;
        case "read" when options.WriteRate > 0:
            await ReadWithWritesAsync().ConfigureAwait(false);
            break;
        case "read" or "write" or "group-push" or "incremental" or "mixed":
            IScenario scenario = options.Scenario switch
            {
                "read" => new ReadScenario(options.Op),
                "write" => new WriteScenario(options.Op, run),
                "group-push" => new GroupPushScenario(run),
                "incremental" => new IncrementalScenario(),
                _ => new MixedScenario(run),
            };
            await scenario.SetupAsync(context, cancel.Token).ConfigureAwait(false);
            string name = options.Scenario is "read" or "write" ? $"{options.Scenario} {options.Op}" : options.Scenario;
            if (options.Baseline && options.Rounds > 1)
            {
                await AlternatingRoundsAsync(scenario, name).ConfigureAwait(false);
                break;
            }

            var measured = await LoadEngine.RunAsync(name, scenario, context, options.Warmup, options.Duration, options.Requests).ConfigureAwait(false);
            results.Add((measured, options.Baseline ? await BaselineAsync(scenario, name).ConfigureAwait(false) : null));
            break;
        default:
            Console.Error.WriteLine($"error: unknown scenario '{options.Scenario}'");
            Console.Error.WriteLine(LoadOptions.Usage);
            return 2;
    }
}
catch (HttpRequestException e)
{
    Console.Error.WriteLine($"error: cannot reach {options.Target}: {e.Message}");
    return 1;
}

Report.WriteConsole(options.Scenario, results, machine);
if (extra is not null)
{
    Report.WriteEvents(extra);
}

string json = Report.JsonLine(options.Scenario, results, machine, args, extra);
Console.WriteLine();
Console.WriteLine(json);
Directory.CreateDirectory(options.OutDirectory);
string stem = Path.Combine(options.OutDirectory, options.Label ?? $"{options.Scenario}-{run}");
await File.WriteAllTextAsync(stem + ".json", json + Environment.NewLine).ConfigureAwait(false);
await File.WriteAllTextAsync(stem + ".html", Report.Html(options.Scenario, results, machine, "dotnet run -c Release --project bench/Scim.Fast.Load -- " + string.Join(' ', args))).ConfigureAwait(false);
Console.Error.WriteLine($"report: {stem}.html, {stem}.json");
return results.Any(r => r.Run.FailedOperations > 0 || r.Run.Errors.Count > 0) ? 3 : 0;

// The same operations against a bare Kestrel that answers with the server's own bytes.
async Task<RunResult> BaselineAsync(IScenario scenario, string name)
{
    await using var baseline = options.BaselineInProcess
        ? await BaselineServer.StartAsync(context.Samples).ConfigureAwait(false)
        : await BaselineServer.StartProcessAsync(context.Samples).ConfigureAwait(false);
    var target = new Uri(baseline.Address, options.Target.AbsolutePath);
    using var baselineContext = new LoadContext(options, target, baselineMode: true);
    Console.Error.WriteLine($"baseline: bare Kestrel on {baseline.Address} ({(options.BaselineInProcess ? "in this process" : "its own process")})");
    return await LoadEngine.RunAsync(name + " (baseline)", scenario, baselineContext, options.Warmup, options.Duration, options.Requests).ConfigureAwait(false);
}

// --rounds N with --baseline: server, baseline, server, baseline …, so a machine whose speed drifts
// (a shared host: baselines here swing by 15 % from one minute to the next) lands on both sides of
// some ratios instead of on one side of the only one; the medians are the numbers to quote.
async Task AlternatingRoundsAsync(IScenario scenario, string name)
{
    for (int round = 1; round <= options.Rounds; round++)
    {
        string suffix = $" (round {round})";
        var measured = await LoadEngine.RunAsync(name + suffix, scenario, context, options.Warmup, options.Duration, options.Requests).ConfigureAwait(false);
        results.Add((measured, await BaselineAsync(scenario, name + suffix).ConfigureAwait(false)));
    }

    var throughput = new List<double>();
    var p99 = new List<double>();
    var p999 = new List<double>();
    foreach (var (run, baseline) in results)
    {
        throughput.Add(baseline!.OperationsPerSecond > 0 ? Report.Ratio(run, baseline) : 0);
        p99.Add(Report.TailRatio(run, baseline, 99));
        p999.Add(Report.TailRatio(run, baseline, 99.9));
    }

    Console.WriteLine($"{name}: {options.Rounds} rounds against the baseline; throughput ratio per round {Join(throughput)} (median {Median(throughput):0.00}); "
        + $"p99 {Join(p99)} (median {Median(p99):0.00}×); p99.9 {Join(p999)} (median {Median(p999):0.00}×)");
}

// Per-round ratios as printed, and their median (the upper of the two middle ones for an even count).
static string Join(IEnumerable<double> values) => string.Join(" ", values.Select(v => v.ToString("0.00", CultureInfo.InvariantCulture)));

static double Median(IEnumerable<double> values)
{
    var sorted = values.Order().ToList();
    return sorted[sorted.Count / 2];
}

// The reads alone, then the same reads while a writer PATCHes seeded users at --write-rate (an
// open loop: a write is sent when due, whatever the reads do): the second run is reported against
// the first, so its p99 ratio is the read tail with writes over without (issue 18: ≤ 3 at 1,000/s).
async Task ReadWithWritesAsync()
{
    var reads = new ReadScenario(options.Op);
    await reads.SetupAsync(context, cancel.Token).ConfigureAwait(false);
    var without = await LoadEngine.RunAsync($"read {options.Op}, no writes", reads, context, options.Warmup, options.Duration, options.Requests).ConfigureAwait(false);
    using var stopWrites = CancellationTokenSource.CreateLinkedTokenSource(cancel.Token);
    var writer = BackgroundWrites.RunAsync(context, reads.Ids, options.WriteRate, stopWrites.Token);
    var with = await LoadEngine.RunAsync($"read {options.Op}, {options.WriteRate:0} writes/s", reads, context, options.Warmup, options.Duration, options.Requests).ConfigureAwait(false);
    await stopWrites.CancelAsync().ConfigureAwait(false);
    long written = await writer.ConfigureAwait(false);
    Console.Error.WriteLine($"background writes: {written:N0} PATCHes acknowledged");
    results.Add((with, without));
}

// The same PATCHes without a stream, then with the consumers attached: throughput with them over
// throughput without (reported as the ratio), and each consumer's delivery lag. With --rounds the
// pair repeats, the streams deleted between rounds, so a slow minute of a shared machine lands on
// both sides of some ratio instead of on one side of the only one.
async Task EventsAsync()
{
    await using var events = new EventsScenario(run, options.ReceiverHttp2);
    await events.SetupAsync(context, cancel.Token).ConfigureAwait(false);

    // One unreported run first: the first run of a fresh server was often much slower than the
    // later ones, and it was always the run without streams. The cause was the runtime delaying
    // tier-1 compilation under load (the server now counts calls from the start, README "A fresh
    // server's first seconds"); the run stays, so round 1 is not the server's first minute.
    await LoadEngine.RunAsync("events warm-up (not reported)", events, context, TimeSpan.Zero, options.Duration, options.Requests).ConfigureAwait(false);
    var owed = new Dictionary<string, long>();
    long withOperations = 0;
    long withoutOperations = 0;
    for (int round = 1; round <= options.Rounds; round++)
    {
        string suffix = options.Rounds == 1 ? "" : $" (round {round})";
        var without = await LoadEngine.RunAsync("events patch, no stream" + suffix, events, context, options.Warmup, options.Duration, options.Requests).ConfigureAwait(false);
        await events.AttachAsync(context, options.Consumers, cancel.Token).ConfigureAwait(false);
        context.Errors.Clear();
        var with = await LoadEngine.RunAsync($"events patch, streams: {options.Consumers}" + suffix, events, context, options.Warmup, options.Duration, options.Requests).ConfigureAwait(false);
        long ended = System.Diagnostics.Stopwatch.GetTimestamp();
        context.Measuring = false;
        await events.DrainAsync(TimeSpan.FromSeconds(15)).ConfigureAwait(false);
        foreach (var consumer in events.Consumers)
        {
            owed[consumer.Name] = owed.GetValueOrDefault(consumer.Name) + consumer.ReceivedAfter(ended);
        }

        await events.DetachAsync(context).ConfigureAwait(false);
        results.Add((with, without));
        withOperations += with.Operations;
        withoutOperations += without.Operations;
    }

    if (options.Rounds > 1)
    {
        var ratios = results.Select(r => r.Baseline!.OperationsPerSecond > 0 ? r.Run.OperationsPerSecond / r.Baseline.OperationsPerSecond : 0).Order().ToList();
        Console.WriteLine($"events: {options.Rounds} rounds, ratio per round {Join(ratios)}; "
            + $"median {Median(ratios):0.00}; all operations with streams over without {(double)withOperations / Math.Max(1, withoutOperations):0.00}");
    }

    extra = new Dictionary<string, object?>();
    foreach (var consumer in events.Consumers)
    {
        var lag = consumer.Lag();
        extra[consumer.Name] = Report.Lag(lag, consumer.AcknowledgedWrites, consumer.Missing, consumer.Duplicates, consumer.Errors, owed[consumer.Name]);
        if (consumer.Missing > 0)
        {
            results[^1].Run.Errors[$"events: {consumer.Name} missed {consumer.Missing:N0} acknowledged writes"] = consumer.Missing;
        }
    }
}

// Users (Entra lookup + POST, or /Bulk batches), then groups with members by /Bulk; each phase runs
// to completion, and the whole sync's wall time is what a deployment waits for.
async Task InitialSyncAsync()
{
    var users = new InitialSyncScenario(run);
    await users.SetupAsync(context, cancel.Token).ConfigureAwait(false);
    long userOperations = options.Batch == 0 ? options.Users : (options.Users + options.Batch - 1) / options.Batch;
    var started = System.Diagnostics.Stopwatch.GetTimestamp();
    var usersRun = await LoadEngine.RunAsync($"initial-sync users ({options.Users:N0}, {(options.Batch == 0 ? "lookup + POST" : $"/Bulk of {options.Batch}")})",
        users, context, TimeSpan.Zero, TimeSpan.FromHours(2), userOperations).ConfigureAwait(false);
    results.Add((usersRun, null));
    if (options.Groups > 0 && users.CreatedIds.Count > 0)
    {
        var groups = new GroupsPhase(run, [.. users.CreatedIds]);
        long groupOperations = (options.Groups + 99) / 100;
        var groupsRun = await LoadEngine.RunAsync($"initial-sync groups ({groupOperations * 100:N0} × {options.Members} members, /Bulk of 100)",
            groups, context, TimeSpan.Zero, TimeSpan.FromHours(2), groupOperations).ConfigureAwait(false);
        results.Add((groupsRun, null));
    }

    Console.Error.WriteLine($"users named {users.UserName(0)} …: read them (with their groups) with read --users-named sync-{run}-");
    var total = System.Diagnostics.Stopwatch.GetElapsedTime(started);
    Console.Error.WriteLine($"initial sync wall time: {total.TotalSeconds:0.0} s");
}
