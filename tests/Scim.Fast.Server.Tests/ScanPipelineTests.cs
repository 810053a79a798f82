using System.Globalization;
using System.Net;
using System.Text.Json.Nodes;

using static Scim.Fast.Server.Tests.ScimHttp;

namespace Scim.Fast.Server.Tests;

/// <summary>
/// A scan evaluates one block of candidates while the walk fills the next, each block in chunks
/// two threads take in turn, and consumes blocks in walk order. With several blocks of users
/// (1,024 candidates a block), filtered pages, totals, cursors and sorts must be exactly what a
/// serial walk gives (RFC 7644 §3.4.2.2–§3.4.2.4), also with two scans and a writer running at once.
/// </summary>
public class ScanPipelineTests(UnthrottledServerFixture server) : IClassFixture<UnthrottledServerFixture>
{
    private const int Users = 3_300;

    [Fact]
    public async Task ScanPages_Totals_AndCursors_AreTheSerialWalks_AcrossBlocks()
    {
        var users = await CreateUsersAsync(server.Client, Users, "pipe");

        // Without sortBy the walk is in id order (ordinal); a scan's page is that order's slice.
        foreach (string title in new[] { "pipe-t-0", "pipe-t-1", "nobody" })
        {
            var expected = users.Where(u => (string?)u["title"] == title).Select(Id).Order(StringComparer.Ordinal).ToList();
            foreach (var (start, count) in new[] { (1, 10), (1, 1000), (150, 60), (expected.Count, 5), (1, 0) })
            {
                string query = $"/scim/v2/Users?filter=title eq \"{title}\"&startIndex={start}&count={count}&attributes=id";
                var page = (await server.Client.Get(query)).Expect(HttpStatusCode.OK).Body!;
                Assert.True(expected.Count == (int)page["totalResults"]!, $"{query}: totalResults {page["totalResults"]}, want {expected.Count}");
                var ids = page["Resources"]?.AsArray().Select(r => (string)r!["id"]!).ToList() ?? [];
                var want = expected.Skip(start - 1).Take(count).ToList();
                Assert.True(want.SequenceEqual(ids), $"{query}:\n server    {string.Join(",", ids)}\n reference {string.Join(",", want)}");
            }
        }

        // A cursor walks the whole match list once, in order, 97 at a time (RFC 9865).
        var t2 = users.Where(u => (string?)u["title"] == "pipe-t-2").Select(Id).Order(StringComparer.Ordinal).ToList();
        var walked = new List<string>();
        string cursor = "";
        for (int pages = 0; pages < 100; pages++)
        {
            var page = (await server.Client.Get($"/scim/v2/Users?filter=title eq \"pipe-t-2\"&count=97&attributes=id&cursor={Uri.EscapeDataString(cursor)}")).Expect(HttpStatusCode.OK).Body!;
            walked.AddRange(page["Resources"]?.AsArray().Select(r => (string)r!["id"]!) ?? []);
            if (page["nextCursor"] is not { } next)
            {
                break;
            }

            cursor = (string)next!;
        }

        Assert.Equal(t2, walked);

        // A sort on an attribute with no ordered index (top-k over every block) with a filter.
        var sorted = users.Where(u => (string?)u["title"] != "pipe-t-0").ToList();
        sorted.Sort((a, b) => QueryDifferentialTests.Compare(a, b, "name.familyName", descending: true));
        var sortedPage = (await server.Client.Get("/scim/v2/Users?filter=not (title eq \"pipe-t-0\") and userName sw \"pipe\"&sortBy=name.familyName&sortOrder=descending&startIndex=1500&count=30&attributes=id")).Expect(HttpStatusCode.OK).Body!;
        Assert.Equal(sorted.Count, (int)sortedPage["totalResults"]!);
        Assert.Equal(sorted.Skip(1499).Take(30).Select(Id), sortedPage["Resources"]!.AsArray().Select(r => (string)r!["id"]!));
    }

    [Fact]
    public async Task TwoScans_BesideAWriter_EachGetExactlyTheirMatches()
    {
        var users = await CreateUsersAsync(server.Client, Users, "beside");
        var t1 = users.Where(u => (string?)u["title"] == "beside-t-1").Select(Id).Order(StringComparer.Ordinal).ToList();

        // The writer changes displayName only, which the filter does not look at.
        using var stop = new CancellationTokenSource();
        var writer = Task.Run(async () =>
        {
            int n = 0;
            while (!stop.IsCancellationRequested)
            {
                var user = users[n++ % users.Count];
                var patch = new JsonObject
                {
                    ["schemas"] = new JsonArray("urn:ietf:params:scim:api:messages:2.0:PatchOp"),
                    ["Operations"] = new JsonArray(new JsonObject { ["op"] = "replace", ["path"] = "displayName", ["value"] = "d" + n }),
                };
                (await server.Client.Send(HttpMethod.Patch, "/scim/v2/Users/" + Id(user), patch)).Expect(HttpStatusCode.OK);
            }

            return n;
        });

        for (int round = 0; round < 4; round++)
        {
            var scans = Enumerable.Range(0, 2).Select(_ => server.Client.Get($"/scim/v2/Users?filter=title eq \"beside-t-1\" and displayName pr&count=1000&attributes=id")).ToArray();
            foreach (var reply in await Task.WhenAll(scans))
            {
                var page = reply.Expect(HttpStatusCode.OK).Body!;
                Assert.Equal(t1.Count, (int)page["totalResults"]!);
                Assert.Equal(t1, page["Resources"]!.AsArray().Select(r => (string)r!["id"]!));
            }
        }

        await stop.CancelAsync();
        Assert.True(await writer > 0);
    }

    internal static async Task<List<JsonObject>> CreateUsersAsync(HttpClient client, int count, string prefix, bool readBack = true)
    {
        var random = new Random(count);
        for (int batch = 0; batch < count / 100; batch++)
        {
            var operations = new JsonArray();
            for (int i = 0; i < 100; i++)
            {
                int n = batch * 100 + i;
                var user = User(Unique(prefix + n.ToString("D4", CultureInfo.InvariantCulture)));
                user["displayName"] = "d";
                user["name"] = new JsonObject { ["familyName"] = "f" + random.Next(500).ToString("D3", CultureInfo.InvariantCulture) };
                if (random.Next(4) > 0)
                {
                    // Titles of this call's users only: tests sharing the server do not see each other's.
                    user["title"] = prefix + "-t-" + random.Next(3).ToString(CultureInfo.InvariantCulture);
                }

                operations.Add(new JsonObject { ["method"] = "POST", ["path"] = "/Users", ["bulkId"] = "u" + n, ["data"] = user });
            }

            var bulk = new JsonObject { ["schemas"] = new JsonArray("urn:ietf:params:scim:api:messages:2.0:BulkRequest"), ["Operations"] = operations };
            var reply = (await client.Send(HttpMethod.Post, "/scim/v2/Bulk", bulk)).Expect(HttpStatusCode.OK);
            Assert.All(reply.Body!["Operations"]!.AsArray(), r => Assert.Equal("201", (string?)r!["status"]));
        }

        var users = new List<JsonObject>();
        string cursor = "";
        while (readBack)
        {
            var page = (await client.Get($"/scim/v2/Users?filter=userName sw \"{prefix}\"&count=1000&cursor={Uri.EscapeDataString(cursor)}")).Expect(HttpStatusCode.OK).Body!;
            users.AddRange(page["Resources"]!.AsArray().Select(r => r!.AsObject()));
            if (page["nextCursor"] is not { } next)
            {
                break;
            }

            cursor = (string)next!;
        }

        Assert.Equal(readBack ? count : 0, users.Count);
        return users;
    }

    private static string Id(JsonObject user) => (string)user["id"]!;
}

public sealed class ScanPipelineLimitFixture : ScimServerFixture
{
    protected override IEnumerable<string> ExtraArguments =>
        ["--Scim:Limits:RequestsPerSecondPerToken=0", "--Scim:Limits:ScanFreeResources=10", "--Scim:Limits:MaxScannedResources=2600", "--Scim:Limits:MaxConcurrentScansPerTenant=1"];
}

/// <summary>
/// A scan stopped by its cap while a block is being evaluated behind the walk: 400 tooMany, and
/// nothing is left running or held (the tenant's one scan slot is free again at once).
/// </summary>
public sealed class ScanPipelineLimitTests(ScanPipelineLimitFixture server) : IClassFixture<ScanPipelineLimitFixture>
{
    [Fact]
    public async Task ACappedScan_StopsWithTooMany_AndFreesItsSlot()
    {
        await ScanPipelineTests.CreateUsersAsync(server.Client, 3_000, "cap", readBack: false);
        for (int i = 0; i < 5; i++)
        {
            // 429 here would mean the previous scan still held the slot.
            (await server.Client.Get("/scim/v2/Users?filter=title eq \"t-1\"&count=10")).AssertError(HttpStatusCode.BadRequest, "tooMany");
            (await server.Client.Get("/scim/v2/Users?sortBy=title&count=10")).AssertError(HttpStatusCode.BadRequest, "tooMany");
        }

        (await server.Client.Get("/scim/v2/Users?count=5")).Expect(HttpStatusCode.OK);
    }
}
