using System.Collections.Concurrent;
using System.Net;
using System.Text.Json.Nodes;

using static Scim.Fast.Server.Tests.ScimHttp;

namespace Scim.Fast.Server.Tests;

/// <summary>
/// What writers were told while a server, a host or a store node was being killed (creates of
/// users, each then added to one group), and the check that the store kept its promise: every
/// acknowledged write readable by id and by every index (userName, externalId, membership both
/// ways), every unacknowledged create whole or absent, the totals adding up, and the store's own
/// consistency check (GET /admin/verify) clean.
/// </summary>
public sealed class AcknowledgedWrites
{
    public ConcurrentDictionary<string, string> Users { get; } = new();   // userName → id

    public ConcurrentDictionary<string, bool> Members { get; } = new();

    public ConcurrentBag<string> Attempted { get; } = [];

    public ConcurrentBag<string> Failures { get; } = [];

    public string? GroupId { get; set; }

    /// <summary>The create of <paramref name="userName"/>, with externalId "x" + userName.</summary>
    public static JsonObject NewUser(string userName) => User(userName, externalId: "x" + userName);

    public static JsonObject AddMember(string id) =>
        Patch(new JsonObject { ["op"] = "add", ["path"] = "members", ["value"] = new JsonArray(new JsonObject { ["value"] = id }) });

    public async Task VerifyAsync(HttpClient client, HttpClient admin)
    {
        foreach (var (userName, id) in Users)
        {
            var read = (await client.Get("/scim/v2/Users/" + id)).Expect(HttpStatusCode.OK);
            Assert.Equal(userName, (string?)read.Body!["userName"]);
            var byName = (await client.Get($"/scim/v2/Users?filter=userName+eq+%22{userName}%22")).Expect(HttpStatusCode.OK).Body!;
            Assert.Equal([id], Ids(byName));
            var byExternal = (await client.Get($"/scim/v2/Users?filter=externalId+eq+%22x{userName}%22")).Expect(HttpStatusCode.OK).Body!;
            Assert.Equal([id], Ids(byExternal));
        }

        // Unacknowledged creates are all-or-nothing: absent, or present and findable by both indexes.
        int presentUnacknowledged = 0;
        foreach (var userName in Attempted.Where(a => !Users.ContainsKey(a)))
        {
            var byName = (await client.Get($"/scim/v2/Users?filter=userName+eq+%22{userName}%22")).Expect(HttpStatusCode.OK).Body!;
            var byExternal = (await client.Get($"/scim/v2/Users?filter=externalId+eq+%22x{userName}%22")).Expect(HttpStatusCode.OK).Body!;
            Assert.Equal(Ids(byName), Ids(byExternal));
            Assert.True((int)byName["totalResults"]! <= 1);
            presentUnacknowledged += (int)byName["totalResults"]!;
        }

        // The totals add up: every user there was acknowledged or is one of those.
        var all = (await client.Get("/scim/v2/Users?count=0")).Expect(HttpStatusCode.OK).Body!;
        Assert.Equal(Users.Count + presentUnacknowledged, (int)all["totalResults"]!);

        if (GroupId is { } groupId)
        {
            // Every acknowledged link, both ways; no member that is not a user.
            var group = (await client.Get("/scim/v2/Groups/" + groupId)).Expect(HttpStatusCode.OK).Body!;
            var present = (group["members"] as JsonArray ?? []).Select(m => (string)m!["value"]!).ToHashSet();
            Assert.Empty(Members.Keys.Except(present));
            foreach (var member in present)
            {
                var user = (await client.Get("/scim/v2/Users/" + member)).Expect(HttpStatusCode.OK).Body!;
                Assert.Contains(groupId, user["groups"]!.AsArray().Select(g => (string)g!["value"]!));
            }
        }

        // And the store's own check: every resource against every index, both ways.
        using var verify = await admin.GetAsync("/admin/verify");
        Assert.Equal(HttpStatusCode.OK, verify.StatusCode);
        var problems = JsonNode.Parse(await verify.Content.ReadAsStringAsync())!["problems"]!.AsArray();
        Assert.True(problems.Count == 0, "Verify: " + string.Join("\n", problems.Take(10)));
    }
}
