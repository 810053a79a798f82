using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;

using Microsoft.AspNetCore.Http;

using Scim.Fast.Core;
using Scim.Fast.Core.Errors;
using Scim.Fast.Core.Serialization;

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
    internal sealed class Operation
    {
        public required int Index { get; init; }

        public required string Method { get; init; }

        public string? BulkId { get; init; }

        public string? Version { get; init; }

        public required string Path { get; set; }

        /// <summary>The operation's data: a slice of the request's bytes until a reference is resolved in it.</summary>
        public ReadOnlyMemory<byte>? Data { get; set; }

        /// <summary>The bulkIds this operation refers to, found once when the request is parsed.</summary>
        public List<string> References { get; set; } = [];

        public BulkOperationResult? Result { get; set; }

        public string? Location { get; set; }
    }

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
        if (Parse(body, out int failOnErrors, out var operations) is { } error)
        {
            await ScimResponses.Error(context, error).ConfigureAwait(false);
            return;
        }

        await ExecuteAsync(scope, operations, failOnErrors, context.RequestAborted).ConfigureAwait(false);
        var response = context.Response;
        if (keyed is not null)
        {
            // The BulkResponse is recorded after the operations, as a log record of its own (see
            // IdempotencyKeys): from then on a retry with the key gets this very answer.
            var rendered = new ArrayBufferWriter<byte>(4096);
            WriteResponse(rendered, operations);
            var recorded = keyed.Record(StatusCodes.Status200OK, location: null, etag: null, rendered.WrittenSpan);
            await idempotency!.Store.PutAttachmentAsync(scope.Tenant, keyed.StoreKey, recorded, CancellationToken.None).ConfigureAwait(false);
            await IdempotencyKeys.WriteRecordedAsync(context, recorded).ConfigureAwait(false);
            return;
        }

        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = ScimResponses.MediaType;
        WriteResponse(response.BodyWriter, operations);
        await response.BodyWriter.FlushAsync(context.RequestAborted).ConfigureAwait(false);
    }

    /// <summary>Parses a BulkRequest; the operations' data are slices of a copy of <paramref name="body"/>.</summary>
    internal ScimError? Parse(ReadOnlySequence<byte> body, out int failOnErrors, out List<Operation> operations) =>
        Parse(body.ToArray(), out failOnErrors, out operations);

    /// <summary>Parses a BulkRequest; the operations' data are slices of <paramref name="body"/>, which must outlive them.</summary>
    internal ScimError? Parse(ReadOnlyMemory<byte> body, out int failOnErrors, out List<Operation> operations)
    {
        try
        {
            return ParseRequest(body, out failOnErrors, out operations);
        }
        catch (InvalidOperationException)
        {
            // A string that is valid JSON but not valid text (a lone surrogate escape).
            failOnErrors = 0;
            operations = [];
            return ScimError.InvalidSyntax("The BulkRequest holds a string that is not valid Unicode.");
        }
    }

    private ScimError? ParseRequest(ReadOnlyMemory<byte> body, out int failOnErrors, out List<Operation> operations)
    {
        failOnErrors = int.MaxValue;
        operations = [];
        JsonDocument document;
        try
        {
            // Parse reads the memory in place (ParseValue would copy it first).
            document = JsonDocument.Parse(body, new JsonDocumentOptions { MaxDepth = 64 });
        }
        catch (JsonException)
        {
            return ScimError.InvalidSyntax("The BulkRequest is not valid JSON.");
        }

        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                return ScimError.InvalidSyntax("A BulkRequest is a JSON object.");
            }

            bool schema = ListQuery.HasSchema(root, ScimUrns.BulkRequest);
            JsonElement? list = null;
            foreach (var property in root.EnumerateObject())
            {
                switch (property.Name.ToLowerInvariant())
                {
                    case "failonerrors":
                        if (property.Value.ValueKind != JsonValueKind.Number || !property.Value.TryGetInt32(out failOnErrors) || failOnErrors < 1)
                        {
                            return ScimError.InvalidValue("failOnErrors must be a positive integer.");
                        }

                        break;
                    case "operations":
                        list = property.Value;
                        break;
                }
            }

            if (!schema)
            {
                return ScimError.InvalidSyntax($"A BulkRequest names the schema {ScimUrns.BulkRequest}.");
            }

            if (list is not { ValueKind: JsonValueKind.Array } array)
            {
                return ScimError.InvalidSyntax("A BulkRequest needs an 'Operations' array.");
            }

            if (array.GetArrayLength() > limits.BulkMaxOperations)
            {
                return new ScimError(StatusCodes.Status413PayloadTooLarge, ScimErrorType.TooMany,
                    $"The request has {array.GetArrayLength()} operations; maxOperations is {limits.BulkMaxOperations}.");
            }

            var bulkIds = new HashSet<string>(StringComparer.Ordinal);
            foreach (var element in array.EnumerateArray())
            {
                if (element.ValueKind != JsonValueKind.Object)
                {
                    return ScimError.InvalidSyntax("Every bulk operation is a JSON object.");
                }

                string? method = null, path = null, bulkId = null, version = null;
                ReadOnlyMemory<byte>? data = null;
                foreach (var property in element.EnumerateObject())
                {
                    var value = property.Value;
                    switch (OperationMember(property))
                    {
                        case "method" when value.ValueKind == JsonValueKind.String:
                            method = Method(value);
                            break;
                        case "path" when value.ValueKind == JsonValueKind.String:
                            path = value.GetString();
                            break;
                        case "bulkid" when value.ValueKind == JsonValueKind.String:
                            bulkId = value.GetString();
                            break;
                        case "version" when value.ValueKind == JsonValueKind.String:
                            version = value.GetString();
                            break;
                        case "data" when value.ValueKind == JsonValueKind.Object:
                            data = SliceOf(body, JsonMarshal.GetRawUtf8Value(value));
                            break;
                    }
                }

                int index = operations.Count;
                if (method is null || path is null)
                {
                    return ScimError.InvalidSyntax($"Bulk operation {index + 1} needs a 'method' and a 'path'.");
                }

                if (method == "POST" && string.IsNullOrEmpty(bulkId))
                {
                    // §3.7: bulkId is REQUIRED for POST.
                    return ScimError.InvalidSyntax($"Bulk operation {index + 1} is a POST without a bulkId.");
                }

                if (bulkId is not null && !bulkIds.Add(bulkId))
                {
                    return ScimError.InvalidValue($"bulkId '{bulkId}' is used twice.");
                }

                if (method is "POST" or "PUT" or "PATCH" && data is null)
                {
                    return ScimError.InvalidSyntax($"Bulk operation {index + 1} ({method}) needs a 'data' object.");
                }

                var operation = new Operation { Index = index, Method = method, Path = path, BulkId = bulkId, Version = version, Data = data };
                if (FindReferences(operation) is not { } references)
                {
                    return new ScimError(400, ScimErrorType.TooMany,
                        $"Bulk operation {index + 1} holds more than {MaxReferencesPerOperation} bulkId references; split it.");
                }

                operation.References = references;
                operations.Add(operation);
            }
        }

        return null;
    }

    private static readonly (string Spelled, string Lower)[] s_operationMembers =
        [("method", "method"), ("path", "path"), ("bulkId", "bulkid"), ("version", "version"), ("data", "data")];

    // Shared by every operation without references; never changed.
    private static readonly List<string> s_noReferences = [];

    private static readonly string[] s_methods = ["POST", "PUT", "PATCH", "DELETE"];

    // An operation's member name in lower case (names are case-insensitive, RFC 7643 §2.1): the
    // usual spelling is recognised without making a string of it.
    private static string OperationMember(JsonProperty property)
    {
        foreach (var (spelled, lower) in s_operationMembers)
        {
            if (property.NameEquals(spelled))
            {
                return lower;
            }
        }

        return property.Name.ToLowerInvariant();
    }

    // The method in upper case, without a string per operation for the usual spellings.
    private static string Method(JsonElement value)
    {
        foreach (var method in s_methods)
        {
            if (value.ValueEquals(method))
            {
                return method;
            }
        }

        return value.GetString()!.ToUpperInvariant();
    }

    // The memory of a span the document handed out, which points into body (read in place).
    private static ReadOnlyMemory<byte> SliceOf(ReadOnlyMemory<byte> body, ReadOnlySpan<byte> part)
    {
        long offset = Unsafe.ByteOffset(ref MemoryMarshal.GetReference(body.Span), ref MemoryMarshal.GetReference(part));
        return offset >= 0 && offset + part.Length <= body.Length ? body.Slice((int)offset, part.Length) : part.ToArray();
    }

    private async Task ExecuteAsync(ScimScope scope, List<Operation> operations, int failOnErrors, CancellationToken cancellationToken)
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
        var pending = new List<Operation>(operations);
        while (pending.Count > 0 && errors < failOnErrors)
        {
            bool progress = false;
            var waiting = new List<Operation>();
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
                Resolve(operation, created);
                progress = true;

                // Without failOnErrors, a run of ready creates on one endpoint goes through the
                // store's batch path together (one durable commit). With it, operations run one by
                // one so processing stops exactly after the allowed number of errors (§3.7.3).
                var run = new List<Operation> { operation };
                if (failOnErrors == int.MaxValue && operation.Method == "POST")
                {
                    while (i + 1 < pending.Count && run.Count < 1000 && IsBatchableWith(pending[i + 1], operation, created))
                    {
                        i++;
                        Resolve(pending[i], created);
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
    private static bool IsBatchableWith(Operation next, Operation first, Dictionary<string, string> created)
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

    private async Task RunBatchAsync(ScimScope scope, List<Operation> run, CancellationToken cancellationToken)
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
    private static string? Transaction(ScimScope scope, Operation operation) =>
        scope.Transaction is null ? null : scope.Transaction + ":" + operation.Index.ToString(System.Globalization.CultureInfo.InvariantCulture);

    private async Task RunAsync(ScimScope scope, Operation operation, CancellationToken cancellationToken)
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

    /// <summary>Most bulkId references one operation may hold (its data and path together).</summary>
    public const int MaxReferencesPerOperation = 10_000;

    // The distinct bulkIds an operation refers to, in its path and its data; null past the cap.
    private static List<string>? FindReferences(Operation operation)
    {
        if (!operation.Path.Contains("bulkId:", StringComparison.Ordinal) && (operation.Data is not { } bytes || bytes.Span.IndexOf("\"bulkId:"u8) < 0))
        {
            return s_noReferences;   // the usual operation: no lists, no split path
        }

        var references = new List<string>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        int occurrences = 0;
        foreach (var segment in operation.Path.Split('/'))
        {
            if (segment.StartsWith("bulkId:", StringComparison.Ordinal) && seen.Add(segment[7..]))
            {
                references.Add(segment[7..]);
            }
        }

        if (operation.Data is { } data)
        {
            foreach (var (_, _, bulkId) in DataReferences(data))
            {
                if (++occurrences > MaxReferencesPerOperation)
                {
                    return null;
                }

                if (seen.Add(bulkId))
                {
                    references.Add(bulkId);
                }
            }
        }

        // An operation may not reference its own bulkId: that is a cycle of one.
        return references;
    }

    // Every whole JSON string "bulkId:x" in the data (RFC 7644 §3.7.2: a reference is the value of
    // a string): where its opening quote is, where it ends (after the closing quote), and x. One
    // pass over the bytes; strings with escapes are not references.
    private static IEnumerable<(int Start, int End, string BulkId)> DataReferences(ReadOnlyMemory<byte> data)
    {
        int at = 0;
        while (at < data.Length)
        {
            int found = data.Span[at..].IndexOf("\"bulkId:"u8);
            if (found < 0)
            {
                yield break;
            }

            int start = at + found;
            int content = start + 8;
            int close = data.Span[content..].IndexOfAny((byte)'"', (byte)'\\');
            if (close < 0)
            {
                yield break;
            }

            close += content;
            if (data.Span[close] == (byte)'"' && !EscapedQuote(data.Span, start))
            {
                yield return (start, close + 1, Encoding.UTF8.GetString(data.Span[content..close]));
                at = close + 1;
            }
            else
            {
                at = content;
            }
        }
    }

    // Whether the quote at index is escaped (preceded by an odd number of backslashes).
    private static bool EscapedQuote(ReadOnlySpan<byte> data, int index)
    {
        int backslashes = 0;
        while (index - 1 - backslashes >= 0 && data[index - 1 - backslashes] == (byte)'\\')
        {
            backslashes++;
        }

        return backslashes % 2 == 1;
    }

    // Replaces the references this operation holds, in one pass each over its path and its data:
    // whole path segments "bulkId:x" and whole JSON strings "bulkId:x" (so "bulkId:a" never
    // rewrites "bulkId:ab"). References not created yet are left as they are.
    internal static void Resolve(Operation operation, Dictionary<string, string> created)
    {
        if (operation.References.Count == 0)
        {
            return;
        }

        var segments = operation.Path.Split('/');
        for (int i = 0; i < segments.Length; i++)
        {
            if (segments[i].StartsWith("bulkId:", StringComparison.Ordinal) && created.TryGetValue(segments[i][7..], out var id))
            {
                segments[i] = Uri.EscapeDataString(id);
            }
        }

        operation.Path = string.Join('/', segments);
        if (operation.Data is not { } data)
        {
            return;
        }

        var output = new ArrayBufferWriter<byte>(data.Length + 64);
        int copied = 0;
        foreach (var (start, end, bulkId) in DataReferences(data))
        {
            if (!created.TryGetValue(bulkId, out var id))
            {
                continue;
            }

            output.Write(data.Span[copied..start]);
            output.Write(JsonSerializer.SerializeToUtf8Bytes(id));
            copied = end;
        }

        if (copied > 0)
        {
            output.Write(data.Span[copied..]);
            operation.Data = output.WrittenSpan.ToArray();
        }
    }

    private static BulkOperationResult Failed(ScimError error) => new(error.Status, null, 0, error);

    // RFC 7644 §3.7.3 BulkResponse: per operation method, bulkId, location, version, status (a
    // string), and the error as "response" when it failed. Operations never run are left out.
    private static void WriteResponse(IBufferWriter<byte> output, List<Operation> operations)
    {
        var writer = new ScimJsonWriter(output);
        writer.WriteStartMessage(ScimUrns.BulkResponse);
        writer.WriteName("\"Operations\":"u8);
        writer.WriteStartArray();
        foreach (var operation in operations)
        {
            if (operation.Result is not { } result)
            {
                continue;
            }

            writer.WriteStartObject();
            writer.WriteName("\"method\":"u8);
            writer.WriteString(operation.Method);
            if (operation.BulkId is { } bulkId)
            {
                writer.WriteName("\"bulkId\":"u8);
                writer.WriteString(bulkId);
            }

            if (operation.Location is { } location)
            {
                writer.WriteName("\"location\":"u8);
                writer.WriteString(location);
            }

            if (result.Error is null && result.Version > 0)
            {
                writer.WriteName("\"version\":"u8);
                writer.WriteString(ETags.Format(result.Version));
            }

            writer.WriteName("\"status\":"u8);
            writer.WriteString(result.Status.ToString(System.Globalization.CultureInfo.InvariantCulture));
            Telemetry.ScimMetrics.RecordBulkOperation(operation.Method, result.Status);
            if (result.Error is { } error)
            {
                writer.WriteName("\"response\":"u8);
                var buffer = new ArrayBufferWriter<byte>(256);
                error.WriteTo(buffer);
                writer.WriteRawValue(buffer.WrittenSpan);
            }

            writer.WriteEndObject();
        }

        writer.WriteEndArray();
        writer.WriteEndObject();
        writer.Flush();
    }
}
