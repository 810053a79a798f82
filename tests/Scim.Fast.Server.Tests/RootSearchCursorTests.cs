using System.Net;
using System.Text.Json.Nodes;

using static Scim.Fast.Server.Tests.ScimHttp;

namespace Scim.Fast.Server.Tests;

/// <summary>
/// POST /.search with a cursor (RFC 9865 on RFC 7644 §3.4.3): the cursor walks Users then Groups,
/// every match once and in the order startIndex paging gives, with totalResults over both types and
/// no nextCursor only on the last page, also when a page ends exactly where a type ends.
/// </summary>
public class RootSearchCursorTests(UnthrottledServerFixture server) : IClassFixture<UnthrottledServerFixture>
{
    [Fact]
    public async Task ACursor_WalksEveryTypesMatchesOnce_InSearchOrder()
    {
        string prefix = Unique("rc");
        var userIds = new List<string>();
        for (int i = 0; i < 24; i++)
        {
            var user = User(prefix + "-user-" + i.ToString("D2", System.Globalization.CultureInfo.InvariantCulture));
            user["displayName"] = prefix + " user";
            userIds.Add((await server.Client.Send(HttpMethod.Post, "/scim/v2/Users", user)).Expect(HttpStatusCode.Created).Id);
        }

        var groupIds = new List<string>();
        for (int i = 0; i < 7; i++)
        {
            groupIds.Add((await server.Client.Send(HttpMethod.Post, "/scim/v2/Groups", Group(prefix + " group " + i, userIds[i]))).Expect(HttpStatusCode.Created).Id);
        }

        string both = $"displayName sw \"{prefix}\"";
        var byOffset = Ids((await server.Client.Send(HttpMethod.Post, "/scim/v2/.search", Search(both, startIndex: 1, count: 100))).Expect(HttpStatusCode.OK).Body!);
        // Users first, then Groups, each in its own order (RFC 7644 leaves it to the server).
        Assert.Equal(userIds.Order(StringComparer.Ordinal), byOffset.Take(24).Order(StringComparer.Ordinal));
        Assert.Equal(groupIds.Order(StringComparer.Ordinal), byOffset.Skip(24).Order(StringComparer.Ordinal));

        // Pages of 4 end exactly where the users end (24); pages of 5 and 7 cross the boundary.
        foreach (int count in new[] { 4, 5, 7, 31, 100 })
        {
            var (walked, pages) = await WalkAsync(both, count, expectedTotal: 31);
            Assert.Equal(byOffset, walked);
            Assert.Equal((31 + count - 1) / count, pages);
        }

        // Only users match: the walk ends with the users' last page, not with an empty groups page.
        string onlyUsers = $"userName sw \"{prefix}\"";
        var (users, userPages) = await WalkAsync(onlyUsers, 4, expectedTotal: 24);
        Assert.Equal(Ids((await server.Client.Send(HttpMethod.Post, "/scim/v2/.search", Search(onlyUsers, startIndex: 1, count: 100))).Expect(HttpStatusCode.OK).Body!), users);
        Assert.Equal(userIds.Order(StringComparer.Ordinal), users.Order(StringComparer.Ordinal));
        Assert.Equal(6, userPages);

        // count=0: the total, no page and no cursor.
        var totalOnly = (await server.Client.Send(HttpMethod.Post, "/scim/v2/.search", Search(both, cursor: "", count: 0))).Expect(HttpStatusCode.OK).Body!;
        Assert.Equal(31, (int)totalOnly["totalResults"]!);
        Assert.Null(totalOnly["nextCursor"]);
    }

    [Fact]
    public async Task ACursorOfAnotherSearch_OrTamperedWith_IsInvalidCursor()
    {
        string prefix = Unique("rcbad");
        for (int i = 0; i < 3; i++)
        {
            var user = User(prefix + "-" + i);
            user["displayName"] = prefix;
            (await server.Client.Send(HttpMethod.Post, "/scim/v2/Users", user)).Expect(HttpStatusCode.Created);
        }

        string filter = $"displayName eq \"{prefix}\"";
        var first = (await server.Client.Send(HttpMethod.Post, "/scim/v2/.search", Search(filter, cursor: "", count: 1))).Expect(HttpStatusCode.OK).Body!;
        string cursor = (string)first["nextCursor"]!;
        Assert.Null(first["startIndex"]);
        (await server.Client.Send(HttpMethod.Post, "/scim/v2/.search", Search(filter, cursor: cursor, count: 1))).Expect(HttpStatusCode.OK);

        // Another filter, a changed byte, a cursor of /Users/.search: 400 invalidCursor (RFC 9865 §2.2).
        (await server.Client.Send(HttpMethod.Post, "/scim/v2/.search", Search($"displayName eq \"{prefix}x\"", cursor: cursor, count: 1))).AssertError(HttpStatusCode.BadRequest, "invalidCursor");
        string tampered = (cursor[0] == 'A' ? 'B' : 'A') + cursor[1..];
        (await server.Client.Send(HttpMethod.Post, "/scim/v2/.search", Search(filter, cursor: tampered, count: 1))).AssertError(HttpStatusCode.BadRequest, "invalidCursor");
        var usersPage = (await server.Client.Send(HttpMethod.Post, "/scim/v2/Users/.search", Search(filter, cursor: "", count: 1))).Expect(HttpStatusCode.OK).Body!;
        (await server.Client.Send(HttpMethod.Post, "/scim/v2/.search", Search(filter, cursor: (string)usersPage["nextCursor"]!, count: 1))).AssertError(HttpStatusCode.BadRequest, "invalidCursor");

        // A root cursor is not a Users cursor either, and cursor with startIndex is refused.
        (await server.Client.Send(HttpMethod.Post, "/scim/v2/Users/.search", Search(filter, cursor: cursor, count: 1))).AssertError(HttpStatusCode.BadRequest, "invalidCursor");
        var both = Search(filter, cursor: "", count: 1);
        both["startIndex"] = 1;
        (await server.Client.Send(HttpMethod.Post, "/scim/v2/.search", both)).AssertError(HttpStatusCode.BadRequest, "invalidValue");
    }

    // Groups in a root /.search are written like /Groups lists write them: members streamed from the
    // store once the page is sent (they used to be loaded as objects and serialized whole, per group,
    // before the first byte went out). Every member once, commas right between the types' parts.
    [Fact]
    public async Task ARootSearch_WritesGroupsWithEveryMember_AfterTheUsers()
    {
        string prefix = Unique("rsbig");
        var userIds = new List<string>();
        for (int bulk = 0; bulk < 3; bulk++)
        {
            var operations = new JsonArray();
            for (int i = 0; i < 700; i++)
            {
                var user = User($"{prefix}-{bulk}-{i:D3}");
                user["displayName"] = prefix + " user";
                operations.Add(new JsonObject { ["method"] = "POST", ["path"] = "/Users", ["bulkId"] = "u" + i, ["data"] = user });
            }

            var request = new JsonObject { ["schemas"] = new JsonArray("urn:ietf:params:scim:api:messages:2.0:BulkRequest"), ["Operations"] = operations };
            foreach (var result in (await server.Client.Send(HttpMethod.Post, "/scim/v2/Bulk", request)).Expect(HttpStatusCode.OK).Body!["Operations"]!.AsArray())
            {
                Assert.Equal("201", (string)result!["status"]!);
                userIds.Add(((string)result["location"]!).Split('/')[^1]);
            }
        }

        // More members than one flush of the member stream (1,024), two, and none.
        string big = (await server.Client.Send(HttpMethod.Post, "/scim/v2/Groups", Group(prefix + " group big", [.. userIds]))).Expect(HttpStatusCode.Created).Id;
        string small = (await server.Client.Send(HttpMethod.Post, "/scim/v2/Groups", Group(prefix + " group small", userIds[0], userIds[1]))).Expect(HttpStatusCode.Created).Id;
        string empty = (await server.Client.Send(HttpMethod.Post, "/scim/v2/Groups", Group(prefix + " group empty"))).Expect(HttpStatusCode.Created).Id;

        // The last two users, then the three groups.
        string filter = $"displayName sw \"{prefix}\"";
        var page = (await server.Client.Send(HttpMethod.Post, "/scim/v2/.search", Search(filter, startIndex: 2099, count: 10))).Expect(HttpStatusCode.OK).Body!;
        Assert.Equal(2103, (int)page["totalResults"]!);
        Assert.Equal(5, (int)page["itemsPerPage"]!);
        var resources = page["Resources"]!.AsArray();
        Assert.Equal(5, resources.Count);
        Assert.All(resources.Take(2), user => Assert.Contains(userIds, id => id == (string)user!["id"]!));
        var groups = resources.Skip(2).ToDictionary(group => (string)group!["id"]!, group => group!);
        Assert.Equal(new[] { big, empty, small }.Order(StringComparer.Ordinal), groups.Keys.Order(StringComparer.Ordinal));
        Assert.Equal(userIds.Order(StringComparer.Ordinal), Members(groups[big]).Order(StringComparer.Ordinal));
        Assert.Equal(new[] { userIds[0], userIds[1] }.Order(StringComparer.Ordinal), Members(groups[small]).Order(StringComparer.Ordinal));
        Assert.Empty(Members(groups[empty]));
        Assert.All(groups.Values, group => Assert.Equal(prefix + " group", ((string)group["displayName"]!)[..(prefix.Length + 6)]));
        var member = groups[small]["members"]!.AsArray()[0]!;
        Assert.Equal("User", (string)member["type"]!);
        Assert.EndsWith("/Users/" + (string)member["value"]!, (string)member["$ref"]!);

        // With a cursor, and without members: the same groups, no member lists.
        var all = new List<JsonNode>();
        string? cursor = "";
        while (cursor is not null)
        {
            var withoutMembers = Search(filter, cursor: cursor, count: 1000);
            withoutMembers["excludedAttributes"] = "members";
            var cursorPage = (await server.Client.Send(HttpMethod.Post, "/scim/v2/.search", withoutMembers)).Expect(HttpStatusCode.OK).Body!;
            all.AddRange(cursorPage["Resources"]!.AsArray().Select(resource => resource!));
            cursor = (string?)cursorPage["nextCursor"];
        }

        Assert.Equal(2103, all.Count);
        Assert.All(all.Skip(2100), group => Assert.Null(group["members"]));
        Assert.Equal(userIds.Order(StringComparer.Ordinal), all.Take(2100).Select(user => (string)user["id"]!).Order(StringComparer.Ordinal));

        static List<string> Members(JsonNode group) => group["members"]?.AsArray().Select(m => (string)m!["value"]!).ToList() ?? [];
    }

    private async Task<(List<string> Ids, int Pages)> WalkAsync(string filter, int count, int expectedTotal)
    {
        var ids = new List<string>();
        string cursor = "";
        for (int pages = 1; pages <= 100; pages++)
        {
            var page = (await server.Client.Send(HttpMethod.Post, "/scim/v2/.search", Search(filter, cursor: cursor, count: count))).Expect(HttpStatusCode.OK).Body!;
            Assert.Equal(expectedTotal, (int)page["totalResults"]!);
            var pageIds = Ids(page);
            ids.AddRange(pageIds);
            if (page["nextCursor"] is not { } next)
            {
                return (ids, pages);
            }

            // Only the last page may be short or lack a cursor.
            Assert.Equal(count, pageIds.Count);
            cursor = (string)next!;
        }

        throw new InvalidOperationException("The cursor walk did not end in 100 pages.");
    }

    private static JsonObject Search(string filter, int count, int? startIndex = null, string? cursor = null)
    {
        var search = new JsonObject
        {
            ["schemas"] = new JsonArray("urn:ietf:params:scim:api:messages:2.0:SearchRequest"),
            ["filter"] = filter,
            ["count"] = count,
        };
        if (startIndex is { } start)
        {
            search["startIndex"] = start;
        }

        if (cursor is not null)
        {
            search["cursor"] = cursor;
        }

        return search;
    }

    private static List<string> Ids(JsonNode page) => page["Resources"]?.AsArray().Select(r => (string)r!["id"]!).ToList() ?? [];
}
