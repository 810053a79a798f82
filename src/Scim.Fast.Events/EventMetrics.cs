using System.Diagnostics.Metrics;

namespace Scim.Fast.Events;

/// <summary>
/// Delivery metrics of SCIM events (meter "Scim.Fast.Events"): how long after its write's commit a
/// SET was handed to its receiver, by delivery method (push: the receiver's 2xx; poll: the poll
/// response that carries it; sse: the frame written), and the SETs parked behind failing subjects.
/// No stream ids as labels: their number is up to the tenants.
/// </summary>
public static class EventMetrics
{
    public const string Name = "Scim.Fast.Events";

    private static readonly Meter s_meter = new(Name, "1.0");

    private static readonly Histogram<double> s_lag = s_meter.CreateHistogram<double>(
        "scim.events.delivery.lag", "s", "From a write's commit to its SET handed to the receiver, by delivery method.",
        advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5, 30, 300, 3600] });

    /// <summary>One SET handed over; <paramref name="committedAt"/> in Unix milliseconds (0: a control SET, not recorded).</summary>
    public static void RecordDelivery(string method, long committedAt)
    {
        if (committedAt <= 0 || !s_lag.Enabled)
        {
            return;
        }

        long lag = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() - committedAt;
        s_lag.Record(Math.Max(0, lag) / 1000.0, new KeyValuePair<string, object?>("scim.events.delivery", method));
    }

    /// <summary>Gauges of one registry, disposed with it (tests run several servers in a process).</summary>
    internal static Meter Observe(StreamRegistry registry)
    {
        var meter = new Meter(Name, "1.0");
        meter.CreateObservableGauge("scim.events.push.parked", registry.ParkedTotal, "{set}", "Push SETs parked behind subjects whose receiver keeps failing (all streams).");
        return meter;
    }
}
