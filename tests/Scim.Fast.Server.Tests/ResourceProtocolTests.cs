using System.Net;
using System.Text;
using System.Text.Json.Nodes;

using static Scim.Fast.Server.Tests.ScimHttp;

namespace Scim.Fast.Server.Tests;

/// <summary>RFC 7644 §3.3–3.6 and §3.14 over HTTP against the real server and store.</summary>
public class ResourceProtocolTests(ScimServerFixture server) : IClassFixture<ScimServerFixture>
{
    private HttpClient Client => server.Client;

    [Fact]
    public async Task EmailLookups_FollowPatchPutAndDelete()
    {
        // emails.value is answered from a lookup index (RFC 7643 §4.1.2: caseExact false); each
        // write must move the user's entries with it.
        string mail = Unique("mail") + "@example.com";
        string other = Unique("other") + "@example.com";
        var body = User(Unique("mailer"));
        body["emails"] = new JsonArray(new JsonObject { ["value"] = mail, ["type"] = "work" });
        string id = (await Client.Send(HttpMethod.Post, "/scim/v2/Users", body)).Expect(HttpStatusCode.Created).Id;

        async Task<string[]> Find(string address) =>
            Ids((await Client.Get($"/scim/v2/Users?filter=emails.value eq \"{address.ToUpperInvariant()}\"")).Expect(HttpStatusCode.OK).Body!).ToArray();

        Assert.Equal([id], await Find(mail));
        (await Client.Send(HttpMethod.Patch, "/scim/v2/Users/" + id,
            Patch(new JsonObject { ["op"] = "replace", ["path"] = "emails[type eq \"work\"].value", ["value"] = other }))).Expect(HttpStatusCode.OK);
        Assert.Empty(await Find(mail));
        Assert.Equal([id], await Find(other));

        body["emails"] = new JsonArray(new JsonObject { ["value"] = mail }, new JsonObject { ["value"] = other });
        (await Client.Send(HttpMethod.Put, "/scim/v2/Users/" + id, body)).Expect(HttpStatusCode.OK);
        Assert.Equal([id], await Find(mail));
        Assert.Equal([id], await Find(other));

        (await Client.Delete("/scim/v2/Users/" + id)).Expect(HttpStatusCode.NoContent);
        Assert.Empty(await Find(mail));
        Assert.Empty(await Find(other));
    }

    [Theory]
    [InlineData(5)]  // few candidates: read and filtered where the lookup is answered
    [InlineData(20)] // more: through the query's candidate blocks
    public async Task AnEmailSharedByUsers_ListsEveryHolder_InAnyCase_PagedLikeAnyList(int holders)
    {
        // emails.value compares case-insensitively (RFC 7643 §4.1.2), so each holder matches
        // whatever case it was stored in; pages follow RFC 7644 §3.4.2.4.
        string mail = Unique("shared") + "@Example.com";
        var ids = new List<string>();
        for (int i = 0; i < holders; i++)
        {
            var body = User(Unique("sharer"));
            body["emails"] = new JsonArray(new JsonObject { ["value"] = i % 2 == 0 ? mail : mail.ToUpperInvariant() });
            ids.Add((await Client.Send(HttpMethod.Post, "/scim/v2/Users", body)).Expect(HttpStatusCode.Created).Id);
        }

        string filter = "filter=" + Uri.EscapeDataString($"emails.value eq \"{mail.ToLowerInvariant()}\"");
        var all = (await Client.Get("/scim/v2/Users?count=100&" + filter)).Expect(HttpStatusCode.OK).Body!;
        Assert.Equal(holders, (int)all["totalResults"]!);
        var listed = Ids(all).ToList();
        Assert.Equal(ids.Order(StringComparer.Ordinal), listed.Order(StringComparer.Ordinal));

        var page = (await Client.Get("/scim/v2/Users?startIndex=2&count=2&" + filter)).Expect(HttpStatusCode.OK).Body!;
        Assert.Equal(holders, (int)page["totalResults"]!);
        Assert.Equal(2, (int)page["itemsPerPage"]!);
        Assert.Equal(listed.Skip(1).Take(2), Ids(page));

        var total = (await Client.Get("/scim/v2/Users?count=0&" + filter)).Expect(HttpStatusCode.OK).Body!;
        Assert.Equal(holders, (int)total["totalResults"]!);
        Assert.Empty(Ids(total));

        // A deleted holder leaves the list (its index entry goes with it).
        (await Client.Delete("/scim/v2/Users/" + ids[0])).Expect(HttpStatusCode.NoContent);
        Assert.Equal(holders - 1, (int)(await Client.Get("/scim/v2/Users?" + filter)).Expect(HttpStatusCode.OK).Body!["totalResults"]!);
    }

    [Fact]
    public async Task AnExternalIdSharedPastTheIndexCap_IsStillFoundByScanning()
    {
        // Past ResourceStore.MaxListedIds (1,000) holders the store stops listing the value; the
        // filter must then fall back to a scan and still find every holder, not none.
        string shared = Unique("shared");
        for (int part = 0; part < 2; part++)
        {
            var operations = new JsonArray();
            for (int i = 0; i < 501; i++)
            {
                operations.Add(new JsonObject { ["method"] = "POST", ["path"] = "/Users", ["bulkId"] = "b" + i, ["data"] = User(Unique("holder"), externalId: shared) });
            }

            var bulk = new JsonObject { ["schemas"] = new JsonArray("urn:ietf:params:scim:api:messages:2.0:BulkRequest"), ["Operations"] = operations };
            (await Client.Send(HttpMethod.Post, "/scim/v2/Bulk", bulk)).Expect(HttpStatusCode.OK);
        }

        var list = (await Client.Get($"/scim/v2/Users?filter=externalId eq \"{shared}\"&count=5")).Expect(HttpStatusCode.OK).Body!;
        Assert.Equal(1002, (int)list["totalResults"]!);
        Assert.Equal(5, list["Resources"]!.AsArray().Count);
    }

    [Fact]
    public async Task MoreEmailsThanTheIndexTakes_Is400InvalidValue()
    {
        var body = User(Unique("hoarder"));
        body["emails"] = new JsonArray([.. Enumerable.Range(0, 62).Select(i => (JsonNode)new JsonObject { ["value"] = $"a{i}@example.com" })]);
        (await Client.Send(HttpMethod.Post, "/scim/v2/Users", body)).AssertError(HttpStatusCode.BadRequest, "invalidValue");

        // 61 is still fine.
        body["emails"] = new JsonArray([.. Enumerable.Range(0, 61).Select(i => (JsonNode)new JsonObject { ["value"] = $"a{i}@example.com" })]);
        (await Client.Send(HttpMethod.Post, "/scim/v2/Users", body)).Expect(HttpStatusCode.Created);
    }

    [Fact]
    public async Task UserLifecycle_CreateReadReplacePatchDelete()
    {
        string userName = Unique("ada");
        var body = User(userName, externalId: "ext-" + userName, givenName: "Ada");
        body["password"] = "s3cret-Pa55";
        body["id"] = "client-chosen";
        body["meta"] = new JsonObject { ["created"] = "2001-01-01T00:00:00Z" };

        var created = (await Client.Send(HttpMethod.Post, "/scim/v2/Users", body)).Expect(HttpStatusCode.Created);
        string id = created.Id;

        // RFC 7643 §3.1: id and meta are the server's; RFC 7644 §3.3: Location = meta.location; §3.14 ETag = meta.version.
        Assert.NotEqual("client-chosen", id);
        Assert.Equal((string?)created.Body!["meta"]!["location"], created.Headers.Location!.ToString());
        Assert.EndsWith("/scim/v2/Users/" + id, created.Headers.Location!.ToString());
        Assert.Equal((string?)created.Body["meta"]!["version"], created.ETag);
        Assert.NotEqual("2001-01-01T00:00:00Z", (string?)created.Body["meta"]!["created"]);
        Assert.Equal("User", (string?)created.Body["meta"]!["resourceType"]);
        Assert.Null(created.Body["password"]);

        var read = (await Client.Get("/scim/v2/Users/" + id)).Expect(HttpStatusCode.OK);
        Assert.Equal(userName, (string?)read.Body!["userName"]);
        Assert.Equal("Ada", (string?)read.Body["name"]!["givenName"]);
        Assert.Null(read.Body["password"]);

        // PUT replaces: name left out is cleared; id in the body is ignored.
        var replacement = User(userName, externalId: "ext-" + userName);
        replacement["id"] = id;
        replacement["displayName"] = "Ada L.";
        var replaced = (await Client.Send(HttpMethod.Put, "/scim/v2/Users/" + id, replacement)).Expect(HttpStatusCode.OK);
        Assert.Null(replaced.Body!["name"]);
        Assert.Equal("Ada L.", (string?)replaced.Body["displayName"]);
        Assert.NotEqual(created.ETag, replaced.ETag);
        Assert.Equal((string?)created.Body["meta"]!["created"], (string?)replaced.Body["meta"]!["created"]);

        var patched = (await Client.Send(HttpMethod.Patch, "/scim/v2/Users/" + id,
            Patch(new JsonObject { ["op"] = "replace", ["path"] = "active", ["value"] = false }))).Expect(HttpStatusCode.OK);
        Assert.False((bool)patched.Body!["active"]!);

        (await Client.Delete("/scim/v2/Users/" + id)).Expect(HttpStatusCode.NoContent);
        (await Client.Get("/scim/v2/Users/" + id)).AssertError(HttpStatusCode.NotFound);
        (await Client.Delete("/scim/v2/Users/" + id)).AssertError(HttpStatusCode.NotFound);
        var afterDelete = (await Client.Get($"/scim/v2/Users?filter=userName eq \"{userName}\"")).Expect(HttpStatusCode.OK);
        Assert.Equal(0, (int)afterDelete.Body!["totalResults"]!);
        Assert.Empty(server.Store.Verify());
    }

    [Fact]
    public async Task ETags_IfMatchIsCheckedAtomically_IfNoneMatchGives304()
    {
        var created = (await Client.Send(HttpMethod.Post, "/scim/v2/Users", User(Unique("etag")))).Expect(HttpStatusCode.Created);
        string path = "/scim/v2/Users/" + created.Id;
        string etag = created.ETag!;

        (await Client.Get(path, r => r.Headers.TryAddWithoutValidation("If-None-Match", etag))).Expect(HttpStatusCode.NotModified);
        (await Client.Get(path, r => r.Headers.TryAddWithoutValidation("If-None-Match", "W/\"999\""))).Expect(HttpStatusCode.OK);

        var patch = Patch(new JsonObject { ["op"] = "add", ["path"] = "nickName", ["value"] = "n1" });
        var first = (await Client.Send(HttpMethod.Patch, path, patch, r => r.Headers.TryAddWithoutValidation("If-Match", etag))).Expect(HttpStatusCode.OK);
        // The same If-Match again: the version moved on, so 412 and no change.
        var stale = Patch(new JsonObject { ["op"] = "add", ["path"] = "nickName", ["value"] = "n2" });
        (await Client.Send(HttpMethod.Patch, path, stale, r => r.Headers.TryAddWithoutValidation("If-Match", etag))).AssertError(HttpStatusCode.PreconditionFailed);
        (await Client.Send(HttpMethod.Put, path, User((string)first.Body!["userName"]!), r => r.Headers.TryAddWithoutValidation("If-Match", etag))).AssertError(HttpStatusCode.PreconditionFailed);
        (await Client.Delete(path, r => r.Headers.TryAddWithoutValidation("If-Match", etag))).AssertError(HttpStatusCode.PreconditionFailed);
        Assert.Equal("n1", (string?)(await Client.Get(path)).Body!["nickName"]);

        (await Client.Delete(path, r => r.Headers.TryAddWithoutValidation("If-Match", first.ETag!))).Expect(HttpStatusCode.NoContent);
    }

    [Fact]
    public async Task ConcurrentCreatesOfOneUserName_OneWinsTheRestAre409()
    {
        string userName = Unique("race");
        var replies = await Task.WhenAll(Enumerable.Range(0, 12).Select(i =>
            Client.Send(HttpMethod.Post, "/scim/v2/Users", User(i % 2 == 0 ? userName : userName.ToUpperInvariant(), externalId: "x" + i))));

        Assert.Single(replies, r => r.Status == HttpStatusCode.Created);
        foreach (var reply in replies.Where(r => r.Status != HttpStatusCode.Created))
        {
            reply.AssertError(HttpStatusCode.Conflict, "uniqueness");
        }

        Assert.Empty(server.Store.Verify());
    }

    [Fact]
    public async Task RepeatedCreate_WithIdenticalContent_Is409()
    {
        // RFC 7644 §3.3: a create that collides with an existing userName is 409 uniqueness, even
        // when the body is identical (a client that wants safe retries sends Idempotency-Key).
        var body = User(Unique("retry"), externalId: Unique("ext"), givenName: "R");
        (await Client.Send(HttpMethod.Post, "/scim/v2/Users", body)).Expect(HttpStatusCode.Created);
        (await Client.Send(HttpMethod.Post, "/scim/v2/Users", body)).AssertError(HttpStatusCode.Conflict, "uniqueness");
    }

    [Fact]
    public async Task ConcurrentMemberAdds_LoseNoMember()
    {
        var group = (await Client.Send(HttpMethod.Post, "/scim/v2/Groups", Group(Unique("g")))).Expect(HttpStatusCode.Created);
        var users = await Task.WhenAll(Enumerable.Range(0, 16).Select(_ => Client.Send(HttpMethod.Post, "/scim/v2/Users", User(Unique("m")))));
        var patches = await Task.WhenAll(users.Select(u => Client.Send(HttpMethod.Patch, "/scim/v2/Groups/" + group.Id,
            Patch(new JsonObject { ["op"] = "add", ["path"] = "members", ["value"] = new JsonArray(new JsonObject { ["value"] = u.Id }) }))));

        Assert.All(patches, p => Assert.Equal(HttpStatusCode.NoContent, p.Status));
        var read = (await Client.Get("/scim/v2/Groups/" + group.Id)).Expect(HttpStatusCode.OK);
        Assert.Equal(users.Select(u => u.Id).Order(), read.Body!["members"]!.AsArray().Select(m => (string)m!["value"]!).Order());
        Assert.Equal(16L, server.Store.MemberCount(default, group.Id));
        Assert.Empty(server.Store.Verify());
    }

    // RFC 7644 §3.6: a deleted resource is in no group. Users are deleted while groups naming them
    // are created (one by one and in /Bulk), replaced and patched: whatever wins each race, no group
    // may end up naming a user that is gone (the write re-checks its members when a delete ran
    // between its check and its commit).
    [Fact]
    public async Task MembersDeletedDuringGroupWrites_NeverStayBehind()
    {
        var groups = new List<string>();
        for (int round = 0; round < 6; round++)
        {
            var users = await Task.WhenAll(Enumerable.Range(0, 24).Select(_ => Client.Send(HttpMethod.Post, "/scim/v2/Users", User(Unique("race")))));
            string[] ids = [.. users.Select(u => u.Expect(HttpStatusCode.Created).Id)];
            var target = (await Client.Send(HttpMethod.Post, "/scim/v2/Groups", Group(Unique("target")))).Expect(HttpStatusCode.Created);
            groups.Add(target.Id);

            var writes = new List<Task<Reply>>();
            for (int i = 0; i < ids.Length; i += 4)
            {
                string[] some = ids[i..(i + 4)];
                writes.Add(Client.Send(HttpMethod.Post, "/scim/v2/Groups", Group(Unique("raced"), some)));
                writes.Add(Client.Send(HttpMethod.Patch, "/scim/v2/Groups/" + target.Id,
                    Patch(new JsonObject { ["op"] = "add", ["path"] = "members", ["value"] = new JsonArray([.. some.Select(id => (JsonNode)new JsonObject { ["value"] = id })]) })));
                writes.Add(Client.Send(HttpMethod.Post, "/scim/v2/Bulk", new JsonObject
                {
                    ["schemas"] = new JsonArray("urn:ietf:params:scim:api:messages:2.0:BulkRequest"),
                    ["Operations"] = new JsonArray(
                        new JsonObject { ["method"] = "POST", ["path"] = "/Groups", ["bulkId"] = "a", ["data"] = Group(Unique("bulk-raced"), some) },
                        new JsonObject { ["method"] = "POST", ["path"] = "/Groups", ["bulkId"] = "b", ["data"] = Group(Unique("bulk-raced"), some[..2]) }),
                }));
            }

            var deletes = ids.Select(id => Client.Delete("/scim/v2/Users/" + id)).ToList();
            await Task.WhenAll(deletes);
            Assert.All(deletes, d => Assert.Equal(HttpStatusCode.NoContent, d.Result.Status));
            foreach (var write in await Task.WhenAll(writes))
            {
                // Created, patched or refused for naming a user already gone: never anything else.
                Assert.Contains(write.Status, new[] { HttpStatusCode.Created, HttpStatusCode.NoContent, HttpStatusCode.OK, HttpStatusCode.BadRequest });
                if (write.Status == HttpStatusCode.Created && write.Id is { Length: > 0 } created)
                {
                    groups.Add(created);
                }

                if (write.Body?["Operations"] is JsonArray operations)
                {
                    groups.AddRange(operations.Where(o => (string?)o!["status"] == "201").Select(o => ((string)o!["location"]!).Split('/')[^1]));
                }
            }
        }

        foreach (var group in groups)
        {
            var read = (await Client.Get("/scim/v2/Groups/" + group)).Expect(HttpStatusCode.OK);
            Assert.Empty(read.Body!["members"]?.AsArray() ?? []);
            Assert.Equal(0L, server.Store.MemberCount(default, group));
        }

        Assert.Empty(server.Store.Verify());
    }

    [Fact]
    public async Task DeletingAUser_RemovesItFromEveryGroup()
    {
        var user = (await Client.Send(HttpMethod.Post, "/scim/v2/Users", User(Unique("leaver")))).Expect(HttpStatusCode.Created);
        var stay = (await Client.Send(HttpMethod.Post, "/scim/v2/Users", User(Unique("stayer")))).Expect(HttpStatusCode.Created);
        var g1 = (await Client.Send(HttpMethod.Post, "/scim/v2/Groups", Group(Unique("g1"), user.Id, stay.Id))).Expect(HttpStatusCode.Created);
        var g2 = (await Client.Send(HttpMethod.Post, "/scim/v2/Groups", Group(Unique("g2"), user.Id))).Expect(HttpStatusCode.Created);
        var withGroups = (await Client.Get("/scim/v2/Users/" + user.Id)).Body!;
        Assert.Equal(new[] { g1.Id, g2.Id }.Order(), withGroups["groups"]!.AsArray().Select(g => (string)g!["value"]!).Order());

        (await Client.Delete("/scim/v2/Users/" + user.Id)).Expect(HttpStatusCode.NoContent);

        var members = (await Client.Get("/scim/v2/Groups/" + g1.Id)).Body!["members"]!.AsArray();
        Assert.Equal([stay.Id], members.Select(m => (string)m!["value"]!));
        Assert.Empty((await Client.Get("/scim/v2/Groups/" + g2.Id)).Body!["members"]!.AsArray());
        var byMember = (await Client.Get($"/scim/v2/Groups?filter=members.value eq \"{user.Id}\"")).Body!;
        Assert.Equal(0, (int)byMember["totalResults"]!);
        Assert.Empty(server.Store.Verify());
    }

    [Fact]
    public async Task AUsersGroups_ShowEachGroupsCurrentName_AfterRenames()
    {
        // User.groups' display (RFC 7643 §4.1.2) comes from the group, which the store keeps names
        // of in memory once read: a rename by PATCH, by PUT or through /Bulk shows on the next GET.
        var user = (await Client.Send(HttpMethod.Post, "/scim/v2/Users", User(Unique("named")))).Expect(HttpStatusCode.Created);
        string first = Unique("team");
        var group = (await Client.Send(HttpMethod.Post, "/scim/v2/Groups", Group(first, user.Id))).Expect(HttpStatusCode.Created);

        async Task<string?> Display() =>
            (string?)(await Client.Get("/scim/v2/Users/" + user.Id)).Expect(HttpStatusCode.OK).Body!["groups"]!.AsArray().Single()!["display"];

        Assert.Equal(first, await Display());
        Assert.Equal(first, await Display());

        string patched = Unique("patched");
        (await Client.Send(HttpMethod.Patch, "/scim/v2/Groups/" + group.Id,
            Patch(new JsonObject { ["op"] = "replace", ["path"] = "displayName", ["value"] = patched }))).Expect(HttpStatusCode.NoContent);
        Assert.Equal(patched, await Display());

        string put = Unique("put");
        (await Client.Send(HttpMethod.Put, "/scim/v2/Groups/" + group.Id, Group(put, user.Id))).Expect(HttpStatusCode.OK);
        Assert.Equal(put, await Display());
        var listed = (await Client.Get($"/scim/v2/Users?filter=id eq \"{user.Id}\"")).Expect(HttpStatusCode.OK).Body!;
        Assert.Equal(put, (string?)listed["Resources"]![0]!["groups"]![0]!["display"]);

        string bulk = Unique("bulk");
        var operations = new JsonArray(new JsonObject
        {
            ["method"] = "PATCH",
            ["path"] = "/Groups/" + group.Id,
            ["data"] = Patch(new JsonObject { ["op"] = "replace", ["value"] = new JsonObject { ["displayName"] = bulk } }),
        });
        (await Client.Send(HttpMethod.Post, "/scim/v2/Bulk", new JsonObject
        {
            ["schemas"] = new JsonArray("urn:ietf:params:scim:api:messages:2.0:BulkRequest"),
            ["Operations"] = operations,
        })).Expect(HttpStatusCode.OK);
        Assert.Equal(bulk, await Display());

        (await Client.Delete("/scim/v2/Groups/" + group.Id)).Expect(HttpStatusCode.NoContent);
        Assert.Null((await Client.Get("/scim/v2/Users/" + user.Id)).Expect(HttpStatusCode.OK).Body!["groups"]);
    }

    [Fact]
    public async Task RequiredAttributes_AreEnforcedOnCreateAndReplace()
    {
        (await Client.Send(HttpMethod.Post, "/scim/v2/Users", new JsonObject { ["schemas"] = new JsonArray(UserSchema), ["displayName"] = "x" }))
            .AssertError(HttpStatusCode.BadRequest, "invalidValue");
        (await Client.Send(HttpMethod.Post, "/scim/v2/Users", User("   "))).AssertError(HttpStatusCode.BadRequest, "invalidValue");
        (await Client.Send(HttpMethod.Post, "/scim/v2/Groups", new JsonObject { ["schemas"] = new JsonArray(GroupSchema) }))
            .AssertError(HttpStatusCode.BadRequest, "invalidValue");

        var user = (await Client.Send(HttpMethod.Post, "/scim/v2/Users", User(Unique("req")))).Expect(HttpStatusCode.Created);
        (await Client.Send(HttpMethod.Put, "/scim/v2/Users/" + user.Id, new JsonObject { ["schemas"] = new JsonArray(UserSchema) }))
            .AssertError(HttpStatusCode.BadRequest, "invalidValue");
        (await Client.Send(HttpMethod.Patch, "/scim/v2/Users/" + user.Id, Patch(new JsonObject { ["op"] = "remove", ["path"] = "userName" })))
            .AssertError(HttpStatusCode.BadRequest, "mutability");
        (await Client.Send(HttpMethod.Put, "/scim/v2/Users/does-not-exist", User(Unique("nobody")))).AssertError(HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task UnknownMembers_Are400InvalidValue()
    {
        (await Client.Send(HttpMethod.Post, "/scim/v2/Groups", Group(Unique("bad"), "no-such-id"))).AssertError(HttpStatusCode.BadRequest, "invalidValue");
        var group = (await Client.Send(HttpMethod.Post, "/scim/v2/Groups", Group(Unique("ok")))).Expect(HttpStatusCode.Created);
        (await Client.Send(HttpMethod.Patch, "/scim/v2/Groups/" + group.Id,
            Patch(new JsonObject { ["op"] = "add", ["path"] = "members", ["value"] = new JsonArray(new JsonObject { ["value"] = "ghost" }) })))
            .AssertError(HttpStatusCode.BadRequest, "invalidValue");
        (await Client.Send(HttpMethod.Patch, "/scim/v2/Groups/" + group.Id,
            Patch(new JsonObject { ["op"] = "add", ["path"] = "members", ["value"] = new JsonArray(new JsonObject { ["value"] = group.Id }) })))
            .AssertError(HttpStatusCode.BadRequest, "invalidValue");
    }

    // Member checks and member types come from the id indexes (not from reading each member):
    // a deleted user or group is no longer a member to add, and each member keeps its type.
    [Fact]
    public async Task DeletedMembers_Are400InvalidValue_AndMembersKeepTheirTypes()
    {
        var user = (await Client.Send(HttpMethod.Post, "/scim/v2/Users", User(Unique("member")))).Expect(HttpStatusCode.Created);
        var gone = (await Client.Send(HttpMethod.Post, "/scim/v2/Users", User(Unique("gone")))).Expect(HttpStatusCode.Created);
        string innerName = Unique("inner");
        var inner = (await Client.Send(HttpMethod.Post, "/scim/v2/Groups", Group(innerName))).Expect(HttpStatusCode.Created);
        var goneGroup = (await Client.Send(HttpMethod.Post, "/scim/v2/Groups", Group(Unique("gone-group")))).Expect(HttpStatusCode.Created);
        (await Client.Delete("/scim/v2/Users/" + gone.Id)).Expect(HttpStatusCode.NoContent);
        (await Client.Delete("/scim/v2/Groups/" + goneGroup.Id)).Expect(HttpStatusCode.NoContent);

        (await Client.Send(HttpMethod.Post, "/scim/v2/Groups", Group(Unique("with-gone"), user.Id, gone.Id))).AssertError(HttpStatusCode.BadRequest, "invalidValue");
        (await Client.Send(HttpMethod.Post, "/scim/v2/Groups", Group(Unique("with-gone-group"), goneGroup.Id))).AssertError(HttpStatusCode.BadRequest, "invalidValue");

        // The members are checked together; the error names the first bad one in the request's order.
        var firstBad = await Client.Send(HttpMethod.Post, "/scim/v2/Groups", Group(Unique("two-gone"), user.Id, inner.Id, gone.Id, goneGroup.Id));
        firstBad.AssertError(HttpStatusCode.BadRequest, "invalidValue");
        Assert.Contains(gone.Id, (string?)firstBad.Body!["detail"]);
        Assert.DoesNotContain(goneGroup.Id, (string?)firstBad.Body!["detail"]);
        var self = await Client.Send(HttpMethod.Put, "/scim/v2/Groups/" + inner.Id, Group(innerName, user.Id, inner.Id));
        self.AssertError(HttpStatusCode.BadRequest, "invalidValue");
        Assert.Contains("itself", (string?)self.Body!["detail"]);

        var outer = (await Client.Send(HttpMethod.Post, "/scim/v2/Groups", Group(Unique("outer"), user.Id, inner.Id))).Expect(HttpStatusCode.Created);
        var members = (await Client.Get("/scim/v2/Groups/" + outer.Id)).Expect(HttpStatusCode.OK).Body!["members"]!.AsArray();
        Assert.Equal("User", (string?)members.Single(m => (string?)m!["value"] == user.Id)!["type"]);
        Assert.Equal("Group", (string?)members.Single(m => (string?)m!["value"] == inner.Id)!["type"]);
        Assert.EndsWith("/Users/" + user.Id, (string?)members.Single(m => (string?)m!["value"] == user.Id)!["$ref"]);
    }

    [Fact]
    public async Task RemovingAnOverlongMemberId_Is400_AndChangesNothing()
    {
        var group = (await Client.Send(HttpMethod.Post, "/scim/v2/Groups", Group(Unique("long")))).Expect(HttpStatusCode.Created);
        string overlong = new('é', 600); // 600 chars, 1200 UTF-8 bytes: over the key limit
        var patch = Patch(new JsonObject { ["op"] = "remove", ["path"] = $"members[value eq \"{overlong}\"]" });
        (await Client.Send(HttpMethod.Patch, "/scim/v2/Groups/" + group.Id, patch)).AssertError(HttpStatusCode.BadRequest, "invalidValue");
        Assert.Equal(group.ETag, (await Client.Get("/scim/v2/Groups/" + group.Id)).ETag);
    }

    [Fact]
    public async Task GroupsByMember_AreFoundWithoutLoadingMemberLists()
    {
        var a = (await Client.Send(HttpMethod.Post, "/scim/v2/Users", User(Unique("ma")))).Expect(HttpStatusCode.Created);
        var b = (await Client.Send(HttpMethod.Post, "/scim/v2/Users", User(Unique("mb")))).Expect(HttpStatusCode.Created);
        var g1 = (await Client.Send(HttpMethod.Post, "/scim/v2/Groups", Group(Unique("gm1"), a.Id, b.Id))).Expect(HttpStatusCode.Created);
        var g2 = (await Client.Send(HttpMethod.Post, "/scim/v2/Groups", Group(Unique("gm2"), a.Id))).Expect(HttpStatusCode.Created);

        async Task<IEnumerable<string>> Find(string filter) =>
            Ids((await Client.Get("/scim/v2/Groups?excludedAttributes=members&filter=" + Uri.EscapeDataString(filter))).Expect(HttpStatusCode.OK).Body!).Order();

        Assert.Equal(new[] { g1.Id, g2.Id }.Order(), await Find($"members.value eq \"{a.Id}\""));
        Assert.Equal([g1.Id], await Find($"members[value eq \"{b.Id}\"]"));
        Assert.Equal([g1.Id], await Find($"members.value eq \"{a.Id}\" and members.value eq \"{b.Id}\""));
        Assert.Equal([g2.Id], await Find($"members.value eq \"{a.Id}\" and not (members.value eq \"{b.Id}\")"));
    }

    [Fact]
    public async Task BigGroup_StreamsEveryMember_AndExcludedMembersSkipsThem()
    {
        var users = new List<string>();
        for (int batch = 0; batch < 4; batch++)
        {
            var bulk = new JsonArray();
            for (int i = 0; i < 250; i++)
            {
                bulk.Add(new JsonObject { ["method"] = "POST", ["path"] = "/Users", ["bulkId"] = $"u{i}", ["data"] = User(Unique("big")) });
            }

            var reply = (await Client.Send(HttpMethod.Post, "/scim/v2/Bulk", new JsonObject
            {
                ["schemas"] = new JsonArray("urn:ietf:params:scim:api:messages:2.0:BulkRequest"),
                ["Operations"] = bulk,
            })).Expect(HttpStatusCode.OK);
            users.AddRange(reply.Body!["Operations"]!.AsArray().Select(o => ((string)o!["location"]!).Split('/')[^1]));
        }

        var group = (await Client.Send(HttpMethod.Post, "/scim/v2/Groups", Group(Unique("big")))).Expect(HttpStatusCode.Created);
        foreach (var chunk in users.Chunk(100))
        {
            var values = new JsonArray([.. chunk.Select(id => (JsonNode)new JsonObject { ["value"] = id })]);
            (await Client.Send(HttpMethod.Patch, "/scim/v2/Groups/" + group.Id, Patch(new JsonObject { ["op"] = "Add", ["path"] = "members", ["value"] = values })))
                .Expect(HttpStatusCode.NoContent);
        }

        var full = (await Client.Get("/scim/v2/Groups/" + group.Id)).Expect(HttpStatusCode.OK);
        var members = full.Body!["members"]!.AsArray();
        Assert.Equal(1000, members.Count);
        Assert.Equal(users.Order(), members.Select(m => (string)m!["value"]!).Order());
        Assert.All(members, m => Assert.Equal("User", (string?)m!["type"]));

        var slim = (await Client.Get($"/scim/v2/Groups/{group.Id}?excludedAttributes=members")).Expect(HttpStatusCode.OK);
        Assert.Null(slim.Body!["members"]);
        Assert.Equal((string?)full.Body["displayName"], (string?)slim.Body["displayName"]);
        Assert.Empty(server.Store.Verify());
    }

    [Theory]
    [InlineData("{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:User\"],\"userName\":", "invalidSyntax")]
    [InlineData("not json at all", "invalidSyntax")]
    [InlineData("[1,2,3]", "invalidSyntax")]
    [InlineData("{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:User\"],\"userName\":\"a\"} trailing", "invalidSyntax")]
    [InlineData("{\"userName\":\"no-schemas\"}", "invalidSyntax")]
    [InlineData("{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:User\"],\"userName\":42}", "invalidValue")]
    public async Task MalformedBodies_AreScim400s(string body, string scimType)
    {
        (await Client.Send(HttpMethod.Post, "/scim/v2/Users", body)).AssertError(HttpStatusCode.BadRequest, scimType);
    }

    [Fact]
    public async Task HostileBodies_GetClearErrors_NeverA500()
    {
        // Invalid UTF-8.
        var invalidUtf8 = Encoding.UTF8.GetBytes("{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:User\"],\"userName\":\"a\xFFb\"}");
        invalidUtf8[^4] = 0xFF;
        (await Client.SendBytes(HttpMethod.Post, "/scim/v2/Users", invalidUtf8)).AssertError(HttpStatusCode.BadRequest, "invalidSyntax");

        // Deeply nested JSON.
        string deep = "{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:User\"],\"userName\":\"d\",\"x\":" + new string('[', 5000) + new string(']', 5000) + "}";
        (await Client.Send(HttpMethod.Post, "/scim/v2/Users", deep)).AssertError(HttpStatusCode.BadRequest, "invalidSyntax");

        // A 10 MB string: over the 1 MiB body limit.
        string huge = "{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:User\"],\"userName\":\"" + new string('a', 10 << 20) + "\"}";
        (await Client.Send(HttpMethod.Post, "/scim/v2/Users", huge)).AssertError(HttpStatusCode.RequestEntityTooLarge);

        // Garbage bytes.
        var garbage = new byte[4096];
        new Random(7).NextBytes(garbage);
        var reply = await Client.SendBytes(HttpMethod.Post, "/scim/v2/Users", garbage);
        reply.AssertError(HttpStatusCode.BadRequest, "invalidSyntax");

        // Wrong content type; empty body.
        (await Client.Send(HttpMethod.Post, "/scim/v2/Users", "<user/>", mediaType: "application/xml")).AssertError(HttpStatusCode.UnsupportedMediaType);
        (await Client.Send(HttpMethod.Post, "/scim/v2/Users", "")).AssertError(HttpStatusCode.BadRequest, "invalidSyntax");

        // A userName longer than the store's key limit.
        (await Client.Send(HttpMethod.Post, "/scim/v2/Users", User(new string('n', 5000)))).AssertError(HttpStatusCode.BadRequest, "invalidValue");

        // PATCH garbage.
        var user = (await Client.Send(HttpMethod.Post, "/scim/v2/Users", User(Unique("hostile")))).Expect(HttpStatusCode.Created);
        (await Client.Send(HttpMethod.Patch, "/scim/v2/Users/" + user.Id, "{\"Operations\":[]}")).AssertError(HttpStatusCode.BadRequest, "invalidSyntax");
        (await Client.Send(HttpMethod.Patch, "/scim/v2/Users/" + user.Id, Patch(new JsonObject { ["op"] = "replace", ["path"] = "emails[type eq", ["value"] = "x" })))
            .AssertError(HttpStatusCode.BadRequest, "invalidPath");
        (await Client.Send(HttpMethod.Patch, "/scim/v2/Users/" + user.Id, Patch(new JsonObject { ["op"] = "remove" })))
            .AssertError(HttpStatusCode.BadRequest, "noTarget");
        (await Client.Send(HttpMethod.Patch, "/scim/v2/Users/" + user.Id, Patch(new JsonObject { ["op"] = "explode", ["path"] = "nickName" })))
            .AssertError(HttpStatusCode.BadRequest, "invalidSyntax");
        Assert.Empty(server.Store.Verify());
    }

    [Fact]
    public async Task WrongMethods_Are405WithAllow()
    {
        var reply = await Client.Send(HttpMethod.Delete, "/scim/v2/Users", (string?)null);
        reply.AssertError(HttpStatusCode.MethodNotAllowed);
        Assert.Contains("POST", reply.ContentHeaders!.Allow);
        (await Client.Send(HttpMethod.Post, "/scim/v2/Users/some-id", "{}")).AssertError(HttpStatusCode.MethodNotAllowed);
        (await Client.Get("/scim/v2/Bulk")).AssertError(HttpStatusCode.MethodNotAllowed);
        (await Client.Get("/scim/v2/Users/.search")).AssertError(HttpStatusCode.MethodNotAllowed);
        (await Client.Get("/scim/v2/Me")).AssertError(HttpStatusCode.NotImplemented);
        (await Client.Get("/scim/v2/Users/a/b")).AssertError(HttpStatusCode.NotFound);
    }
}
