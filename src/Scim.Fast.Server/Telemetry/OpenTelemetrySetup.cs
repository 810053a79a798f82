using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

using Scim.Fast.Storage;

namespace Scim.Fast.Server.Telemetry;

/// <summary>
/// OpenTelemetry .NET over the server's and the store's meters and activity sources. Metrics:
/// always collected (unless Scim:Metrics:Enabled is false), scraped as Prometheus text at
/// <c>/metrics</c>, and pushed over OTLP when <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> is set (the
/// standard OTEL_* variables, read from configuration, so also --OTEL_...=… on the command line).
/// Traces only with OTLP: without an exporter nothing listens and spans cost nothing.
/// </summary>
internal static class OpenTelemetrySetup
{
    public const string MetricsPath = "/metrics";

    public static void Add(WebApplicationBuilder builder, ScimServerOptions options)
    {
        if (!options.Metrics.Enabled)
        {
            return;
        }

        ScimMetrics.MaxTenantLabels = options.Metrics.MaxTenantLabels;
        bool otlp = !string.IsNullOrEmpty(builder.Configuration["OTEL_EXPORTER_OTLP_ENDPOINT"]);
        var telemetry = builder.Services.AddOpenTelemetry()
            .ConfigureResource(resource => resource.AddService("scim-fast"))
            .WithMetrics(metrics =>
            {
                metrics.AddMeter(ScimMetrics.Name, StorageMetrics.Name, Scim.Fast.Events.EventMetrics.Name).AddPrometheusExporter();

                // The runtime's own (System.Runtime, .NET 9+): GC heap by generation, pause time,
                // thread-pool queue length, lock contentions. What a tail-latency investigation asks
                // first (issue 18) and what sizing a deployment needs (heap per stored user). All
                // observed at scrape time: nothing added per request.
                metrics.AddMeter("System.Runtime");

                // ASP.NET Core's own (http.server.request.duration, Kestrel connections) on request:
                // in one load-suite run each, GET by id ran at 0.72 of the bare-Kestrel baseline with
                // them, 0.82 without (0.85-0.88 with no metrics at all; runs here vary by about a
                // tenth), and scim.server.operation.duration carries the same timing.
                if (options.Metrics.AspNetCore)
                {
                    metrics.AddMeter("Microsoft.AspNetCore.Hosting", "Microsoft.AspNetCore.Server.Kestrel");
                }
            });
        if (otlp)
        {
            telemetry
                .WithTracing(tracing => tracing
                    .AddSource(ScimMetrics.Name, StorageMetrics.Name)
                    // No query strings in spans: filters carry user names.
                    .AddAspNetCoreInstrumentation(aspNetCore => aspNetCore.EnrichWithHttpRequest = (activity, _) => activity.SetTag("url.query", null)))
                .UseOtlpExporter();
        }
    }

    /// <summary>
    /// <c>/metrics</c>: Prometheus text for a token from Scim:AdminTokens (or anyone, with
    /// Scim:Metrics:AllowAnonymous); 401 with a bearer challenge otherwise; 404 when metrics are
    /// off or no admin token exists to guard them.
    /// </summary>
    public static void Map(WebApplication app, ScimServerOptions options, BearerTokens tokens, FailedAuthentications failedAuthentications)
    {
        if (!options.Metrics.Enabled)
        {
            return;
        }

        app.Use(async (context, next) =>
        {
            if (!context.Request.Path.Equals(MetricsPath, StringComparison.Ordinal))
            {
                await next(context).ConfigureAwait(false);
                return;
            }

            if (!options.Metrics.AllowAnonymous)
            {
                if (options.AdminTokens.Count == 0)
                {
                    await ScimResponses.Error(context, StatusCodes.Status404NotFound, "Metrics need Scim:AdminTokens (a scraper presents one) or Scim:Metrics:AllowAnonymous.").ConfigureAwait(false);
                    return;
                }

                // The scraper's token is an admin token: guesses count like any other (per address).
                if (await failedAuthentications.RefuseIfThrottledAsync(context).ConfigureAwait(false))
                {
                    return;
                }

                if (!tokens.TryAuthenticate(context.Request, out string? tenant, out _) || tenant != BearerTokens.AdminTenant)
                {
                    failedAuthentications.Record(context);
                    context.Response.Headers.WWWAuthenticate = "Bearer realm=\"scim-metrics\"";
                    await ScimResponses.Error(context, StatusCodes.Status401Unauthorized, "/metrics needs a token from Scim:AdminTokens.").ConfigureAwait(false);
                    return;
                }
            }

            await next(context).ConfigureAwait(false);
        });
        app.UseOpenTelemetryPrometheusScrapingEndpoint(context => context.Request.Path.Equals(MetricsPath, StringComparison.Ordinal));
    }
}
