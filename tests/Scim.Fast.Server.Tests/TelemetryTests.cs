using System.Collections.Concurrent;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;

using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

using static Scim.Fast.Server.Tests.ScimHttp;

namespace Scim.Fast.Server.Tests;

/// <summary>
/// The checkpoint metrics, on a server of their own: the exporter caches a scrape briefly, and a
/// scrape here would hand the other metrics tests a copy taken before their requests.
/// </summary>
public sealed class CheckpointMetricsTests(AdminFixture server) : IClassFixture<AdminFixture>
{
    [Fact]
    public async Task Metrics_AfterACheckpoint_SayHowLongWritesWereHeldBack()
    {
        // An online backup takes a checkpoint first (README, "Backups"); writes wait only for its
        // drain and version cut, which the pause histogram records apart from the whole duration.
        using var admin = server.CreateClient(AdminFixture.AdminToken);
        using (var backup = await admin.GetAsync("/admin/backup", HttpCompletionOption.ResponseHeadersRead))
        {
            Assert.Equal(HttpStatusCode.OK, backup.StatusCode);
            await backup.Content.CopyToAsync(Stream.Null);
        }

        using var response = await admin.GetAsync("/metrics");
        string text = await response.Content.ReadAsStringAsync();
        Assert.Contains(MetricsTests.Line(text, "scim_store_checkpoint_pause_seconds_count"), text);
        Assert.Contains(MetricsTests.Line(text, "scim_store_checkpoint_duration_seconds_count"), text);
        Assert.Contains(MetricsTests.Line(text, "scim_store_checkpoint_pause_seconds_bucket", "le=\"0.1\""), text);
    }
}

/// <summary>/metrics (Prometheus text) after real requests, and its guard.</summary>
public sealed class MetricsTests(AdminFixture server) : IClassFixture<AdminFixture>
{
    [Fact]
    public async Task Metrics_AfterRealRequests_CarryOperationsByTenantTypeOperationAndOutcome()
    {
        var created = (await server.Client.Send(HttpMethod.Post, "/scim/v2/Users", new JsonObject
        {
            ["schemas"] = new JsonArray(UserSchema),
            ["userName"] = "metrics-" + Guid.NewGuid().ToString("N") + "@example.com",
        })).Expect(HttpStatusCode.Created);
        (await server.Client.Get("/scim/v2/Users/" + created.Id)).Expect(HttpStatusCode.OK);
        (await server.Client.Get("/scim/v2/Users/does-not-exist")).Expect(HttpStatusCode.NotFound);
        (await server.Anonymous.Get("/scim/v2/Users")).Expect(HttpStatusCode.Unauthorized);
        (await server.Anonymous.Get("/tenants/made-up-tenant-label/scim/v2/Users")).Expect(HttpStatusCode.Unauthorized);

        // An event polled: its delivery lag is recorded under its method (README, "Events").
        var stream = await Events.EventStreamClient.CreatePollStreamAsync(server.Client);
        (await server.Client.Send(HttpMethod.Patch, "/scim/v2/Users/" + created.Id, Patch(new JsonObject { ["op"] = "replace", ["path"] = "displayName", ["value"] = "Polled" }))).Expect(HttpStatusCode.OK);
        var (polled, _) = await Events.EventStreamClient.PollAsync(server.Client, (string)stream["stream_id"]!, returnImmediately: false);
        Assert.NotEmpty(polled);

        using var scraper = server.CreateClient(AdminFixture.AdminToken);
        using var response = await scraper.GetAsync("/metrics");
        string text = await response.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.StartsWith("text/plain", response.Content.Headers.ContentType?.MediaType);

        Assert.Contains(Line(text, "scim_server_operations_total", "scim_operation=\"create\"", "scim_resource_type=\"User\"", "scim_outcome=\"success\"", "scim_tenant=\"default\""), text);
        Assert.Contains(Line(text, "scim_server_operations_total", "scim_operation=\"get\"", "http_response_status_code=\"404\"", "scim_outcome=\"client_error\""), text);
        Assert.Contains(Line(text, "scim_server_rejected_total", "scim_reason=\"auth_failed\""), text);
        Assert.Contains(Line(text, "scim_server_operation_duration_seconds_bucket", "scim_operation=\"get\""), text);
        Assert.Contains(Line(text, "scim_store_resources", "scim_tenant=\"default\"", "scim_resource_type=\"User\""), text);
        Assert.Contains(Line(text, "scim_store_log_commit_duration_seconds_count"), text);
        Assert.Contains(Line(text, "scim_store_reads_total"), text);
        Assert.Contains(Line(text, "scim_events_delivery_lag_seconds_count", "scim_events_delivery=\"poll\""), text);
        Assert.Contains(Line(text, "scim_events_push_parked"), text);

        // The runtime's: heap after the last collection by generation, pauses, the pool's queue.
        Assert.Contains(Line(text, "dotnet_gc_last_collection_heap_size_bytes"), text);
        Assert.Contains(Line(text, "dotnet_gc_pause_time_seconds_total"), text);
        Assert.Contains(Line(text, "dotnet_thread_pool_queue_length"), text);

        // No personal data in labels: the userName never appears; and an unauthenticated request
        // does not get to name a tenant label.
        Assert.DoesNotContain("metrics-", text, StringComparison.Ordinal);
        Assert.DoesNotContain("made-up-tenant-label", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Metrics_WithoutAnAdminToken_Are401()
    {
        using var response = await server.Anonymous.GetAsync("/metrics");
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Contains("Bearer", response.Headers.WwwAuthenticate.ToString(), StringComparison.Ordinal);

        // A tenant's token is not an admin token.
        using var tenant = await server.Client.GetAsync("/metrics");
        Assert.Equal(HttpStatusCode.Unauthorized, tenant.StatusCode);
    }

    // The first sample line of a metric carrying all the given label texts, or a message naming what was looked for.
    /// <summary>A counter's value as /metrics shows it (0 before its first increment).</summary>
    internal static long Value(string text, string metric, params string[] labels)
    {
        string line = Line(text, metric, labels);
        if (line.StartsWith('<'))
        {
            return 0;
        }

        // name[{labels}] value [timestamp]
        string rest = line.Contains('}', StringComparison.Ordinal) ? line[(line.IndexOf('}', StringComparison.Ordinal) + 1)..] : line[metric.Length..];
        return (long)double.Parse(rest.Trim().Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture);
    }

    internal static string Line(string text, string metric, params string[] labels)
    {
        foreach (var line in text.Split('\n'))
        {
            if (line.StartsWith(metric + "{", StringComparison.Ordinal) || line.StartsWith(metric + " ", StringComparison.Ordinal))
            {
                if (labels.All(label => line.Contains(label, StringComparison.Ordinal)))
                {
                    return line;
                }
            }
        }

        return $"<no {metric} line with {string.Join(", ", labels)}>";
    }
}

/// <summary>A server without admin tokens: /metrics is off (404) rather than open.</summary>
public sealed class MetricsOffTests(ScimServerFixture server) : IClassFixture<ScimServerFixture>
{
    [Fact]
    public async Task Metrics_WithoutAdminTokens_DoNotExist()
    {
        using var response = await server.Client.GetAsync("/metrics");
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
    }
}

/// <summary>A server exporting over OTLP/HTTP to a receiver in the test.</summary>
public sealed class OtlpFixture : ScimServerFixture
{
    private WebApplication? _receiver;

    /// <summary>Request bodies the receiver got, by path (/v1/metrics, /v1/traces).</summary>
    public ConcurrentDictionary<string, ConcurrentQueue<byte[]>> Received { get; } = new();

    public Uri ReceiverAddress { get; private set; } = null!;

    protected override IEnumerable<string> ExtraArguments =>
    [
        "--OTEL_EXPORTER_OTLP_ENDPOINT=" + ReceiverAddress.ToString().TrimEnd('/'),
        "--OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf",
        "--OTEL_METRIC_EXPORT_INTERVAL=300",
        "--OTEL_BSP_SCHEDULE_DELAY=100",
    ];

    public override async Task InitializeAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        _receiver = builder.Build();
        _receiver.Run(async context =>
        {
            using var body = new MemoryStream();
            await context.Request.Body.CopyToAsync(body);
            Received.GetOrAdd(context.Request.Path.Value ?? "", _ => new ConcurrentQueue<byte[]>()).Enqueue(body.ToArray());
            context.Response.StatusCode = StatusCodes.Status200OK;
            context.Response.ContentType = "application/x-protobuf";
        });
        await _receiver.StartAsync();
        ReceiverAddress = new Uri(_receiver.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.Single());
        await base.InitializeAsync();
    }

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        if (_receiver is not null)
        {
            await _receiver.DisposeAsync();
        }
    }
}

public sealed class OtlpExportTests(OtlpFixture server) : IClassFixture<OtlpFixture>
{
    [Fact]
    public async Task MetricsAndSpans_ReachAnOtlpHttpReceiver()
    {
        var created = (await server.Client.Send(HttpMethod.Post, "/scim/v2/Users", new JsonObject
        {
            ["schemas"] = new JsonArray(UserSchema),
            ["userName"] = "otlp-" + Guid.NewGuid().ToString("N") + "@example.com",
        })).Expect(HttpStatusCode.Created);
        (await server.Client.Get("/scim/v2/Users/" + created.Id)).Expect(HttpStatusCode.OK);

        // Protobuf keeps strings as UTF-8: the metric and span names are in the bodies as they are.
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (DateTime.UtcNow < deadline && !(Contains("/v1/metrics", "scim.server.operations") && Contains("/v1/traces", "scim.create") && Contains("/v1/traces", "scim.store.write")))
        {
            await Task.Delay(100);
        }

        Assert.True(Contains("/v1/metrics", "scim.server.operations"), "no OTLP metrics export with scim.server.operations: " + string.Join(", ", server.Received.Keys));
        Assert.True(Contains("/v1/traces", "scim.create"), "no OTLP span named scim.create");
        Assert.True(Contains("/v1/traces", "scim.store.write"), "no store write span under the create");
        Assert.False(Contains("/v1/traces", "otlp-"), "a span carries the userName");
    }

    private bool Contains(string path, string text) =>
        server.Received.TryGetValue(path, out var bodies) && bodies.Any(body => body.AsSpan().IndexOf(Encoding.UTF8.GetBytes(text)) >= 0);
}
