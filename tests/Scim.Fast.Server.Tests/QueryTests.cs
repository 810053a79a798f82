using System.Net;
using System.Text.Json.Nodes;

using static Scim.Fast.Server.Tests.ScimHttp;

namespace Scim.Fast.Server.Tests;

/// <summary>A server holding a known set of 30 users (created once) for list queries.</summary>
public class QueryFixture : ScimServerFixture
{
    public List<(string Id, string UserName)> Users { get; } = [];

    public string LastModifiedAfterTen { get; private set; } = "";

    public override async Task InitializeAsync()
    {
        await StartAsync();
        for (int i = 0; i < 30; i++)
        {
            var body = User($"user{i:D2}@example.com", externalId: $"ext-{i % 10}", givenName: i % 2 == 0 ? "Even" : "Odd");
            body["emails"] = new JsonArray(new JsonObject { ["type"] = "work", ["value"] = $"user{i:D2}@work.example.com", ["primary"] = true });
            body["active"] = i % 3 != 0;
            var created = (await Client.Send(HttpMethod.Post, "/scim/v2/Users", body)).Expect(HttpStatusCode.Created);
            Users.Add((created.Id, $"user{i:D2}@example.com"));
            if (i == 9)
            {
                LastModifiedAfterTen = (string)created.Body!["meta"]!["lastModified"]!;
            }
        }
    }
}

/// <summary>RFC 7644 §3.4.2 (filter, sort, paging), §3.4.3 (.search) and RFC 9865 (cursors).</summary>
public class QueryTests(QueryFixture server) : IClassFixture<QueryFixture>
{
    private HttpClient Client => server.Client;

    [Fact]
    public async Task NoMatch_Is200WithAnEmptyListResponse()
    {
        var list = (await Client.Get("/scim/v2/Users?filter=userName+eq+%22nobody%40example.com%22")).Expect(HttpStatusCode.OK).Body!;
        Assert.Equal(ListSchema, (string?)list["schemas"]![0]);
        Assert.Equal(0, (int)list["totalResults"]!);
        Assert.Equal(0, (int)list["itemsPerPage"]!);
        Assert.Equal(1, (int)list["startIndex"]!);
        Assert.Empty(list["Resources"]!.AsArray());
    }

    [Theory]
    [InlineData("userName eq \"USER07@example.com\"", new[] { 7 })]
    [InlineData("externalId eq \"ext-3\"", new[] { 3, 13, 23 })]
    [InlineData("externalId eq \"EXT-3\"", new int[0])]
    [InlineData("userName sw \"user1\"", new[] { 10, 11, 12, 13, 14, 15, 16, 17, 18, 19 })]
    [InlineData("emails[type eq \"work\" and value co \"user2\"]", new[] { 20, 21, 22, 23, 24, 25, 26, 27, 28, 29 })]
    [InlineData("emails.value eq \"user05@work.example.com\"", new[] { 5 })]
    [InlineData("emails.value eq \"USER05@Work.Example.com\"", new[] { 5 })]
    [InlineData("emails[value eq \"user06@work.example.com\"]", new[] { 6 })]
    [InlineData("emails[type eq \"work\" and value eq \"user07@work.example.com\"]", new[] { 7 })]
    [InlineData("emails[type eq \"home\" and value eq \"user07@work.example.com\"]", new int[0])]
    [InlineData("emails.value eq \"user05@work.example.com\" and active eq false", new int[0])]
    [InlineData("emails.value eq \"user05@work.example\"", new int[0])]
    [InlineData("name.givenName eq \"Even\" and active eq false", new[] { 0, 6, 12, 18, 24 })]
    [InlineData("not (active eq true) and userName ew \"0@example.com\"", new[] { 0 })]
    [InlineData("externalId eq ext-4 and userName pr", new[] { 4, 14, 24 })]
    public async Task Filters_FindExactlyTheMatchingUsers(string filter, int[] expected)
    {
        var list = (await Client.Get("/scim/v2/Users?count=100&filter=" + Uri.EscapeDataString(filter))).Expect(HttpStatusCode.OK).Body!;

        Assert.Equal(expected.Length, (int)list["totalResults"]!);
        Assert.Equal(expected.Select(i => server.Users[i].Id).Order(), Ids(list).Order());
    }

    [Fact]
    public async Task DeltaSync_LastModifiedGt_ComesFromTheIndex()
    {
        var list = (await Client.Get("/scim/v2/Users?count=100&filter=" + Uri.EscapeDataString($"meta.lastModified gt \"{server.LastModifiedAfterTen}\""))).Expect(HttpStatusCode.OK).Body!;
        Assert.Equal(server.Users.Skip(10).Select(u => u.Id).Order(), Ids(list).Order());
    }

    [Theory]
    [InlineData("userName eq")]
    [InlineData("userName zz \"x\"")]
    [InlineData("(userName eq \"x\"")]
    [InlineData("nosuch eq \"x\"")]
    [InlineData("active gt true")]
    public async Task BadFilters_Are400InvalidFilter(string filter)
    {
        (await Client.Get("/scim/v2/Users?filter=" + Uri.EscapeDataString(filter))).AssertError(HttpStatusCode.BadRequest, "invalidFilter");
    }

    [Fact]
    public async Task OverlongOrTooDeepFilters_Are400()
    {
        // Past 8 KiB a query string no longer fits Kestrel's request line: send it by .search.
        string longFilter = "userName eq \"" + new string('x', 9000) + "\"";
        var search = new JsonObject { ["schemas"] = new JsonArray("urn:ietf:params:scim:api:messages:2.0:SearchRequest"), ["filter"] = longFilter };
        (await Client.Send(HttpMethod.Post, "/scim/v2/Users/.search", search)).AssertError(HttpStatusCode.BadRequest, "invalidFilter");
        string deep = new string('(', 100) + "userName pr" + new string(')', 100);
        (await Client.Get("/scim/v2/Users?filter=" + Uri.EscapeDataString(deep))).AssertError(HttpStatusCode.BadRequest, "invalidFilter");
    }

    [Fact]
    public async Task IndexPaging_CoversEveryUserOnce_InAStableOrder()
    {
        var seen = new List<string>();
        for (int start = 1; start <= 31; start += 7)
        {
            var page = (await Client.Get($"/scim/v2/Users?startIndex={start}&count=7")).Expect(HttpStatusCode.OK).Body!;
            Assert.Equal(30, (int)page["totalResults"]!);
            Assert.Equal(start, (int)page["startIndex"]!);
            Assert.Equal(page["Resources"]!.AsArray().Count, (int)page["itemsPerPage"]!);
            seen.AddRange(Ids(page));
        }

        Assert.Equal(server.Users.Select(u => u.Id).Order(), seen.Order());
        Assert.Equal(seen.Distinct().Count(), seen.Count);

        // count=0: totalResults only (RFC 7644 §3.4.2.4); startIndex < 1 means 1; counts above the maximum are capped.
        var countOnly = (await Client.Get("/scim/v2/Users?count=0")).Body!;
        Assert.Equal(30, (int)countOnly["totalResults"]!);
        Assert.Empty(countOnly["Resources"]!.AsArray());
        Assert.Equal(1, (int)(await Client.Get("/scim/v2/Users?startIndex=-5&count=1")).Body!["startIndex"]!);
        Assert.Equal(30, (int)(await Client.Get("/scim/v2/Users?count=999999999999")).Body!["itemsPerPage"]!);
        (await Client.Get("/scim/v2/Users?count=ten")).AssertError(HttpStatusCode.BadRequest, "invalidValue");
    }

    [Theory]
    [InlineData("", 7)]
    [InlineData("&filter=name.givenName+eq+%22Odd%22", 4)]
    [InlineData("&sortBy=userName&sortOrder=descending", 8)]
    [InlineData("&sortBy=name.givenName", 9)]
    public async Task CursorPaging_WalksEverythingOnce(string extra, int count)
    {
        var seen = new List<string>();
        string cursor = "";
        int pages = 0;
        JsonNode page;
        do
        {
            page = (await Client.Get($"/scim/v2/Users?count={count}&cursor={Uri.EscapeDataString(cursor)}{extra}")).Expect(HttpStatusCode.OK).Body!;
            Assert.Null(page["startIndex"]);
            seen.AddRange(Ids(page));
            cursor = (string?)page["nextCursor"] ?? "";
            pages++;
        }
        while (cursor.Length > 0 && pages < 100);

        int expected = extra.Contains("Odd", StringComparison.Ordinal) ? 15 : 30;
        Assert.Equal(expected, seen.Count);
        Assert.Equal(expected, seen.Distinct().Count());
        Assert.Equal(expected, (int)page["totalResults"]!);
    }

    [Fact]
    public async Task SortBy_UserNameDescending_AndUnknownSortBy()
    {
        var list = (await Client.Get("/scim/v2/Users?sortBy=userName&sortOrder=descending&count=3")).Expect(HttpStatusCode.OK).Body!;
        Assert.Equal(["user29@example.com", "user28@example.com", "user27@example.com"], list["Resources"]!.AsArray().Select(r => (string)r!["userName"]!));
        (await Client.Get("/scim/v2/Users?sortBy=nosuch")).AssertError(HttpStatusCode.BadRequest, "invalidPath");
        (await Client.Get("/scim/v2/Users?sortBy=userName&sortOrder=sideways")).AssertError(HttpStatusCode.BadRequest, "invalidValue");
    }

    [Fact]
    public async Task EdgeCasesOfPaging_AreAnswered_NotCrashed()
    {
        // count=0 in cursor mode: totalResults only, no nextCursor.
        var zero = (await Client.Get("/scim/v2/Users?cursor=&count=0")).Expect(HttpStatusCode.OK).Body!;
        Assert.Equal(30, (int)zero["totalResults"]!);
        Assert.Null(zero["nextCursor"]);
        Assert.Empty(zero["Resources"]!.AsArray());

        // startIndex far past the end: an empty page, at once.
        var past = (await Client.Get("/scim/v2/Users?startIndex=2000000000&count=10")).Expect(HttpStatusCode.OK).Body!;
        Assert.Equal(30, (int)past["totalResults"]!);
        Assert.Empty(past["Resources"]!.AsArray());

        // Cursors signed with the server's key (as a forger who had it could make): one beyond
        // every key is refused, one with a newline in its key is read back exactly.
        var cursors = server.Handler.Users.Cursors;
        string context = Protocol.Cursors.Context(default, Protocol.StoreTypes.User, null, null, null);
        string beyond = cursors.EncodePosition(context, 0, false, new Storage.Resources.OrderedPosition("\uFFFF\uFFFF\uFFFF\uFFFF\uFFFF", "x"));
        (await Client.Get("/scim/v2/Users?cursor=" + beyond)).AssertError(HttpStatusCode.BadRequest, "invalidCursor");
        string newline = cursors.EncodePosition(context, 0, false, new Storage.Resources.OrderedPosition("a\nb", "zzz"));
        var afterNewline = (await Client.Get("/scim/v2/Users?count=100&cursor=" + newline)).Expect(HttpStatusCode.OK).Body!;
        Assert.Equal(30, (int)afterNewline["totalResults"]!);

        // Unsigned, the same payloads are hand-made cursors: 400 invalidCursor.
        string unsigned = System.Buffers.Text.Base64Url.EncodeToString(System.Text.Encoding.UTF8.GetBytes("k0a:3:a\nbzzz"));
        (await Client.Get("/scim/v2/Users?count=100&cursor=" + unsigned)).AssertError(HttpStatusCode.BadRequest, "invalidCursor");
        (await Client.Get("/scim/v2/Users?count=100&cursor=" + unsigned + ".AAAAAAAAAAAAAAAAAAAAAA")).AssertError(HttpStatusCode.BadRequest, "invalidCursor");
    }

    [Fact]
    public async Task Cursors_AreBoundToTheirQuery()
    {
        // RFC 9865 §2: a cursor belongs to the query that produced it. Another filter, sort, resource
        // type or tenant gets 400 invalidCursor, even for a well-formed cursor of this server.
        var filtered = (await Client.Get("/scim/v2/Users?filter=userName sw \"user\"&cursor=&count=2")).Expect(HttpStatusCode.OK).Body!;
        string offset = (string)filtered["nextCursor"]!;
        (await Client.Get($"/scim/v2/Users?filter=userName sw \"user\"&cursor={offset}&count=2")).Expect(HttpStatusCode.OK);
        (await Client.Get($"/scim/v2/Users?filter=userName sw \"use\"&cursor={offset}&count=2")).AssertError(HttpStatusCode.BadRequest, "invalidCursor");
        string idOffset = (string)(await Client.Get("/scim/v2/Users?filter=id pr&cursor=&count=2")).Expect(HttpStatusCode.OK).Body!["nextCursor"]!;
        (await Client.Get($"/scim/v2/Users?filter=id pr&cursor={idOffset}&count=2")).Expect(HttpStatusCode.OK);
        (await Client.Get($"/scim/v2/Groups?filter=id pr&cursor={idOffset}&count=2")).AssertError(HttpStatusCode.BadRequest, "invalidCursor");

        var keyset = (await Client.Get("/scim/v2/Users?cursor=&count=2")).Expect(HttpStatusCode.OK).Body!;
        string next = (string)keyset["nextCursor"]!;
        (await Client.Get($"/scim/v2/Users?cursor={next}&count=2&sortOrder=descending")).AssertError(HttpStatusCode.BadRequest, "invalidCursor");
        using var acme = server.CreateClient(ScimServerFixture.AcmeToken);
        (await acme.Get($"/tenants/acme/scim/v2/Users?cursor={next}&count=2")).AssertError(HttpStatusCode.BadRequest, "invalidCursor");
    }

    [Fact]
    public async Task LoneSurrogates_InSearchAndBulk_Are400()
    {
        string search = "{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:SearchRequest\"],\"filter\":\"userName eq \\ud800\"}";
        (await Client.Send(HttpMethod.Post, "/scim/v2/Users/.search", search)).AssertError(HttpStatusCode.BadRequest, "invalidSyntax");
        string bulk = "{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:BulkRequest\"],\"Operations\":[{\"method\":\"DELETE\",\"path\":\"/Users/\\ud800\"}]}";
        (await Client.Send(HttpMethod.Post, "/scim/v2/Bulk", bulk)).AssertError(HttpStatusCode.BadRequest, "invalidSyntax");
    }

    [Fact]
    public async Task BadCursors_Are400InvalidCursor()
    {
        (await Client.Get("/scim/v2/Users?cursor=not-a-cursor")).AssertError(HttpStatusCode.BadRequest, "invalidCursor");
        (await Client.Get("/scim/v2/Users?cursor=%25%25%25")).AssertError(HttpStatusCode.BadRequest, "invalidCursor");
        // A cursor of one order used with another.
        var first = (await Client.Get("/scim/v2/Users?cursor=&count=2")).Body!;
        string next = (string)first["nextCursor"]!;
        (await Client.Get($"/scim/v2/Users?cursor={next}&sortBy=userName")).AssertError(HttpStatusCode.BadRequest, "invalidCursor");
        (await Client.Get($"/scim/v2/Users?cursor={next}&startIndex=3")).AssertError(HttpStatusCode.BadRequest, "invalidValue");
    }

    [Fact]
    public async Task Projection_AttributesAndExcludedAttributes()
    {
        var list = (await Client.Get("/scim/v2/Users?filter=userName+eq+%22user01%40example.com%22&attributes=userName")).Body!;
        var user = list["Resources"]![0]!.AsObject();
        // "id" is returned always (RFC 7643 §3.1), plus what was asked for.
        Assert.Equal(["schemas", "id", "userName"], user.Select(p => p.Key));

        var excluded = (await Client.Get($"/scim/v2/Users/{server.Users[1].Id}?excludedAttributes=emails,name")).Body!.AsObject();
        Assert.Null(excluded["emails"]);
        Assert.Null(excluded["name"]);
        Assert.NotNull(excluded["userName"]);
    }

    [Fact]
    public async Task DotSearch_TakesTheQueryFromTheBody()
    {
        var request = new JsonObject
        {
            ["schemas"] = new JsonArray("urn:ietf:params:scim:api:messages:2.0:SearchRequest"),
            ["filter"] = "externalId eq \"ext-1\"",
            ["attributes"] = new JsonArray("userName"),
            ["sortBy"] = "userName",
            ["startIndex"] = 2,
            ["count"] = 5,
        };
        var list = (await Client.Send(HttpMethod.Post, "/scim/v2/Users/.search", request)).Expect(HttpStatusCode.OK).Body!;
        Assert.Equal(3, (int)list["totalResults"]!);
        Assert.Equal(["user11@example.com", "user21@example.com"], list["Resources"]!.AsArray().Select(r => (string)r!["userName"]!));
        Assert.Null(list["Resources"]![0]!["emails"]);

        (await Client.Send(HttpMethod.Post, "/scim/v2/Users/.search", "{\"filter\":\"userName pr\"}")).AssertError(HttpStatusCode.BadRequest, "invalidSyntax");
    }

    [Fact]
    public async Task RootSearch_SpansResourceTypes()
    {
        string groupName = Unique("rootsearch");
        var group = (await Client.Send(HttpMethod.Post, "/scim/v2/Groups", Group(groupName, server.Users[0].Id))).Expect(HttpStatusCode.Created);
        JsonObject Search(string filter, int startIndex, int count) => new()
        {
            ["schemas"] = new JsonArray("urn:ietf:params:scim:api:messages:2.0:SearchRequest"),
            ["filter"] = filter,
            ["startIndex"] = startIndex,
            ["count"] = count,
        };

        // "id" is common to both types: both contribute. Users come first, then Groups.
        string both = $"id eq \"{server.Users[3].Id}\" or id eq \"{group.Id}\"";
        var all = (await Client.Send(HttpMethod.Post, "/scim/v2/.search", Search(both, 1, 10))).Expect(HttpStatusCode.OK).Body!;
        Assert.Equal(2, (int)all["totalResults"]!);
        Assert.Equal([server.Users[3].Id, group.Id], Ids(all));
        var second = (await Client.Send(HttpMethod.Post, "/scim/v2/.search", Search(both, 2, 1))).Expect(HttpStatusCode.OK).Body!;
        Assert.Equal([group.Id], Ids(second));
        Assert.Equal(groupName, (string?)second["Resources"]![0]!["displayName"]);

        // userName exists only on Users: Groups do not take part.
        var users = (await Client.Send(HttpMethod.Post, "/scim/v2/.search", Search("userName sw \"user0\"", 1, 100))).Expect(HttpStatusCode.OK).Body!;
        Assert.Equal(10, (int)users["totalResults"]!);
        (await Client.Send(HttpMethod.Post, "/scim/v2/.search", Search("nosuch eq 1", 1, 10))).AssertError(HttpStatusCode.BadRequest, "invalidFilter");
        (await Client.Get("/scim/v2/.search")).AssertError(HttpStatusCode.MethodNotAllowed);
        (await Client.Delete("/scim/v2/Groups/" + group.Id)).Expect(HttpStatusCode.NoContent);
    }
}
