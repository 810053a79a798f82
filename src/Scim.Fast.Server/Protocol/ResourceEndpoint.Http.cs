using System.Buffers;

using Microsoft.AspNetCore.Http;

using Scim.Fast.Core;
using Scim.Fast.Core.Errors;
using Scim.Fast.Core.Query;
using Scim.Fast.Core.Schema;
using Scim.Fast.Core.Serialization;

namespace Scim.Fast.Server.Protocol;

/// <summary>What the router and /Bulk see of a resource endpoint, whatever its resource type.</summary>
internal interface IResourceEndpoint
{
    string EndpointName { get; }

    ScimResourceType ResourceType { get; }

    Task HandleCollectionAsync(HttpContext context, ScimScope scope);

    Task HandleItemAsync(HttpContext context, ScimScope scope, string id);

    Task HandleSearchAsync(HttpContext context, ScimScope scope);

    /// <summary>
    /// Part of a root-level search (RFC 7644 §3.4.3): this type's matches, <paramref name="skip"/> then
    /// up to <paramref name="take"/> of them (written when the page is), and the total of this type's matches.
    /// </summary>
    ScimError? SearchSlice(ScimScope scope, ListQuery query, int skip, int take, out int total, out IRootSearchPart? part);

    /// <summary>
    /// Root /.search with a cursor: this type's page of at most <paramref name="take"/> from its own
    /// <paramref name="cursor"/> ("" for its first page), its total, and its cursor past the page
    /// (null at its end).
    /// </summary>
    ScimError? SearchCursorPage(ScimScope scope, ListQuery query, string cursor, int take, out int total, out string? nextCursor, out IRootSearchPart? part);

    /// <summary>A run of /Bulk POSTs to this endpoint, through the store's batch path.</summary>
    ValueTask<BulkOperationResult[]> ExecuteBulkCreatesAsync(ScimScope scope, IReadOnlyList<ReadOnlySequence<byte>> bodies, CancellationToken cancellationToken, IReadOnlyList<string?>? transactions = null);

    /// <summary>One /Bulk operation (RFC 7644 §3.7): status, the resource's id and version, or an error.</summary>
    ValueTask<BulkOperationResult> ExecuteBulkAsync(ScimScope scope, string method, string? id, ReadOnlySequence<byte> data, string? version, CancellationToken cancellationToken);
}

internal readonly record struct BulkOperationResult(int Status, string? Id, long Version, ScimError? Error);

/// <summary>The HTTP side of a resource endpoint: status codes, headers and bodies of RFC 7644 §3.</summary>
internal abstract partial class ResourceEndpoint<T> : IResourceEndpoint
{
    /// <summary>Idempotency-Key handling of POST (null: the header is ignored).</summary>
    public IdempotencyKeys? Idempotency { get; set; }

    public async Task HandleCollectionAsync(HttpContext context, ScimScope scope)
    {
        var request = context.Request;
        if (InvalidProjection(request) is { } projectionError)
        {
            await ScimResponses.Error(context, projectionError).ConfigureAwait(false);
            return;
        }

        if (HttpMethods.IsGet(request.Method) || HttpMethods.IsHead(request.Method))
        {
            if (!ListQuery.TryFromQuery(request.Query, out var query, out var error))
            {
                await ScimResponses.Error(context, error).ConfigureAwait(false);
                return;
            }

            await ListAsync(context, scope, query).ConfigureAwait(false);
            return;
        }

        if (HttpMethods.IsPost(request.Method))
        {
            if (!IdempotencyKeys.TryReadKey(request, out var key, out var keyError))
            {
                await ScimResponses.Error(context, keyError).ConfigureAwait(false);
                return;
            }

            await WithBodyAsync(context, Limits.MaxBodyBytes, async body =>
            {
                if (key is null || Idempotency is null)
                {
                    var outcome = await CreateAsync(scope, body, context.RequestAborted).ConfigureAwait(false);
                    await WriteOutcomeAsync(context, scope, outcome, location: true).ConfigureAwait(false);
                    return;
                }

                await Idempotency.RunAsync(context, scope, key, body, async keyed =>
                {
                    var outcome = await CreateAsync(scope, body, context.RequestAborted, keyed, Projection(request)).ConfigureAwait(false);
                    if (keyed.Recorded is { } recorded)
                    {
                        // The create is durable with its record: answer exactly what a retry will get.
                        await IdempotencyKeys.WriteRecordedAsync(context, recorded).ConfigureAwait(false);
                        return;
                    }

                    await WriteOutcomeAsync(context, scope, outcome, location: true).ConfigureAwait(false);
                }).ConfigureAwait(false);
            }).ConfigureAwait(false);
            return;
        }

        context.Response.Headers.Allow = "GET, HEAD, POST";
        await ScimResponses.Error(context, StatusCodes.Status405MethodNotAllowed, $"{request.Method} is not allowed on /{EndpointName}.").ConfigureAwait(false);
    }

    public async Task HandleItemAsync(HttpContext context, ScimScope scope, string id)
    {
        var request = context.Request;
        if (InvalidProjection(request) is { } projectionError)
        {
            // Checked before any write: the answer to a write must not be the first to find it bad.
            await ScimResponses.Error(context, projectionError).ConfigureAwait(false);
            return;
        }

        var (expected, hasIfMatch) = IfMatch(request);
        if (HttpMethods.IsGet(request.Method) || HttpMethods.IsHead(request.Method))
        {
            var projection = Projection(request);
            if (ReferenceEquals(projection, ScimProjection.Default(ResourceType)) && _storedFormIsDefaultResponse)
            {
                await GetStoredAsync(context, scope, id).ConfigureAwait(false);
                return;
            }

            if (Load(scope, id) is not { } loaded)
            {
                await ScimResponses.Error(context, NotFound(id)).ConfigureAwait(false);
                return;
            }

            // RFC 7644 §3.14: If-None-Match with the current version → 304, no body.
            if (request.Headers.IfNoneMatch.ToString() is { Length: > 0 } ifNoneMatch
                && (ETags.Parse(ifNoneMatch) is not { } tag || tag == loaded.Version))
            {
                context.Response.StatusCode = StatusCodes.Status304NotModified;
                context.Response.Headers.ETag = ETags.Format(loaded.Version);
                return;
            }

            await WriteResourceAsync(context, scope, loaded.Resource, loaded.Version, 200, projection).ConfigureAwait(false);
            return;
        }

        if (HttpMethods.IsPut(request.Method))
        {
            await WithBodyAsync(context, Limits.MaxBodyBytes, async body =>
            {
                var outcome = await ReplaceAsync(scope, id, body, expected, hasIfMatch, context.RequestAborted).ConfigureAwait(false);
                if (outcome.Succeeded && !AnswerWithBody(context, byDefault: true))
                {
                    WriteNoContent(context, outcome.Version);
                    return;
                }

                await WriteOutcomeAsync(context, scope, outcome, location: false).ConfigureAwait(false);
            }).ConfigureAwait(false);
            return;
        }

        if (HttpMethods.IsPatch(request.Method))
        {
            await WithBodyAsync(context, Limits.MaxBodyBytes, async body =>
            {
                var outcome = await PatchAsync(scope, id, body, expected, hasIfMatch, context.RequestAborted).ConfigureAwait(false);
                // RFC 7644 §3.5.2: 200 with the resource or 204; the type's default (users 200, which
                // Okta expects; groups 204, which Entra ID prefers) unless the client says otherwise.
                if (outcome.Succeeded && !AnswerWithBody(context, AnswerPatchWithBody))
                {
                    WriteNoContent(context, outcome.Version);
                    return;
                }

                await WriteOutcomeAsync(context, scope, outcome, location: false).ConfigureAwait(false);
            }).ConfigureAwait(false);
            return;
        }

        if (HttpMethods.IsDelete(request.Method))
        {
            var error = await DeleteAsync(scope, id, expected, hasIfMatch, context.RequestAborted).ConfigureAwait(false);
            if (error is not null)
            {
                await ScimResponses.Error(context, error).ConfigureAwait(false);
                return;
            }

            context.Response.StatusCode = StatusCodes.Status204NoContent;
            return;
        }

        context.Response.Headers.Allow = "GET, HEAD, PUT, PATCH, DELETE";
        await ScimResponses.Error(context, StatusCodes.Status405MethodNotAllowed, $"{request.Method} is not allowed on a {ResourceType.Name}.").ConfigureAwait(false);
    }

    // GET by id with the default projection (most GETs): the stored bytes are the response minus
    // meta.location, meta.version and derived attributes (DESIGN-NOTES §6), so they are copied into
    // the response with those spliced in; nothing is decoded.
    private Task GetStoredAsync(HttpContext context, ScimScope scope, string id)
    {
        var derived = LoadDerivedAsync(scope, id);
        return derived.IsCompletedSuccessfully ? ReadStoredAsync(context, scope, id, derived.Result) : AwaitDerivedAsync(context, scope, id, derived);
    }

    private async Task AwaitDerivedAsync(HttpContext context, ScimScope scope, string id, ValueTask<object?> loading)
    {
        object? derived = await loading.ConfigureAwait(false);
        await ReadStoredAsync(context, scope, id, derived).ConfigureAwait(false);
    }

    private Task ReadStoredAsync(HttpContext context, ScimScope scope, string id, object? derived)
    {
        var read = ReadBodyAsync(scope, id);
        if (read.IsCompletedSuccessfully)
        {
            var (found, body, version) = read.Result;
            return RespondStored(context, scope, id, found, body, version, derived);
        }

        return AwaitStoredAsync(context, scope, id, read, derived);
    }

    // The stored body into this thread's scratch buffer. When the record is on disk the read owns
    // that buffer until its I/O completes, so the thread takes a new one, and no pool thread is
    // blocked meanwhile (issue: a cold read used to hold its thread in CompletePending).
    private ValueTask<(bool Found, ReadOnlyMemory<byte> Body, long Version)> ReadBodyAsync(ScimScope scope, string id)
    {
        var scratch = t_scratch ??= new ArrayBufferWriter<byte>(8192);
        scratch.ResetWrittenCount();
        var read = Store.TryReadBodyAsync(scope.Tenant, StoreType, id, scratch);
        if (!read.IsCompletedSuccessfully)
        {
            t_scratch = null;
        }

        return read;
    }

    /// <summary>
    /// What <see cref="WriteDerivedRaw"/> writes (User.groups with their display names), read with
    /// reads that await the disk, so the synchronous write after it never blocks a thread on a cold
    /// record. Null when there is nothing to add.
    /// </summary>
    protected virtual ValueTask<object?> LoadDerivedAsync(ScimScope scope, string id) => default;

    /// <summary><see cref="LoadDerivedAsync"/> for synchronous paths (pages of a list).</summary>
    protected virtual object? LoadDerived(ScimScope scope, string id) => null;

    private async Task AwaitStoredAsync(HttpContext context, ScimScope scope, string id, ValueTask<(bool Found, ReadOnlyMemory<byte> Body, long Version)> read, object? derived)
    {
        var (found, body, version) = await read.ConfigureAwait(false);
        await RespondStored(context, scope, id, found, body, version, derived).ConfigureAwait(false);
    }

    private Task RespondStored(HttpContext context, ScimScope scope, string id, bool found, ReadOnlyMemory<byte> body, long version, object? derived)
    {
        if (!found || !IsSpliceable(body.Span))
        {
            return ScimResponses.Error(context, NotFound(id));
        }

        // RFC 7644 §3.14: If-None-Match with the current version → 304, no body.
        if (context.Request.Headers.IfNoneMatch.ToString() is { Length: > 0 } ifNoneMatch
            && (ETags.Parse(ifNoneMatch) is not { } tag || tag == version))
        {
            context.Response.StatusCode = StatusCodes.Status304NotModified;
            context.Response.Headers.ETag = ETags.Format(version);
            return Task.CompletedTask;
        }

        var response = context.Response;
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = ScimResponses.MediaType;
        response.Headers.ETag = ETags.Format(version);
        // The body is fully consumed here, before any await (it may be this thread's scratch buffer).
        return WriteStoredAsync(context, scope, id, body.Span, version, derived);
    }

    /// <summary>Writes a stored body as a response (see <see cref="WriteStoredHead"/>), then derived attributes.</summary>
    protected virtual Task WriteStoredAsync(HttpContext context, ScimScope scope, string id, ReadOnlySpan<byte> body, long version, object? derived)
    {
        var writer = new ScimJsonWriter(context.Response.BodyWriter);
        WriteStoredHead(ref writer, scope, id, body, version);
        WriteDerivedRaw(ref writer, scope, id, derived);
        writer.WriteEndObject();
        writer.Flush();
        return ScimResponses.FlushAsync(context);
    }

    /// <summary>
    /// The stored JSON up to the end of its "meta" object, with meta.location and meta.version
    /// added: the resource object is left open for derived attributes and the closing brace.
    /// </summary>
    protected void WriteStoredHead(ref ScimJsonWriter writer, ScimScope scope, string id, ReadOnlySpan<byte> body, long version)
    {
        // The generated writer puts "meta" last, and it is always stored: the body ends "…}}".
        writer.WriteRawFragment(body[..^2]);
        writer.WriteName("\"location\":"u8);
        writer.WriteString(Location(scope, id));
        writer.WriteName("\"version\":"u8);
        writer.WriteString(ETags.Format(version));
        writer.WriteEndObject();
    }

    /// <summary>
    /// Derived attributes written after the stored ones, each with its leading comma, from what
    /// <see cref="LoadDerivedAsync"/> or <see cref="LoadDerived"/> returned.
    /// </summary>
    protected virtual void WriteDerivedRaw(ref ScimJsonWriter writer, ScimScope scope, string id, object? derived)
    {
    }

    private static bool IsSpliceable(ReadOnlySpan<byte> body) => body.Length > 2 && body[^1] == (byte)'}' && body[^2] == (byte)'}';

    [ThreadStatic]
    private static ArrayBufferWriter<byte>? t_scratch;

    public async ValueTask<BulkOperationResult[]> ExecuteBulkCreatesAsync(ScimScope scope, IReadOnlyList<ReadOnlySequence<byte>> bodies, CancellationToken cancellationToken, IReadOnlyList<string?>? transactions = null)
    {
        var outcomes = await CreateManyAsync(scope, bodies, cancellationToken, transactions).ConfigureAwait(false);
        var results = new BulkOperationResult[outcomes.Length];
        for (int i = 0; i < outcomes.Length; i++)
        {
            results[i] = new BulkOperationResult(outcomes[i].Status, outcomes[i].Resource?.Id, outcomes[i].Version, outcomes[i].Error);
        }

        return results;
    }

    public async ValueTask<BulkOperationResult> ExecuteBulkAsync(ScimScope scope, string method, string? id, ReadOnlySequence<byte> data, string? version, CancellationToken cancellationToken)
    {
        long? expected = version is null ? null : ETags.Parse(version);
        bool hasIfMatch = version is not null && expected is not null;
        switch (method)
        {
            case "POST":
                var created = await CreateAsync(scope, data, cancellationToken).ConfigureAwait(false);
                return new BulkOperationResult(created.Status, created.Resource?.Id, created.Version, created.Error);
            case "PUT":
                var replaced = await ReplaceAsync(scope, id!, data, expected, hasIfMatch, cancellationToken).ConfigureAwait(false);
                return new BulkOperationResult(replaced.Status, id, replaced.Version, replaced.Error);
            case "PATCH":
                var patched = await PatchAsync(scope, id!, data, expected, hasIfMatch, cancellationToken).ConfigureAwait(false);
                return new BulkOperationResult(patched.Status, id, patched.Version, patched.Error);
            case "DELETE":
                var error = await DeleteAsync(scope, id!, expected, hasIfMatch, cancellationToken).ConfigureAwait(false);
                return new BulkOperationResult(error?.Status ?? 204, id, 0, error);
            default:
                return new BulkOperationResult(405, id, 0, new ScimError(405, ScimErrorType.None, $"Bulk method '{method}' is not POST, PUT, PATCH or DELETE."));
        }
    }

    private async Task WriteOutcomeAsync(HttpContext context, ScimScope scope, ScimOutcome<T> outcome, bool location)
    {
        if (outcome.Error is { } error)
        {
            await ScimResponses.Error(context, error).ConfigureAwait(false);
            return;
        }

        if (location)
        {
            // RFC 7644 §3.3: Location = meta.location of the new resource.
            context.Response.Headers.Location = Location(scope, outcome.Resource!.Id!);
        }

        await WriteResourceAsync(context, scope, outcome.Resource!, outcome.Version, outcome.Status, Projection(context.Request)).ConfigureAwait(false);
    }

    /// <summary>Writes one resource with its ETag (RFC 7644 §3.14) straight into the response pipe.</summary>
    protected virtual async Task WriteResourceAsync(HttpContext context, ScimScope scope, T resource, long version, int status, ScimProjection projection)
    {
        var response = context.Response;
        response.StatusCode = status;
        response.ContentType = ScimResponses.MediaType;
        response.Headers.ETag = ETags.Format(version);
        PrepareForResponse(scope, resource, projection);
        Serializer.Write(response.BodyWriter, resource, projection);
        await ScimResponses.FlushAsync(context).ConfigureAwait(false);
    }

    // RFC 7644 §3.9: attributes / excludedAttributes apply to the resource in every response.
    private ScimProjection Projection(HttpRequest request)
    {
        var query = request.Query;
        if (query.Count == 0)
        {
            return ScimProjection.Default(ResourceType);
        }

        return ScimProjection.Create(ResourceType, query["attributes"].ToString(), query["excludedAttributes"].ToString());
    }

    // A value filter in attributes / excludedAttributes that does not parse: 400 invalidPath.
    private ScimError? InvalidProjection(HttpRequest request)
    {
        if (request.QueryString.Value is not { Length: > 0 } || (!request.Query.ContainsKey("attributes") && !request.Query.ContainsKey("excludedAttributes")))
        {
            return null;
        }

        return ScimProjection.TryCreate(ResourceType, request.Query["attributes"].ToString(), request.Query["excludedAttributes"].ToString(), out _, out var error) ? null : error;
    }

    /// <summary>Whether a successful PATCH answers 200 with the resource (else 204) when the client states no preference.</summary>
    protected virtual bool AnswerPatchWithBody => true;

    /// <summary>
    /// Whether a successful PUT or PATCH answers 200 with the resource or 204. RFC 7644 §3.5.2: the
    /// server "MUST return a 200 OK if the 'attributes' parameter is specified" (excludedAttributes
    /// likewise asks for a body); otherwise RFC 7240 §4.2's <c>Prefer: return=minimal</c> (204) or
    /// <c>return=representation</c> (200) decides, acknowledged with <c>Preference-Applied</c>; else
    /// the default.
    /// </summary>
    private static bool AnswerWithBody(HttpContext context, bool byDefault)
    {
        var request = context.Request;
        if (request.Query.ContainsKey("attributes") || request.Query.ContainsKey("excludedAttributes"))
        {
            return true;
        }

        switch (Preferences.Return(request.Headers))
        {
            case ReturnPreference.Minimal:
                context.Response.Headers["Preference-Applied"] = "return=minimal";
                return false;
            case ReturnPreference.Representation:
                context.Response.Headers["Preference-Applied"] = "return=representation";
                return true;
            default:
                return byDefault;
        }
    }

    private static void WriteNoContent(HttpContext context, long version)
    {
        context.Response.StatusCode = StatusCodes.Status204NoContent;
        context.Response.Headers.ETag = ETags.Format(version);
    }

    private static (long? Expected, bool HasIfMatch) IfMatch(HttpRequest request)
    {
        var header = request.Headers.IfMatch.ToString();
        if (header.Length == 0)
        {
            return (null, false);
        }

        long? parsed = ETags.Parse(header);
        // "*" matches any existing version: no version check.
        return parsed is null ? (null, false) : (parsed, true);
    }

    private static Task WithBodyAsync(HttpContext context, int limit, Func<ReadOnlySequence<byte>, Task> handle) =>
        RequestBodies.WithBodyAsync(context, limit, handle);
}
