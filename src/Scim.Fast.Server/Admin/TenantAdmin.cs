using System.Buffers;
using System.Text.Json;

using Microsoft.AspNetCore.Http;

using Scim.Fast.Core.Errors;
using Scim.Fast.Core.Resources;
using Scim.Fast.Core.Serialization;
using Scim.Fast.Server.Protocol;
using Scim.Fast.Storage.Resources;

namespace Scim.Fast.Server.Admin;

/// <summary>
/// Tenants as a unit, for the operator (issue: "a tenant can be listed, exported and dropped"):
/// <list type="bullet">
/// <item>GET /admin/tenants: every tenant with its number and resource counts.</item>
/// <item>GET /admin/tenants/{name}/export: the tenant's Users then Groups (members included), one
/// SCIM resource per line (NDJSON), streamed.</item>
/// <item>DELETE /admin/tenants/{name}: starts a background job that deletes every resource of the
/// tenant (groups first, members and memberships with them), durably, one resource at a time; the
/// name keeps its number. 202 Accepted with the job's progress; GET /admin/tenants/{name}/drop
/// follows it. A DELETE while the job runs answers the same job.</item>
/// <item>GET /admin/verify: the store's consistency check, <c>{"problems": [...]}</c> (empty when clean).</item>
/// </list>
/// Only tokens from Scim:AdminTokens reach it; without any, the API does not exist (404). These
/// requests are not cut by the request deadline (an export of a million users takes longer).
/// "default" names the default tenant (it can be exported, not dropped).
/// </summary>
internal sealed class TenantAdmin(ScimRequestHandler handler, BearerTokens tokens, IResourceStore store, bool enabled, string dataDirectory, CancellationToken stopping = default)
{
    // Drop jobs by tenant number: the running one, or the last one's outcome (kept in memory only).
    private readonly System.Collections.Concurrent.ConcurrentDictionary<uint, DropJob> _drops = new();

    private const string Prefix = "/admin/tenants";

    private const string VerifyPath = "/admin/verify";

    private const string BackupPath = "/admin/backup";

    public static bool IsAdminPath(PathString path) =>
        path.StartsWithSegments(Prefix, StringComparison.Ordinal) || path.Equals(VerifyPath, StringComparison.Ordinal) || path.Equals(BackupPath, StringComparison.Ordinal);

    public async Task HandleAsync(HttpContext context)
    {
        if (!enabled)
        {
            await ScimResponses.Error(context, StatusCodes.Status404NotFound, "No endpoint at this path.").ConfigureAwait(false);
            return;
        }

        // Long operations of the operator's (exports, drops) are not requests an identity provider
        // waits on: the deadline that protects the server from stuck requests does not apply.
        RequestDeadlines.Disable(context);

        // Admin tokens reach every tenant's data: guesses count against the address like SCIM ones.
        if (await handler.FailedAuthentications.RefuseIfThrottledAsync(context).ConfigureAwait(false))
        {
            return;
        }

        if (!tokens.TryAuthenticate(context.Request, out string? tenant, out _) || tenant != BearerTokens.AdminTenant)
        {
            handler.FailedAuthentications.Record(context);
            context.Response.Headers.WWWAuthenticate = "Bearer realm=\"scim-admin\"";
            await ScimResponses.Error(context, StatusCodes.Status401Unauthorized, "An administration token is required.").ConfigureAwait(false);
            return;
        }

        if (context.Request.Path.Equals(BackupPath, StringComparison.Ordinal))
        {
            await (HttpMethods.IsGet(context.Request.Method) ? BackupAsync(context) : NotAllowed(context, "GET")).ConfigureAwait(false);
            return;
        }

        if (context.Request.Path.Equals(VerifyPath, StringComparison.Ordinal))
        {
            await (HttpMethods.IsGet(context.Request.Method) ? VerifyAsync(context) : NotAllowed(context, "GET")).ConfigureAwait(false);
            return;
        }

        var rest = context.Request.Path.Value!.AsSpan(Prefix.Length).Trim('/');
        if (rest.IsEmpty)
        {
            await (HttpMethods.IsGet(context.Request.Method) ? ListAsync(context) : NotAllowed(context, "GET")).ConfigureAwait(false);
            return;
        }

        int slash = rest.IndexOf('/');
        string name = (slash < 0 ? rest : rest[..slash]).ToString();
        string action = slash < 0 ? "" : rest[(slash + 1)..].ToString();
        if (!TryResolve(name, out var id))
        {
            await ScimResponses.Error(context, StatusCodes.Status404NotFound, $"No tenant '{name}'.").ConfigureAwait(false);
            return;
        }

        if (action == "export")
        {
            await (HttpMethods.IsGet(context.Request.Method) ? ExportAsync(context, id, name == "default" ? null : name) : NotAllowed(context, "GET")).ConfigureAwait(false);
        }
        else if (action.Length == 0 && HttpMethods.IsDelete(context.Request.Method))
        {
            if (name == "default")
            {
                await ScimResponses.Error(context, new ScimError(400, ScimErrorType.InvalidValue, "The default tenant cannot be dropped; delete its resources instead.")).ConfigureAwait(false);
                return;
            }

            await StartDropAsync(context, id).ConfigureAwait(false);
        }
        else if (action == "drop")
        {
            await (HttpMethods.IsGet(context.Request.Method) ? DropStatusAsync(context, id) : NotAllowed(context, "GET")).ConfigureAwait(false);
        }
        else
        {
            await ScimResponses.Error(context, StatusCodes.Status404NotFound, "No endpoint at this path.").ConfigureAwait(false);
        }
    }

    // A consistent copy of the data directory while writes go on (OnlineBackup), as tar.gz.
    private async Task BackupAsync(HttpContext context)
    {
        if (store is not ResourceStore embedded)
        {
            // A Redis Cluster is backed up with its own tools (RDB/AOF copies of each primary).
            await ScimResponses.Error(context, StatusCodes.Status501NotImplemented, "Online backup copies the embedded store's data directory; this server runs on " + store.Backend + ".").ConfigureAwait(false);
            return;
        }

        context.Response.ContentType = "application/gzip";
        context.Response.Headers.ContentDisposition = "attachment; filename=\"scim-fast-backup.tar.gz\"";
        await OnlineBackup.WriteAsync(embedded, dataDirectory, context.Response.Body, context.RequestAborted).ConfigureAwait(false);
    }

    // The store's consistency check (every resource against every index, both ways): a JSON list
    // of problems, empty when clean. Reads the whole store: minutes at millions of resources, and
    // gigabytes; so it ends when the client hangs up or the server stops (it used to run on: a
    // SIGTERM waited for it over 20 minutes at 1,000,000 users, a hung-up client's check too).
    private async Task VerifyAsync(HttpContext context)
    {
        using var ended = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, stopping);
        var problems = await Task.Run(() => store.Verify(ended.Token), ended.Token).ConfigureAwait(false);
        context.Response.ContentType = "application/json; charset=utf-8";
        using (var writer = new Utf8JsonWriter(context.Response.BodyWriter))
        {
            writer.WriteStartObject();
            writer.WriteStartArray("problems");
            foreach (var problem in problems)
            {
                writer.WriteStringValue(problem);
            }

            writer.WriteEndArray();
            writer.WriteEndObject();
        }

        await context.Response.BodyWriter.FlushAsync(context.RequestAborted).ConfigureAwait(false);
    }

    private bool TryResolve(string name, out TenantId id)
    {
        if (name == "default")
        {
            id = TenantId.Default;
            return true;
        }

        return handler.Tenants.TryGet(name, out id);
    }

    private async Task ListAsync(HttpContext context)
    {
        context.Response.ContentType = "application/json; charset=utf-8";
        using (var writer = new Utf8JsonWriter(context.Response.BodyWriter))
        {
            writer.WriteStartObject();
            writer.WriteStartArray("tenants");
            foreach (var (name, id) in Enumerable.Prepend(handler.Tenants.Names.Order(StringComparer.Ordinal).Select(n => (n, Id(n))), ("default", TenantId.Default)))
            {
                writer.WriteStartObject();
                writer.WriteString("name", name);
                writer.WriteNumber("number", id.Value);
                writer.WriteNumber("users", store.OrderedCount(id, StoreTypes.User, UserIndexes.Id));
                writer.WriteNumber("groups", store.OrderedCount(id, StoreTypes.Group, GroupIndexes.Id));
                writer.WriteEndObject();
            }

            writer.WriteEndArray();
            writer.WriteEndObject();
        }

        await context.Response.BodyWriter.FlushAsync(context.RequestAborted).ConfigureAwait(false);
    }

    private TenantId Id(string name) => handler.Tenants.TryGet(name, out var id) ? id : default;

    // NDJSON, streamed: each line a resource as GET returns it (so it can be re-imported by POST).
    private async Task ExportAsync(HttpContext context, TenantId tenant, string? tenantName)
    {
        context.Response.ContentType = "application/x-ndjson; charset=utf-8";

        // meta.location as the tenant's own SCIM requests would give it.
        var scope = new ScimScope(tenant, handler.BaseUrl(context.Request, tenantName));

        // Users flush every 256 lines, groups (members included, so larger) every 16.
        await ExportAsync(context, scope, handler.Users, flushEvery: 256).ConfigureAwait(false);
        await ExportAsync(context, scope, handler.Groups, flushEvery: 16).ConfigureAwait(false);
        await context.Response.BodyWriter.FlushAsync(context.RequestAborted).ConfigureAwait(false);
    }

    private async Task ExportAsync<T>(HttpContext context, ScimScope scope, ResourceEndpoint<T> endpoint, int flushEvery)
        where T : class, Scim.Fast.Core.Schema.IScimResource
    {
        var output = context.Response.BodyWriter;
        int written = 0;
        foreach (var id in AllIds(scope.Tenant, endpoint.StoreType))
        {
            if (endpoint.Load(scope, id) is { } loaded)
            {
                endpoint.PrepareForResponse(scope, loaded.Resource, ScimProjection.Default(endpoint.ResourceType));
                endpoint.Serializer.Write(output, loaded.Resource);
                output.Write("\n"u8);
            }

            if (++written % flushEvery == 0)
            {
                await output.FlushAsync(context.RequestAborted).ConfigureAwait(false);
            }
        }
    }

    private async Task StartDropAsync(HttpContext context, TenantId tenant)
    {
        DropJob job;
        lock (_drops)
        {
            // One job per tenant at a time (AddOrUpdate alone may run its factory twice).
            if (!_drops.TryGetValue(tenant.Value, out job!) || !job.Running)
            {
                job = StartDrop(tenant);
                _drops[tenant.Value] = job;
            }
        }

        context.Response.StatusCode = StatusCodes.Status202Accepted;
        context.Response.Headers.Location = context.Request.PathBase + context.Request.Path.Value!.TrimEnd('/') + "/drop";
        await WriteJobAsync(context, job).ConfigureAwait(false);
    }

    private async Task DropStatusAsync(HttpContext context, TenantId tenant)
    {
        if (!_drops.TryGetValue(tenant.Value, out var job))
        {
            await ScimResponses.Error(context, StatusCodes.Status404NotFound, "No drop of this tenant has been started since the server started.").ConfigureAwait(false);
            return;
        }

        await WriteJobAsync(context, job).ConfigureAwait(false);
    }

    private async Task WriteJobAsync(HttpContext context, DropJob job)
    {
        context.Response.ContentType = "application/json; charset=utf-8";
        using (var writer = new Utf8JsonWriter(context.Response.BodyWriter))
        {
            writer.WriteStartObject();
            writer.WriteString("state", job.State);
            writer.WriteNumber("deletedUsers", job.DeletedUsers);
            writer.WriteNumber("deletedGroups", job.DeletedGroups);
            writer.WriteNumber("remainingUsers", store.OrderedCount(job.Tenant, StoreTypes.User, UserIndexes.Id));
            writer.WriteNumber("remainingGroups", store.OrderedCount(job.Tenant, StoreTypes.Group, GroupIndexes.Id));
            if (job.Error is { } error)
            {
                writer.WriteString("error", error);
            }

            writer.WriteEndObject();
        }

        await context.Response.BodyWriter.FlushAsync(context.RequestAborted).ConfigureAwait(false);
    }

    /// <summary>One tenant drop running in the background: deletes resource by resource, counting.</summary>
    private sealed class DropJob
    {
        private volatile string _state = "running";
        private int _users;
        private int _groups;

        public DropJob(TenantId tenant) => Tenant = tenant;

        public TenantId Tenant { get; }

        public string State => _state;

        public bool Running => _state == "running";

        public int DeletedUsers => Volatile.Read(ref _users);

        public int DeletedGroups => Volatile.Read(ref _groups);

        public string? Error { get; private set; }

        public void Deleted(bool group) => Interlocked.Increment(ref group ? ref _groups : ref _users);

        public void End(string state, string? error = null)
        {
            Error = error;
            _state = state;
        }
    }

    private DropJob StartDrop(TenantId tenant)
    {
        var job = new DropJob(tenant);
        _ = Task.Run(() => RunDropAsync(job));
        return job;
    }

    private async Task RunDropAsync(DropJob job)
    {
        var scope = new ScimScope(job.Tenant, "");
        try
        {
            // Groups first: their member lists go with them, so users then leave no dangling id.
            foreach (var id in AllIds(job.Tenant, StoreTypes.Group).ToList())
            {
                stopping.ThrowIfCancellationRequested();
                if (await handler.Groups.DeleteAsync(scope, id, null, false, stopping).ConfigureAwait(false) is null)
                {
                    job.Deleted(group: true);
                }
            }

            foreach (var id in AllIds(job.Tenant, StoreTypes.User).ToList())
            {
                stopping.ThrowIfCancellationRequested();
                if (await handler.Users.DeleteAsync(scope, id, null, false, stopping).ConfigureAwait(false) is null)
                {
                    job.Deleted(group: false);
                }
            }

            job.End("completed");
        }
        catch (OperationCanceledException)
        {
            job.End("stopped", "The server stopped before the drop completed; drop the tenant again.");
        }
        catch (Exception e)
        {
            job.End("failed", e.Message);
        }
    }

    private IEnumerable<string> AllIds(TenantId tenant, byte type) =>
        store.Walk(tenant, type, type == StoreTypes.User ? UserIndexes.Id : GroupIndexes.Id).Select(static position => position.Id);

    private static Task NotAllowed(HttpContext context, string allow)
    {
        context.Response.Headers.Allow = allow;
        return ScimResponses.Error(context, StatusCodes.Status405MethodNotAllowed, "Method not allowed here.");
    }
}
