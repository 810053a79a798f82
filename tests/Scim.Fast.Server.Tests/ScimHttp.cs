using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;

namespace Scim.Fast.Server.Tests;

/// <summary>Small HTTP helpers for SCIM tests: send JSON, get status, headers and parsed body.</summary>
public static class ScimHttp
{
    public const string UserSchema = "urn:ietf:params:scim:schemas:core:2.0:User";
    public const string GroupSchema = "urn:ietf:params:scim:schemas:core:2.0:Group";
    public const string PatchSchema = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
    public const string ErrorSchema = "urn:ietf:params:scim:api:messages:2.0:Error";
    public const string ListSchema = "urn:ietf:params:scim:api:messages:2.0:ListResponse";

    public sealed record Reply(HttpStatusCode Status, JsonNode? Body, HttpResponseHeaders Headers, HttpContentHeaders? ContentHeaders, string Text)
    {
        public string? ETag => Headers.ETag?.ToString();

        public string Id => (string)Body!["id"]!;

        /// <summary>Asserts a SCIM error with this status (as a string, RFC 7644 §3.12) and scimType.</summary>
        public void AssertError(HttpStatusCode status, string? scimType = null)
        {
            Assert.True(status == Status, $"expected {(int)status}, got {(int)Status}: {Text}");
            Assert.Equal(ErrorSchema, (string?)Body!["schemas"]![0]);
            Assert.Equal(((int)status).ToString(System.Globalization.CultureInfo.InvariantCulture), (string?)Body["status"]);
            Assert.Equal(scimType, (string?)Body["scimType"]);
        }

        public Reply Expect(HttpStatusCode status)
        {
            Assert.True(status == Status, $"expected {(int)status}, got {(int)Status}: {Text}");
            return this;
        }
    }

    public static Task<Reply> Get(this HttpClient client, string path, Action<HttpRequestMessage>? configure = null) =>
        client.Send(HttpMethod.Get, path, (string?)null, configure);

    public static Task<Reply> Delete(this HttpClient client, string path, Action<HttpRequestMessage>? configure = null) =>
        client.Send(HttpMethod.Delete, path, (string?)null, configure);

    public static Task<Reply> Send(this HttpClient client, HttpMethod method, string path, JsonNode body, Action<HttpRequestMessage>? configure = null) =>
        client.Send(method, path, body.ToJsonString(), configure);

    public static async Task<Reply> Send(this HttpClient client, HttpMethod method, string path, string? body, Action<HttpRequestMessage>? configure = null, string mediaType = "application/scim+json")
    {
        using var request = new HttpRequestMessage(method, path);
        if (body is not null)
        {
            request.Content = new StringContent(body, Encoding.UTF8);
            request.Content.Headers.ContentType = new MediaTypeHeaderValue(mediaType);
        }

        configure?.Invoke(request);
        using var response = await client.SendAsync(request);
        string text = await response.Content.ReadAsStringAsync();
        JsonNode? parsed = text.Length == 0 ? null : JsonNode.Parse(text);
        if (text.Length > 0)
        {
            // Every body this server writes is SCIM JSON (RFC 7644 §3.1, §8.1), but SSF's own
            // endpoints' successes (plain JSON, OpenID SSF 1.0) and the JWKS (RFC 7517 §8.5.1).
            string expected = path.Contains("/ssf/jwks", StringComparison.Ordinal) ? "application/jwk-set+json"
                : (path.Contains("/ssf/", StringComparison.Ordinal) || path.StartsWith("/.well-known/", StringComparison.Ordinal)) && (int)response.StatusCode < 300 ? "application/json"
                : "application/scim+json";
            Assert.Equal(expected, response.Content.Headers.ContentType?.MediaType);
        }

        return new Reply(response.StatusCode, parsed, response.Headers, response.Content.Headers, text);
    }

    public static async Task<Reply> SendBytes(this HttpClient client, HttpMethod method, string path, byte[] body, string mediaType = "application/scim+json")
    {
        using var request = new HttpRequestMessage(method, path) { Content = new ByteArrayContent(body) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue(mediaType);
        using var response = await client.SendAsync(request);
        string text = await response.Content.ReadAsStringAsync();
        JsonNode? parsed = null;
        try
        {
            parsed = text.Length == 0 ? null : JsonNode.Parse(text);
        }
        catch (System.Text.Json.JsonException)
        {
        }

        return new Reply(response.StatusCode, parsed, response.Headers, response.Content.Headers, text);
    }

    public static JsonObject User(string userName, string? externalId = null, string? givenName = null)
    {
        var user = new JsonObject { ["schemas"] = new JsonArray(UserSchema), ["userName"] = userName };
        if (externalId is not null)
        {
            user["externalId"] = externalId;
        }

        if (givenName is not null)
        {
            user["name"] = new JsonObject { ["givenName"] = givenName };
        }

        return user;
    }

    public static JsonObject Group(string displayName, params string[] memberIds)
    {
        var members = new JsonArray();
        foreach (var id in memberIds)
        {
            members.Add(new JsonObject { ["value"] = id });
        }

        return new JsonObject { ["schemas"] = new JsonArray(GroupSchema), ["displayName"] = displayName, ["members"] = members };
    }

    public static JsonObject Patch(params JsonObject[] operations) =>
        new() { ["schemas"] = new JsonArray(PatchSchema), ["Operations"] = new JsonArray(operations) };

    public static string Unique(string prefix) => prefix + "-" + Guid.NewGuid().ToString("N")[..12];

    public static IEnumerable<string> Ids(JsonNode list) => list["Resources"]!.AsArray().Select(r => (string)r!["id"]!);
}
