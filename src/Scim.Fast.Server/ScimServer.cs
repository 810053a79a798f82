using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.IdentityModel.Tokens;

using Scim.Fast.Storage.Kv;
using Scim.Fast.Storage.Log;
using Scim.Fast.Storage.Resources;

namespace Scim.Fast.Server;

/// <summary>Builds the Scim.Fast web application; Program.cs and the tests both start it from here.</summary>
public static class ScimServer
{
    /// <summary>Where the server listens when neither --urls nor ASPNETCORE_URLS says otherwise.</summary>
    public const string DefaultUrl = "http://127.0.0.1:8080";

    /// <param name="args">Command-line arguments (ASP.NET Core configuration conventions).</param>
    /// <param name="configure">A first say over the builder, before options are read (extra configuration sources).</param>
    public static WebApplication Create(string[] args, Action<WebApplicationBuilder>? configure = null) => Create(args, configure, toolTokens: null);

    /// <param name="toolTokens">
    /// The scim-fast tool's embedded server: one-time tokens held in memory (tenant null = default,
    /// <see cref="BearerTokens.AdminTenant"/> = the admin API), and no token generated or removed in
    /// the data directory (the real server's tokens stay as they are).
    /// </param>
    internal static WebApplication Create(string[] args, Action<WebApplicationBuilder>? configure, IReadOnlyList<(string? Tenant, string Token)>? toolTokens)
    {
        // 1. Configuration: appsettings.json, environment variables, command line (ASP.NET Core order).
        // appsettings.json is read from next to the binaries; relative paths in it (DataDirectory) are
        // taken from the directory the server was started in.
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory });
        configure?.Invoke(builder);
        var options = new ScimServerOptions();
        builder.Configuration.GetSection("Scim").Bind(options);
        options.Validate();
        string dataDirectory = Path.GetFullPath(options.DataDirectory);

        // 2. Kestrel on loopback by default: exposing the server is a deliberate --urls choice.
        if (string.IsNullOrEmpty(builder.Configuration[WebHostDefaults.ServerUrlsKey]))
        {
            builder.WebHost.UseUrls(DefaultUrl);
        }

        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            // Our own checks answer 413 with a SCIM error (after reading and dropping the rest of the
            // body, so the client sees it); Kestrel's limit bounds how much is dropped.
            kestrel.Limits.MaxRequestBodySize = Math.Max(32L << 20, 4L * Math.Max(options.Limits.MaxBodyBytes, options.Limits.BulkMaxPayloadBytes));
            kestrel.AddServerHeader = false;
            kestrel.Limits.MinRequestBodyDataRate = new MinDataRate(options.Limits.MinBodyBytesPerSecond, TimeSpan.FromSeconds(options.Limits.BodyGraceSeconds));
            kestrel.Limits.RequestHeadersTimeout = TimeSpan.FromSeconds(options.Limits.HeadersTimeoutSeconds);
        });

        // Some embedded-store reads of records evicted to disk wait synchronously for their IO (their
        // completion no longer needs a pool thread: the file device reads and writes on threads of
        // its own), and the Redis client's callers wait on pool threads: threads up to this minimum
        // start without delay (Scim:MinThreads, 8 or 128 by store).
        ThreadPool.GetMinThreads(out int workers, out int completions);
        int minThreads = options.EffectiveMinThreads;
        ThreadPool.SetMinThreads(Math.Max(workers, minThreads), Math.Max(completions, minThreads));

        // 3. The store: the embedded one (FASTER + write-ahead log under the data directory, recovered
        // on open) by default, or a Redis Cluster shared by any number of hosts (issue 16).
        try
        {
            Directory.CreateDirectory(dataDirectory);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ScimStartException($"the data directory {Path.GetFullPath(dataDirectory)} cannot be created: {e.Message} (Scim:DataDirectory)", e);
        }

        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        IResourceStore store = OpenStore(options, dataDirectory, started.Task);
        builder.Services.AddSingleton(store);
        if (store is ResourceStore embeddedStore)
        {
            builder.Services.AddSingleton(embeddedStore);
        }

        string storeTimings = store is ResourceStore opened ? opened.OpenTimings : store.Backend;

        // 4. Bearer tokens: configured ones, or one generated on first start and shown once.
        string? generatedToken = toolTokens is null ? BearerTokens.GenerateDefaultTokenIfNeeded(options, dataDirectory) : null;
        // 4a. SCIM events: writes record their change, streams deliver it as signed SETs.
        Scim.Fast.Events.SetSigner? signer = options.Events.Enabled
            ? Scim.Fast.Events.SetSigner.Open(Path.Combine(dataDirectory, "event-keys"), options.Events.SigningKeyFile)
            : null;
        var tokens = new BearerTokens();
        tokens.Load(options, dataDirectory);
        foreach (var (tenant, token) in toolTokens ?? [])
        {
            tokens.AddToolToken(token, tenant);
        }

        // 5. Optional JWT bearer validation; invoked by the handler only for tokens that are not static ones.
        if (options.Jwt.Enabled)
        {
            builder.Services.AddAuthentication().AddJwtBearer(JwtBearerDefaults.AuthenticationScheme, jwt =>
            {
                jwt.Authority = options.Jwt.Authority;
                jwt.Audience = options.Jwt.Audience;
                jwt.MapInboundClaims = false;
                jwt.TokenValidationParameters = new TokenValidationParameters
                {
                    ValidIssuer = options.Jwt.Issuer,
                    ValidateIssuer = true,
                    ValidAudience = options.Jwt.Audience,
                    ValidateAudience = true,
                    ValidateLifetime = true,
                    RequireExpirationTime = true,
                    ClockSkew = TimeSpan.FromMinutes(1),
                    IssuerSigningKeys = [.. options.Jwt.SigningKeys.Select(k => new SymmetricSecurityKey(Convert.FromBase64String(k)))],

                    // Only the algorithms the keys are for: no "none", no key confusion (an RSA
                    // public key used as an HMAC secret).
                    ValidAlgorithms = options.Jwt.Algorithms.Count > 0 ? options.Jwt.Algorithms
                        : options.Jwt.SigningKeys.Count > 0
                            ? [SecurityAlgorithms.HmacSha256, SecurityAlgorithms.HmacSha384, SecurityAlgorithms.HmacSha512]
                            : [SecurityAlgorithms.RsaSha256, SecurityAlgorithms.RsaSha384, SecurityAlgorithms.RsaSha512,
                               SecurityAlgorithms.RsaSsaPssSha256, SecurityAlgorithms.RsaSsaPssSha384, SecurityAlgorithms.RsaSsaPssSha512,
                               SecurityAlgorithms.EcdsaSha256, SecurityAlgorithms.EcdsaSha384, SecurityAlgorithms.EcdsaSha512],
                };
            });
        }

        var tenantDirectory = new TenantDirectory(store);
        var handler = new ScimRequestHandler(options, tokens, tenantDirectory, store);
        builder.Services.AddSingleton(handler);

        // 6a. Metrics and traces (OpenTelemetry): Prometheus at /metrics, OTLP when configured.
        Telemetry.OpenTelemetrySetup.Add(builder, options);

        var app = builder.Build();
        Scim.Fast.Events.StreamRegistry? streams = null;
        if (signer is not null)
        {
            var sets = new Scim.Fast.Events.SetFactory(signer, new Dictionary<byte, string> { [Protocol.StoreTypes.User] = "Users", [Protocol.StoreTypes.Group] = "Groups" });
            streams = new Scim.Fast.Events.StreamRegistry(store, sets, options.Events, app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Scim.Fast.Events"));
            streams.Load();
            handler.Users.EventsEnabled = handler.Groups.EventsEnabled = true;
            if (streams.KnowsEveryStream)
            {
                // A new stream starts at the feed's head: a tenant without one needs no changes recorded.
                handler.Users.RecordsEventsOf = handler.Groups.RecordsEventsOf = streams.Records;
            }
            handler.Events = new Events.EventEndpoints(streams, options.Limits.MaxBodyBytes, app.Lifetime.ApplicationStopping);
        }

        // 6. A deadline per request (RequestDeadlines): the handlers pass RequestAborted to body
        // reads, lock waits and flushes, so a request stuck past it ends as a SCIM 503, not a hang.
        if (options.Limits.RequestTimeoutSeconds > 0)
        {
            var deadlines = new RequestDeadlines(
                TimeSpan.FromSeconds(options.Limits.RequestTimeoutSeconds),
                // Written without the request's token: the deadline has just cancelled it.
                context => ScimResponses.Error(context, new Scim.Fast.Core.Errors.ScimError(
                    StatusCodes.Status503ServiceUnavailable, Scim.Fast.Core.Errors.ScimErrorType.None, "The request took longer than the server's request timeout."), CancellationToken.None));
            app.Use(deadlines.InvokeAsync);
        }

        var tokenWatch = tokens.ReloadOn(app.Configuration, dataDirectory, app.Logger);
        app.Lifetime.ApplicationStopped.Register(tokenWatch.Dispose);
        var admin = new Admin.TenantAdmin(handler, tokens, store, enabled: options.AdminTokens.Count > 0 || (toolTokens?.Any(t => t.Tenant == BearerTokens.AdminTenant) ?? false), dataDirectory, app.Lifetime.ApplicationStopping);
        var requestLogger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Scim.Fast.Requests");
        Telemetry.OpenTelemetrySetup.Map(app, options, tokens, handler.FailedAuthentications);
        var storeGauges = options.Metrics.Enabled ? Telemetry.ScimMetrics.ObserveStore(store, () => Tenants(tenantDirectory)) : null;

        // 6b. A shared backend can be briefly unable to answer (a failover, a replica late to
        // confirm): such a request ends as a SCIM 503 with Retry-After, never a 500 (RFC 7644 §3.12).
        // The embedded store never throws this, so its requests skip the extra step.
        if (store is not ResourceStore)
        {
            app.Use(async (context, next) =>
            {
                try
                {
                    await next(context).ConfigureAwait(false);
                }
                catch (StoreUnavailableException e) when (!context.Response.HasStarted)
                {
                    app.Logger.LogWarning("Store unavailable for {Method} {Path}: {Reason}", context.Request.Method, RequestLog.Printable(context.Request.Path.Value), e.Message);
                    var body = context.Response.BodyWriter;
                    if (!body.CanGetUnflushedBytes || body.UnflushedBytes > 0)
                    {
                        // Part of an answer is already written (a list streams as it reads): it cannot
                        // be taken back, so the connection ends and the client sees no half answer.
                        context.Abort();
                        return;
                    }

                    context.Response.Clear();
                    context.Response.Headers.CacheControl = "no-store";
                    context.Response.Headers.RetryAfter = e.RetryAfterSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
                    await ScimResponses.Error(context, new Scim.Fast.Core.Errors.ScimError(
                        StatusCodes.Status503ServiceUnavailable, Scim.Fast.Core.Errors.ScimErrorType.None, "The store is unavailable for a moment (" + e.Message + "); retry.")).ConfigureAwait(false);
                }
            });
        }

        // 6c. A fault no handler expected answers as a SCIM 500 with the request id (UnexpectedFailures).
        app.Use(new UnexpectedFailures(app.Logger).InvokeAsync);

        // 7. A liveness probe outside the SCIM base path; everything else is SCIM, routed by hand.
        app.Run(context =>
        {
            if (context.Request.Path.Equals("/healthz", StringComparison.Ordinal))
            {
                context.Response.ContentType = "text/plain";
                return context.Response.WriteAsync("ok");
            }

            // Readiness for load balancers: 503 while the ordered indexes load after a restart (lists,
            // sorts and cursors would wait) and after the store stopped (fail-stop).
            if (context.Request.Path.Equals("/readyz", StringComparison.Ordinal))
            {
                return Readiness.WriteAsync(context, store, handler);
            }

            // SSF transmitter metadata (OpenID SSF 1.0 §7.1): inserted before the issuer's path.
            if (handler.Events is not null && context.Request.Path.StartsWithSegments(Events.EventEndpoints.WellKnown, StringComparison.Ordinal, out var issuerPath))
            {
                return handler.EventsMetadataAsync(context, issuerPath);
            }

            // The operator's tenant API, outside the SCIM base path.
            if (Admin.TenantAdmin.IsAdminPath(context.Request.Path))
            {
                return RequestLog.RunAsync(context, admin.HandleAsync, requestLogger);
            }

            return RequestLog.RunAsync(context, handler.HandleAsync, requestLogger);
        });

        // 8. Background checkpoints bound how much log a restart replays; shutdown takes a last one
        // after Kestrel has drained in-flight requests, so restart is quick and nothing acknowledged
        // is lost (the log already holds every acknowledged write).
        var indexBuildStop = new CancellationTokenSource();
        var indexBuild = handler.StartIndexBuilds(app.Logger, indexBuildStop.Token);
        var checkpoints = new CancellationTokenSource();
        var checkpointLoop = Task.Run(() => CheckpointLoopAsync(store, handler.Idempotency, TimeSpan.FromSeconds(options.CheckpointIntervalSeconds), options.Events, app.Logger, checkpoints.Token));
        app.Lifetime.ApplicationStopped.Register(() =>
        {
            storeGauges?.Dispose();
            indexBuildStop.Cancel();
            indexBuild.GetAwaiter().GetResult();
            checkpoints.Cancel();
            checkpointLoop.GetAwaiter().GetResult();
            streams?.DisposeAsync().AsTask().GetAwaiter().GetResult();
            signer?.Dispose();
            try
            {
                (store as ResourceStore)?.CheckpointAsync().GetAwaiter().GetResult();
            }
            catch (Exception e)
            {
                app.Logger.LogError(e, "Checkpoint at shutdown failed; the log still holds every acknowledged write");
            }

            store.DisposeAsync().AsTask().GetAwaiter().GetResult();
        });

        app.Lifetime.ApplicationStarted.Register(() =>
        {
            started.TrySetResult();
            app.Logger.LogInformation("Scim.Fast listening on {Urls}, SCIM base path {BasePath}, data in {DataDirectory} (ordered indexes {Source})",
                string.Join(", ", app.Urls), options.BasePath, dataDirectory, store is not ResourceStore { } e ? "kept by " + store.Backend : e.OrderedIndexesFromSnapshot ? "loaded from the checkpoint's snapshot" : "rebuilt");
            app.Logger.LogInformation("Store opened: {Timings}", storeTimings);
            if (options.Store == StoreBackend.Redis && options.Redis.ReplicaAcks == 0)
            {
                app.Logger.LogWarning("Scim:Redis:ReplicaAcks is 0: writes are acknowledged once their primary has them, and a primary lost before its replica copied them loses them (README, \"Scale-out on a Redis Cluster\")");
            }

            if (store is ResourceStore embedded && embedded.OrderedIndexesFromSnapshot)
            {
                _ = embedded.OrderedIndexesLoadAsync().ContinueWith(
                    // The snapshot is read while the key-value store recovers: the time is what was left after the log's recovery.
                    load => app.Logger.LogInformation("Ordered indexes ready: {Entries} entries, {Milliseconds} ms after the log recovered", load.Result.Entries, (long)load.Result.Took.TotalMilliseconds),
                    TaskContinuationOptions.OnlyOnRanToCompletion);
            }
            if (generatedToken is not null)
            {
                // Shown once, on the console only: the server keeps just its hash.
                Console.WriteLine();
                Console.WriteLine("No bearer token was configured, so one was generated for the default tenant.");
                Console.WriteLine("It is shown only this once (only its SHA-256 is kept, in " + Path.Combine(dataDirectory, BearerTokens.GeneratedTokenFile) + "):");
                Console.WriteLine();
                Console.WriteLine("    " + generatedToken);
                Console.WriteLine();
            }
        });
        return app;
    }

    private static IResourceStore OpenStore(ScimServerOptions options, string dataDirectory, Task started)
    {
        if (options.Store == StoreBackend.Redis)
        {
            try
            {
                return Scim.Fast.Storage.Redis.RedisResourceStore.Open(new Scim.Fast.Storage.Redis.RedisStoreOptions
                {
                    Configuration = options.Redis.Configuration,
                    ReplicaAcks = options.Redis.ReplicaAcks,
                    WaitTimeoutMilliseconds = options.Redis.WaitTimeoutMilliseconds,
                    KeyPrefix = options.Redis.KeyPrefix,
                });
            }
            catch (StackExchange.Redis.RedisConnectionException e)
            {
                // The client's own message is a page of diagnostics; the nodes and the innermost
                // cause are what an operator acts on. Never the configuration string: it may hold
                // the password.
                var nodes = StackExchange.Redis.ConfigurationOptions.Parse(options.Redis.Configuration!).EndPoints;
                throw new ScimStartException(
                    $"the Redis store cannot be reached at {string.Join(", ", nodes.Select(n => n is System.Net.DnsEndPoint dns ? $"{dns.Host}:{dns.Port}" : n.ToString()))} ({e.FailureType}: {e.GetBaseException().Message}). "
                    + "Check Scim:Redis:Configuration and that the cluster is up.", e);
            }
        }

        return ResourceStore.Open(Path.Combine(dataDirectory, "store"), new ResourceStoreOptions
        {
            Log = new WriteAheadLogOptions { Durability = options.Durability },
            KeyValue = new FasterByteStoreOptions { MemoryBytes = (long)options.MemoryBudgetMiB << 20, ReadCacheBytes = (long)options.ReadCacheMiB << 20 },

            // Once the host has started: allocated beside the host's own start-up (JIT, Kestrel),
            // the pages' faults put a restart's time to ready 0.3-0.5 s later.
            AllocatePagesAfter = started,
        });
    }

    // The tenants store gauges are reported for: the default one, then every named one.
    private static IEnumerable<(string Name, TenantId Id)> Tenants(TenantDirectory directory)
    {
        yield return ("default", TenantId.Default);
        foreach (string name in directory.Names)
        {
            if (directory.TryGet(name, out var id))
            {
                yield return (name, id);
            }
        }
    }

    private static async Task CheckpointLoopAsync(IResourceStore store, Protocol.IdempotencyKeys idempotency, TimeSpan interval, Scim.Fast.Events.EventOptions events, ILogger logger, CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(interval);
        long lastSweep = System.Diagnostics.Stopwatch.GetTimestamp();
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
            {
                // Idempotency-Key records past their retention, about once an hour (the sweep reads
                // every key of the store).
                if (System.Diagnostics.Stopwatch.GetElapsedTime(lastSweep) >= TimeSpan.FromHours(1))
                {
                    lastSweep = System.Diagnostics.Stopwatch.GetTimestamp();
                    try
                    {
                        int swept = await idempotency.SweepAsync(cancellationToken).ConfigureAwait(false);
                        logger.LogInformation("Idempotency-Key records past retention removed: {Count}", swept);
                    }
                    catch (Exception e) when (e is not OperationCanceledException)
                    {
                        logger.LogError(e, "Sweeping expired Idempotency-Key records failed; the next sweep retries");
                    }
                }

                // Change-feed entries past retention (one read per tenant when none is due).
                try
                {
                    long cutoff = DateTimeOffset.UtcNow.AddDays(-events.RetentionDays).ToUnixTimeMilliseconds();
                    long dropped = await store.Feed.SweepAsync(cutoff, cancellationToken).ConfigureAwait(false);
                    if (dropped > 0)
                    {
                        logger.LogInformation("Change-feed entries past retention removed: {Count}", dropped);
                    }
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    logger.LogError(e, "Sweeping the change feed failed; the next sweep retries");
                }

                if (store is not ResourceStore embedded)
                {
                    continue;
                }

                try
                {
                    long started = System.Diagnostics.Stopwatch.GetTimestamp();
                    await embedded.CheckpointAsync(cancellationToken).ConfigureAwait(false);
                    logger.LogInformation("Checkpoint taken in {Milliseconds:0} ms", System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalMilliseconds);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    logger.LogError(e, "Background checkpoint failed; the next one retries");
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }
}
