using System.Net;
using System.Text.Json.Nodes;

namespace Scim.Fast.Server.Tests;

/// <summary>RFC 7644 §4 discovery endpoints, over HTTP against the real server.</summary>
public class DiscoveryEndpointTests(ScimServerFixture server) : IClassFixture<ScimServerFixture>
{
    private const string ErrorUrn = "urn:ietf:params:scim:api:messages:2.0:Error";

    private static string RepoFile(params string[] parts)
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (!File.Exists(Path.Combine(directory!.FullName, "Scim.Fast.sln")))
        {
            directory = directory.Parent;
        }

        return Path.Combine([directory.FullName, .. parts]);
    }

    private async Task<JsonObject> GetJson(string path, HttpStatusCode expected = HttpStatusCode.OK)
    {
        using var response = await server.Client.GetAsync(path);
        Assert.Equal(expected, response.StatusCode);
        Assert.Equal("application/scim+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal("utf-8", response.Content.Headers.ContentType?.CharSet);
        return JsonNode.Parse(await response.Content.ReadAsStringAsync())!.AsObject();
    }

    [Fact]
    public async Task Schemas_ListsUserGroupAndEnterprise()
    {
        var list = await GetJson("/scim/v2/Schemas");

        Assert.Equal("urn:ietf:params:scim:api:messages:2.0:ListResponse", (string?)list["schemas"]![0]);
        Assert.Equal(3, (int)list["totalResults"]!);
        Assert.Equal(
            ["urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User", "urn:ietf:params:scim:schemas:core:2.0:Group"],
            list["Resources"]!.AsArray().Select(r => (string?)r!["id"]));
    }

    [Theory]
    [InlineData("urn:ietf:params:scim:schemas:core:2.0:User", "User.json")]
    [InlineData("urn:ietf:params:scim:schemas:core:2.0:Group", "Group.json")]
    [InlineData("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User", "EnterpriseUser.json")]
    public async Task SchemaById_SaysWhatTheSchemaFileSays(string id, string file)
    {
        var served = await GetJson("/scim/v2/Schemas/" + id);
        var source = JsonNode.Parse(File.ReadAllText(RepoFile("schemas", file)))!.AsObject();

        Assert.Equal(id, (string?)served["id"]);
        Assert.Equal("Schema", (string?)served["meta"]!["resourceType"]);
        Assert.EndsWith("/scim/v2/Schemas/" + id, (string?)served["meta"]!["location"], StringComparison.Ordinal);
        AssertSameAttributes(source["attributes"]!.AsArray(), served["attributes"]!.AsArray(), id);
    }

    [Fact]
    public async Task ResourceTypes_MatchTheResourceTypeFile()
    {
        var list = await GetJson("/scim/v2/ResourceTypes");
        var source = JsonNode.Parse(File.ReadAllText(RepoFile("schemas", "ResourceTypes.json")))!.AsArray();

        var served = list["Resources"]!.AsArray();
        Assert.Equal(source.Count, served.Count);
        for (int i = 0; i < source.Count; i++)
        {
            foreach (var key in new[] { "id", "name", "endpoint", "schema" })
            {
                Assert.Equal((string?)source[i]![key], (string?)served[i]![key]);
            }

            Assert.Equal(
                source[i]!["schemaExtensions"]?.AsArray().Select(e => ((string?)e!["schema"], (bool)e["required"]!)) ?? [],
                served[i]!["schemaExtensions"]!.AsArray().Select(e => ((string?)e!["schema"], (bool)e["required"]!)));
        }
    }

    [Fact]
    public async Task ResourceTypeById_ReturnsOne()
    {
        var user = await GetJson("/scim/v2/ResourceTypes/User");

        Assert.Equal("/Users", (string?)user["endpoint"]);
    }

    [Fact]
    public async Task ServiceProviderConfig_SaysWhatTheServerDoes()
    {
        var config = await GetJson("/scim/v2/ServiceProviderConfig");

        Assert.Equal("urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig", (string?)config["schemas"]![0]);
        foreach (var feature in new[] { "patch", "bulk", "filter", "sort", "etag" })
        {
            Assert.True((bool)config[feature]!["supported"]!, feature);
        }

        // No password handling here (passwords are never stored), so no changePassword.
        Assert.False((bool)config["changePassword"]!["supported"]!);
        Assert.Equal(1000, (int)config["bulk"]!["maxOperations"]!);
        Assert.Equal(4 << 20, (int)config["bulk"]!["maxPayloadSize"]!);
        Assert.Equal(1000, (int)config["filter"]!["maxResults"]!);
        Assert.Equal("oauthbearertoken", (string?)config["authenticationSchemes"]![0]!["type"]);

        // RFC 9865 §4.
        var pagination = config["pagination"]!;
        Assert.True((bool)pagination["cursor"]!);
        Assert.True((bool)pagination["index"]!);
        Assert.Equal(100, (int)pagination["defaultPageSize"]!);
        Assert.Equal(1000, (int)pagination["maxPageSize"]!);
    }

    [Theory]
    [InlineData("/scim/v2/Schemas/urn:example:nope")]
    [InlineData("/scim/v2/ResourceTypes/Nope")]
    [InlineData("/scim/v2/Nope")]
    [InlineData("/scim/v2")]
    [InlineData("/elsewhere")]
    [InlineData("/scim/v2x/Schemas")]
    public async Task UnknownPaths_Are404ScimErrors(string path)
    {
        var error = await GetJson(path, HttpStatusCode.NotFound);

        Assert.Equal(ErrorUrn, (string?)error["schemas"]![0]);
        Assert.Equal("404", (string?)error["status"]);
    }

    [Theory]
    [InlineData("/scim/v2/Users")]
    [InlineData("/scim/v2/Groups/abc")]
    [InlineData("/scim/v2/Bulk")]
    [InlineData("/scim/v2/Me")]
    public async Task TenantEndpoints_WithoutAToken_Are401WithBearerChallenge(string path)
    {
        using var response = await server.Anonymous.GetAsync(path);

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal("Bearer", response.Headers.WwwAuthenticate.Single().Scheme);
        var error = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
        Assert.Equal(ErrorUrn, (string?)error["schemas"]![0]);
        Assert.Equal("401", (string?)error["status"]);
    }

    [Fact]
    public async Task PostToDiscovery_Is405WithAllow()
    {
        using var response = await server.Client.PostAsync("/scim/v2/Schemas", new StringContent("{}"));

        Assert.Equal(HttpStatusCode.MethodNotAllowed, response.StatusCode);
        Assert.Contains("GET", response.Content.Headers.Allow);
        Assert.Equal("405", (string?)JsonNode.Parse(await response.Content.ReadAsStringAsync())!["status"]);
    }

    [Fact]
    public async Task Health_IsServedOutsideTheBasePath()
    {
        Assert.Equal("ok", await server.Client.GetStringAsync("/healthz"));
    }

    [Fact]
    public async Task Readiness_IsServedWithoutAToken_AndSaysWhatIsLoaded()
    {
        server.Store.WaitForOrderedIndexes();
        var response = await server.Anonymous.GetAsync("/readyz");

        Assert.Equal(System.Net.HttpStatusCode.OK, response.StatusCode);
        var body = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
        Assert.Equal("ready", (string?)body["status"]);
        Assert.True((bool)body["orderedIndexesLoaded"]!);
        Assert.Empty(body["indexesBuilding"]!["User"]!.AsArray());
        Assert.Equal(server.Store.OrderedIndexesLoaded && server.Store.StopReason is null, response.IsSuccessStatusCode);
    }

    private static void AssertSameAttributes(JsonArray expected, JsonArray actual, string path)
    {
        Assert.Equal(expected.Select(a => (string?)a!["name"]), actual.Select(a => (string?)a!["name"]));
        for (int i = 0; i < expected.Count; i++)
        {
            var e = expected[i]!.AsObject();
            var a = actual[i]!.AsObject();
            string at = path + ":" + (string?)e["name"];
            Assert.Equal((string?)e["type"], (string?)a["type"]);
            Assert.True((bool?)e["multiValued"] == (bool?)a["multiValued"], at);
            Assert.True(((bool?)e["required"] ?? false) == (bool?)a["required"], at);
            Assert.True(((bool?)e["caseExact"] ?? false) == (bool?)a["caseExact"], at);
            Assert.Equal((string?)e["mutability"] ?? "readWrite", (string?)a["mutability"]);
            Assert.Equal((string?)e["returned"] ?? "default", (string?)a["returned"]);
            Assert.Equal((string?)e["uniqueness"] ?? "none", (string?)a["uniqueness"]);
            Assert.Equal(e["canonicalValues"]?.AsArray().Select(v => (string?)v) ?? [], a["canonicalValues"]?.AsArray().Select(v => (string?)v) ?? []);
            Assert.Equal(e["referenceTypes"]?.AsArray().Select(v => (string?)v) ?? [], a["referenceTypes"]?.AsArray().Select(v => (string?)v) ?? []);
            if (e["subAttributes"] is JsonArray subs)
            {
                AssertSameAttributes(subs, a["subAttributes"]!.AsArray(), at);
            }
        }
    }
}
