using System.Net;
using System.Text.Json.Nodes;

using static Scim.Fast.Server.Tests.ScimHttp;

namespace Scim.Fast.Server.Tests;

/// <summary>
/// Emptying a big group on Redis (issue 16: "big-group operations chunked so no script runs long"):
/// a replace or delete of a group over 1,000 members moves its member set aside in the write's
/// script and drops the members' links back 1,000 at a time afterwards. Members kept by the
/// replace keep their link; the others lose it; the store's own check is clean.
/// </summary>
public sealed class RedisBigGroupTests(RedisAdminFixture server) : IClassFixture<RedisAdminFixture>
{
    private const int Members = 2_500;

    [Fact]
    public async Task ReplacingAndDeletingABigGroup_DropsExactlyTheFormerMembersLinks()
    {
        var ids = await CreateUsersAsync(Unique("big"));
        var kept = ids.Take(10).ToArray();
        string replaced = (await server.Client.Send(HttpMethod.Post, "/scim/v2/Groups", Group(Unique("big-replaced"), [.. ids]))).Expect(HttpStatusCode.Created).Id;
        string deleted = (await server.Client.Send(HttpMethod.Post, "/scim/v2/Groups", Group(Unique("big-deleted"), [.. ids]))).Expect(HttpStatusCode.Created).Id;

        var put = Group("big-replaced-now", kept);
        (await server.Client.Send(HttpMethod.Put, "/scim/v2/Groups/" + replaced, put)).Expect(HttpStatusCode.OK);
        (await server.Client.Delete("/scim/v2/Groups/" + deleted)).Expect(HttpStatusCode.NoContent);

        var group = (await server.Client.Get("/scim/v2/Groups/" + replaced)).Expect(HttpStatusCode.OK).Body!;
        Assert.Equal(kept.Order(StringComparer.Ordinal), group["members"]!.AsArray().Select(m => (string)m!["value"]!).Order(StringComparer.Ordinal));
        foreach (string id in new[] { ids[0], ids[9], ids[10], ids[1_234], ids[^1] })
        {
            var user = (await server.Client.Get("/scim/v2/Users/" + id)).Expect(HttpStatusCode.OK).Body!;
            var groups = (user["groups"] as JsonArray ?? []).Select(g => (string)g!["value"]!).ToList();
            Assert.Equal(kept.Contains(id), groups.Contains(replaced));
            Assert.DoesNotContain(deleted, groups);
        }

        var byMember = (await server.Client.Get($"/scim/v2/Groups?filter=members.value+eq+%22{ids[^1]}%22")).Expect(HttpStatusCode.OK).Body!;
        Assert.Equal(0, (int)byMember["totalResults"]!);

        using var admin = server.CreateClient(AdminFixture.AdminToken);
        var problems = JsonNode.Parse(await admin.GetStringAsync("/admin/verify"))!["problems"]!.AsArray();
        Assert.True(problems.Count == 0, string.Join("\n", problems.Take(10)));
    }

    private async Task<List<string>> CreateUsersAsync(string prefix)
    {
        var ids = new List<string>(Members);
        for (int first = 0; first < Members; first += 1_000)
        {
            var operations = new JsonArray();
            for (int i = first; i < Math.Min(Members, first + 1_000); i++)
            {
                operations.Add(new JsonObject { ["method"] = "POST", ["path"] = "/Users", ["bulkId"] = "u" + i, ["data"] = User($"{prefix}-{i}@example.com") });
            }

            var bulk = new JsonObject { ["schemas"] = new JsonArray("urn:ietf:params:scim:api:messages:2.0:BulkRequest"), ["Operations"] = operations };
            var reply = (await server.Client.Send(HttpMethod.Post, "/scim/v2/Bulk", bulk)).Expect(HttpStatusCode.OK).Body!;
            foreach (var result in reply["Operations"]!.AsArray())
            {
                Assert.Equal("201", (string)result!["status"]!);
                ids.Add(((string)result["location"]!).Split('/')[^1]);
            }
        }

        return ids;
    }
}
