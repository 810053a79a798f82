using System.Net;
using System.Text;
using System.Text.Json.Nodes;

using static Scim.Fast.Server.Tests.ScimHttp;

namespace Scim.Fast.Server.Tests.Events;

/// <summary>A receiver's side of SCIM events in tests: create streams, poll, decode SETs.</summary>
internal static class EventStreamClient
{
    public const string Base = "/scim/v2";

    public static readonly string[] AllEvents =
    [
        "urn:ietf:params:scim:event:prov:create:full", "urn:ietf:params:scim:event:prov:create:notice",
        "urn:ietf:params:scim:event:prov:put:full", "urn:ietf:params:scim:event:prov:put:notice",
        "urn:ietf:params:scim:event:prov:patch:full", "urn:ietf:params:scim:event:prov:patch:notice",
        "urn:ietf:params:scim:event:prov:delete", "urn:ietf:params:scim:event:prov:activate", "urn:ietf:params:scim:event:prov:deactivate",
    ];

    public static async Task<JsonObject> CreatePollStreamAsync(HttpClient client, string[]? events = null, string basePath = Base, string? alg = null)
    {
        var body = new JsonObject
        {
            ["delivery"] = new JsonObject { ["method"] = "urn:ietf:rfc:8936" },
            ["events_requested"] = new JsonArray([.. (events ?? AllEvents).Select(e => (JsonNode)e)]),
        };
        if (alg is not null)
        {
            body["signing_alg"] = alg;
        }

        var reply = await client.Send(HttpMethod.Post, basePath + "/ssf/streams", body.ToJsonString(), mediaType: "application/json");
        Assert.Equal(HttpStatusCode.Created, reply.Status);
        return reply.Body!.AsObject();
    }

    /// <summary>One RFC 8936 poll: the SETs by jti, in the order the server listed them, and moreAvailable.</summary>
    public static async Task<(List<(string Jti, string Set)> Sets, bool More)> PollAsync(HttpClient client, string streamId, IEnumerable<string>? ack = null, int? maxEvents = null, bool returnImmediately = true, string basePath = Base)
    {
        var body = new JsonObject { ["returnImmediately"] = returnImmediately };
        if (ack is not null)
        {
            body["ack"] = new JsonArray([.. ack.Select(a => (JsonNode)a)]);
        }

        if (maxEvents is not null)
        {
            body["maxEvents"] = maxEvents;
        }

        var reply = await client.Send(HttpMethod.Post, basePath + "/ssf/poll/" + streamId, body.ToJsonString(), mediaType: "application/json");
        Assert.Equal(HttpStatusCode.OK, reply.Status);
        var sets = new List<(string, string)>();
        foreach (var (jti, set) in reply.Body!["sets"]!.AsObject())
        {
            sets.Add((jti, (string)set!));
        }

        return (sets, (bool)reply.Body["moreAvailable"]!);
    }

    /// <summary>Polls (acknowledging everything) until nothing more comes; every SET's claims in order.</summary>
    /// <remarks>
    /// The embedded store projects its feed from the log just after the write is acknowledged, so
    /// a poll right after a write may come a moment early: "nothing more" is believed after three
    /// empty polls 50 ms apart.
    /// </remarks>
    public static async Task<List<JsonObject>> DrainAsync(HttpClient client, string streamId, string basePath = Base)
    {
        var all = new List<JsonObject>();
        List<string> ack = [];
        int empty = 0;
        while (true)
        {
            var (sets, more) = await PollAsync(client, streamId, ack, basePath: basePath);
            ack = [.. sets.Select(s => s.Jti)];
            all.AddRange(sets.Select(s => Claims(s.Set)));
            if (sets.Count > 0 || more)
            {
                empty = 0;
            }
            else if (++empty == 3)
            {
                return all;
            }
            else
            {
                await Task.Delay(50);
            }
        }
    }

    public static JsonObject Claims(string set)
    {
        string payload = set.Split('.')[1];
        return JsonNode.Parse(Base64UrlDecode(payload))!.AsObject();
    }

    public static JsonObject Header(string set) => JsonNode.Parse(Base64UrlDecode(set.Split('.')[0]))!.AsObject();

    public static string EventUri(JsonObject claims) => claims["events"]!.AsObject().Single().Key;

    public static JsonObject Event(JsonObject claims) => claims["events"]!.AsObject().Single().Value!.AsObject();

    public static string Subject(JsonObject claims) => (string)claims["sub_id"]!["uri"]!;

    private static byte[] Base64UrlDecode(string value)
    {
        string padded = value.Replace('-', '+').Replace('_', '/');
        padded += new string('=', (4 - (padded.Length % 4)) % 4);
        return Convert.FromBase64String(padded);
    }

    public static string Text(byte[] bytes) => Encoding.UTF8.GetString(bytes);
}
