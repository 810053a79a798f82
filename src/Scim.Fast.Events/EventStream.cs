using System.Text.Json.Nodes;

using Scim.Fast.Storage.Resources;

namespace Scim.Fast.Events;

/// <summary>Stream status (OpenID SSF 1.0 §8.1.2): enabled delivers, paused holds events, disabled drops them.</summary>
public static class StreamStatus
{
    public const string Enabled = "enabled";
    public const string Paused = "paused";
    public const string Disabled = "disabled";

    public static bool IsValid(string? value) => value is Enabled or Paused or Disabled;
}

/// <summary>
/// One event stream (OpenID SSF 1.0 §8.1.1): what a receiver asked for and how it is delivered, and
/// how far delivery got. A position is <c>sequence × 4 + k</c>: the feed entry's sequence and which
/// of its (up to four) events; <see cref="Cursor"/> is the last position delivered (push) or
/// acknowledged with every one before it (poll). Mutable state is guarded by <see cref="Gate"/>.
/// </summary>
public sealed class EventStream
{
    public required string Id { get; init; }

    public required TenantId Tenant { get; init; }

    /// <summary>RFC 8417 <c>iss</c>: the tenant's SCIM base URL when the stream was created.</summary>
    public required string Issuer { get; init; }

    public required string Method { get; set; }

    /// <summary>Push: the receiver's URL. Poll: the URL the receiver polls (transmitter-supplied).</summary>
    public string? EndpointUrl { get; set; }

    /// <summary>Push: the Authorization header value sent with every SET (never returned by reads).</summary>
    public string? AuthorizationHeader { get; set; }

    public List<string> Requested { get; set; } = [];

    public List<string> Audience { get; set; } = [];

    public string? Description { get; set; }

    public string Status { get; set; } = StreamStatus.Enabled;

    public string? Reason { get; set; }

    /// <summary>ES256 (default) or RS256.</summary>
    public string Algorithm { get; set; } = "ES256";

    /// <summary>Standard Webhooks secret (<c>whsec_</c> + base64) for push receivers that verify HMAC; null: no signature headers.</summary>
    public string? WebhookSecret { get; set; }

    public long Cursor { get; set; }

    /// <summary>
    /// Poll: positions acknowledged out of order, past <see cref="Cursor"/>. Written with the cursor
    /// (the first 4,096; any further are delivered again after a restart).
    /// </summary>
    public SortedSet<long> AckedAhead { get; } = [];

    /// <summary>
    /// Push: positions behind <see cref="Cursor"/> not yet delivered because their subject's receiver
    /// kept failing (parked, so other subjects go on). Written with the cursor, in one record.
    /// </summary>
    public SortedSet<long> Parked { get; } = [];

    /// <summary>Bumped when <see cref="Parked"/> or <see cref="AckedAhead"/> changes (the cursor record is written then).</summary>
    internal int PositionsVersion { get; set; }

    internal int PersistedPositionsVersion { get; set; }

    /// <summary>Bumped when delivery must start over from <see cref="Cursor"/> (re-enabled after disabled).</summary>
    public int Generation { get; set; }

    /// <summary>Verification and stream-updated SETs waiting for delivery ahead of the feed (in memory only).</summary>
    public List<(string Jti, string Set)> Controls { get; } = [];

    public object Gate { get; } = new();

    /// <summary>The cursor as last written to the store.</summary>
    internal long PersistedCursor { get; set; }

    /// <summary>Provisioning events delivered: those requested that this transmitter emits.</summary>
    public List<string> Delivered
    {
        get
        {
            var delivered = new List<string>();
            foreach (string uri in EventUris.Supported)
            {
                if (Requested.Contains(uri))
                {
                    delivered.Add(uri);
                }
            }

            return delivered;
        }
    }

    /// <summary>
    /// Another host's change to the settings (a shared store): taken over here; a status change
    /// restarts delivery like a local one.
    /// </summary>
    internal void TakeSettingsFrom(EventStream stored)
    {
        lock (Gate)
        {
            Method = stored.Method;
            EndpointUrl = stored.EndpointUrl;
            AuthorizationHeader = stored.AuthorizationHeader;
            Requested = stored.Requested;
            Audience = stored.Audience;
            Description = stored.Description;
            Algorithm = stored.Algorithm;
            WebhookSecret = stored.WebhookSecret;
            Reason = stored.Reason;
            if (Status != stored.Status)
            {
                Status = stored.Status;
                Generation++;
            }
        }
    }

    /// <summary>The stream configuration as SSF returns it (no authorization header, no secret).</summary>
    public JsonObject ToConfiguration(string jwksUri)
    {
        var delivery = new JsonObject { ["method"] = Method };
        if (EndpointUrl is not null)
        {
            delivery["endpoint_url"] = EndpointUrl;
        }

        var configuration = new JsonObject
        {
            ["stream_id"] = Id,
            ["iss"] = Issuer,
            ["aud"] = Audience.Count == 1 ? Audience[0] : new JsonArray([.. Audience.Select(a => (JsonNode)a)]),
            ["jwks_uri"] = jwksUri,
            ["delivery"] = delivery,
            ["events_supported"] = new JsonArray([.. EventUris.Supported.Select(e => (JsonNode)e)]),
            ["events_requested"] = new JsonArray([.. Requested.Select(e => (JsonNode)e)]),
            ["events_delivered"] = new JsonArray([.. Delivered.Select(e => (JsonNode)e)]),
            ["signing_alg"] = Algorithm,
        };
        if (Description is not null)
        {
            configuration["description"] = Description;
        }

        return configuration;
    }

    // What the store keeps (the cursor is kept apart: it changes on every delivery).
    internal JsonObject ToStored()
    {
        var stored = new JsonObject
        {
            ["id"] = Id,
            ["tenant"] = Tenant.Value,
            ["iss"] = Issuer,
            ["method"] = Method,
            ["endpoint_url"] = EndpointUrl,
            ["authorization_header"] = AuthorizationHeader,
            ["requested"] = new JsonArray([.. Requested.Select(e => (JsonNode)e)]),
            ["aud"] = new JsonArray([.. Audience.Select(e => (JsonNode)e)]),
            ["description"] = Description,
            ["status"] = Status,
            ["reason"] = Reason,
            ["alg"] = Algorithm,
            ["webhook_secret"] = WebhookSecret,
        };
        return stored;
    }

    internal static EventStream FromStored(JsonObject stored) => new()
    {
        Id = (string)stored["id"]!,
        Tenant = new TenantId((uint)stored["tenant"]!),
        Issuer = (string)stored["iss"]!,
        Method = (string)stored["method"]!,
        EndpointUrl = (string?)stored["endpoint_url"],
        AuthorizationHeader = (string?)stored["authorization_header"],
        Requested = [.. stored["requested"]!.AsArray().Select(e => (string)e!)],
        Audience = [.. stored["aud"]!.AsArray().Select(e => (string)e!)],
        Description = (string?)stored["description"],
        Status = (string)stored["status"]!,
        Reason = (string?)stored["reason"],
        Algorithm = (string)stored["alg"]!,
        WebhookSecret = (string?)stored["webhook_secret"],
    };
}
