using System.Threading.RateLimiting;

using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

using Scim.Fast.Core.Discovery;
using Scim.Fast.Core.Errors;
using Scim.Fast.Core.Resources;
using Scim.Fast.Core.Schema;
using Scim.Fast.Server.Protocol;
using Scim.Fast.Storage.Resources;

namespace Scim.Fast.Server;

/// <summary>
/// Routes SCIM requests by hand (no MVC, no model binding, no endpoint routing: a few span
/// comparisons per request). <c>{BasePath}/…</c> serves the default tenant and
/// <c>/tenants/{name}{BasePath}/…</c> a named one; the bearer token decides which tenant a request may
/// act for, and a token of another tenant is 401 whether or not that tenant exists.
/// </summary>
internal sealed partial class ScimRequestHandler
{
    private const string TenantsPrefix = "/tenants/";

    private readonly ScimServerOptions _options;
    private readonly string _basePath;
    private readonly IReadOnlyList<ScimSchema> _schemas;
    private readonly BearerTokens _tokens;
    private readonly TenantDirectory _tenants;
    private readonly IResourceEndpoint[] _endpoints;
    private readonly BulkHandler _bulk;
    private readonly RootSearch _rootSearch;
    private readonly PartitionedRateLimiter<int>? _limiter;

    public ScimRequestHandler(ScimServerOptions options, BearerTokens tokens, TenantDirectory tenants, IResourceStore store)
    {
        _options = options;
        _basePath = options.BasePath;
        _publicBaseUrl = string.IsNullOrEmpty(options.PublicBaseUrl) ? null : options.PublicBaseUrl.TrimEnd('/');
        _schemas = ScimDiscoveryWriter.DistinctSchemas(ScimResourceTypes.All);
        _tokens = tokens;
        _tenants = tenants;
        Users = new UserEndpoint(store, options.Limits);
        Groups = new GroupEndpoint(store, options.Limits);
        Tenants = tenants;
        _endpoints = [Users, Groups];
        Idempotency = new IdempotencyKeys(store, TimeSpan.FromHours(options.Limits.IdempotencyRetentionHours));
        Users.Idempotency = Idempotency;
        Groups.Idempotency = Idempotency;
        Groups.Scans = Users.Scans;
        Users.Cursors = Groups.Cursors = Cursors.Load(options.CursorKey, Path.GetFullPath(options.DataDirectory));
        _bulk = new BulkHandler(_endpoints, options.Limits, Idempotency);
        _rootSearch = new RootSearch(_endpoints, options.Limits, Users.Cursors);
        Features = FeaturesOf(options);
        if (options.Limits.RequestsPerSecondPerToken > 0)
        {
            // One token bucket per token; buckets idle for a while are dropped by the limiter.
            var limits = options.Limits;
            _limiter = PartitionedRateLimiter.Create<int, int>(slot => RateLimitPartition.GetTokenBucketLimiter(slot, _ => new TokenBucketRateLimiterOptions
            {
                TokenLimit = limits.RequestBurstPerToken,
                TokensPerPeriod = limits.RequestsPerSecondPerToken,
                ReplenishmentPeriod = TimeSpan.FromSeconds(1),
                QueueLimit = 0,
                AutoReplenishment = true,
            }));
        }

        FailedAuthentications = new FailedAuthentications(options.Limits.FailedAuthenticationsPerMinutePerAddress);
    }

    /// <summary>Failed authentications per address, shared with the administration API and /metrics.</summary>
    internal FailedAuthentications FailedAuthentications { get; }

    internal UserEndpoint Users { get; }

    internal GroupEndpoint Groups { get; }

    /// <summary>
    /// Marks the indexes the store lacks (its catalogue grew since it was written) so queries on
    /// them scan, then builds them in the background; call before serving requests.
    /// </summary>
    internal Task StartIndexBuilds(ILogger logger, CancellationToken cancellationToken)
    {
        Users.PrepareIndexes();
        Groups.PrepareIndexes();
        return Task.Run(async () =>
        {
            try
            {
                await Users.BuildIndexesAsync(AllTenants(), logger, cancellationToken).ConfigureAwait(false);
                await Groups.BuildIndexesAsync(AllTenants(), logger, cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                logger.LogInformation("Index build stopped with the server; it starts over on the next start");
            }
            catch (Exception e)
            {
                logger.LogError(e, "Index build failed; queries on the indexes not built keep scanning");
            }
        }, CancellationToken.None);
    }

    // Every tenant with data: the default one and each registered name (read when first walked,
    // after the ordered indexes, which hold the registry, have loaded).
    private IEnumerable<TenantId> AllTenants()
    {
        yield return TenantId.Default;
        foreach (var name in Tenants.Names.ToList())
        {
            if (Tenants.TryGet(name, out var tenant))
            {
                yield return tenant;
            }
        }
    }

    internal TenantDirectory Tenants { get; }

    /// <summary>Idempotency-Key records (POST /Users, /Groups, /Bulk).</summary>
    internal IdempotencyKeys Idempotency { get; }

    /// <summary>
    /// HttpContext.Items key of who sent a request: a stable identity of its token (a static token's
    /// hash prefix, or a JWT's issuer and subject), never the token. Idempotency keys are scoped by it.
    /// </summary>
    internal const string PrincipalKey = "scim.principal";

    // A static token's principal, made once per thread and token rather than per request.
    [ThreadStatic] private static (int Slot, string? Principal) t_tokenPrincipal;

    private static string TokenPrincipal(int slot)
    {
        var last = t_tokenPrincipal;
        if (last.Slot != slot || last.Principal is null)
        {
            last = (slot, "token:" + slot.ToString("x8", System.Globalization.CultureInfo.InvariantCulture));
            t_tokenPrincipal = last;
        }

        return last.Principal;
    }

    /// <summary>
    /// What this server supports, and so what /ServiceProviderConfig says (RFC 7643 §5), built from
    /// the same options that enforce it.
    /// </summary>
    public ScimFeatures Features { get; }

    public static ScimFeatures FeaturesOf(ScimServerOptions options) => new()
    {
        Patch = true,
        Bulk = true,
        BulkMaxOperations = options.Limits.BulkMaxOperations,
        BulkMaxPayloadSize = options.Limits.BulkMaxPayloadBytes,
        Filter = true,
        FilterMaxResults = options.Limits.MaxCount,
        ChangePassword = false,
        Sort = true,
        ETag = true,
        BearerTokens = true,
        CursorPagination = true,
        IndexPagination = true,
        DefaultPageSize = options.Limits.DefaultCount,
        SecurityEventUris = options.Events.Enabled ? Scim.Fast.Events.EventUris.Supported : null,
    };

    public Task HandleAsync(HttpContext context)
    {
        // SCIM answers hold personal data and change with every write: no cache may keep them.
        context.Response.Headers.CacheControl = "no-store";
        var route = Resolve(context);
        if (!Telemetry.ScimMetrics.Enabled)
        {
            return Dispatch(context, route);
        }

        // One span and one operation record per SCIM request (README, "Operations").
        long started = System.Diagnostics.Stopwatch.GetTimestamp();
        string resourceType = route.Endpoint?.ResourceType.Name ?? "-";
        string operation = OperationName(route.Target, context.Request.Method);
        var activity = Telemetry.ScimMetrics.Source.HasListeners() ? Telemetry.ScimMetrics.Source.StartActivity("scim." + operation) : null;
        activity?.SetTag("scim.operation", operation);
        activity?.SetTag("scim.resource_type", resourceType);
        var handled = Dispatch(context, route);
        if (handled.IsCompletedSuccessfully)
        {
            Completed(context, route, resourceType, operation, started, activity);
            return handled;
        }

        return AwaitCompletedAsync(handled, context, route, resourceType, operation, started, activity);
    }

    private static async Task AwaitCompletedAsync(Task handled, HttpContext context, Route route, string resourceType, string operation, long started, System.Diagnostics.Activity? activity)
    {
        try
        {
            await handled.ConfigureAwait(false);
        }
        catch
        {
            // The host answers 500 for what escaped (or cuts a response already under way).
            Completed(context, route, resourceType, operation, started, activity, failed: true);
            throw;
        }

        Completed(context, route, resourceType, operation, started, activity);
    }

    private static void Completed(HttpContext context, Route route, string resourceType, string operation, long started, System.Diagnostics.Activity? activity, bool failed = false)
    {
        int status = failed ? StatusCodes.Status500InternalServerError : context.Response.StatusCode;

        // The tenant label only once the request authenticated for it: a name from the URL alone
        // would let anyone fill the label slots with made-up tenants.
        string? tenant = context.Items.TryGetValue(RequestLog.TenantKey, out var name) ? name as string : null;
        Telemetry.ScimMetrics.RecordOperation(tenant, resourceType, operation, status, started);
        if (activity is not null)
        {
            activity.SetTag("http.response.status_code", status);
            if (status >= 500)
            {
                activity.SetStatus(System.Diagnostics.ActivityStatusCode.Error);
            }

            activity.Dispose();
        }
    }

    // The operation a request is, by target and method: what metrics and spans are named by.
    private static string OperationName(Target target, string method) => target switch
    {
        Target.Collection => HttpMethods.IsPost(method) ? "create" : "list",
        Target.Item => method switch
        {
            "GET" or "HEAD" => "get",
            "PUT" => "replace",
            "PATCH" => "patch",
            "DELETE" => "delete",
            _ => "other",
        },
        Target.Search or Target.RootSearch => "search",
        Target.Bulk => "bulk",
        Target.ServiceProviderConfig or Target.ResourceTypes or Target.Schemas => "discovery",
        Target.Me => "me",
        Target.Events or Target.EventKeys => "events",
        _ => "not_found",
    };

    private Task Dispatch(HttpContext context, Route route)
    {
        return route.Target switch
        {
            Target.NotFound => ScimResponses.Error(context, StatusCodes.Status404NotFound, "No SCIM endpoint at this path."),
            // Discovery (RFC 7644 §4) describes the server, not a tenant's data: no token needed.
            Target.ServiceProviderConfig => OnlyGet(context, () => ScimResponses.Json(context, w => ScimDiscoveryWriter.WriteServiceProviderConfig(w, Features, route.BaseUrl))),
            Target.ResourceTypes => OnlyGet(context, () => ResourceTypes(context, route.Id, route.BaseUrl)),
            Target.Schemas => OnlyGet(context, () => Schemas(context, route.Id, route.BaseUrl)),
            Target.EventKeys => OnlyGet(context, () => Events!.WriteJwksAsync(context)),
            _ => HandleTenantRequestAsync(context, route),
        };
    }

    // Everything below reads or writes a tenant's directory: the token must belong to that tenant.
    private async Task HandleTenantRequestAsync(HttpContext context, Route route)
    {
        // An address that failed too often is refused before its token is even looked at.
        if (await FailedAuthentications.RefuseIfThrottledAsync(context).ConfigureAwait(false))
        {
            return;
        }

        int tokenSlot;
        if (Authenticate(context, route.TenantName, out tokenSlot))
        {
            context.Items[PrincipalKey] = TokenPrincipal(tokenSlot);
        }
        else if (!(_options.Jwt.Enabled && (tokenSlot = await AuthenticateJwtAsync(context, route.TenantName).ConfigureAwait(false)) >= 0))
        {
            if (tokenSlot == InsufficientScope)
            {
                // RFC 6750 §3.1: a valid token without the scope the resource needs.
                context.Response.Headers.WWWAuthenticate = $"Bearer realm=\"scim\", error=\"insufficient_scope\", scope=\"{_options.Jwt.RequiredScope}\"";
                Telemetry.ScimMetrics.RecordRejected("forbidden");
                await ScimResponses.Error(context, StatusCodes.Status403Forbidden, $"The access token lacks the scope '{_options.Jwt.RequiredScope}'.").ConfigureAwait(false);
                return;
            }

            FailedAuthentications.Record(context);

            context.Response.Headers.WWWAuthenticate = "Bearer realm=\"scim\"";
            await ScimResponses.Error(context, StatusCodes.Status401Unauthorized, "A valid bearer token for this tenant is required.").ConfigureAwait(false);
            return;
        }

        if (!TryAcquireRate(tokenSlot, out var retryAfter))
        {
            context.Response.Headers.RetryAfter = Math.Max(1, (int)Math.Ceiling(retryAfter.TotalSeconds)).ToString(System.Globalization.CultureInfo.InvariantCulture);
            Telemetry.ScimMetrics.RecordRejected("rate_limited");
            await ScimResponses.Error(context, new ScimError(StatusCodes.Status429TooManyRequests, ScimErrorType.None, "Too many requests for this token; retry after the time in Retry-After.")).ConfigureAwait(false);
            return;
        }

        var tenant = route.TenantName is null ? TenantId.Default : await _tenants.GetOrAddAsync(route.TenantName).ConfigureAwait(false);
        context.Items[RequestLog.TenantKey] = route.TenantName ?? "default";
        var scope = new ScimScope(tenant, route.BaseUrl, context.TraceIdentifier);
        switch (route.Target)
        {
            case Target.Collection:
                await route.Endpoint!.HandleCollectionAsync(context, scope).ConfigureAwait(false);
                break;
            case Target.Item:
                await route.Endpoint!.HandleItemAsync(context, scope, route.Id!).ConfigureAwait(false);
                break;
            case Target.Search:
                // RFC 7644 §3.4.3: POST {endpoint}/.search.
                if (!HttpMethods.IsPost(context.Request.Method))
                {
                    context.Response.Headers.Allow = "POST";
                    await ScimResponses.Error(context, StatusCodes.Status405MethodNotAllowed, ".search only answers POST.").ConfigureAwait(false);
                    break;
                }

                await route.Endpoint!.HandleSearchAsync(context, scope).ConfigureAwait(false);
                break;
            case Target.Bulk:
                await _bulk.HandleAsync(context, scope).ConfigureAwait(false);
                break;
            case Target.Events:
                await Events!.HandleAsync(context, scope, route.Id!).ConfigureAwait(false);
                break;
            case Target.Me:
                // RFC 7644 §3.11: /Me needs a token bound to a user; these tokens are bound to tenants.
                await ScimResponses.Error(context, StatusCodes.Status501NotImplemented, "/Me is not supported: bearer tokens here identify a provisioning client, not a user.").ConfigureAwait(false);
                break;
            default:
                if (!HttpMethods.IsPost(context.Request.Method))
                {
                    context.Response.Headers.Allow = "POST";
                    await ScimResponses.Error(context, StatusCodes.Status405MethodNotAllowed, ".search only answers POST.").ConfigureAwait(false);
                    break;
                }

                await RequestBodies.WithBodyAsync(context, _options.Limits.MaxBodyBytes, body => RootSearchAsync(context, scope, body)).ConfigureAwait(false);
                break;
        }
    }

    /// <summary>POST /.search (RFC 7644 §3.4.3): <see cref="RootSearch"/>, written as one ListResponse.</summary>
    private async Task RootSearchAsync(HttpContext context, ScimScope scope, System.Buffers.ReadOnlySequence<byte> body)
    {
        if (!ListQuery.TryFromSearchRequest(body, out var query, out var error))
        {
            await ScimResponses.Error(context, error).ConfigureAwait(false);
            return;
        }

        if (_rootSearch.Search(scope, query, out var page) is { } searchError)
        {
            await ScimResponses.Error(context, searchError).ConfigureAwait(false);
            return;
        }

        var response = context.Response;
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = ScimResponses.MediaType;
        await RootSearch.WriteAsync(context, scope, page).ConfigureAwait(false);
    }

    private static Task OnlyGet(HttpContext context, Func<Task> handle)
    {
        if (HttpMethods.IsGet(context.Request.Method) || HttpMethods.IsHead(context.Request.Method))
        {
            // RFC 7644 §4: these endpoints do not filter, and "if a 'filter' is provided, the service
            // provider SHOULD respond with HTTP status code 403 (Forbidden) to ensure that clients
            // cannot incorrectly assume that any matching conditions specified in a filter are true".
            if (context.Request.Query.ContainsKey("filter"))
            {
                return ScimResponses.Error(context, new ScimError(StatusCodes.Status403Forbidden, ScimErrorType.None,
                    "Discovery endpoints do not support filtering (RFC 7644 §4): ask without 'filter' and select on your side."));
            }

            return handle();
        }

        // RFC 7644 §4: the discovery endpoints are read-only.
        context.Response.Headers.Allow = "GET, HEAD";
        return ScimResponses.Error(context, StatusCodes.Status405MethodNotAllowed, "Discovery endpoints only answer GET.");
    }

    private static Task ResourceTypes(HttpContext context, string? id, string baseUrl)
    {
        if (id is null)
        {
            return ScimResponses.Json(context, w => ScimDiscoveryWriter.WriteListResponse(w, ScimResourceTypes.All, (x, r) => ScimDiscoveryWriter.WriteResourceType(x, r, baseUrl)));
        }

        foreach (var resourceType in ScimResourceTypes.All)
        {
            if (string.Equals(resourceType.Id, id, StringComparison.OrdinalIgnoreCase))
            {
                return ScimResponses.Json(context, w => ScimDiscoveryWriter.WriteResourceType(w, resourceType, baseUrl));
            }
        }

        return ScimResponses.Error(context, StatusCodes.Status404NotFound, "No such resource type.");
    }

    private Task Schemas(HttpContext context, string? id, string baseUrl)
    {
        if (id is null)
        {
            return ScimResponses.Json(context, w => ScimDiscoveryWriter.WriteListResponse(w, _schemas, (x, s) => ScimDiscoveryWriter.WriteSchema(x, s, baseUrl)));
        }

        foreach (var schema in _schemas)
        {
            if (string.Equals(schema.Id, id, StringComparison.OrdinalIgnoreCase))
            {
                return ScimResponses.Json(context, w => ScimDiscoveryWriter.WriteSchema(w, schema, baseUrl));
            }
        }

        return ScimResponses.Error(context, StatusCodes.Status404NotFound, "No such schema.");
    }
}
