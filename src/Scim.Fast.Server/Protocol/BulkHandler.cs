using System.Buffers;

using Microsoft.AspNetCore.Http;

using Scim.Fast.Core.Errors;

namespace Scim.Fast.Server.Protocol;

/// <summary>
/// POST /Bulk (RFC 7644 §3.7): operations run in order through the same endpoint code as single
/// requests; runs of creates of one type go through the store's batch path (one log commit for the
/// run). <c>bulkId:x</c> references (in paths and anywhere in data, members included) resolve to
/// the ids created earlier in the request; an operation referring to a bulkId created later waits
/// for it, and what can never resolve (a cycle) fails with 409 (§3.7.1). failOnErrors stops after
/// that many errors (§3.7.3); maxOperations and maxPayloadSize are enforced with 413 (§3.7.4).
/// </summary>
internal sealed class BulkHandler(IReadOnlyList<IResourceEndpoint> endpoints, ScimLimits limits, IdempotencyKeys? idempotency = null)
{
    public async Task HandleAsync(HttpContext context, ScimScope scope)
    {
        if (!HttpMethods.IsPost(context.Request.Method))
        {
            context.Response.Headers.Allow = "POST";
            await ScimResponses.Error(context, StatusCodes.Status405MethodNotAllowed, "/Bulk only answers POST.").ConfigureAwait(false);
            return;
        }

        if (!IdempotencyKeys.TryReadKey(context.Request, out var key, out var keyError))
        {
            await ScimResponses.Error(context, keyError).ConfigureAwait(false);
            return;
        }

        await RequestBodies.WithBodyAsync(context, limits.BulkMaxPayloadBytes, async body =>
        {
            if (key is null || idempotency is null)
            {
                await ExecuteAsync(context, scope, body, keyed: null).ConfigureAwait(false);
                return;
            }

            await idempotency.RunAsync(context, scope, key, body, keyed => ExecuteAsync(context, scope, body, keyed)).ConfigureAwait(false);
        }).ConfigureAwait(false);
    }

    private async Task ExecuteAsync(HttpContext context, ScimScope scope, ReadOnlySequence<byte> body, IdempotencyKeys.KeyedRequest? keyed)
    {
        // The request's bytes in one pooled array for the whole request: the parse reads them in
        // place and every operation's data is a slice of them (a copy of the body for the parse
        // and another per operation were a sixth of what an initial sync allocated).
        byte[] contiguous = ArrayPool<byte>.Shared.Rent((int)body.Length);
        try
        {
            body.CopyTo(contiguous);
            await ExecuteAsync(context, scope, contiguous.AsMemory(0, (int)body.Length), keyed).ConfigureAwait(false);
        }
        finally
        {
            // Cleared first: the operations' data can hold passwords, and the pool hands the array on.
            contiguous.AsSpan(0, (int)body.Length).Clear();
            ArrayPool<byte>.Shared.Return(contiguous);
        }
    }

    private async Task ExecuteAsync(HttpContext context, ScimScope scope, ReadOnlyMemory<byte> body, IdempotencyKeys.KeyedRequest? keyed)
    {
        if (BulkRequestParser.Parse(body, limits.BulkMaxOperations, out int failOnErrors, out var operations) is { } error)
        {
            await ScimResponses.Error(context, error).ConfigureAwait(false);
            return;
        }

        await ExecuteAsync(scope, operations, failOnErrors, context.RequestAborted).ConfigureAwait(false);

        // The operations are done and durable: the BulkResponse must reach the client whole, however
        // late (a 503 now would tell it nothing happened). From here the token is the client's only.
        RequestDeadlines.Disable(context);
        var response = context.Response;
        if (keyed is not null)
        {
            // The BulkResponse is recorded after the operations, as a log record of its own (see
            // IdempotencyKeys): from then on a retry with the key gets this very answer.
            var rendered = new ArrayBufferWriter<byte>(4096);
            BulkResponseWriter.Write(rendered, operations);
            var recorded = keyed.Record(StatusCodes.Status200OK, location: null, etag: null, rendered.WrittenSpan);
            await idempotency!.Store.PutAttachmentAsync(scope.Tenant, keyed.StoreKey, recorded, CancellationToken.None).ConfigureAwait(false);
            await IdempotencyKeys.WriteRecordedAsync(context, recorded).ConfigureAwait(false);
            return;
        }

        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = ScimResponses.MediaType;
        BulkResponseWriter.Write(response.BodyWriter, operations);
        await response.BodyWriter.FlushAsync(context.RequestAborted).ConfigureAwait(false);
    }

    private async Task ExecuteAsync(ScimScope scope, List<BulkOperation> operations, int failOnErrors, CancellationToken cancellationToken)
    {
        var created = new Dictionary<string, string>(StringComparer.Ordinal);
        var declared = new HashSet<string>(StringComparer.Ordinal);
        foreach (var operation in operations)
        {
            if (operation.BulkId is { } bulkId)
            {
                declared.Add(bulkId);
            }
        }

        int errors = 0;
        var pending = new List<BulkOperation>(operations);
        while (pending.Count > 0 && errors < failOnErrors)
        {
            bool progress = false;
            var waiting = new List<BulkOperation>();
            for (int i = 0; i < pending.Count && errors < failOnErrors; i++)
            {
                var operation = pending[i];
                var references = operation.References;
                bool ready = true;
                foreach (var reference in references)
                {
                    if (!declared.Contains(reference))
                    {
                        operation.Result = Failed(ScimError.InvalidValue($"bulkId '{reference}' is not defined in this request."));
                        errors++;
                        ready = false;
                        break;
                    }

                    if (!created.ContainsKey(reference))
                    {
                        ready = false;
                    }
                }

                if (operation.Result is not null)
                {
                    progress = true;
                    continue;
                }

                if (!ready)
                {
                    waiting.Add(operation);
                    continue;
                }

                // Nothing of this operation is written yet: a client that has gone stops here.
                cancellationToken.ThrowIfCancellationRequested();
                BulkReferences.Resolve(operation, created);
                progress = true;

                // Without failOnErrors, a run of ready creates on one endpoint goes through the
                // store's batch path together (one durable commit). With it, operations run one by
                // one so processing stops exactly after the allowed number of errors (§3.7.3).
                var run = new List<BulkOperation> { operation };
                if (failOnErrors == int.MaxValue && operation.Method == "POST")
                {
                    while (i + 1 < pending.Count && run.Count < 1000 && IsBatchableWith(pending[i + 1], operation, created))
                    {
                        i++;
                        BulkReferences.Resolve(pending[i], created);
                        run.Add(pending[i]);
                    }
                }

                if (run.Count > 1)
                {
                    await RunBatchAsync(scope, run, cancellationToken).ConfigureAwait(false);
                }
                else
                {
                    await RunAsync(scope, operation, cancellationToken).ConfigureAwait(false);
                }

                foreach (var done in run)
                {
                    if (done.Result!.Value.Error is not null)
                    {
                        errors++;
                    }
                    else if (done.BulkId is { } id && done.Result.Value.Id is { } newId)
                    {
                        created[id] = newId;
                    }
                }
            }

            if (!progress)
            {
                // Every remaining operation waits on another: a cycle, or on an operation that failed.
                foreach (var operation in waiting)
                {
                    operation.Result = Failed(new ScimError(StatusCodes.Status409Conflict, ScimErrorType.None,
                        "This operation's bulkId references form a cycle or name an operation that failed (RFC 7644 §3.7.1)."));
                }

                break;
            }

            pending = waiting;
        }
    }

    // Another POST to the same collection whose references (if any) are already resolved.
    private static bool IsBatchableWith(BulkOperation next, BulkOperation first, Dictionary<string, string> created)
    {
        if (next.Result is not null || next.Method != "POST" || !string.Equals(next.Path.Trim('/'), first.Path.Trim('/'), StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        foreach (var reference in next.References)
        {
            if (!created.ContainsKey(reference))
            {
                return false;
            }
        }

        return true;
    }

    private async Task RunBatchAsync(ScimScope scope, List<BulkOperation> run, CancellationToken cancellationToken)
    {
        if (!TryRoute(run[0].Path, "POST", out var endpoint, out _, out var routeError))
        {
            foreach (var operation in run)
            {
                operation.Result = Failed(routeError);
            }

            return;
        }

        var bodies = new List<ReadOnlySequence<byte>>(run.Count);
        foreach (var operation in run)
        {
            bodies.Add(new ReadOnlySequence<byte>(operation.Data!.Value));
        }

        var transactions = new List<string?>(run.Count);
        foreach (var operation in run)
        {
            transactions.Add(Transaction(scope, operation));
        }

        var results = await endpoint.ExecuteBulkCreatesAsync(scope, bodies, cancellationToken, transactions).ConfigureAwait(false);
        for (int i = 0; i < run.Count; i++)
        {
            run[i].Result = results[i];
            if (results[i].Error is null && results[i].Id is { } id)
            {
                run[i].Location = scope.BaseUrl + endpoint.ResourceType.Endpoint + "/" + Uri.EscapeDataString(id);
            }
        }
    }

    // A /Bulk operation's writes are recorded as "request id:operation index" (issue 15, RFC 8417 txn).
    private static string? Transaction(ScimScope scope, BulkOperation operation) =>
        scope.Transaction is null ? null : scope.Transaction + ":" + operation.Index.ToString(System.Globalization.CultureInfo.InvariantCulture);

    private async Task RunAsync(ScimScope scope, BulkOperation operation, CancellationToken cancellationToken)
    {
        if (!TryRoute(operation.Path, operation.Method, out var endpoint, out string? id, out var routeError))
        {
            operation.Result = Failed(routeError);
            return;
        }

        var data = operation.Data is null ? ReadOnlySequence<byte>.Empty : new ReadOnlySequence<byte>(operation.Data.Value);
        var result = await endpoint.ExecuteBulkAsync(scope with { Transaction = Transaction(scope, operation) }, operation.Method, id, data, operation.Version, cancellationToken).ConfigureAwait(false);
        operation.Result = result;
        if (result.Error is null && result.Id is { } resultId)
        {
            operation.Location = scope.BaseUrl + endpoint.ResourceType.Endpoint + "/" + Uri.EscapeDataString(resultId);
        }
    }

    private bool TryRoute(string path, string method, out IResourceEndpoint endpoint, out string? id, out ScimError error)
    {
        endpoint = null!;
        id = null;
        error = null!;
        var trimmed = path.AsSpan().Trim('/');
        int slash = trimmed.IndexOf('/');
        var name = slash < 0 ? trimmed : trimmed[..slash];
        id = slash < 0 ? null : Uri.UnescapeDataString(trimmed[(slash + 1)..].ToString());
        foreach (var candidate in endpoints)
        {
            if (name.Equals(candidate.EndpointName, StringComparison.OrdinalIgnoreCase))
            {
                endpoint = candidate;
                break;
            }
        }

        if (endpoint is null)
        {
            error = ScimError.InvalidPath($"'{path}' names no resource endpoint.");
            return false;
        }

        if ((method == "POST") != (id is null) || (id is not null && id.Contains('/', StringComparison.Ordinal)))
        {
            error = ScimError.InvalidPath(method == "POST" ? $"POST goes to a collection (/{endpoint.EndpointName}), not '{path}'." : $"{method} needs a resource path (/{endpoint.EndpointName}/{{id}}), not '{path}'.");
            return false;
        }

        return true;
    }

    private static BulkOperationResult Failed(ScimError error) => new(error.Status, null, 0, error);
}
