using System.Globalization;
using System.Net;
using System.Text.Json.Nodes;

using static Scim.Fast.Server.Tests.ScimHttp;

namespace Scim.Fast.Server.Tests;

/// <summary>
/// A sort no ordered index answers keeps a heap of startIndex + count, and once it is full skips
/// decoding records whose stored value sorts after its last (StoredSortKey). Over HTTP, with more
/// users than one block of candidates (so later blocks meet a full heap) and values that break
/// byte reading, every page must be the reference sort's slice (RFC 7644 §3.4.2.3) and
/// totalResults must count every user, decoded or not.
/// </summary>
public class SortWithoutIndexTests(UnthrottledServerFixture server) : IClassFixture<UnthrottledServerFixture>
{
    private const int Users = 1_300;

    private const string EnterpriseSchema = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

    private static readonly string[] s_names =
    [
        "smith", "SMITH", "Smith", "ſmith", "\u212Aarl", "karl", "émile", "Émile", "zoë", "o'neil", "say \"hi\"", "back\\slash", "", "a",
        new string('m', 600), new string('m', 600) + "a",
    ];

    [Fact]
    public async Task Pages_AreTheReferenceSortsSlices_AndTotalsCountEveryone()
    {
        var random = new Random(7644);
        for (int batch = 0; batch < Users / 100; batch++)
        {
            var operations = new JsonArray();
            for (int i = 0; i < 100; i++)
            {
                int n = batch * 100 + i;
                var user = User("sort-user-" + n.ToString("D4", CultureInfo.InvariantCulture));
                if (random.Next(6) > 0)
                {
                    // Duplicates (ties the id breaks), case variants, and a spread of distinct values.
                    string family = s_names[random.Next(s_names.Length)] + (random.Next(2) == 0 ? random.Next(1000).ToString(CultureInfo.InvariantCulture) : "");
                    user["name"] = random.Next(10) == 0 ? new JsonObject { ["givenName"] = "g" } : new JsonObject { ["familyName"] = family };
                }

                if (random.Next(3) == 0)
                {
                    user["title"] = s_names[random.Next(s_names.Length)];
                }

                if (random.Next(2) == 0)
                {
                    user["displayName"] = s_names[random.Next(s_names.Length)];
                }

                if (random.Next(2) == 0)
                {
                    // The enterprise manager's displayName shares the core attribute's name.
                    user["schemas"]!.AsArray().Add(EnterpriseSchema);
                    user[EnterpriseSchema] = new JsonObject { ["manager"] = new JsonObject { ["value"] = "m" + n, ["displayName"] = s_names[random.Next(s_names.Length)] } };
                }

                operations.Add(new JsonObject { ["method"] = "POST", ["path"] = "/Users", ["bulkId"] = "u" + n, ["data"] = user });
            }

            var bulk = new JsonObject { ["schemas"] = new JsonArray("urn:ietf:params:scim:api:messages:2.0:BulkRequest"), ["Operations"] = operations };
            var reply = (await server.Client.Send(HttpMethod.Post, "/scim/v2/Bulk", bulk)).Expect(HttpStatusCode.OK);
            Assert.All(reply.Body!["Operations"]!.AsArray(), r => Assert.Equal("201", (string?)r!["status"]));
        }

        var users = new List<JsonObject>();
        for (int start = 1; start <= Users; start += 1000)
        {
            var page = (await server.Client.Get($"/scim/v2/Users?startIndex={start}&count=1000")).Expect(HttpStatusCode.OK).Body!;
            users.AddRange(page["Resources"]!.AsArray().Select(r => r!.AsObject()));
        }

        Assert.Equal(Users, users.Count);
        foreach (string sortBy in new[] { "name.familyName", "title", "displayName" })
        {
            foreach (bool descending in new[] { false, true })
            {
                var expected = users.ToList();
                expected.Sort((a, b) => QueryDifferentialTests.Compare(a, b, sortBy, descending));
                foreach (var (start, count) in new[] { (1, 1), (1, 10), (1, 40), (600, 25), (1250, 100), (1, 0) })
                {
                    string query = $"/scim/v2/Users?sortBy={sortBy}&startIndex={start}&count={count}&attributes=id" + (descending ? "&sortOrder=descending" : "");
                    var page = (await server.Client.Get(query)).Expect(HttpStatusCode.OK).Body!;
                    var ids = page["Resources"]?.AsArray().Select(r => (string)r!["id"]!).ToList() ?? [];
                    var want = expected.Skip(start - 1).Take(count).Select(u => (string)u["id"]!).ToList();
                    Assert.True(Users == (int)page["totalResults"]!, $"{query}: totalResults {page["totalResults"]}");
                    Assert.True(want.SequenceEqual(ids), $"{query}:\n server    {string.Join(",", ids)}\n reference {string.Join(",", want)}");
                }
            }
        }
    }
}
