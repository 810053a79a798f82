using System.Net;
using System.Text.Json.Nodes;

using static Scim.Fast.Server.Tests.ScimHttp;

namespace Scim.Fast.Server.Tests;

/// <summary>A store far larger than its memory and its (smallest) read cache: most reads go to disk.</summary>
public sealed class ColdStoreFixture : ScimServerFixture
{
    // Unthrottled: the test sends 6,000 requests as fast as it can.
    protected override IEnumerable<string> ExtraArguments => ["--Scim:MemoryBudgetMiB=4", "--Scim:ReadCacheMiB=1", "--Scim:Limits:RequestsPerSecondPerToken=0"];
}

/// <summary>
/// GET by id when the user, its group list and its groups are on disk, and the userName eq,
/// externalId eq and emails.value eq lookups when their index entries are on disk too: the reads are awaited (the async read path, no thread
/// held), and every answer is the right user with the right groups.
/// </summary>
public sealed class ColdReadTests(ColdStoreFixture server) : IClassFixture<ColdStoreFixture>
{
    [Fact]
    public async Task GetByIdAndUserNameLookups_OfUsersOnDisk_AwaitTheDisk_AndAnswerRight()
    {
        const int users = 3_000;
        var client = server.Client;
        client.Timeout = TimeSpan.FromSeconds(30);
        var ids = new string[users];
        var padding = new string('x', 3_000);
        await CreateUsersAsync(client, "cold", users, padding, ids);

        // Every third user in a group: their group lists are records of their own, on disk later.
        var groupOf = new Dictionary<string, string>();
        for (int g = 0; g < 5; g++)
        {
            var members = new JsonArray();
            for (int i = g * 3; i < users; i += 15)
            {
                members.Add(new JsonObject { ["value"] = ids[i] });
            }

            var group = (await client.Send(HttpMethod.Post, "/scim/v2/Groups", new JsonObject
            {
                ["schemas"] = new JsonArray(GroupSchema),
                ["displayName"] = "cold-group-" + g,
                ["members"] = members,
            })).Expect(HttpStatusCode.Created);
            foreach (var member in members)
            {
                groupOf[(string)member!["value"]!] = group.Id;
            }
        }

        // Then enough other users that the group lists written above are on disk too.
        await CreateUsersAsync(client, "filler", 2_000, padding, new string[2_000]);

        long pendingBefore = server.EmbeddedStore.PendingReads;
        long blockingBefore = server.EmbeddedStore.BlockingReads;
        using var gate = new SemaphoreSlim(16);
        var checks = ids.Select(async (id, i) =>
        {
            await gate.WaitAsync();
            try
            {
                var reply = (await client.Get("/scim/v2/Users/" + id)).Expect(HttpStatusCode.OK);
                Assert.Equal($"cold-{i}@example.com", (string?)reply.Body!["userName"]);
                var groups = reply.Body["groups"]?.AsArray().Select(g => (string)g!["value"]! + " " + (string?)g!["display"]).ToList() ?? [];
                Assert.Equal(groupOf.TryGetValue(id, out var groupId) ? [groupId + " cold-group-" + (i % 15 / 3)] : [], groups);
            }
            finally
            {
                gate.Release();
            }
        });
        await Task.WhenAll(checks);

        long pending = server.EmbeddedStore.PendingReads - pendingBefore;
        Assert.True(pending > users / 2, $"only {pending} reads went to disk: the test did not reach the cold path");

        // The group records' display names included: a group evicted from the read cache used to be
        // read synchronously, holding a pool thread for each such GET.
        long blocking = server.EmbeddedStore.BlockingReads - blockingBefore;
        Assert.True(blocking == 0, $"{blocking} of the {pending} disk reads held their thread");

        // The identity providers' lookups. userName eq: the name's index entry is on disk too, and
        // was read holding the thread (issue 18) before it was awaited like the resource.
        await LookUpEachAsync(ids, i => $"userName eq \"COLD-{i}@example.com\"", "userName eq \"cold-none@example.com\"", "userName", gate);

        // externalId eq (caseExact, RFC 7643 §3.1): its id list is on disk too, and was read
        // holding the thread before it was awaited.
        await LookUpEachAsync(ids, i => $"externalId eq \"cold-ext-{i}\"", "externalId eq \"COLD-EXT-1\"", "externalId", gate);

        // emails.value eq (not caseExact: the lookup's candidates are filtered as SCIM compares,
        // RFC 7643 §2.2): its id list and the candidate's record are on disk, and both were read
        // holding the thread (the query's planner and its candidate block) before they were awaited.
        await LookUpEachAsync(ids, i => $"emails.value eq \"Cold-{i}@MAIL.example.com\"", "emails.value eq \"cold-none@mail.example.com\"", "emails.value", gate);
    }

    // A group's members streamed to the client (GET by id, a list page with members) when its member
    // pages are on disk: each page read awaited, none held a pool thread (they did, one per page).
    [Fact]
    public async Task AGroupsMembers_OnDisk_StreamWithoutHoldingThreads()
    {
        const int members = 2_000;
        var client = server.Client;
        var ids = new string[members];
        var padding = new string('x', 3_000);
        await CreateUsersAsync(client, "coldmember", members, padding, ids);
        var list = new JsonArray();
        foreach (var id in ids)
        {
            list.Add(new JsonObject { ["value"] = id });
        }

        string group = (await client.Send(HttpMethod.Post, "/scim/v2/Groups", new JsonObject
        {
            ["schemas"] = new JsonArray(GroupSchema),
            ["displayName"] = "cold-members",
            ["members"] = list,
        })).Expect(HttpStatusCode.Created).Id;

        // Enough later writes that the group's 32 member pages are on disk.
        await CreateUsersAsync(client, "coldmember-filler", 2_000, padding, new string[2_000]);

        long pendingBefore = server.EmbeddedStore.PendingReads;
        long blockingBefore = server.EmbeddedStore.BlockingReads;
        var expected = ids.Order(StringComparer.Ordinal).ToList();
        var reads = Enumerable.Range(0, 4).Select(async _ =>
        {
            var body = (await client.Get("/scim/v2/Groups/" + group)).Expect(HttpStatusCode.OK).Body!;
            Assert.Equal(expected, body["members"]!.AsArray().Select(m => (string)m!["value"]!).Order(StringComparer.Ordinal).ToList());
        });
        await Task.WhenAll(reads);

        long pending = server.EmbeddedStore.PendingReads - pendingBefore;
        Assert.True(pending >= 16, $"only {pending} reads went to disk: the member pages were not on disk");
        long blocking = server.EmbeddedStore.BlockingReads - blockingBefore;
        Assert.True(blocking == 0, $"{blocking} of the {pending} disk reads of member pages held their thread");

        // A list page streams the same way (its query's own reads of the group may still block:
        // list queries read synchronously, a known gap), with every member.
        await CreateUsersAsync(client, "coldmember-filler2", 2_000, padding, new string[2_000]);
        var page = (await client.Get("/scim/v2/Groups?filter=displayName eq \"cold-members\"")).Expect(HttpStatusCode.OK).Body!["Resources"]![0]!;
        Assert.Equal(expected, page["members"]!.AsArray().Select(m => (string)m!["value"]!).Order(StringComparer.Ordinal).ToList());
    }

    // Each user found by its own filter (and nothing by the one that matches none), with most reads
    // going to disk and none of them holding its thread while it waits.
    private async Task LookUpEachAsync(string[] ids, Func<int, string> filterFor, string matchesNone, string what, SemaphoreSlim gate)
    {
        var client = server.Client;
        long pendingBefore = server.EmbeddedStore.PendingReads;
        long blockingBefore = server.EmbeddedStore.BlockingReads;
        var lookups = ids.Select(async (id, i) =>
        {
            await gate.WaitAsync();
            try
            {
                var reply = (await client.Get("/scim/v2/Users?filter=" + filterFor(i))).Expect(HttpStatusCode.OK);
                Assert.Equal(1, (int)reply.Body!["totalResults"]!);
                Assert.Equal(id, (string?)reply.Body["Resources"]![0]!["id"]);
            }
            finally
            {
                gate.Release();
            }
        });
        await Task.WhenAll(lookups);
        var missing = (await client.Get("/scim/v2/Users?filter=" + matchesNone)).Expect(HttpStatusCode.OK);
        Assert.Equal(0, (int)missing.Body!["totalResults"]!);

        long pending = server.EmbeddedStore.PendingReads - pendingBefore;
        Assert.True(pending > ids.Length / 2, $"only {pending} {what} lookup reads went to disk: the test did not reach the cold path");
        long blocking = server.EmbeddedStore.BlockingReads - blockingBefore;
        Assert.True(blocking == 0, $"{blocking} of the {pending} disk reads of {what} lookups held their thread");
    }

    private static async Task CreateUsersAsync(HttpClient client, string prefix, int count, string padding, string[] ids)
    {
        for (int start = 0; start < count; start += 100)
        {
            var operations = new JsonArray();
            for (int i = start; i < start + 100; i++)
            {
                operations.Add(new JsonObject
                {
                    ["method"] = "POST",
                    ["path"] = "/Users",
                    ["bulkId"] = "u" + i,
                    ["data"] = new JsonObject { ["schemas"] = new JsonArray(UserSchema), ["userName"] = $"{prefix}-{i}@example.com", ["externalId"] = $"{prefix}-ext-{i}", ["title"] = padding,
                        ["emails"] = new JsonArray(new JsonObject { ["value"] = $"{prefix}-{i}@mail.example.com", ["type"] = "work" }) },
                });
            }

            var reply = (await client.Send(HttpMethod.Post, "/scim/v2/Bulk", new JsonObject
            {
                ["schemas"] = new JsonArray("urn:ietf:params:scim:api:messages:2.0:BulkRequest"),
                ["Operations"] = operations,
            })).Expect(HttpStatusCode.OK);
            foreach (var result in reply.Body!["Operations"]!.AsArray())
            {
                int index = int.Parse(((string)result!["bulkId"]!)[1..], System.Globalization.CultureInfo.InvariantCulture);
                ids[index] = ((string)result["location"]!).Split('/')[^1];
            }
        }
    }
}
