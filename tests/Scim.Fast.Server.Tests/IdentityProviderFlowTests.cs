using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Scim.Fast.Server.Tests;

/// <summary>
/// The request sequences of Microsoft Entra ID and Okta (shared/idp-traffic/entra-id.md and okta.md)
/// replayed over HTTP against the real server, each step checking status and body. Query strings
/// are written as the providers encode them on the wire: Entra form-encodes (space is <c>+</c>),
/// Okta percent-encodes (space is <c>%20</c>).
/// </summary>
public class IdentityProviderFlowTests(ScimServerFixture server) : IClassFixture<ScimServerFixture>
{
    private const string Users = "/scim/v2/Users";
    private const string Groups = "/scim/v2/Groups";
    private const string UserUrn = "urn:ietf:params:scim:schemas:core:2.0:User";
    private const string EnterpriseUrn = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
    private const string GroupUrn = "urn:ietf:params:scim:schemas:core:2.0:Group";
    private const string ListUrn = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
    private const string ErrorUrn = "urn:ietf:params:scim:api:messages:2.0:Error";
    private const string PatchUrn = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
    private const string MediaType = "application/scim+json";

    /// <summary>The query parameter an Entra admin appends to the Tenant URL; the server ignores it.</summary>
    private const string Flag = "?aadOptscim062020";

    private sealed record Reply(HttpStatusCode Status, JsonObject? Body, string Raw, Uri? Location, string? ETag, string? MediaType);

    // ---------------------------------------------------------------- Microsoft Entra ID

    [Fact]
    public async Task Entra_ConnectionCheck_FilterOnARandomGuid_IsAnEmptyListResponse()
    {
        // Step 0: the filter value is a random GUID in whichever attribute is the matching one.
        AssertEmptyList(await Send(HttpMethod.Get, $"{Users}?filter=userName+eq+%22{Guid.NewGuid()}%22"));
        AssertEmptyList(await Send(HttpMethod.Get, $"{Users}?filter=externalId+eq+%22{Guid.NewGuid()}%22"));
        AssertEmptyList(await Send(HttpMethod.Get, $"{Groups}?excludedAttributes=members&filter=displayName+eq+%22{Guid.NewGuid()}%22"));

        // Entra also fetches a random user and group: 404 with an Error body.
        AssertError(await Send(HttpMethod.Get, $"{Users}/{Guid.NewGuid()}"), HttpStatusCode.NotFound, null);
        AssertError(await Send(HttpMethod.Get, $"{Groups}/{Guid.NewGuid()}"), HttpStatusCode.NotFound, null);
    }

    [Fact]
    public async Task Entra_UserLifecycle_LookupCreatePatchManagerDisableDelete()
    {
        string s = Suffix();
        string userName = $"ada.lovelace.{s}@example.com";
        string externalId = $"ada.lovelace.{s}";
        string byUserName = $"{Users}?filter=userName+eq+%22ada.lovelace.{s}%40example.com%22";
        string byExternalId = $"{Users}?filter=externalId+eq+%22ada.lovelace.{s}%22";

        // 1. Lookup by the matching attributes in precedence order: both miss.
        AssertEmptyList(await Send(HttpMethod.Get, byUserName));
        AssertEmptyList(await Send(HttpMethod.Get, byExternalId));

        // 2. Create, with the body exactly as Entra sends it (client meta, roles: [], phones without primary).
        var created = await Send(HttpMethod.Post, Users, $$$"""
            {"schemas":["urn:ietf:params:scim:schemas:core:2.0:User",
                        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
             "externalId":"{{{externalId}}}","userName":"{{{userName}}}","active":true,
             "displayName":"Ada Lovelace","title":"Analyst","preferredLanguage":"en-GB",
             "name":{"formatted":"Ada Lovelace","familyName":"Lovelace","givenName":"Ada"},
             "emails":[{"primary":true,"type":"work","value":"{{{userName}}}"}],
             "addresses":[{"type":"work","streetAddress":"1 Example Row","locality":"London",
                           "region":"LDN","postalCode":"EC1A 1AA","country":"GB","primary":true}],
             "phoneNumbers":[{"type":"work","value":"020 7946 0000"},{"type":"mobile","value":"07700 900123"},
                             {"type":"fax","value":"020 7946 0001"}],
             "roles":[],"meta":{"resourceType":"User"},
             "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"employeeNumber":"E1001","department":"Research"}}
            """);
        string id = AssertCreated(created, "Users");
        var user = created.Body!;
        Assert.Equal([UserUrn, EnterpriseUrn], Strings(user["schemas"]).Order(StringComparer.Ordinal));
        Assert.Equal(externalId, (string?)user["externalId"]);
        Assert.Equal("Ada Lovelace", (string?)user["displayName"]);
        Assert.Equal("Analyst", (string?)user["title"]);
        Assert.Equal("en-GB", (string?)user["preferredLanguage"]);
        Assert.Equal(JsonValueKind.True, user["active"]?.GetValueKind());
        Assert.True(user["roles"] is null || user["roles"]!.AsArray().Count == 0, "roles: [] is accepted and stays empty");
        Assert.Null(user["groups"]);
        AssertAda(user, userName, userName, "1 Example Row", "07700 900123", "Lovelace", null, "Research");

        // The lookups now find it (step 1's answer shape: itemsPerPage is the number returned).
        foreach (var lookup in new[] { byUserName, byExternalId })
        {
            var found = AssertList(await Send(HttpMethod.Get, lookup), total: 1, startIndex: 1, items: 1);
            Assert.Equal(id, (string?)found[0]!["id"]);
            Assert.Equal(userName, (string?)found[0]!["userName"]);
        }

        // 3. Get by id: the same resource as the create answered.
        var fetched = await Send(HttpMethod.Get, $"{Users}/{id}");
        AssertJson(user, AssertOk(fetched));
        Assert.Equal(created.ETag, fetched.ETag);

        // 4a. PATCH, default shape: capitalised ops, one op per attribute, value paths.
        var patched = await Send(HttpMethod.Patch, $"{Users}/{id}", $$$"""
            {"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
             "Operations":[
              {"op":"Replace","path":"emails[type eq \"work\"].value","value":"ada.byron.{{{s}}}@example.com"},
              {"op":"Replace","path":"addresses[type eq \"work\"].streetAddress","value":"2 Example Row"},
              {"op":"Replace","path":"phoneNumbers[type eq \"mobile\"].value","value":"07700 900456"},
              {"op":"Replace","path":"name.familyName","value":"Byron"},
              {"op":"Add","path":"nickName","value":"Ada"},
              {"op":"Replace","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department","value":"Engines"}]}
            """);
        user = AssertOk(patched);
        AssertAda(user, userName, $"ada.byron.{s}@example.com", "2 Example Row", "07700 900456", "Byron", "Ada", "Engines");
        Assert.NotEqual(created.ETag, patched.ETag);
        AssertJson(user, AssertOk(await Send(HttpMethod.Get, $"{Users}/{id}")));

        // 4b. The same kind of change with the aadOptscim062020 flag: lower-case ops, and a path-less
        // replace whose value keys are a dotted path and a full URN path.
        user = AssertOk(await Send(HttpMethod.Patch, $"{Users}/{id}{Flag}", $$$"""
            {"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
             "Operations":[
              {"op":"replace","path":"emails[type eq \"work\"].value","value":"ada.king.{{{s}}}@example.com"},
              {"op":"replace","path":"addresses[type eq \"work\"].streetAddress","value":"3 Example Row"},
              {"op":"replace","path":"phoneNumbers[type eq \"mobile\"].value","value":"07700 900789"},
              {"op":"add","path":"nickName","value":"Countess"},
              {"op":"replace","value":{"name.familyName":"King",
                 "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department":"Analytical Engines"}}]}
            """));
        AssertAda(user, userName, $"ada.king.{s}@example.com", "3 Example Row", "07700 900789", "King", "Countess", "Analytical Engines");
        AssertJson(user, AssertOk(await Send(HttpMethod.Get, $"{Users}/{id}")));

        // 5. Manager, set after both users exist, in the three accepted shapes.
        string manager1 = await CreateUser($"charles.babbage.{s}@example.com");
        string manager2 = await CreateUser($"mary.somerville.{s}@example.com");

        // Observed traffic: a bare string holding the manager's id.
        user = AssertOk(await Send(HttpMethod.Patch, $"{Users}/{id}", PatchBody(
            $$$"""{"op":"add","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager","value":"{{{manager1}}}"}""")));
        AssertManager(user, manager1);

        // The SCIM Validator's form: an object with value, sent as replace.
        user = AssertOk(await Send(HttpMethod.Patch, $"{Users}/{id}", PatchBody(
            $$$"""{"op":"replace","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager","value":{"value":"{{{manager2}}}"}}""")));
        AssertManager(user, manager2);

        // The legacy documented form: path "manager", an array holding $ref and value.
        user = AssertOk(await Send(HttpMethod.Patch, $"{Users}/{id}", PatchBody(
            $$$"""{"op":"Add","path":"manager","value":[{"$ref":"{{{server.BaseAddress}}}scim/v2/Users/{{{manager1}}}","value":"{{{manager1}}}"}]}""")));
        AssertManager(user, manager1);
        AssertManager(AssertOk(await Send(HttpMethod.Get, $"{Users}/{id}")), manager1);

        // The Validator's remove: that path and no value.
        user = AssertOk(await Send(HttpMethod.Patch, $"{Users}/{id}", PatchBody(
            """{"op":"remove","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager"}""")));
        Assert.Null(user[EnterpriseUrn]!["manager"]);
        Assert.Null(user["manager"]);
        AssertAda(user, userName, $"ada.king.{s}@example.com", "3 Example Row", "07700 900789", "King", "Countess", "Analytical Engines");

        // 6. Disable with the string "False", re-enable with "True"; then the flag's booleans.
        foreach (var (op, value, expected) in new[] { ("Replace", "\"False\"", false), ("Replace", "\"True\"", true), ("replace", "false", false), ("replace", "true", true) })
        {
            user = AssertOk(await Send(HttpMethod.Patch, $"{Users}/{id}", PatchBody($$$"""{"op":"{{{op}}}","path":"active","value":{{{value}}}}""")));
            Assert.Equal(expected ? JsonValueKind.True : JsonValueKind.False, user["active"]?.GetValueKind());
            Assert.Equal(userName, (string?)user["userName"]);

            // A disabled user is still returned by GET and by filter.
            Assert.Equal(expected, (bool)AssertOk(await Send(HttpMethod.Get, $"{Users}/{id}"))["active"]!);
            var listed = AssertList(await Send(HttpMethod.Get, byUserName), total: 1, startIndex: 1, items: 1);
            Assert.Equal(id, (string?)listed[0]!["id"]);
            Assert.Equal(expected, (bool)listed[0]!["active"]!);
        }

        // The lookup with the userName in another case finds the user (Validator check).
        string upper = s.ToUpperInvariant();
        var differentCase = AssertList(await Send(HttpMethod.Get, $"{Users}?filter=userName+eq+%22ADA.LOVELACE.{upper}%40EXAMPLE.COM%22"), total: 1, startIndex: 1, items: 1);
        Assert.Equal(id, (string?)differentCase[0]!["id"]);
        Assert.Equal(userName, (string?)differentCase[0]!["userName"]);

        // 7. Hard delete: 204, then 404 and gone from every lookup.
        var deleted = await Send(HttpMethod.Delete, $"{Users}/{id}");
        Assert.Equal(HttpStatusCode.NoContent, deleted.Status);
        Assert.Empty(deleted.Raw);
        AssertError(await Send(HttpMethod.Get, $"{Users}/{id}"), HttpStatusCode.NotFound, null);
        AssertEmptyList(await Send(HttpMethod.Get, byUserName));
        AssertEmptyList(await Send(HttpMethod.Get, byExternalId));

        await DeleteUsers(manager1, manager2);
        Assert.Empty(server.Store.Verify());
    }

    [Fact]
    public async Task Entra_LookupByWorkEmail_ValuePathFilterIsUsableForMatching()
    {
        string s = Suffix();
        string id = AssertCreated(await Send(HttpMethod.Post, Users, $$$"""
            {"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"mail.match.{{{s}}}",
             "emails":[{"type":"other","value":"home.{{{s}}}@example.org"},{"type":"work","value":"work.{{{s}}}@example.com","primary":true}]}
            """), "Users");

        var found = AssertList(await Send(HttpMethod.Get, $"{Users}?filter=emails%5Btype+eq+%22work%22%5D.value+eq+%22work.{s}%40example.com%22"), total: 1, startIndex: 1, items: 1);
        Assert.Equal(id, (string?)found[0]!["id"]);

        // The other-typed address must not match the work filter.
        AssertEmptyList(await Send(HttpMethod.Get, $"{Users}?filter=emails%5Btype+eq+%22work%22%5D.value+eq+%22home.{s}%40example.org%22"));

        await DeleteUsers(id);
        Assert.Empty(server.Store.Verify());
    }

    [Fact]
    public async Task Entra_OlderBodiesWithNull_MeanUnassigned()
    {
        string s = Suffix();
        var created = await Send(HttpMethod.Post, Users, $$$"""
            {"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"null.body.{{{s}}}","active":true,
             "title":null,"addresses":null,"name":{"givenName":"Null","familyName":null}}
            """);
        string id = AssertCreated(created, "Users");
        Assert.False(created.Body!.ContainsKey("title"));
        Assert.False(created.Body.ContainsKey("addresses"));
        AssertJson("""{"givenName":"Null"}""", created.Body["name"]);

        await DeleteUsers(id);
        Assert.Empty(server.Store.Verify());
    }

    [Fact]
    public async Task Entra_AddThroughAValuePathThatMatchesNothing_CreatesTheElement()
    {
        string s = Suffix();
        string id = await CreateUser($"value.path.{s}@example.com");

        // Entra sends Add when the target had no value; the attribute names can arrive in other cases.
        var user = AssertOk(await Send(HttpMethod.Patch, $"{Users}/{id}", $$$"""
            {"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
             "Operations":[
              {"op":"Add","path":"emails[type eq \"work\"].value","value":"work.{{{s}}}@example.com"},
              {"op":"Add","path":"emails[type eq \"other\"].Value","value":"other.{{{s}}}@example.org"},
              {"op":"Add","path":"addresses[type eq \"work\"].streetAddress","value":"1 Example Row"}]}
            """));
        AssertJson($$$"""[{"type":"work","value":"work.{{{s}}}@example.com"},{"type":"other","value":"other.{{{s}}}@example.org"}]""", user["emails"]);
        AssertJson("""[{"type":"work","streetAddress":"1 Example Row"}]""", user["addresses"]);
        AssertJson(user, AssertOk(await Send(HttpMethod.Get, $"{Users}/{id}")));

        await DeleteUsers(id);
        Assert.Empty(server.Store.Verify());
    }

    [Fact]
    public async Task Entra_PatchWithZeroOperations_ChangesNothing()
    {
        string id = await CreateUser($"zero.ops.{Suffix()}@example.com");
        var before = await Send(HttpMethod.Get, $"{Users}/{id}");

        var after = await Send(HttpMethod.Patch, $"{Users}/{id}", """{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[]}""");
        AssertJson(AssertOk(before), AssertOk(after));
        Assert.Equal(before.ETag, after.ETag);

        await DeleteUsers(id);
        Assert.Empty(server.Store.Verify());
    }

    [Fact]
    public async Task Entra_GroupPush_LookupCreateMembersRenameDuplicateDelete()
    {
        string s = Suffix();
        string u1 = await CreateUser($"sales.one.{s}@example.com");
        string u2 = await CreateUser($"sales.two.{s}@example.com");
        string name = $"Sales-EMEA-{s}";
        string lookup = $"{Groups}?excludedAttributes=members&filter=displayName+eq+%22Sales-EMEA-{s}%22";

        // G1 lookup: miss.
        AssertEmptyList(await Send(HttpMethod.Get, lookup));

        // G2 create, always empty, with Microsoft's schema URI (ignored, not rejected).
        string objectId = Guid.NewGuid().ToString();
        var created = await Send(HttpMethod.Post, Groups, $$$"""
            {"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group",
                        "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"],
             "externalId":"{{{objectId}}}","displayName":"{{{name}}}","meta":{"resourceType":"Group"}}
            """);
        string gid = AssertCreated(created, "Groups");
        var group = created.Body!;
        Assert.Equal([GroupUrn], Strings(group["schemas"]));
        Assert.Equal(objectId, (string?)group["externalId"]);
        Assert.Equal(name, (string?)group["displayName"]);
        AssertJson("[]", group["members"]);

        // G3 get without members, and the lookup now hits, also without members.
        group = AssertOk(await Send(HttpMethod.Get, $"{Groups}/{gid}?excludedAttributes=members"));
        Assert.False(group.ContainsKey("members"));
        Assert.Equal(gid, (string?)group["id"]);
        Assert.Equal(name, (string?)group["displayName"]);
        Assert.Equal(objectId, (string?)group["externalId"]);
        var hit = AssertList(await Send(HttpMethod.Get, lookup), total: 1, startIndex: 1, items: 1);
        Assert.Equal(gid, (string?)hit[0]!["id"]);
        Assert.False(hit[0]!.AsObject().ContainsKey("members"));

        // G4 add several members in one PATCH, $ref null: 204.
        AssertNoContent(await Send(HttpMethod.Patch, $"{Groups}/{gid}", $$$"""
            {"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
             "Operations":[{"op":"Add","path":"members",
               "value":[{"$ref":null,"value":"{{{u1}}}"},{"$ref":null,"value":"{{{u2}}}"}]}]}
            """));
        Assert.Equal(Sorted(u1, u2), await MemberIds(gid));
        Assert.False(AssertOk(await Send(HttpMethod.Get, $"{Groups}/{gid}?excludedAttributes=members")).ContainsKey("members"));

        // G5 remove, default form (value array), then the flag form (value filter, no value).
        AssertNoContent(await Send(HttpMethod.Patch, $"{Groups}/{gid}", PatchBody(
            $$$"""{"op":"Remove","path":"members","value":[{"$ref":null,"value":"{{{u2}}}"}]}""")));
        Assert.Equal(Sorted(u1), await MemberIds(gid));
        AssertNoContent(await Send(HttpMethod.Patch, $"{Groups}/{gid}{Flag}", PatchBody(
            $$$"""{"op":"add","path":"members","value":[{"value":"{{{u2}}}"}]}""")));
        Assert.Equal(Sorted(u1, u2), await MemberIds(gid));
        AssertNoContent(await Send(HttpMethod.Patch, $"{Groups}/{gid}{Flag}", PatchBody(
            $$$"""{"op":"remove","path":"members[value eq \"{{{u2}}}\"]"}""")));
        Assert.Equal(Sorted(u1), await MemberIds(gid));

        // Adding an existing member and removing a missing one succeed without change.
        AssertNoContent(await Send(HttpMethod.Patch, $"{Groups}/{gid}", PatchBody(
            $$$"""{"op":"Add","path":"members","value":[{"$ref":null,"value":"{{{u1}}}"}]}""")));
        Assert.Equal(Sorted(u1), await MemberIds(gid));
        AssertNoContent(await Send(HttpMethod.Patch, $"{Groups}/{gid}", PatchBody(
            $$$"""{"op":"Remove","path":"members","value":[{"$ref":null,"value":"{{{u2}}}"}]}""")));
        Assert.Equal(Sorted(u1), await MemberIds(gid));

        // G6 rename: 204; the old name no longer matches, the new one does.
        string newName = $"Sales-Europe-{s}";
        AssertNoContent(await Send(HttpMethod.Patch, $"{Groups}/{gid}", PatchBody(
            $$$"""{"op":"Replace","path":"displayName","value":"{{{newName}}}"}""")));
        Assert.Equal(newName, (string?)AssertOk(await Send(HttpMethod.Get, $"{Groups}/{gid}?excludedAttributes=members"))["displayName"]);
        AssertEmptyList(await Send(HttpMethod.Get, lookup));
        hit = AssertList(await Send(HttpMethod.Get, $"{Groups}?excludedAttributes=members&filter=displayName+eq+%22Sales-Europe-{s}%22"), total: 1, startIndex: 1, items: 1);
        Assert.Equal(gid, (string?)hit[0]!["id"]);

        // The Validator's path-less replace on a group.
        string newObjectId = Guid.NewGuid().ToString();
        AssertNoContent(await Send(HttpMethod.Patch, $"{Groups}/{gid}", PatchBody(
            $$$"""{"op":"replace","value":{"externalId":"{{{newObjectId}}}"}}""")));
        group = AssertOk(await Send(HttpMethod.Get, $"{Groups}/{gid}"));
        Assert.Equal(newObjectId, (string?)group["externalId"]);
        Assert.Equal(newName, (string?)group["displayName"]);

        // A duplicate displayName, in the same or another case, is 409 uniqueness.
        foreach (var duplicate in new[] { newName, newName.ToUpperInvariant() })
        {
            AssertError(await Send(HttpMethod.Post, Groups, $$$"""
                {"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group",
                            "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"],
                 "externalId":"{{{Guid.NewGuid()}}}","displayName":"{{{duplicate}}}","meta":{"resourceType":"Group"}}
                """), HttpStatusCode.Conflict, "uniqueness");
        }

        // The member's groups (readOnly, derived) show the group under its new name.
        var member = AssertOk(await Send(HttpMethod.Get, $"{Users}/{u1}"));
        var groups = member["groups"]!.AsArray();
        Assert.Single(groups);
        Assert.Equal(gid, (string?)groups[0]!["value"]);
        Assert.Equal(newName, (string?)groups[0]!["display"]);
        Assert.EndsWith($"/scim/v2/Groups/{gid}", (string?)groups[0]!["$ref"], StringComparison.Ordinal);
        Assert.Null(AssertOk(await Send(HttpMethod.Get, $"{Users}/{u2}"))["groups"]);

        // Deleting a user takes it out of the group.
        AssertNoContent(await Send(HttpMethod.Patch, $"{Groups}/{gid}", PatchBody(
            $$$"""{"op":"Add","path":"members","value":[{"$ref":null,"value":"{{{u2}}}"}]}""")));
        Assert.Equal(Sorted(u1, u2), await MemberIds(gid));
        await DeleteUsers(u2);
        Assert.Equal(Sorted(u1), await MemberIds(gid));

        // G7 delete: 204, then 404, and the member no longer lists it.
        AssertNoContent(await Send(HttpMethod.Delete, $"{Groups}/{gid}"));
        AssertError(await Send(HttpMethod.Get, $"{Groups}/{gid}"), HttpStatusCode.NotFound, null);
        member = AssertOk(await Send(HttpMethod.Get, $"{Users}/{u1}"));
        Assert.True(member["groups"] is null || member["groups"]!.AsArray().Count == 0, "the deleted group is gone from the user's groups");

        await DeleteUsers(u1);
        Assert.Empty(server.Store.Verify());
    }

    [Fact]
    public async Task Entra_FlagFormRemoveOfAMemberThatIsNotThere_Succeeds()
    {
        string s = Suffix();
        string u1 = await CreateUser($"flag.one.{s}@example.com");
        string u2 = await CreateUser($"flag.two.{s}@example.com");
        string gid = AssertCreated(await Send(HttpMethod.Post, Groups, $$$"""
            {"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"Flag-Remove-{{{s}}}",
             "members":[{"value":"{{{u1}}}"}]}
            """), "Groups");

        AssertNoContent(await Send(HttpMethod.Patch, $"{Groups}/{gid}{Flag}", PatchBody(
            $$$"""{"op":"remove","path":"members[value eq \"{{{u2}}}\"]"}""")));
        Assert.Equal(Sorted(u1), await MemberIds(gid));

        AssertNoContent(await Send(HttpMethod.Delete, $"{Groups}/{gid}"));
        await DeleteUsers(u1, u2);
        Assert.Empty(server.Store.Verify());
    }

    [Fact]
    public async Task Entra_GroupLookup_PlusIsASpaceAndPercent2BIsAPlus()
    {
        string s = Suffix();
        string gid = AssertCreated(await Send(HttpMethod.Post, Groups, $$$"""
            {"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"R&D + Ops {{{s}}}"}
            """), "Groups");

        var hit = AssertList(await Send(HttpMethod.Get, $"{Groups}?excludedAttributes=members&filter=displayName+eq+%22R%26D+%2B+Ops+{s}%22"), total: 1, startIndex: 1, items: 1);
        Assert.Equal(gid, (string?)hit[0]!["id"]);
        Assert.Equal($"R&D + Ops {s}", (string?)hit[0]!["displayName"]);

        // "+++" is three spaces, not " + ".
        AssertEmptyList(await Send(HttpMethod.Get, $"{Groups}?excludedAttributes=members&filter=displayName+eq+%22R%26D+++Ops+{s}%22"));

        AssertNoContent(await Send(HttpMethod.Delete, $"{Groups}/{gid}"));
        Assert.Empty(server.Store.Verify());
    }

    // ---------------------------------------------------------------- Okta

    [Fact]
    public async Task Okta_TestConnection_ReturnsAFullListResponse()
    {
        string s = Suffix();
        string[] ids = [await CreateUser($"conn.a.{s}@example.com"), await CreateUser($"conn.b.{s}@example.com"), await CreateUser($"conn.c.{s}@example.com")];

        var reply = await Send(HttpMethod.Get, $"{Users}?startIndex=1&count=2");
        var list = AssertOk(reply);
        Assert.Equal([ListUrn], Strings(list["schemas"]));
        Assert.Equal(JsonValueKind.Number, list["totalResults"]?.GetValueKind());
        Assert.Equal(JsonValueKind.Number, list["startIndex"]?.GetValueKind());
        Assert.Equal(JsonValueKind.Number, list["itemsPerPage"]?.GetValueKind());
        Assert.True((int)list["totalResults"]! >= 3);
        Assert.Equal(1, (int)list["startIndex"]!);
        Assert.Equal(2, (int)list["itemsPerPage"]!);
        var resources = list["Resources"]!.AsArray();
        Assert.Equal(2, resources.Count);
        foreach (var resource in resources)
        {
            Assert.False(string.IsNullOrEmpty((string?)resource!["id"]));
            Assert.Contains(UserUrn, Strings(resource["schemas"]));
            Assert.NotNull((string?)resource["userName"]);
            Assert.Equal("User", (string?)resource["meta"]!["resourceType"]);
        }

        // Groups answer the same shape, Resources present even when there is nothing.
        var groups = AssertOk(await Send(HttpMethod.Get, $"{Groups}?startIndex=1&count=2"));
        Assert.Equal([ListUrn], Strings(groups["schemas"]));
        Assert.Equal((int)groups["itemsPerPage"]!, groups["Resources"]!.AsArray().Count);

        await DeleteUsers(ids);
        Assert.Empty(server.Store.Verify());
    }

    [Fact]
    public async Task Okta_UserLifecycle_LookupCreatePutDeactivateReactivate()
    {
        string s = Suffix();
        string userName = $"grace.hopper.{s}@example.com";
        string oktaId = $"00u{s}g8h9";
        string lookup = $"{Users}?filter=userName%20eq%20%22grace.hopper.{s}%40example.com%22&startIndex=1&count=100";

        // 1. Lookup before create: a full empty ListResponse.
        AssertEmptyList(await Send(HttpMethod.Get, lookup));

        // 2. Create with a password (never returned) and groups (readOnly, ignored).
        var created = await Send(HttpMethod.Post, Users, $$$"""
            {"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],
             "userName":"{{{userName}}}",
             "name":{"givenName":"Grace","familyName":"Hopper"},
             "emails":[{"primary":true,"value":"{{{userName}}}","type":"work"}],
             "displayName":"Grace Hopper","locale":"en-US",
             "externalId":"{{{oktaId}}}","groups":[],"password":"t3mp-Pa55word","active":true}
            """);
        string id = AssertCreated(created, "Users");
        var user = created.Body!;
        Assert.DoesNotContain("t3mp-Pa55word", created.Raw, StringComparison.Ordinal);
        Assert.False(user.ContainsKey("password"));
        Assert.Null(user["groups"]);
        Assert.Equal(userName, (string?)user["userName"]);
        Assert.Equal(oktaId, (string?)user["externalId"]);
        Assert.Equal("Grace Hopper", (string?)user["displayName"]);
        Assert.Equal("en-US", (string?)user["locale"]);
        Assert.True((bool)user["active"]!);
        AssertJson("""{"givenName":"Grace","familyName":"Hopper"}""", user["name"]);
        AssertJson($$$"""[{"primary":true,"value":"{{{userName}}}","type":"work"}]""", user["emails"]);
        Assert.NotNull((string?)user["meta"]!["created"]);
        Assert.NotNull((string?)user["meta"]!["lastModified"]);

        // A duplicate userName (another Okta user, another case) is 409 uniqueness with status "409".
        AssertError(await Send(HttpMethod.Post, Users, $$$"""
            {"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"{{{userName.ToUpperInvariant()}}}",
             "externalId":"00uother{{{s}}}","active":true}
            """), HttpStatusCode.Conflict, "uniqueness");

        // The spec test suite looks the user up with the name in capitals.
        string upper = s.ToUpperInvariant();
        var found = AssertList(await Send(HttpMethod.Get, $"{Users}?filter=userName%20eq%20%22GRACE.HOPPER.{upper}%40EXAMPLE.COM%22&startIndex=1&count=100"), total: 1, startIndex: 1, items: 1);
        Assert.Equal(id, (string?)found[0]!["id"]);
        Assert.Equal(userName, (string?)found[0]!["userName"]);

        // 3 + 4. GET, change, PUT back everything received (id, meta and all); what is left out is cleared.
        var fetched = await Send(HttpMethod.Get, $"{Users}/{id}");
        var echo = JsonNode.Parse(fetched.Raw)!.AsObject();
        echo["name"]!["middleName"] = "Brewster";
        echo["emails"]![0]!["display"] = userName;
        echo.Remove("locale");
        var put = await Send(HttpMethod.Put, $"{Users}/{id}", echo.ToJsonString());
        user = AssertOk(put);
        Assert.NotEqual(fetched.ETag, put.ETag);
        Assert.Equal(id, (string?)user["id"]);
        AssertJson("""{"givenName":"Grace","middleName":"Brewster","familyName":"Hopper"}""", user["name"]);
        AssertJson($$$"""[{"primary":true,"value":"{{{userName}}}","type":"work","display":"{{{userName}}}"}]""", user["emails"]);
        Assert.False(user.ContainsKey("locale"));
        Assert.Equal("Grace Hopper", (string?)user["displayName"]);
        Assert.Equal(oktaId, (string?)user["externalId"]);
        Assert.Equal((string?)fetched.Body!["meta"]!["created"], (string?)user["meta"]!["created"]);
        AssertJson(user, AssertOk(await Send(HttpMethod.Get, $"{Users}/{id}")));

        // The documentation's PUT body, as an AIW app sends it: displayName and externalId left out are cleared.
        user = AssertOk(await Send(HttpMethod.Put, $"{Users}/{id}", $$$"""
            {"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"id":"{{{id}}}",
             "userName":"{{{userName}}}",
             "name":{"givenName":"Grace","middleName":"Brewster","familyName":"Hopper"},
             "emails":[{"primary":true,"value":"{{{userName}}}","type":"work","display":"{{{userName}}}"}],
             "active":true,"groups":[],"meta":{"resourceType":"User"}}
            """));
        Assert.False(user.ContainsKey("displayName"));
        Assert.False(user.ContainsKey("externalId"));
        Assert.False(user.ContainsKey("locale"));
        Assert.True((bool)user["active"]!);
        AssertJson("""{"givenName":"Grace","middleName":"Brewster","familyName":"Hopper"}""", user["name"]);

        // 5. Deactivate (OIN): a path-less replace with the attribute inside value.
        user = AssertOk(await Send(HttpMethod.Patch, $"{Users}/{id}", PatchBody("""{"op":"replace","value":{"active":false}}""")));
        Assert.Equal(JsonValueKind.False, user["active"]?.GetValueKind());
        Assert.Equal("Brewster", (string?)user["name"]!["middleName"]);

        // A deactivated user still comes back from GET and from the filter.
        Assert.False((bool)AssertOk(await Send(HttpMethod.Get, $"{Users}/{id}"))["active"]!);
        found = AssertList(await Send(HttpMethod.Get, lookup), total: 1, startIndex: 1, items: 1);
        Assert.Equal(id, (string?)found[0]!["id"]);
        Assert.False((bool)found[0]!["active"]!);

        // 6. Reactivate the same way.
        user = AssertOk(await Send(HttpMethod.Patch, $"{Users}/{id}", PatchBody("""{"op":"replace","value":{"active":true}}""")));
        Assert.Equal(JsonValueKind.True, user["active"]?.GetValueKind());
        Assert.True((bool)AssertOk(await Send(HttpMethod.Get, $"{Users}/{id}"))["active"]!);

        // AIW: deactivate and reactivate with a PUT of the whole user.
        foreach (bool active in new[] { false, true })
        {
            var current = JsonNode.Parse((await Send(HttpMethod.Get, $"{Users}/{id}")).Raw)!.AsObject();
            current["active"] = active;
            user = AssertOk(await Send(HttpMethod.Put, $"{Users}/{id}", current.ToJsonString()));
            Assert.Equal(active, (bool)user["active"]!);
            Assert.Equal(userName, (string?)user["userName"]);
            Assert.Equal(active, (bool)AssertList(await Send(HttpMethod.Get, lookup), total: 1, startIndex: 1, items: 1)[0]!["active"]!);
        }

        // 7. Password sync (unconfirmed shape): a path-less replace with password; never echoed.
        var sync = await Send(HttpMethod.Patch, $"{Users}/{id}", PatchBody("""{"op":"replace","value":{"password":"n3w-Pa55word"}}"""));
        Assert.Equal(HttpStatusCode.OK, sync.Status);
        Assert.DoesNotContain("n3w-Pa55word", sync.Raw, StringComparison.Ordinal);
        Assert.False(sync.Body!.ContainsKey("password"));

        await DeleteUsers(id);
        Assert.Empty(server.Store.Verify());
    }

    [Fact]
    public async Task Okta_GroupPush_LookupCreatePatchMembersRenamePutDelete()
    {
        string s = Suffix();
        string grace = $"grace.hopper.{s}@example.com";
        string alan = $"alan.kay.{s}@example.com";
        string barbara = $"barbara.liskov.{s}@example.com";
        string u1 = await CreateUser(grace);
        string u2 = await CreateUser(alan);
        string u3 = await CreateUser(barbara);
        string name = $"Engineering-{s}";
        string lookup = $"{Groups}?filter=displayName%20eq%20%22Engineering-{s}%22&startIndex=1&count=100";

        // G1 lookup: miss.
        AssertEmptyList(await Send(HttpMethod.Get, lookup));

        // G2 create with members: [].
        var created = await Send(HttpMethod.Post, Groups, $$$"""
            {"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"{{{name}}}","members":[]}
            """);
        string gid = AssertCreated(created, "Groups");
        Assert.Equal([GroupUrn], Strings(created.Body!["schemas"]));
        Assert.Equal(name, (string?)created.Body["displayName"]);
        AssertJson("[]", created.Body["members"]);
        var hit = AssertList(await Send(HttpMethod.Get, lookup), total: 1, startIndex: 1, items: 1);
        Assert.Equal(gid, (string?)hit[0]!["id"]);

        // A first member, with display as Okta sends it.
        AssertNoContent(await Send(HttpMethod.Patch, $"{Groups}/{gid}", PatchBody(
            $$$"""{"op":"add","path":"members","value":[{"value":"{{{u2}}}","display":"{{{alan}}}"}]}""")));

        // G3 get: members with value, $ref and type.
        var group = AssertOk(await Send(HttpMethod.Get, $"{Groups}/{gid}"));
        var members = group["members"]!.AsArray();
        Assert.Single(members);
        Assert.Equal(u2, (string?)members[0]!["value"]);
        Assert.Equal("User", (string?)members[0]!["type"]);
        Assert.EndsWith($"/scim/v2/Users/{u2}", (string?)members[0]!["$ref"], StringComparison.Ordinal);

        // G4 remove and add in one request.
        AssertNoContent(await Send(HttpMethod.Patch, $"{Groups}/{gid}", $$$"""
            {"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
             "Operations":[
              {"op":"remove","path":"members[value eq \"{{{u2}}}\"]"},
              {"op":"add","path":"members","value":[{"value":"{{{u1}}}","display":"{{{grace}}}"}]}]}
            """));
        Assert.Equal(Sorted(u1), await MemberIds(gid));

        // G5 full membership push: replace every member.
        AssertNoContent(await Send(HttpMethod.Patch, $"{Groups}/{gid}", $$$"""
            {"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
             "Operations":[{"op":"replace","path":"members",
               "value":[{"value":"{{{u1}}}","display":"{{{grace}}}"},
                        {"value":"{{{u2}}}","display":"{{{alan}}}"}]}]}
            """));
        Assert.Equal(Sorted(u1, u2), await MemberIds(gid));

        // G6 rename: path-less, carrying the group's own id; idempotent when repeated.
        string renamed = $"Engineering-Core-{s}";
        for (int i = 0; i < 2; i++)
        {
            AssertNoContent(await Send(HttpMethod.Patch, $"{Groups}/{gid}", PatchBody(
                $$$"""{"op":"replace","value":{"id":"{{{gid}}}","displayName":"{{{renamed}}}"}}""")));
            group = AssertOk(await Send(HttpMethod.Get, $"{Groups}/{gid}"));
            Assert.Equal(gid, (string?)group["id"]);
            Assert.Equal(renamed, (string?)group["displayName"]);
            Assert.Equal(Sorted(u1, u2), await MemberIds(gid));
        }

        AssertEmptyList(await Send(HttpMethod.Get, lookup));

        // A user PUT echoes groups (readOnly): the membership is not changed by it.
        var echo = JsonNode.Parse((await Send(HttpMethod.Get, $"{Users}/{u1}")).Raw)!.AsObject();
        Assert.Equal(gid, (string?)echo["groups"]![0]!["value"]);
        var user = AssertOk(await Send(HttpMethod.Put, $"{Users}/{u1}", echo.ToJsonString()));
        Assert.Equal(gid, (string?)user["groups"]![0]!["value"]);
        echo["groups"] = new JsonArray();
        user = AssertOk(await Send(HttpMethod.Put, $"{Users}/{u1}", echo.ToJsonString()));
        Assert.Equal(gid, (string?)user["groups"]![0]!["value"]);
        Assert.Equal(Sorted(u1, u2), await MemberIds(gid));

        // G7 AIW: PUT the whole group with the complete member list.
        string aiwName = $"Engineering-AIW-{s}";
        var put = await Send(HttpMethod.Put, $"{Groups}/{gid}", $$$"""
            {"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"id":"{{{gid}}}","displayName":"{{{aiwName}}}",
             "members":[{"value":"{{{u2}}}","display":"{{{alan}}}"},{"value":"{{{u3}}}","display":"{{{barbara}}}"}]}
            """);
        group = AssertOk(put);
        Assert.Equal(gid, (string?)group["id"]);
        Assert.Equal(aiwName, (string?)group["displayName"]);
        Assert.Equal(Sorted(u2, u3), group["members"]!.AsArray().Select(m => (string)m!["value"]!).Order(StringComparer.Ordinal));
        Assert.Equal(Sorted(u2, u3), await MemberIds(gid));
        Assert.Null(AssertOk(await Send(HttpMethod.Get, $"{Users}/{u1}"))["groups"]);
        Assert.Equal(aiwName, (string?)AssertOk(await Send(HttpMethod.Get, $"{Users}/{u3}"))["groups"]![0]!["display"]);

        // G8 delete.
        AssertNoContent(await Send(HttpMethod.Delete, $"{Groups}/{gid}"));
        AssertError(await Send(HttpMethod.Get, $"{Groups}/{gid}"), HttpStatusCode.NotFound, null);
        AssertEmptyList(await Send(HttpMethod.Get, $"{Groups}?filter=displayName%20eq%20%22Engineering-AIW-{s}%22&startIndex=1&count=100"));
        Assert.Null(AssertOk(await Send(HttpMethod.Get, $"{Users}/{u2}"))["groups"]);

        await DeleteUsers(u1, u2, u3);
        Assert.Empty(server.Store.Verify());
    }

    [Fact]
    public async Task Okta_Import_PagesThroughEveryUserInAStableOrder()
    {
        string s = Suffix();
        var created = new List<string>();
        for (int i = 0; i < 7; i++)
        {
            created.Add(await CreateUser($"imp-{s}-{i}@example.com"));
        }

        // Without a filter, as Okta imports (count=3 instead of 100 to get several pages).
        var all = await PageThrough($"{Users}?", 3);
        Assert.Equal(all.Count, all.Distinct(StringComparer.Ordinal).Count());
        Assert.Subset(all.ToHashSet(StringComparer.Ordinal), created.ToHashSet(StringComparer.Ordinal));

        // The order is the same whatever startIndex and count are.
        var onePage = AssertList(await Send(HttpMethod.Get, $"{Users}?startIndex=1&count=100"), total: all.Count, startIndex: 1, items: Math.Min(100, all.Count));
        Assert.Equal(all.Take(100), onePage.Select(r => (string)r!["id"]!));

        // Past the end: an empty page, Resources still present.
        AssertList(await Send(HttpMethod.Get, $"{Users}?startIndex={all.Count + 1}&count=3"), total: all.Count, startIndex: all.Count + 1, items: 0);

        // With a filter, the total is exactly the users made here.
        var mine = await PageThrough($"{Users}?filter=userName%20sw%20%22imp-{s}-%22&", 3);
        Assert.Equal(created.Order(StringComparer.Ordinal), mine.Order(StringComparer.Ordinal));

        // Groups import the same way.
        var groups = AssertOk(await Send(HttpMethod.Get, $"{Groups}?startIndex=1&count=100"));
        Assert.Equal([ListUrn], Strings(groups["schemas"]));
        Assert.Equal((int)groups["itemsPerPage"]!, groups["Resources"]!.AsArray().Count);

        await DeleteUsers([.. created]);
        Assert.Empty(server.Store.Verify());
    }

    // ---------------------------------------------------------------- helpers

    private static string Suffix() => Guid.NewGuid().ToString("N")[..8];

    private static string PatchBody(params string[] operations) =>
        $$$"""{"schemas":["{{{PatchUrn}}}"],"Operations":[{{{string.Join(",", operations)}}}]}""";

    private static string[] Sorted(params string[] ids) => [.. ids.Order(StringComparer.Ordinal)];

    private static List<string?> Strings(JsonNode? array) => [.. array!.AsArray().Select(v => (string?)v)];

    private async Task<Reply> Send(HttpMethod method, string path, string? body = null)
    {
        using var request = new HttpRequestMessage(method, path);
        if (body is not null)
        {
            request.Content = new StringContent(body, Encoding.UTF8, MediaType);
        }

        using var response = await server.Client.SendAsync(request);
        string raw = await response.Content.ReadAsStringAsync();
        var json = raw.Length == 0 ? null : JsonNode.Parse(raw)!.AsObject();
        return new Reply(response.StatusCode, json, raw, response.Headers.Location, response.Headers.ETag?.ToString(), response.Content.Headers.ContentType?.MediaType);
    }

    private async Task<string> CreateUser(string userName) =>
        AssertCreated(await Send(HttpMethod.Post, Users, $$$"""
            {"schemas":["{{{UserUrn}}}"],"userName":"{{{userName}}}","active":true,"displayName":"{{{userName}}}"}
            """), "Users");

    private async Task DeleteUsers(params string[] ids)
    {
        foreach (var id in ids)
        {
            AssertNoContent(await Send(HttpMethod.Delete, $"{Users}/{id}"));
        }
    }

    private async Task<string[]> MemberIds(string groupId)
    {
        var group = AssertOk(await Send(HttpMethod.Get, $"{Groups}/{groupId}"));
        return [.. group["members"]!.AsArray().Select(m => (string)m!["value"]!).Order(StringComparer.Ordinal)];
    }

    /// <summary>Reads every page of <paramref name="prefix"/> with startIndex += count, checking each page.</summary>
    private async Task<List<string>> PageThrough(string prefix, int count)
    {
        var ids = new List<string>();
        int? total = null;
        for (int startIndex = 1; total is null || startIndex <= total; startIndex += count)
        {
            var list = AssertOk(await Send(HttpMethod.Get, $"{prefix}startIndex={startIndex}&count={count}"));
            Assert.Equal([ListUrn], Strings(list["schemas"]));
            int pageTotal = (int)list["totalResults"]!;
            total ??= pageTotal;
            Assert.Equal(total, pageTotal);
            Assert.Equal(startIndex, (int)list["startIndex"]!);
            var resources = list["Resources"]!.AsArray();
            Assert.Equal((int)list["itemsPerPage"]!, resources.Count);
            Assert.Equal(Math.Min(count, pageTotal - startIndex + 1), resources.Count);
            ids.AddRange(resources.Select(r => (string)r!["id"]!));
        }

        Assert.Equal(total, ids.Count);
        return ids;
    }

    private static JsonObject AssertOk(Reply reply)
    {
        Assert.True(reply.Status == HttpStatusCode.OK, $"expected 200, got {(int)reply.Status}: {reply.Raw}");
        Assert.Equal(MediaType, reply.MediaType);
        return reply.Body!;
    }

    private static void AssertNoContent(Reply reply)
    {
        Assert.True(reply.Status == HttpStatusCode.NoContent, $"expected 204, got {(int)reply.Status}: {reply.Raw}");
        Assert.Empty(reply.Raw);
    }

    /// <summary>201 with Location = meta.location, an ETag = meta.version, and the server's id and meta.</summary>
    private string AssertCreated(Reply reply, string endpoint)
    {
        Assert.True(reply.Status == HttpStatusCode.Created, $"expected 201, got {(int)reply.Status}: {reply.Raw}");
        Assert.Equal(MediaType, reply.MediaType);
        var body = reply.Body!;
        string? id = (string?)body["id"];
        Assert.False(string.IsNullOrEmpty(id));
        Assert.Equal(new Uri(server.BaseAddress, $"/scim/v2/{endpoint}/{id}"), reply.Location);
        Assert.Equal(reply.Location!.ToString(), (string?)body["meta"]!["location"]);
        Assert.Matches("^W/\"[0-9]+\"$", reply.ETag);
        Assert.Equal(reply.ETag, (string?)body["meta"]!["version"]);
        Assert.Equal(endpoint == "Users" ? "User" : "Group", (string?)body["meta"]!["resourceType"]);
        return id!;
    }

    private static void AssertError(Reply reply, HttpStatusCode status, string? scimType)
    {
        Assert.True(reply.Status == status, $"expected {(int)status}, got {(int)reply.Status}: {reply.Raw}");
        Assert.Equal(MediaType, reply.MediaType);
        Assert.Equal([ErrorUrn], Strings(reply.Body!["schemas"]));
        Assert.Equal(JsonValueKind.String, reply.Body["status"]?.GetValueKind());
        Assert.Equal(((int)status).ToString(System.Globalization.CultureInfo.InvariantCulture), (string?)reply.Body["status"]);
        Assert.Equal(scimType, (string?)reply.Body["scimType"]);
    }

    /// <summary>A ListResponse with numbers as JSON numbers and Resources always present; returns Resources.</summary>
    private static JsonArray AssertList(Reply reply, int total, int startIndex, int items)
    {
        var list = AssertOk(reply);
        Assert.Equal([ListUrn], Strings(list["schemas"]));
        foreach (var key in new[] { "totalResults", "startIndex", "itemsPerPage" })
        {
            Assert.Equal(JsonValueKind.Number, list[key]?.GetValueKind());
        }

        Assert.Equal(total, (int)list["totalResults"]!);
        Assert.Equal(startIndex, (int)list["startIndex"]!);
        Assert.Equal(items, (int)list["itemsPerPage"]!);
        var resources = Assert.IsType<JsonArray>(list["Resources"]);
        Assert.Equal(items, resources.Count);
        return resources;
    }

    private static void AssertEmptyList(Reply reply) => AssertList(reply, total: 0, startIndex: 1, items: 0);

    private static void AssertJson(string expected, JsonNode? actual) => AssertJson(JsonNode.Parse(expected)!, actual);

    private static void AssertJson(JsonNode expected, JsonNode? actual) =>
        Assert.True(JsonNode.DeepEquals(expected, actual), $"expected {expected.ToJsonString()}\n     got {actual?.ToJsonString() ?? "nothing"}");

    /// <summary>The Entra user's state after each update: only the named values change.</summary>
    private static void AssertAda(JsonObject user, string userName, string workEmail, string street, string mobile, string familyName, string? nickName, string department)
    {
        Assert.Equal(userName, (string?)user["userName"]);
        Assert.Equal("Ada Lovelace", (string?)user["displayName"]);
        Assert.Equal(nickName, (string?)user["nickName"]);
        AssertJson($$$"""{"formatted":"Ada Lovelace","familyName":"{{{familyName}}}","givenName":"Ada"}""", user["name"]);
        AssertJson($$$"""[{"primary":true,"type":"work","value":"{{{workEmail}}}"}]""", user["emails"]);
        AssertJson($$$"""
            [{"type":"work","streetAddress":"{{{street}}}","locality":"London",
              "region":"LDN","postalCode":"EC1A 1AA","country":"GB","primary":true}]
            """, user["addresses"]);
        AssertJson($$$"""
            [{"type":"work","value":"020 7946 0000"},{"type":"mobile","value":"{{{mobile}}}"},{"type":"fax","value":"020 7946 0001"}]
            """, user["phoneNumbers"]);
        Assert.Equal("E1001", (string?)user[EnterpriseUrn]!["employeeNumber"]);
        Assert.Equal(department, (string?)user[EnterpriseUrn]!["department"]);
        Assert.False(user.ContainsKey("password"));
        Assert.False(user.ContainsKey("manager"));
    }

    /// <summary>manager.value stored, and only inside the enterprise extension (else Entra re-sends it).</summary>
    private static void AssertManager(JsonObject user, string managerId)
    {
        Assert.Equal(managerId, (string?)user[EnterpriseUrn]!["manager"]!["value"]);
        Assert.False(user.ContainsKey("manager"));
        Assert.Equal("E1001", (string?)user[EnterpriseUrn]!["employeeNumber"]);
    }
}
