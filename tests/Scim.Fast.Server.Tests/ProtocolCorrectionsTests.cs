using System.Net;
using System.Text.Json.Nodes;

using static Scim.Fast.Server.Tests.ScimHttp;

namespace Scim.Fast.Server.Tests;

/// <summary>
/// RFC points Microsoft's Entra ID test collection and a re-reading of RFC 7643/7644 caught: repeated
/// creates are 409 (§3.3), Idempotency-Key replays, discovery filters are 403 (§4), one primary per
/// multi-valued attribute (7643 §2.4), value filters in attributes (§3.9), Prefer (RFC 7240 §4.2).
/// </summary>
public class ProtocolCorrectionsTests(ScimServerFixture server) : IClassFixture<ScimServerFixture>
{
    private HttpClient Client => server.Client;

    private static Action<HttpRequestMessage> Key(string key) => request => request.Headers.TryAddWithoutValidation("Idempotency-Key", key);

    private static Action<HttpRequestMessage> Prefer(string value) => request => request.Headers.TryAddWithoutValidation("Prefer", value);

    private static JsonObject BulkOf(params JsonObject[] operations) => new()
    {
        ["schemas"] = new JsonArray("urn:ietf:params:scim:api:messages:2.0:BulkRequest"),
        ["Operations"] = new JsonArray(operations),
    };

    private async Task<int> CountUsers(string userName) =>
        (int)(await Client.Get($"/scim/v2/Users?filter=userName eq \"{userName}\"")).Expect(HttpStatusCode.OK).Body!["totalResults"]!;

    // ---- 1. RFC 7644 §3.3: a repeated create is a conflict ----

    [Fact]
    public async Task ThreeIdenticalUserPosts_Are201Then409Then409()
    {
        // Microsoft's collection POSTs the same user (same externalId, same body) three times.
        var body = User(Unique("same"), externalId: Unique("ext"), givenName: "Same");
        (await Client.Send(HttpMethod.Post, "/scim/v2/Users", body)).Expect(HttpStatusCode.Created);
        (await Client.Send(HttpMethod.Post, "/scim/v2/Users", body)).AssertError(HttpStatusCode.Conflict, "uniqueness");
        (await Client.Send(HttpMethod.Post, "/scim/v2/Users", body)).AssertError(HttpStatusCode.Conflict, "uniqueness");
        Assert.Equal(1, await CountUsers((string)body["userName"]!));
    }

    [Fact]
    public async Task IdenticalGroupPosts_AndBulkRepeats_AreConflicts()
    {
        var group = Group(Unique("grp"));
        group["externalId"] = Unique("gext");
        (await Client.Send(HttpMethod.Post, "/scim/v2/Groups", group)).Expect(HttpStatusCode.Created);
        (await Client.Send(HttpMethod.Post, "/scim/v2/Groups", group)).AssertError(HttpStatusCode.Conflict, "uniqueness");

        // The /Bulk batch path too: the same user twice over two requests.
        var user = User(Unique("bulkdup"), externalId: Unique("bext"));
        var bulk = BulkOf(new JsonObject { ["method"] = "POST", ["path"] = "/Users", ["bulkId"] = "u", ["data"] = user });
        var first = (await Client.Send(HttpMethod.Post, "/scim/v2/Bulk", bulk)).Expect(HttpStatusCode.OK).Body!["Operations"]![0]!;
        Assert.Equal("201", (string?)first["status"]);
        var second = (await Client.Send(HttpMethod.Post, "/scim/v2/Bulk", bulk)).Expect(HttpStatusCode.OK).Body!["Operations"]![0]!;
        Assert.Equal("409", (string?)second["status"]);
        Assert.Equal("uniqueness", (string?)second["response"]!["scimType"]);
    }

    // ---- 1b. Idempotency-Key ----

    [Fact]
    public async Task IdempotencyKey_ReplaysTheFirstAnswer_AndOtherBodyIs422()
    {
        string key = Guid.NewGuid().ToString();
        var body = User(Unique("idem"), externalId: Unique("iext"), givenName: "Idem");
        var first = (await Client.Send(HttpMethod.Post, "/scim/v2/Users", body, Key(key))).Expect(HttpStatusCode.Created);
        var again = (await Client.Send(HttpMethod.Post, "/scim/v2/Users", body, Key(key))).Expect(HttpStatusCode.Created);

        Assert.Equal(first.Text, again.Text);
        Assert.Equal(first.Headers.Location, again.Headers.Location);
        Assert.Equal(first.ETag, again.ETag);
        Assert.Equal(1, await CountUsers((string)body["userName"]!));

        // The quoted sf-string form of the same key is the same key.
        (await Client.Send(HttpMethod.Post, "/scim/v2/Users", body, Key("\"" + key + "\""))).Expect(HttpStatusCode.Created);

        // Same key, another body: 422, nothing created.
        var other = User(Unique("idem-other"));
        var refused = await Client.Send(HttpMethod.Post, "/scim/v2/Users", other, Key(key));
        refused.AssertError(HttpStatusCode.UnprocessableEntity);
        Assert.Equal(0, await CountUsers((string)other["userName"]!));

        // Same key and body on another endpoint is another request: 422 too.
        (await Client.Send(HttpMethod.Post, "/scim/v2/Groups", body, Key(key))).AssertError(HttpStatusCode.UnprocessableEntity);

        // Without the key the RFC applies again.
        (await Client.Send(HttpMethod.Post, "/scim/v2/Users", body)).AssertError(HttpStatusCode.Conflict, "uniqueness");
    }

    [Fact]
    public async Task IdempotencyKey_IsScopedToTheToken()
    {
        string key = Guid.NewGuid().ToString();
        string userName = Unique("scoped");
        (await Client.Send(HttpMethod.Post, "/scim/v2/Users", User(userName), Key(key))).Expect(HttpStatusCode.Created);

        // Another tenant's token with the same key and body creates its own user.
        using var acme = server.CreateClient(ScimServerFixture.AcmeToken);
        var created = (await acme.Send(HttpMethod.Post, "/tenants/acme/scim/v2/Users", User(userName), Key(key))).Expect(HttpStatusCode.Created);
        Assert.Contains("/tenants/acme/", created.Headers.Location!.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task IdempotencyKey_ConcurrentRequests_CreateOneResource()
    {
        string key = Guid.NewGuid().ToString();
        var body = User(Unique("concurrent"));
        var replies = await Task.WhenAll(Enumerable.Range(0, 16).Select(_ => Client.Send(HttpMethod.Post, "/scim/v2/Users", body, Key(key))));

        var created = replies.Where(r => r.Status == HttpStatusCode.Created).ToList();
        Assert.NotEmpty(created);
        Assert.Single(created.Select(r => r.Id).Distinct());
        foreach (var reply in replies.Where(r => r.Status != HttpStatusCode.Created))
        {
            // Draft §2.6: a request still running with the same key is 409.
            reply.AssertError(HttpStatusCode.Conflict);
        }

        Assert.Equal(1, await CountUsers((string)body["userName"]!));
        Assert.Empty(server.Store.Verify());
    }

    [Fact]
    public async Task IdempotencyKey_OnGroupsWithMembers_AndOnBulk_Replays()
    {
        var member = (await Client.Send(HttpMethod.Post, "/scim/v2/Users", User(Unique("mem")))).Expect(HttpStatusCode.Created);
        string key = Guid.NewGuid().ToString();
        var group = Group(Unique("igrp"), member.Id);
        var first = (await Client.Send(HttpMethod.Post, "/scim/v2/Groups", group, Key(key))).Expect(HttpStatusCode.Created);
        Assert.Equal(member.Id, (string?)first.Body!["members"]![0]!["value"]);
        var again = (await Client.Send(HttpMethod.Post, "/scim/v2/Groups", group, Key(key))).Expect(HttpStatusCode.Created);
        Assert.Equal(first.Text, again.Text);

        string bulkKey = Guid.NewGuid().ToString();
        string userName = Unique("ibulk");
        var bulk = BulkOf(new JsonObject { ["method"] = "POST", ["path"] = "/Users", ["bulkId"] = "u", ["data"] = User(userName) });
        var bulkFirst = (await Client.Send(HttpMethod.Post, "/scim/v2/Bulk", bulk, Key(bulkKey))).Expect(HttpStatusCode.OK);
        Assert.Equal("201", (string?)bulkFirst.Body!["Operations"]![0]!["status"]);
        var bulkAgain = (await Client.Send(HttpMethod.Post, "/scim/v2/Bulk", bulk, Key(bulkKey))).Expect(HttpStatusCode.OK);
        Assert.Equal(bulkFirst.Text, bulkAgain.Text);
        Assert.Equal(1, await CountUsers(userName));
    }

    [Theory]
    [InlineData("")]
    [InlineData("\"\"")]
    [InlineData("key-\u007f")]
    [InlineData("one, two")]
    public async Task IdempotencyKey_Malformed_Is400(string key)
    {
        var body = User(Unique("badkey"));
        var reply = await Client.Send(HttpMethod.Post, "/scim/v2/Users", body, request => request.Headers.TryAddWithoutValidation("Idempotency-Key", key.Split(", ")));
        reply.AssertError(HttpStatusCode.BadRequest, "invalidValue");
        Assert.Equal(0, await CountUsers((string)body["userName"]!));
    }

    [Fact]
    public async Task IdempotencyKey_TooLong_Is400()
    {
        var reply = await Client.Send(HttpMethod.Post, "/scim/v2/Users", User(Unique("longkey")), Key(new string('k', 256)));
        reply.AssertError(HttpStatusCode.BadRequest, "invalidValue");
    }

    // ---- 2. RFC 7644 §4: discovery endpoints refuse filters ----

    [Theory]
    [InlineData("/scim/v2/Schemas?filter=id eq \"x\"")]
    [InlineData("/scim/v2/ResourceTypes?filter=name eq \"User\"")]
    [InlineData("/scim/v2/ServiceProviderConfig?filter=patch.supported eq true")]
    [InlineData("/scim/v2/Schemas/urn:ietf:params:scim:schemas:core:2.0:User?filter=id pr")]
    public async Task DiscoveryWithFilter_Is403(string path)
    {
        (await server.Anonymous.Get(path)).AssertError(HttpStatusCode.Forbidden);
    }

    // ---- 3. RFC 7643 §2.4: at most one primary ----

    private static JsonObject UserWithTwoPrimaries(string userName)
    {
        var user = User(userName);
        user["emails"] = new JsonArray(
            new JsonObject { ["value"] = "a@example.com", ["type"] = "work", ["primary"] = true },
            new JsonObject { ["value"] = "b@example.com", ["type"] = "home", ["primary"] = true });
        return user;
    }

    [Fact]
    public async Task TwoPrimaries_Are400_OnPostPutAndBulk()
    {
        string userName = Unique("prim");
        var post = await Client.Send(HttpMethod.Post, "/scim/v2/Users", UserWithTwoPrimaries(userName));
        post.AssertError(HttpStatusCode.BadRequest, "invalidValue");
        Assert.Contains("emails", (string?)post.Body!["detail"], StringComparison.Ordinal);
        Assert.Equal(0, await CountUsers(userName));

        var created = (await Client.Send(HttpMethod.Post, "/scim/v2/Users", User(userName))).Expect(HttpStatusCode.Created);
        (await Client.Send(HttpMethod.Put, "/scim/v2/Users/" + created.Id, UserWithTwoPrimaries(userName))).AssertError(HttpStatusCode.BadRequest, "invalidValue");

        // Inside /Bulk, through the batch path (a run of POSTs) and as a single PUT.
        var bulk = BulkOf(
            new JsonObject { ["method"] = "POST", ["path"] = "/Users", ["bulkId"] = "a", ["data"] = UserWithTwoPrimaries(Unique("bprim")) },
            new JsonObject { ["method"] = "PUT", ["path"] = "/Users/" + created.Id, ["data"] = UserWithTwoPrimaries(userName) });
        var results = (await Client.Send(HttpMethod.Post, "/scim/v2/Bulk", bulk)).Expect(HttpStatusCode.OK).Body!["Operations"]!.AsArray();
        Assert.All(results, r =>
        {
            Assert.Equal("400", (string?)r!["status"]);
            Assert.Equal("invalidValue", (string?)r["response"]!["scimType"]);
        });

        // One primary is fine, and PATCH keeps the rule by moving primary.
        var one = User(Unique("oneprim"));
        one["emails"] = new JsonArray(new JsonObject { ["value"] = "a@example.com", ["primary"] = true }, new JsonObject { ["value"] = "b@example.com", ["primary"] = false });
        (await Client.Send(HttpMethod.Post, "/scim/v2/Users", one)).Expect(HttpStatusCode.Created);
    }

    // ---- 4. attributes / excludedAttributes with a value filter ----

    private async Task<string> CreateUserWithEmails()
    {
        var user = User(Unique("mails"));
        user["emails"] = new JsonArray(
            new JsonObject { ["value"] = "work@example.com", ["type"] = "work" },
            new JsonObject { ["value"] = "home@example.com", ["type"] = "home" },
            new JsonObject { ["value"] = "other@example.com", ["type"] = "other" });
        return (await Client.Send(HttpMethod.Post, "/scim/v2/Users", user)).Expect(HttpStatusCode.Created).Id;
    }

    private static string[] Emails(JsonNode resource) =>
        resource["emails"] is JsonArray emails ? [.. emails.Select(e => (string)e!["value"]!)] : [];

    [Fact]
    public async Task AttributesWithAValueFilter_NarrowTheValues()
    {
        string id = await CreateUserWithEmails();

        var byId = (await Client.Get($"/scim/v2/Users/{id}?attributes=emails[type eq \"work\"]")).Expect(HttpStatusCode.OK).Body!;
        Assert.Equal(["work@example.com"], Emails(byId));
        Assert.Null(byId["userName"]);
        Assert.Equal(id, (string?)byId["id"]);

        var listed = (await Client.Get($"/scim/v2/Users?filter=id eq \"{id}\"&attributes=emails[value eq \"home@example.com\"]")).Expect(HttpStatusCode.OK).Body!;
        Assert.Equal(["home@example.com"], Emails(listed["Resources"]![0]!));

        // With a sub-attribute after the filter, and next to a plain name.
        var sub = (await Client.Get($"/scim/v2/Users/{id}?attributes=userName,emails[type eq \"work\" or type eq \"home\"].value")).Expect(HttpStatusCode.OK).Body!;
        Assert.Equal(["work@example.com", "home@example.com"], Emails(sub));
        Assert.Null(sub["emails"]![0]!["type"]);
        Assert.NotNull(sub["userName"]);

        // excludedAttributes drops the matching values only.
        var excluded = (await Client.Get($"/scim/v2/Users/{id}?excludedAttributes=emails[type eq \"home\"]")).Expect(HttpStatusCode.OK).Body!;
        Assert.Equal(["work@example.com", "other@example.com"], Emails(excluded));
        Assert.NotNull(excluded["userName"]);

        // The stored resource is untouched.
        var full = (await Client.Get("/scim/v2/Users/" + id)).Expect(HttpStatusCode.OK).Body!;
        Assert.Equal(3, Emails(full).Length);

        // .search takes it too.
        var search = new JsonObject
        {
            ["schemas"] = new JsonArray("urn:ietf:params:scim:api:messages:2.0:SearchRequest"),
            ["filter"] = $"id eq \"{id}\"",
            ["attributes"] = new JsonArray("emails[type eq \"other\"]"),
        };
        var searched = (await Client.Send(HttpMethod.Post, "/scim/v2/Users/.search", search)).Expect(HttpStatusCode.OK).Body!;
        Assert.Equal(["other@example.com"], Emails(searched["Resources"]![0]!));
    }

    [Fact]
    public async Task AttributesWithAValueFilter_NarrowGroupMembers()
    {
        var a = (await Client.Send(HttpMethod.Post, "/scim/v2/Users", User(Unique("ma")))).Expect(HttpStatusCode.Created);
        var b = (await Client.Send(HttpMethod.Post, "/scim/v2/Users", User(Unique("mb")))).Expect(HttpStatusCode.Created);
        var group = (await Client.Send(HttpMethod.Post, "/scim/v2/Groups", Group(Unique("narrow"), a.Id, b.Id))).Expect(HttpStatusCode.Created);

        static string[] Members(JsonNode resource) => [.. resource["members"]!.AsArray().Select(m => (string)m!["value"]!)];

        // By id (members streamed from the store) and in a list (members loaded into the model).
        var byId = (await Client.Get($"/scim/v2/Groups/{group.Id}?attributes=members[value eq \"{b.Id}\"]")).Expect(HttpStatusCode.OK).Body!;
        Assert.Equal([b.Id], Members(byId));
        var listed = (await Client.Get($"/scim/v2/Groups?filter=id eq \"{group.Id}\"&attributes=members[value eq \"{a.Id}\"]")).Expect(HttpStatusCode.OK).Body!;
        Assert.Equal([a.Id], Members(listed["Resources"]![0]!));
        var excluded = (await Client.Get($"/scim/v2/Groups/{group.Id}?excludedAttributes=members[value eq \"{a.Id}\"]")).Expect(HttpStatusCode.OK).Body!;
        Assert.Equal([b.Id], Members(excluded));
    }

    [Theory]
    [InlineData("emails[type eq \"work\"")]
    [InlineData("emails[type eq]")]
    [InlineData("emails[type eq \"work\"].nosuch")]
    [InlineData("userName[value eq \"x\"]")]
    public async Task AttributesWithAMalformedValueFilter_Are400InvalidPath(string attributes)
    {
        string id = await CreateUserWithEmails();
        (await Client.Get($"/scim/v2/Users/{id}?attributes={Uri.EscapeDataString(attributes)}")).AssertError(HttpStatusCode.BadRequest, "invalidPath");
        (await Client.Get($"/scim/v2/Users?attributes={Uri.EscapeDataString(attributes)}")).AssertError(HttpStatusCode.BadRequest, "invalidPath");

        // Checked before a write: the PATCH does not happen.
        var patch = Patch(new JsonObject { ["op"] = "replace", ["path"] = "displayName", ["value"] = "Changed" });
        (await Client.Send(HttpMethod.Patch, $"/scim/v2/Users/{id}?attributes={Uri.EscapeDataString(attributes)}", patch)).AssertError(HttpStatusCode.BadRequest, "invalidPath");
        Assert.Null((await Client.Get("/scim/v2/Users/" + id)).Body!["displayName"]);
    }

    // ---- 5. Prefer: return=minimal / return=representation ----

    [Fact]
    public async Task Prefer_OnUserPatchAndPut()
    {
        var user = (await Client.Send(HttpMethod.Post, "/scim/v2/Users", User(Unique("pref")))).Expect(HttpStatusCode.Created);
        var patch = Patch(new JsonObject { ["op"] = "replace", ["path"] = "displayName", ["value"] = "Minimal" });

        // Default for users: 200 with the resource.
        var plain = (await Client.Send(HttpMethod.Patch, "/scim/v2/Users/" + user.Id, patch)).Expect(HttpStatusCode.OK);
        Assert.False(plain.Headers.Contains("Preference-Applied"));

        var minimal = (await Client.Send(HttpMethod.Patch, "/scim/v2/Users/" + user.Id, patch, Prefer("return=minimal"))).Expect(HttpStatusCode.NoContent);
        Assert.Equal("", minimal.Text);
        Assert.NotNull(minimal.ETag);
        Assert.Equal("return=minimal", minimal.Headers.GetValues("Preference-Applied").Single());

        // attributes forces a body (RFC 7644 §3.5.2), whatever the preference.
        var forced = (await Client.Send(HttpMethod.Patch, "/scim/v2/Users/" + user.Id + "?attributes=displayName", patch, Prefer("return=minimal"))).Expect(HttpStatusCode.OK);
        Assert.Equal("Minimal", (string?)forced.Body!["displayName"]);
        Assert.False(forced.Headers.Contains("Preference-Applied"));

        var put = User((string)user.Body!["userName"]!);
        put["displayName"] = "Put";
        var putMinimal = (await Client.Send(HttpMethod.Put, "/scim/v2/Users/" + user.Id, put, Prefer("respond-async, return=minimal"))).Expect(HttpStatusCode.NoContent);
        Assert.Equal("return=minimal", putMinimal.Headers.GetValues("Preference-Applied").Single());
        var current = (await Client.Get("/scim/v2/Users/" + user.Id)).Expect(HttpStatusCode.OK);
        Assert.Equal("Put", (string?)current.Body!["displayName"]);
        Assert.Equal(current.ETag, putMinimal.ETag);

        var putFull = (await Client.Send(HttpMethod.Put, "/scim/v2/Users/" + user.Id, put, Prefer("return=representation"))).Expect(HttpStatusCode.OK);
        Assert.Equal("Put", (string?)putFull.Body!["displayName"]);
        Assert.Equal("return=representation", putFull.Headers.GetValues("Preference-Applied").Single());
    }

    [Fact]
    public async Task Prefer_OnGroupPatchAndPut()
    {
        var member = (await Client.Send(HttpMethod.Post, "/scim/v2/Users", User(Unique("gm")))).Expect(HttpStatusCode.Created);
        var group = (await Client.Send(HttpMethod.Post, "/scim/v2/Groups", Group(Unique("pg")))).Expect(HttpStatusCode.Created);
        var add = Patch(new JsonObject { ["op"] = "add", ["path"] = "members", ["value"] = new JsonArray(new JsonObject { ["value"] = member.Id }) });

        // Default for groups: 204 (Entra ID).
        (await Client.Send(HttpMethod.Patch, "/scim/v2/Groups/" + group.Id, add)).Expect(HttpStatusCode.NoContent);

        var rename = Patch(new JsonObject { ["op"] = "replace", ["path"] = "displayName", ["value"] = Unique("renamed") });
        var full = (await Client.Send(HttpMethod.Patch, "/scim/v2/Groups/" + group.Id, rename, Prefer("return=representation"))).Expect(HttpStatusCode.OK);
        Assert.Equal("return=representation", full.Headers.GetValues("Preference-Applied").Single());
        Assert.Equal(member.Id, (string?)full.Body!["members"]![0]!["value"]);
        Assert.Equal(full.ETag, (await Client.Get("/scim/v2/Groups/" + group.Id)).ETag);

        var minimal = (await Client.Send(HttpMethod.Patch, "/scim/v2/Groups/" + group.Id, rename, Prefer("RETURN=MINIMAL"))).Expect(HttpStatusCode.NoContent);
        Assert.Equal("return=minimal", minimal.Headers.GetValues("Preference-Applied").Single());

        var put = Group((string)full.Body["displayName"]!, member.Id);
        (await Client.Send(HttpMethod.Put, "/scim/v2/Groups/" + group.Id, put, Prefer("return=minimal"))).Expect(HttpStatusCode.NoContent);
        var putFull = (await Client.Send(HttpMethod.Put, "/scim/v2/Groups/" + group.Id, put)).Expect(HttpStatusCode.OK);
        Assert.Equal(member.Id, (string?)putFull.Body!["members"]![0]!["value"]);
    }
}

/// <summary>Idempotency-Key records survive a restart of the server (they live in the store).</summary>
public class IdempotencyRestartTests(ScimServerFixture server) : IClassFixture<ScimServerFixture>
{
    [Fact]
    public async Task IdempotencyKey_ReplaysAfterARestart()
    {
        string key = Guid.NewGuid().ToString();
        var body = User(Unique("restart"), externalId: Unique("rext"));
        var first = (await server.Client.Send(HttpMethod.Post, "/scim/v2/Users", body, r => r.Headers.Add("Idempotency-Key", key))).Expect(HttpStatusCode.Created);

        await server.RestartAsync();

        var again = (await server.Client.Send(HttpMethod.Post, "/scim/v2/Users", body, r => r.Headers.Add("Idempotency-Key", key))).Expect(HttpStatusCode.Created);
        Assert.Equal(first.Id, again.Id);
        Assert.Equal(first.Text, again.Text);
        (await server.Client.Send(HttpMethod.Post, "/scim/v2/Users", User(Unique("x")), r => r.Headers.Add("Idempotency-Key", key)))
            .AssertError(HttpStatusCode.UnprocessableEntity);
    }
}
