using System.Buffers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

using Microsoft.AspNetCore.Http;

using Scim.Fast.Core.Errors;
using Scim.Fast.Events;
using Scim.Fast.Server.Protocol;

namespace Scim.Fast.Server.Events;

/// <summary>
/// SCIM events over HTTP (issue 15): SSF transmitter metadata (OpenID SSF 1.0 §7), the stream
/// configuration, status and verification endpoints (§8.1), poll delivery (RFC 8936) and
/// server-sent events, all under the tenant's SCIM base URL at <c>{base}/ssf/…</c> with the
/// tenant's token; the JWKS (<c>{base}/ssf/jwks</c>) and the metadata are public. The requests that
/// wait (a long poll, an event stream) end when the server begins to stop (<paramref name="stopping"/>):
/// Kestrel waits for them before the store's last checkpoint, and an event stream would otherwise
/// hold the whole shutdown until the host gave up on it (32 s; a long poll 10 s).
/// </summary>
internal sealed class EventEndpoints(StreamRegistry registry, int maxBodyBytes, CancellationToken stopping)
{
    public const string Segment = "ssf";
    private const string JsonMediaType = "application/json";

    /// <summary>SSF §7.1: metadata at /.well-known/ssf-configuration inserted before the issuer's path.</summary>
    public const string WellKnown = "/.well-known/ssf-configuration";

    public static Task WriteMetadataAsync(HttpContext context, string issuer)
    {
        string ssf = issuer + "/" + Segment;
        var metadata = new JsonObject
        {
            ["spec_version"] = "1_0",
            ["issuer"] = issuer,
            ["jwks_uri"] = ssf + "/jwks",
            ["delivery_methods_supported"] = new JsonArray(EventUris.Push, EventUris.Poll),
            ["configuration_endpoint"] = ssf + "/streams",
            ["status_endpoint"] = ssf + "/status",
            ["verification_endpoint"] = ssf + "/verify",
            ["authorization_schemes"] = new JsonArray(new JsonObject { ["spec_urn"] = "urn:ietf:rfc:6750" }),
            ["default_subjects"] = "ALL",
        };
        return WriteJsonAsync(context, StatusCodes.Status200OK, metadata);
    }

    public Task WriteJwksAsync(HttpContext context)
    {
        context.Response.StatusCode = StatusCodes.Status200OK;
        context.Response.ContentType = "application/jwk-set+json";
        return context.Response.Body.WriteAsync(registry.Sets.Jwks, context.RequestAborted).AsTask();
    }

    /// <summary>Everything under <c>{base}/ssf/</c> but the JWKS, for an authenticated tenant.</summary>
    public Task HandleAsync(HttpContext context, ScimScope scope, string path)
    {
        string method = context.Request.Method;
        int slash = path.IndexOf('/', StringComparison.Ordinal);
        string head = slash < 0 ? path : path[..slash];
        string? streamId = slash < 0 ? null : path[(slash + 1)..];
        return (head, method) switch
        {
            ("streams", "GET") when streamId is null => GetStreamsAsync(context, scope),
            ("streams", "POST") when streamId is null => WithJson(context, body => CreateStreamAsync(context, scope, body)),
            ("streams", "PATCH" or "PUT") when streamId is null => WithJson(context, body => UpdateStreamAsync(context, scope, body, replace: method == "PUT")),
            ("streams", "DELETE") when streamId is null => DeleteStreamAsync(context, scope),
            ("status", "GET") when streamId is null => GetStatusAsync(context, scope),
            ("status", "POST") when streamId is null => WithJson(context, body => SetStatusAsync(context, scope, body)),
            ("verify", "POST") when streamId is null => WithJson(context, body => VerifyAsync(context, scope, body)),
            ("poll", "POST") when streamId is not null => WithJson(context, body => PollAsync(context, scope, streamId, body)),
            ("sse", "GET") when streamId is not null => ServerSentEventsAsync(context, scope, streamId),
            ("streams" or "status" or "verify" or "poll" or "sse", _) => ScimResponses.Error(context, StatusCodes.Status405MethodNotAllowed, "This method is not supported here."),
            _ => ScimResponses.Error(context, StatusCodes.Status404NotFound, "No event endpoint at this path."),
        };
    }

    private string JwksUri(ScimScope scope) => scope.BaseUrl + "/" + Segment + "/jwks";

    private Task GetStreamsAsync(HttpContext context, ScimScope scope)
    {
        if (context.Request.Query["stream_id"].ToString() is { Length: > 0 } id)
        {
            return registry.Get(scope.Tenant, id) is { } stream
                ? WriteJsonAsync(context, StatusCodes.Status200OK, stream.ToConfiguration(JwksUri(scope)))
                : NotFound(context, id);
        }

        var list = new JsonArray();
        foreach (var stream in registry.List(scope.Tenant))
        {
            list.Add(stream.ToConfiguration(JwksUri(scope)));
        }

        return WriteJsonAsync(context, StatusCodes.Status200OK, list);
    }

    // SSF §8.1.1.1: the receiver names the delivery method and the events it wants.
    private async Task CreateStreamAsync(HttpContext context, ScimScope scope, JsonObject body)
    {
        if (registry.List(scope.Tenant).Count >= registry.Options.MaxStreamsPerTenant)
        {
            await ScimResponses.Error(context, new ScimError(StatusCodes.Status409Conflict, ScimErrorType.None,
                $"This tenant has {registry.Options.MaxStreamsPerTenant} streams, the most allowed (Scim:Events:MaxStreamsPerTenant); delete one first.")).ConfigureAwait(false);
            return;
        }

        string id = Guid.NewGuid().ToString("N");
        var delivery = body["delivery"] as JsonObject;
        string? method = Text(delivery, "method");
        if (method is not (EventUris.Push or EventUris.Poll))
        {
            await Invalid(context, $"delivery.method must be {EventUris.Push} (push) or {EventUris.Poll} (poll).").ConfigureAwait(false);
            return;
        }

        var stream = new EventStream
        {
            Id = id,
            Tenant = scope.Tenant,
            Issuer = scope.BaseUrl,
            Method = method,
            EndpointUrl = method == EventUris.Poll ? scope.BaseUrl + "/" + Segment + "/poll/" + id : null,
            Audience = [scope.BaseUrl + "/" + Segment + "/streams/" + id],
        };
        if (Apply(stream, body, replace: true) is { } error)
        {
            await Invalid(context, error).ConfigureAwait(false);
            return;
        }

        await registry.CreateAsync(stream, context.RequestAborted).ConfigureAwait(false);
        await WriteJsonAsync(context, StatusCodes.Status201Created, stream.ToConfiguration(JwksUri(scope))).ConfigureAwait(false);
    }

    // The receiver-supplied properties of a stream (SSF §8.1.1); null when they are valid.
    private static string? Apply(EventStream stream, JsonObject body, bool replace)
    {
        var requested = body["events_requested"];
        if (requested is not null || replace)
        {
            if (requested is not JsonArray array || array.Count > 64 || array.Any(e => e is not JsonValue v || v.GetValueKind() != JsonValueKind.String))
            {
                return "events_requested must be an array of event type URIs (at most 64).";
            }

            stream.Requested = [.. array.Select(e => (string)e!)];
        }

        if (body["description"] is JsonValue description && description.GetValueKind() == JsonValueKind.String)
        {
            stream.Description = (string)description!;
        }

        if (body["signing_alg"] is { } alg)
        {
            string? value = alg is JsonValue v && v.GetValueKind() == JsonValueKind.String ? (string?)v : null;
            if (value is not ("ES256" or "RS256"))
            {
                return "signing_alg must be ES256 or RS256.";
            }

            stream.Algorithm = value;
        }

        var delivery = body["delivery"] as JsonObject;
        if (stream.Method == EventUris.Push)
        {
            string? endpoint = Text(delivery, "endpoint_url") ?? (replace ? null : stream.EndpointUrl);
            if (!Uri.TryCreate(endpoint, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https") || !string.IsNullOrEmpty(uri.UserInfo))
            {
                return "A push stream needs delivery.endpoint_url: the receiver's absolute http(s) URL.";
            }

            stream.EndpointUrl = endpoint;
            if (Text(delivery, "authorization_header") is { } authorization)
            {
                if (authorization.Length > 4096 || !IsFieldValue(authorization))
                {
                    return "delivery.authorization_header must be one line of at most 4,096 printable ASCII characters (an HTTP field value, RFC 9110 §5.5).";
                }

                stream.AuthorizationHeader = authorization;
            }

            if (Text(body, "webhook_secret") is { } secret)
            {
                string key = secret.StartsWith("whsec_", StringComparison.Ordinal) ? secret[6..] : secret;
                Span<byte> decoded = stackalloc byte[128];
                if (!Convert.TryFromBase64String(key, decoded, out int length) || length < 24)
                {
                    return "webhook_secret must be whsec_ followed by base64 of 24 to 64 bytes (Standard Webhooks).";
                }

                stream.WebhookSecret = secret;
            }
        }
        else if (Text(delivery, "endpoint_url") is { } supplied && supplied != stream.EndpointUrl)
        {
            return "A poll stream's endpoint_url is supplied by the transmitter; leave it out.";
        }

        return null;
    }

    private async Task UpdateStreamAsync(HttpContext context, ScimScope scope, JsonObject body, bool replace)
    {
        string? id = Text(body, "stream_id");
        if (id is null || registry.Get(scope.Tenant, id) is not { } stream)
        {
            await NotFound(context, id).ConfigureAwait(false);
            return;
        }

        if (Text(body["delivery"] as JsonObject, "method") is { } method && method != stream.Method)
        {
            await Invalid(context, "A stream's delivery method cannot change; create another stream.").ConfigureAwait(false);
            return;
        }

        string? error;
        lock (stream.Gate)
        {
            error = Apply(stream, body, replace);
        }

        if (error is not null)
        {
            await Invalid(context, error).ConfigureAwait(false);
            return;
        }

        await registry.SaveAsync(stream, context.RequestAborted).ConfigureAwait(false);
        registry.Wake(stream);
        await WriteJsonAsync(context, StatusCodes.Status200OK, stream.ToConfiguration(JwksUri(scope))).ConfigureAwait(false);
    }

    private async Task DeleteStreamAsync(HttpContext context, ScimScope scope)
    {
        string id = context.Request.Query["stream_id"].ToString();
        if (registry.Get(scope.Tenant, id) is not { } stream)
        {
            await NotFound(context, id).ConfigureAwait(false);
            return;
        }

        await registry.DeleteAsync(stream, context.RequestAborted).ConfigureAwait(false);
        context.Response.StatusCode = StatusCodes.Status204NoContent;
    }

    private Task GetStatusAsync(HttpContext context, ScimScope scope)
    {
        string id = context.Request.Query["stream_id"].ToString();
        return registry.Get(scope.Tenant, id) is { } stream ? WriteStatusAsync(context, stream) : NotFound(context, id);
    }

    private static Task WriteStatusAsync(HttpContext context, EventStream stream)
    {
        var status = new JsonObject { ["stream_id"] = stream.Id, ["status"] = stream.Status };
        if (stream.Reason is not null)
        {
            status["reason"] = stream.Reason;
        }

        return WriteJsonAsync(context, StatusCodes.Status200OK, status);
    }

    private async Task SetStatusAsync(HttpContext context, ScimScope scope, JsonObject body)
    {
        string? id = Text(body, "stream_id");
        if (id is null || registry.Get(scope.Tenant, id) is not { } stream)
        {
            await NotFound(context, id).ConfigureAwait(false);
            return;
        }

        string? status = Text(body, "status");
        if (!StreamStatus.IsValid(status))
        {
            await Invalid(context, "status must be enabled, paused or disabled.").ConfigureAwait(false);
            return;
        }

        await registry.SetStatusAsync(stream, status!, Text(body, "reason"), context.RequestAborted).ConfigureAwait(false);
        registry.Wake(stream);
        await WriteStatusAsync(context, stream).ConfigureAwait(false);
    }

    // SSF §8.1.4: the receiver asks for a verification event carrying its state.
    private async Task VerifyAsync(HttpContext context, ScimScope scope, JsonObject body)
    {
        string? id = Text(body, "stream_id");
        if (id is null || registry.Get(scope.Tenant, id) is not { } stream)
        {
            await NotFound(context, id).ConfigureAwait(false);
            return;
        }

        var payload = new Dictionary<string, string>();
        if (Text(body, "state") is { } state)
        {
            payload["state"] = state;
        }

        // Kept in the store before the answer: a restart or another host still delivers it.
        await registry.AddControlAsync(stream, EventUris.Verification, payload, CancellationToken.None).ConfigureAwait(false);
        context.Response.StatusCode = StatusCodes.Status204NoContent;
    }

    // RFC 8936 §2.4: acknowledge, report errors, receive; a long poll waits for events.
    private async Task PollAsync(HttpContext context, ScimScope scope, string id, JsonObject body)
    {
        if (registry.Get(scope.Tenant, id) is not { } stream || stream.Method != EventUris.Poll)
        {
            await NotFound(context, id).ConfigureAwait(false);
            return;
        }

        var settled = new List<string>();
        if (body["ack"] is JsonArray acks)
        {
            foreach (var ack in acks)
            {
                if (ack is JsonValue value && value.GetValueKind() == JsonValueKind.String)
                {
                    settled.Add((string)value!);
                }
            }
        }

        // A SET the receiver reports an error for is settled too: sending it again would not help.
        if (body["setErrs"] is JsonObject errors)
        {
            foreach (var (jti, _) in errors)
            {
                settled.Add(jti);
            }
        }

        int max = registry.Options.MaxPollEvents;
        if (body["maxEvents"] is JsonValue maxEvents)
        {
            if (!maxEvents.TryGetValue(out int requested) || requested < 0)
            {
                await Invalid(context, "maxEvents must be a non-negative integer.").ConfigureAwait(false);
                return;
            }

            max = Math.Min(requested, max);
        }

        bool returnImmediately = body["returnImmediately"] is JsonValue immediate && immediate.GetValueKind() == JsonValueKind.True;
        await registry.AcknowledgeAsync(stream, settled, context.RequestAborted).ConfigureAwait(false);

        var sets = new List<OutgoingSet>();
        StreamRead read = default;
        var deadline = DateTime.UtcNow.AddSeconds(registry.Options.MaxPollWaitSeconds);
        while (max > 0 && stream.Status == StreamStatus.Enabled)
        {
            var advanced = registry.Feed.Advanced;
            long cursor;
            lock (stream.Gate)
            {
                cursor = stream.Cursor;
            }

            sets.Clear();
            read = registry.Read(stream, cursor, max, skipAcked: true, withControls: true, sets);
            if (sets.Count == 0 && read.ScannedTo > cursor)
            {
                // Nothing pending up to there (all acknowledged or not requested): the cursor moves.
                registry.SkipTo(stream, read.ScannedTo);
            }

            var left = deadline - DateTime.UtcNow;
            if (sets.Count > 0 || returnImmediately || left <= TimeSpan.Zero)
            {
                break;
            }

            // Long poll (RFC 8936 §2.4): wait for the feed to advance, the client to leave, the
            // deadline, or the server to stop (then answer now, with nothing: the client polls again).
            try
            {
                using var waiting = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, stopping);
                await advanced.WaitAsync(left, waiting.Token).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested && !context.RequestAborted.IsCancellationRequested)
            {
                break;
            }
        }

        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writer.WriteStartObject("sets");
            foreach (var set in sets)
            {
                writer.WriteString(set.Jti, set.Set);
                EventMetrics.RecordDelivery("poll", set.CommittedAt);
            }

            writer.WriteEndObject();
            writer.WriteBoolean("moreAvailable", read.MoreAvailable);
            writer.WriteEndObject();
        }

        context.Response.StatusCode = StatusCodes.Status200OK;
        context.Response.ContentType = JsonMediaType;
        await context.Response.Body.WriteAsync(buffer.GetBuffer().AsMemory(0, (int)buffer.Length), context.RequestAborted).ConfigureAwait(false);
    }

    // Server-sent events for the in-house application: id = position (sequence.k), event = the
    // event URI, data = the SET; resumes after Last-Event-ID (else from the stream's cursor). Reading
    // does not move the stream's cursor: the client keeps its place in Last-Event-ID.
    private async Task ServerSentEventsAsync(HttpContext context, ScimScope scope, string id)
    {
        if (registry.Get(scope.Tenant, id) is not { } stream || stream.Method != EventUris.Poll)
        {
            await NotFound(context, id).ConfigureAwait(false);
            return;
        }

        long after;
        lock (stream.Gate)
        {
            after = stream.Cursor;
        }

        string lastEventId = context.Request.Headers["Last-Event-ID"].ToString();
        if (lastEventId.Length > 0 && !SetFactory.TryParsePosition(lastEventId, out after))
        {
            await Invalid(context, "Last-Event-ID must be an id this stream sent (sequence.k).").ConfigureAwait(false);
            return;
        }

        // A stream outlives the request deadline.
        RequestDeadlines.Disable(context);
        context.Response.StatusCode = StatusCodes.Status200OK;
        context.Response.ContentType = "text/event-stream";
        context.Response.Headers.CacheControl = "no-store";
        var output = context.Response.BodyWriter;
        var sets = new List<OutgoingSet>(256);

        // The client leaving, or the server stopping: the stream ends either way, and a client
        // resumes with Last-Event-ID (on this host once it is back, or on another).
        using var ending = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, stopping);
        var aborted = ending.Token;
        try
        {
            await output.WriteAsync(": scim-fast events\n\n"u8.ToArray(), aborted).ConfigureAwait(false);
            while (!aborted.IsCancellationRequested)
            {
                var advanced = registry.Feed.Advanced;
                sets.Clear();
                var read = stream.Status == StreamStatus.Enabled ? registry.Read(stream, after, 256, skipAcked: false, withControls: false, sets) : default;
                foreach (var set in sets)
                {
                    string frame = "id: " + SetFactory.FormatPosition(set.Position) + "\nevent: " + set.EventUri + "\ndata: " + set.Set + "\n\n";
                    output.Write(Encoding.ASCII.GetBytes(frame));
                    after = set.Position;
                    EventMetrics.RecordDelivery("sse", set.CommittedAt);
                }

                if (sets.Count > 0)
                {
                    await output.FlushAsync(aborted).ConfigureAwait(false);
                }

                if (read.MoreAvailable)
                {
                    continue;
                }

                after = Math.Max(after, read.ScannedTo);
                try
                {
                    // A comment every 15 s keeps proxies from closing an idle stream.
                    await advanced.WaitAsync(TimeSpan.FromSeconds(15), aborted).ConfigureAwait(false);
                }
                catch (TimeoutException)
                {
                    await output.WriteAsync(":\n\n"u8.ToArray(), aborted).ConfigureAwait(false);
                }
            }
        }
        catch (OperationCanceledException) when (aborted.IsCancellationRequested)
        {
            // The client went away, or the server is stopping: that is how a stream ends.
        }
    }

    private Task WithJson(HttpContext context, Func<JsonObject, Task> handle) =>
        RequestBodies.WithBodyAsync(context, maxBodyBytes, body =>
        {
            JsonObject? parsed;
            try
            {
                var reader = new Utf8JsonReader(body, new JsonReaderOptions { MaxDepth = 16 });
                parsed = JsonNode.Parse(ref reader) as JsonObject;
            }
            catch (JsonException)
            {
                parsed = null;
            }

            return parsed is null
                ? ScimResponses.Error(context, new ScimError(StatusCodes.Status400BadRequest, ScimErrorType.InvalidSyntax, "The body must be a JSON object."))
                : handle(parsed);
        });

    // RFC 9110 §5.5: a field value is visible characters, spaces and tabs; no control characters
    // (a NUL was accepted and sent to the receiver as is, CR and LF were already refused). Non-ASCII
    // (obs-text) is refused too: .NET would send it as something other than what was configured.
    private static bool IsFieldValue(string value)
    {
        foreach (char c in value)
        {
            if (c is not ('\t' or (>= ' ' and <= '~')))
            {
                return false;
            }
        }

        return true;
    }

    private static string? Text(JsonObject? node, string name) =>
        node?[name] is JsonValue value && value.GetValueKind() == JsonValueKind.String ? (string?)value : null;

    private static Task Invalid(HttpContext context, string detail) =>
        ScimResponses.Error(context, ScimError.InvalidValue(detail));

    private static Task NotFound(HttpContext context, string? id) =>
        ScimResponses.Error(context, StatusCodes.Status404NotFound, $"No event stream '{id}' for this tenant.");

    private static Task WriteJsonAsync(HttpContext context, int status, JsonNode body)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = JsonMediaType;
        return context.Response.WriteAsync(body.ToJsonString(), context.RequestAborted);
    }
}
