using System.Globalization;
using System.Text;
using System.Text.Json;

using HdrHistogram;

namespace Scim.Fast.Load.Reports;

/// <summary>The end of a run: a console table, one JSON line for machines, and an HTML report.</summary>
internal static class Report
{
    private static readonly double[] s_percentiles = [50, 90, 99, 99.9];

    public static void WriteConsole(string scenario, IReadOnlyList<(RunResult Run, RunResult? Baseline)> runs, string machine)
    {
        var output = Console.Out;
        output.WriteLine();
        output.WriteLine($"scenario {scenario} · {machine}");
        foreach (var (run, baseline) in runs)
        {
            output.WriteLine();
            output.WriteLine($"{run.Name} ({run.Model}, {run.Elapsed.TotalSeconds:0.0} s measured)");
            output.WriteLine($"  operations {run.Operations:N0} ({run.OperationsPerSecond:N0}/s), failed {run.FailedOperations:N0}; requests {run.Requests:N0} ({run.RequestsPerSecond:N0}/s)"
                + (baseline is null ? "" : $"; {baseline.Name}: {baseline.OperationsPerSecond:N0} ops/s → ratio {Ratio(run, baseline):0.00}"));
            output.WriteLine($"  {"latency (ms)",-46} {"count",10} {"p50",8} {"p90",8} {"p99",8} {"p99.9",8} {"max",8}");
            output.WriteLine(Row("operation", run.OperationLatency));
            foreach (var (kind, histogram) in run.RequestLatency.OrderBy(k => k.Key, StringComparer.Ordinal))
            {
                output.WriteLine(Row(kind, histogram));
            }

            if (baseline is not null)
            {
                output.WriteLine(Row("operation, " + baseline.Name, baseline.OperationLatency));
                output.WriteLine($"  {"tail against it",-46} {"",10} {"",8} {"",8} {TailRatio(run, baseline, 99),7:0.00}× {TailRatio(run, baseline, 99.9),7:0.00}×");
            }

            foreach (var (cause, count) in run.Errors.OrderByDescending(e => e.Value))
            {
                output.WriteLine($"  error {cause}: {count:N0}");
            }
        }
    }

    public static double Ratio(RunResult run, RunResult baseline) => run.OperationsPerSecond / baseline.OperationsPerSecond;

    /// <summary>The server's latency at a percentile over the baseline's at the same percentile (the tail watched, issue "tail latency").</summary>
    public static double TailRatio(RunResult run, RunResult baseline, double percentile)
    {
        double server = Ms(run.OperationLatency, percentile);
        double bare = Ms(baseline.OperationLatency, percentile);
        return bare <= 0 ? double.NaN : server / bare;
    }

    /// <summary>One event consumer's delivery: writes acknowledged, missing, duplicates, lag percentiles.</summary>
    public static Dictionary<string, object?> Lag(HistogramBase lag, long acknowledged, long missing, long duplicates, long errors, long owedAtEnd) => new()
    {
        ["acknowledgedWrites"] = acknowledged,
        ["owedAtEnd"] = owedAtEnd,
        ["missing"] = missing,
        ["duplicates"] = duplicates,
        ["consumerErrors"] = errors,
        ["lagMs"] = Percentiles(lag),
    };

    /// <summary>The events scenario's delivery lag per consumer (write acknowledged → SET received).</summary>
    public static void WriteEvents(Dictionary<string, object?> consumers)
    {
        var output = Console.Out;
        output.WriteLine();
        output.WriteLine($"  {"delivery lag (ms), ack → received",-46} {"events",10} {"p50",8} {"p90",8} {"p99",8} {"p99.9",8} {"max",8}");
        foreach (var (name, value) in consumers)
        {
            var consumer = (Dictionary<string, object?>)value!;
            var lag = (Dictionary<string, double>)consumer["lagMs"]!;
            output.WriteLine($"  {name,-46} {consumer["acknowledgedWrites"],10:N0} {lag["p50"],8:0.00} {lag["p90"],8:0.00} {lag["p99"],8:0.00} {lag["p99.9"],8:0.00} {lag["max"],8:0.00}"
                + $"   missing {consumer["missing"]:N0}, duplicates {consumer["duplicates"]:N0}, consumer errors {consumer["consumerErrors"]:N0}, owed at the run's end {consumer["owedAtEnd"]:N0}");
            if ((long)consumer["owedAtEnd"]! * 100 > (long)consumer["acknowledgedWrites"]!)
            {
                // More than 1 % still undelivered when the writes stopped: delivery did not keep up,
                // and the throughput ratio counts work that was put off, not done.
                output.WriteLine($"  {name}: fell behind the writes (more than 1 % of them delivered after the run ended); its throughput ratio flatters it");
            }
        }
    }

    public static string JsonLine(string scenario, IReadOnlyList<(RunResult Run, RunResult? Baseline)> runs, string machine, string[] args, Dictionary<string, object?>? events = null)
    {
        var document = new Dictionary<string, object?>
        {
            ["scenario"] = scenario,
            ["machine"] = machine,
            ["arguments"] = string.Join(' ', args),
            ["utc"] = DateTime.UtcNow.ToString("O", CultureInfo.InvariantCulture),
            ["runs"] = runs.Select(r => new Dictionary<string, object?>
            {
                ["name"] = r.Run.Name,
                ["model"] = r.Run.Model,
                ["seconds"] = Math.Round(r.Run.Elapsed.TotalSeconds, 3),
                ["operations"] = r.Run.Operations,
                ["failed"] = r.Run.FailedOperations,
                ["operationsPerSecond"] = Math.Round(r.Run.OperationsPerSecond, 1),
                ["requestsPerSecond"] = Math.Round(r.Run.RequestsPerSecond, 1),
                ["latencyMs"] = Percentiles(r.Run.OperationLatency),
                ["requests"] = r.Run.RequestLatency.ToDictionary(k => k.Key, k => (object)new Dictionary<string, object?>
                {
                    ["count"] = k.Value.TotalCount,
                    ["latencyMs"] = Percentiles(k.Value),
                }),
                ["errors"] = r.Run.Errors,
                ["baselineName"] = r.Baseline?.Name,
                ["baselineOperationsPerSecond"] = r.Baseline is null ? null : Math.Round(r.Baseline.OperationsPerSecond, 1),
                ["baselineLatencyMs"] = r.Baseline is null ? null : Percentiles(r.Baseline.OperationLatency),
                ["ratioToBaseline"] = r.Baseline is null ? null : Math.Round(Ratio(r.Run, r.Baseline), 3),
                ["p99RatioToBaseline"] = r.Baseline is null ? null : Math.Round(TailRatio(r.Run, r.Baseline, 99), 3),
                ["p99.9RatioToBaseline"] = r.Baseline is null ? null : Math.Round(TailRatio(r.Run, r.Baseline, 99.9), 3),
            }).ToList(),
        };
        if (events is not null)
        {
            document["events"] = events;
        }

        return JsonSerializer.Serialize(document);
    }

    /// <summary>A self-contained HTML page: throughput and latency over time, and the latency percentile curve.</summary>
    public static string Html(string scenario, IReadOnlyList<(RunResult Run, RunResult? Baseline)> runs, string machine, string command)
    {
        var html = new StringBuilder();
        html.Append("<!doctype html><html><head><meta charset=\"utf-8\"><title>Scim.Fast load: ").Append(Escape(scenario)).Append("</title><style>")
            .Append("body{font:14px system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}")
            .Append("th:first-child,td:first-child{text-align:left}svg{background:#fafafa;border:1px solid #ddd;margin:0.5em 1em 0.5em 0}code{background:#f3f3f3;padding:2px 4px}")
            .Append("</style></head><body>");
        html.Append("<h1>Scim.Fast load: ").Append(Escape(scenario)).Append("</h1><p>").Append(Escape(machine)).Append("</p><p><code>").Append(Escape(command)).Append("</code></p>");
        foreach (var (run, baseline) in runs)
        {
            html.Append("<h2>").Append(Escape(run.Name)).Append("</h2><p>").Append(Escape(run.Model)).Append(", ")
                .Append(run.Elapsed.TotalSeconds.ToString("0.0", CultureInfo.InvariantCulture)).Append(" s: ")
                .Append(run.Operations.ToString("N0", CultureInfo.InvariantCulture)).Append(" operations (")
                .Append(run.OperationsPerSecond.ToString("N0", CultureInfo.InvariantCulture)).Append("/s), ")
                .Append(run.FailedOperations.ToString("N0", CultureInfo.InvariantCulture)).Append(" failed");
            if (baseline is not null)
            {
                html.Append("; ").Append(Escape(baseline.Name)).Append(": ").Append(baseline.OperationsPerSecond.ToString("N0", CultureInfo.InvariantCulture))
                    .Append("/s, ratio <b>").Append(Ratio(run, baseline).ToString("0.00", CultureInfo.InvariantCulture)).Append("</b>")
                    .Append("; tail against it: p99 <b>").Append(TailRatio(run, baseline, 99).ToString("0.00", CultureInfo.InvariantCulture))
                    .Append("×</b>, p99.9 <b>").Append(TailRatio(run, baseline, 99.9).ToString("0.00", CultureInfo.InvariantCulture)).Append("×</b>");
            }

            html.Append("</p><table><tr><th>latency (ms)</th><th>count</th><th>p50</th><th>p90</th><th>p99</th><th>p99.9</th><th>max</th></tr>");
            HtmlRow(html, "operation", run.OperationLatency);
            foreach (var (kind, histogram) in run.RequestLatency.OrderBy(k => k.Key, StringComparer.Ordinal))
            {
                HtmlRow(html, kind, histogram);
            }

            if (baseline is not null)
            {
                HtmlRow(html, "operation, " + baseline.Name, baseline.OperationLatency);
            }

            html.Append("</table>");
            foreach (var (cause, count) in run.Errors)
            {
                html.Append("<p>error ").Append(Escape(cause)).Append(": ").Append(count).Append("</p>");
            }

            var seconds = run.Timeline.Select(p => p.Second).ToArray();
            html.Append(Chart("throughput (operations/s) over time", seconds, [("ops/s", run.Timeline.Select(p => (double)p.Operations).ToArray(), "#2b6cb0")], "s", ""));
            html.Append(Chart("latency over time (ms)", seconds,
                [("p50", run.Timeline.Select(p => p.P50Ms).ToArray(), "#2f855a"), ("p99", run.Timeline.Select(p => p.P99Ms).ToArray(), "#c05621"), ("max", run.Timeline.Select(p => p.MaxMs).ToArray(), "#9b2c2c")], "s", "ms"));
            html.Append(PercentileChart(run, baseline));
        }

        html.Append("</body></html>");
        return html.ToString();
    }

    private static Dictionary<string, double> Percentiles(HistogramBase histogram)
    {
        var values = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (double p in s_percentiles)
        {
            values["p" + p.ToString(CultureInfo.InvariantCulture)] = Ms(histogram, p);
        }

        values["max"] = histogram.TotalCount == 0 ? 0 : Math.Round(histogram.GetMaxValue() / 1000.0, 3);
        return values;
    }

    private static double Ms(HistogramBase histogram, double percentile) =>
        histogram.TotalCount == 0 ? 0 : Math.Round(histogram.GetValueAtPercentile(percentile) / 1000.0, 3);

    private static string Row(string name, HistogramBase h) =>
        $"  {(name.Length > 46 ? name[..46] : name),-46} {h.TotalCount,10:N0} {Ms(h, 50),8:0.000} {Ms(h, 90),8:0.000} {Ms(h, 99),8:0.000} {Ms(h, 99.9),8:0.000} {(h.TotalCount == 0 ? 0 : h.GetMaxValue() / 1000.0),8:0.000}";

    private static void HtmlRow(StringBuilder html, string name, HistogramBase h)
    {
        html.Append("<tr><td>").Append(Escape(name)).Append("</td><td>").Append(h.TotalCount.ToString("N0", CultureInfo.InvariantCulture)).Append("</td>");
        foreach (double p in s_percentiles)
        {
            html.Append("<td>").Append(Ms(h, p).ToString("0.000", CultureInfo.InvariantCulture)).Append("</td>");
        }

        html.Append("<td>").Append((h.TotalCount == 0 ? 0 : h.GetMaxValue() / 1000.0).ToString("0.000", CultureInfo.InvariantCulture)).Append("</td></tr>");
    }

    // Latency by percentile on the usual HdrHistogram axis: x = 1 / (1 - p), logarithmic.
    private static string PercentileChart(RunResult run, RunResult? baseline)
    {
        double[] percentiles = [0, 50, 75, 90, 95, 99, 99.5, 99.9, 99.95, 99.99];
        double[] x = [.. percentiles.Select(p => Math.Log10(1 / (1 - p / 100.0)))];
        var series = new List<(string, double[], string)> { ("server", [.. percentiles.Select(p => Ms(run.OperationLatency, p))], "#c05621") };
        if (baseline is not null)
        {
            series.Add(("baseline", [.. percentiles.Select(p => Ms(baseline.OperationLatency, p))], "#718096"));
        }

        return Chart("latency by percentile (ms); x: 0%, 90%, 99%, 99.9%, 99.99% at 0, 1, 2, 3, 4", x, series, "log10(1/(1-p))", "ms");
    }

    private static string Chart(string title, double[] x, IReadOnlyList<(string Name, double[] Y, string Color)> series, string xUnit, string yUnit)
    {
        const int width = 640, height = 260, left = 56, right = 16, top = 28, bottom = 32;
        var svg = new StringBuilder();
        svg.Append(CultureInfo.InvariantCulture, $"<svg width=\"{width}\" height=\"{height}\" xmlns=\"http://www.w3.org/2000/svg\">");
        svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{left}\" y=\"18\" font-size=\"13\">{Escape(title)}</text>");
        if (x.Length == 0)
        {
            return svg.Append("</svg>").ToString();
        }

        double xMin = x.Min(), xMax = Math.Max(x.Max(), xMin + 1e-9);
        double yMax = Math.Max(series.Max(s => s.Y.Length == 0 ? 0 : s.Y.Max()), 1e-9) * 1.1;
        double X(double v) => left + (v - xMin) / (xMax - xMin) * (width - left - right);
        double Y(double v) => height - bottom - v / yMax * (height - top - bottom);
        svg.Append(CultureInfo.InvariantCulture, $"<line x1=\"{left}\" y1=\"{height - bottom}\" x2=\"{width - right}\" y2=\"{height - bottom}\" stroke=\"#999\"/>");
        svg.Append(CultureInfo.InvariantCulture, $"<line x1=\"{left}\" y1=\"{top}\" x2=\"{left}\" y2=\"{height - bottom}\" stroke=\"#999\"/>");
        for (int i = 0; i <= 4; i++)
        {
            double v = yMax * i / 4;
            svg.Append(CultureInfo.InvariantCulture, $"<text x=\"4\" y=\"{Y(v) + 4:0.0}\" font-size=\"10\">{v:0.##} {yUnit}</text>");
            double xv = xMin + (xMax - xMin) * i / 4;
            svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{X(xv) - 10:0.0}\" y=\"{height - 12}\" font-size=\"10\">{xv:0.#}</text>");
        }

        svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{width - right - 80}\" y=\"{height - 2}\" font-size=\"10\">{Escape(xUnit)}</text>");
        int legend = 0;
        foreach (var (name, y, color) in series)
        {
            var points = new StringBuilder();
            for (int i = 0; i < Math.Min(x.Length, y.Length); i++)
            {
                points.Append(CultureInfo.InvariantCulture, $"{X(x[i]):0.0},{Y(y[i]):0.0} ");
            }

            svg.Append(CultureInfo.InvariantCulture, $"<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"1.6\" points=\"{points}\"/>");
            svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{width - right - 120 + legend * 45}\" y=\"18\" font-size=\"11\" fill=\"{color}\">{Escape(name)}</text>");
            legend++;
        }

        return svg.Append("</svg>").ToString();
    }

    private static string Escape(string text) => System.Net.WebUtility.HtmlEncode(text);
}
