using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;

using Microsoft.AspNetCore.Http;

using Scim.Fast.Server.Protocol;
using Scim.Fast.Storage.Resources;

namespace Scim.Fast.Server.Telemetry;

/// <summary>
/// The server's meter and activity source, "Scim.Fast" (System.Diagnostics.Metrics and Activity, the
/// .NET way: OpenTelemetry exports them, see <see cref="OpenTelemetrySetup"/>). Names follow the
/// OpenTelemetry semantic conventions' style (dotted, unit in the instrument, not the name);
/// <c>http.server.request.duration</c> comes from ASP.NET Core itself. No attribute carries
/// personal data: tenants are names the operator chose, never userName, filter values or bodies.
/// </summary>
internal static class ScimMetrics
{
    public const string Name = "Scim.Fast";

    /// <summary>Tenant label of every tenant past <see cref="MaxTenantLabels"/> (cardinality cap).</summary>
    public const string OtherTenants = "_other";

    private static readonly Meter s_meter = new(Name, "1.0");
    private static readonly ConcurrentDictionary<string, string> s_tenantLabels = new(StringComparer.Ordinal);

    /// <summary>The spans: one per SCIM request, with the query plan on list requests.</summary>
    public static readonly ActivitySource Source = new(Name, "1.0");

    private static readonly Counter<long> s_operations = s_meter.CreateCounter<long>(
        "scim.server.operations", "{operation}", "SCIM operations by tenant, resource type, operation and outcome.");

    private static readonly Histogram<double> s_duration = s_meter.CreateHistogram<double>(
        "scim.server.operation.duration", "s", "Duration of SCIM operations by resource type, operation and outcome.",
        advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] });

    private static readonly Counter<long> s_rejected = s_meter.CreateCounter<long>(
        "scim.server.rejected", "{request}", "Requests refused before any work: rate limits, failed authentication, scan slots.");

    private static readonly Counter<long> s_scans = s_meter.CreateCounter<long>(
        "scim.query.scans", "{query}", "List queries that read more resources than the free allowance (unindexed scans).");

    private static readonly Counter<long> s_storageScans = s_meter.CreateCounter<long>(
        "scim.query.storage_scans", "{query}", "Scans answered by reading the store's log in storage order (the rest read each resource by id).");

    private static readonly Counter<long> s_examined = s_meter.CreateCounter<long>(
        "scim.query.resources_examined", "{resource}", "Resources read and tested by list queries.");

    private static readonly Counter<long> s_bulkOperations = s_meter.CreateCounter<long>(
        "scim.bulk.operations", "{operation}", "Operations inside /Bulk requests by method and outcome.");

    /// <summary>Distinct tenant labels before the rest share <see cref="OtherTenants"/>.</summary>
    public static int MaxTenantLabels { get; set; } = 100;

    /// <summary>Whether anything listens to the per-request instruments (nothing to record otherwise).</summary>
    public static bool Enabled => s_operations.Enabled || s_duration.Enabled || Source.HasListeners();

    /// <summary>The tenant as a metric label: itself for the first <see cref="MaxTenantLabels"/> seen, then <see cref="OtherTenants"/>.</summary>
    public static string TenantLabel(string tenant)
    {
        if (s_tenantLabels.TryGetValue(tenant, out var label))
        {
            return label;
        }

        return s_tenantLabels.Count >= MaxTenantLabels ? OtherTenants : s_tenantLabels.GetOrAdd(tenant, tenant);
    }

    /// <summary>Records one SCIM operation (called once per request, after the response is written).</summary>
    public static void RecordOperation(string? tenant, string resourceType, string operation, int status, long startedTimestamp)
    {
        // Three labels on the histogram (its series multiply by buckets), the status and tenant on the counter.
        var tags = new TagList
        {
            { "scim.resource_type", resourceType },
            { "scim.operation", operation },
            { "scim.outcome", Outcome(status) },
        };
        s_duration.Record(Stopwatch.GetElapsedTime(startedTimestamp).TotalSeconds, tags);
        tags.Add("http.response.status_code", StatusLabel(status));
        tags.Add("scim.tenant", tenant is null ? "-" : TenantLabel(tenant));
        s_operations.Add(1, tags);
    }

    /// <summary>A request refused before work, by reason (rate_limited, auth_failed, auth_throttled, forbidden, scan_slots).</summary>
    public static void RecordRejected(string reason) => s_rejected.Add(1, new KeyValuePair<string, object?>("scim.reason", reason));

    /// <summary>What one list query read; <paramref name="scanned"/> when it went past the free allowance.</summary>
    public static void RecordStorageScan() => s_storageScans.Add(1);

    public static void RecordQuery(int examined, bool scanned)
    {
        if (examined > 0)
        {
            s_examined.Add(examined);
        }

        if (scanned)
        {
            s_scans.Add(1);
        }
    }

    /// <summary>One operation inside a /Bulk request.</summary>
    public static void RecordBulkOperation(string method, int status) =>
        s_bulkOperations.Add(1, new KeyValuePair<string, object?>("http.request.method", KnownMethod(method)), new KeyValuePair<string, object?>("scim.outcome", Outcome(status)));

    // The client's method string as a label only when it is one /Bulk knows (RFC 7644 §3.7), or
    // any client could make series at will; OpenTelemetry's convention for the rest is _OTHER.
    private static string KnownMethod(string method) => method switch
    {
        "POST" or "PUT" or "PATCH" or "DELETE" => method,
        _ => "_OTHER",
    };

    /// <summary>
    /// Store gauges, read when a collector asks: resources per tenant and type (the id index's size,
    /// O(1)), reads and the reads that went to disk (1 - disk/reads is the memory and read-cache hit
    /// ratio), and the write-ahead log's size.
    /// </summary>
    /// <remarks>The gauges live in a meter of their own, disposed with the server (the store goes with it).</remarks>
    public static IDisposable ObserveStore(IResourceStore store, Func<IEnumerable<(string Name, TenantId Id)>> tenants)
    {
        var meter = new Meter(Name, "1.0");
        meter.CreateObservableGauge("scim.store.resources", () => Resources(store, tenants()), "{resource}", "Resources stored, by tenant and resource type.");
        meter.CreateObservableCounter("scim.events.feed.entries", () => store.Feed.Projected, "{entry}", "Change-feed entries projected since the store opened.");
        if (store is ResourceStore embedded)
        {
            // The embedded store's own: its key-value reads, its log and the feed's projector.
            meter.CreateObservableCounter("scim.store.reads", () => embedded.Reads, "{read}", "Key-value reads since the store opened.");
            meter.CreateObservableCounter("scim.store.reads.disk", () => embedded.PendingReads, "{read}", "Key-value reads that missed memory and the read cache (went to disk).");
            meter.CreateObservableCounter("scim.store.reads.disk.blocking", () => embedded.BlockingReads, "{read}", "Of the reads that went to disk, those that held a thread while waiting (list queries and other synchronous paths).");
            meter.CreateObservableGauge("scim.store.log.size", () => embedded.LogBytes, "By", "Bytes of write-ahead log not yet truncated by a checkpoint.");
            meter.CreateObservableGauge("scim.events.feed.lag", () => embedded.FeedLagBytes, "By", "Committed log the change feed has not projected yet.");
        }

        return meter;
    }

    // Tenants past the label cap are summed under one label: one measurement per label and type.
    private static List<Measurement<long>> Resources(IResourceStore store, IEnumerable<(string Name, TenantId Id)> tenants)
    {
        var totals = new Dictionary<(string Tenant, string Type), long>();
        foreach (var (name, id) in tenants)
        {
            string label = TenantLabel(name);
            totals[(label, "User")] = totals.GetValueOrDefault((label, "User")) + store.OrderedCount(id, StoreTypes.User, 0);
            totals[(label, "Group")] = totals.GetValueOrDefault((label, "Group")) + store.OrderedCount(id, StoreTypes.Group, 0);
        }

        var measurements = new List<Measurement<long>>(totals.Count);
        foreach (var ((tenant, type), count) in totals)
        {
            measurements.Add(new Measurement<long>(count, new KeyValuePair<string, object?>("scim.tenant", tenant), new KeyValuePair<string, object?>("scim.resource_type", type)));
        }

        return measurements;
    }

    // Status codes as label values, boxed once (a tag value is an object: an int would box per request).
    private static readonly object[] s_statusLabels = [.. Enumerable.Range(0, 600).Select(code => (object)code)];

    private static object StatusLabel(int status) => (uint)status < (uint)s_statusLabels.Length ? s_statusLabels[status] : status;

    private static string Outcome(int status) => status switch
    {
        < 400 => "success",
        429 => "throttled",
        < 500 => "client_error",
        _ => "server_error",
    };
}
