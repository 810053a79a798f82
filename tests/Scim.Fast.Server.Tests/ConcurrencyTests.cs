using System.Collections.Concurrent;
using System.Net;
using System.Text.Json.Nodes;

using static Scim.Fast.Server.Tests.ScimHttp;

namespace Scim.Fast.Server.Tests;

/// <summary>A server of its own for the concurrency tests: an admin token, no request rate limit.</summary>
public class ConcurrencyFixture : ScimServerFixture
{
    protected override IEnumerable<string> ExtraArguments => ["--Scim:Limits:RequestsPerSecondPerToken=0", "--Scim:AdminTokens:0=" + AdminFixture.AdminToken];
}

/// <summary>
/// What README promises under concurrency, over HTTP: If-Match is a compare-and-set (RFC 7644
/// §3.14), cursor paging (RFC 9865) neither repeats nor skips what existed throughout while writes
/// and deletes run, and a tenant drop with writes arriving ends clean.
/// </summary>
public class ConcurrencyTests(ConcurrencyFixture server) : IClassFixture<ConcurrencyFixture>
{
    [Fact]
    public async Task RacingIfMatchPatches_ExactlyOneWins_TheRestAre412()
    {
        var created = (await server.Client.Send(HttpMethod.Post, "/scim/v2/Users", User(Unique("cas")))).Expect(HttpStatusCode.Created);
        string path = "/scim/v2/Users/" + created.Id;
        var replies = await Task.WhenAll(Enumerable.Range(0, 24).Select(i => server.Client.Send(HttpMethod.Patch, path,
            Patch(new JsonObject { ["op"] = "replace", ["path"] = "nickName", ["value"] = "writer-" + i }),
            r => r.Headers.TryAddWithoutValidation("If-Match", created.ETag!))));

        var winner = Assert.Single(replies, r => r.Status == HttpStatusCode.OK);
        foreach (var loser in replies.Where(r => r != winner))
        {
            loser.AssertError(HttpStatusCode.PreconditionFailed);
        }

        // The stored state is the winner's, one version on.
        var read = (await server.Client.Get(path)).Expect(HttpStatusCode.OK);
        Assert.Equal((string?)winner.Body!["nickName"], (string?)read.Body!["nickName"]);
        Assert.Equal(winner.ETag, read.ETag);
        Assert.Equal("W/\"2\"", read.ETag);
    }

    [Theory]
    [InlineData("/tenants/acme/scim/v2/Users?count=37")]
    [InlineData("/tenants/acme/scim/v2/Users?count=37&sortBy=userName&sortOrder=descending")]
    [InlineData("/tenants/acme/scim/v2/Users?count=37&filter=meta.lastModified%20gt%20%222000-01-01T00:00:00Z%22")]
    [InlineData("/tenants/acme/scim/v2/Users?count=37&filter=userName%20co%20%22-%22")]
    [InlineData("/tenants/acme/scim/v2/Users?count=37&filter=userName%20sw%20%22STABLE%22&sortBy=userName")]
    public async Task CursorPaging_WhileWritesAndDeletesRun_RepeatsNothing_AndSkipsNothingThatStayed(string firstPage)
    {
        using var acme = server.CreateClient(ScimServerFixture.AcmeToken);
        var stable = await CreateAsync(acme, "stable", 300);
        var doomed = await CreateAsync(acme, "doomed", 300);

        // Writers create and delete until the reader is done.
        using var done = new CancellationTokenSource();
        var created = new ConcurrentBag<string>();
        var failures = new ConcurrentBag<string>();
        var writers = new[]
        {
            Task.Run(async () =>
            {
                while (!done.IsCancellationRequested)
                {
                    var reply = await acme.Send(HttpMethod.Post, "/tenants/acme/scim/v2/Users", User(Unique("new")));
                    if (reply.Status != HttpStatusCode.Created)
                    {
                        failures.Add("create " + reply.Text);
                    }
                    else
                    {
                        created.Add(reply.Id);
                    }
                }
            }),
            Task.Run(async () =>
            {
                foreach (var id in doomed)
                {
                    if (done.IsCancellationRequested)
                    {
                        break;
                    }

                    var reply = await acme.Delete("/tenants/acme/scim/v2/Users/" + id);
                    if (reply.Status != HttpStatusCode.NoContent)
                    {
                        failures.Add("delete " + reply.Text);
                    }
                }
            }),
        };

        var seen = new List<string>();
        string next = firstPage + "&cursor=";
        int pages = 0;
        try
        {
            while (true)
            {
                var page = (await acme.Get(next)).Expect(HttpStatusCode.OK).Body!;
                seen.AddRange(page["Resources"]!.AsArray().Select(r => (string)r!["id"]!));
                pages++;
                if ((string?)page["nextCursor"] is not { } cursor)
                {
                    break;
                }

                next = firstPage + "&cursor=" + Uri.EscapeDataString(cursor);
            }
        }
        finally
        {
            await done.CancelAsync();
            await Task.WhenAll(writers);
        }

        Assert.Empty(failures);
        Assert.True(pages > 5, $"only {pages} pages: the writes did not overlap the paging");
        Assert.Equal(seen.Count, seen.Distinct().Count());
        Assert.Empty(stable.Except(seen));

        // Clean up for the other theories (they page the same tenant).
        foreach (var id in stable.Concat(doomed).Concat(created))
        {
            await acme.Delete("/tenants/acme/scim/v2/Users/" + id);
        }
    }

    [Fact]
    public async Task ATenantDrop_WithWritesArriving_EndsCleanAndRemovesWhatExistedBefore()
    {
        using var globex = server.CreateClient(ScimServerFixture.GlobexToken);
        using var admin = server.CreateClient(AdminFixture.AdminToken);
        var before = await CreateAsync(globex, "before", 400, "/tenants/globex/scim/v2");
        var group = (await globex.Send(HttpMethod.Post, "/tenants/globex/scim/v2/Groups", Group(Unique("team"), [.. before.Take(50)]))).Expect(HttpStatusCode.Created);

        using var done = new CancellationTokenSource();
        var unexpected = new ConcurrentBag<string>();
        var writer = Task.Run(async () =>
        {
            while (!done.IsCancellationRequested)
            {
                // Creates, and changes to resources the drop may be deleting at that moment: each
                // succeeds or finds the resource gone, never a 5xx.
                var reply = await globex.Send(HttpMethod.Post, "/tenants/globex/scim/v2/Users", User(Unique("during")));
                var patch = await globex.Send(HttpMethod.Patch, "/tenants/globex/scim/v2/Groups/" + group.Id,
                    Patch(new JsonObject { ["op"] = "add", ["path"] = "members", ["value"] = new JsonArray(new JsonObject { ["value"] = before[Random.Shared.Next(before.Count)] }) }));
                foreach (var r in new[] { reply, patch })
                {
                    if ((int)r.Status >= 500 || r.Status is not (HttpStatusCode.Created or HttpStatusCode.NoContent or HttpStatusCode.NotFound or HttpStatusCode.BadRequest))
                    {
                        unexpected.Add($"{(int)r.Status} {r.Text}");
                    }
                }
            }
        });

        using (var drop = await admin.DeleteAsync("/admin/tenants/globex"))
        {
            Assert.Equal(HttpStatusCode.Accepted, drop.StatusCode);
        }

        JsonNode result;
        var deadline = DateTime.UtcNow.AddSeconds(60);
        do
        {
            using var progress = await admin.GetAsync("/admin/tenants/globex/drop");
            result = JsonNode.Parse(await progress.Content.ReadAsStringAsync())!;
            await Task.Delay(20);
        }
        while ((string?)result["state"] == "running" && DateTime.UtcNow < deadline);

        await done.CancelAsync();
        await writer;
        Assert.Equal("completed", (string?)result["state"]);
        Assert.Empty(unexpected);

        // What existed when the drop began is gone; writes that arrived during it are whole
        // resources (a second drop would take them), and the store is consistent.
        foreach (var id in before)
        {
            (await globex.Get("/tenants/globex/scim/v2/Users/" + id)).AssertError(HttpStatusCode.NotFound);
        }

        (await globex.Get("/tenants/globex/scim/v2/Groups/" + group.Id)).AssertError(HttpStatusCode.NotFound);
        Assert.Empty(server.Store.Verify());
    }

    [Fact]
    public async Task AScanOverAMovingIndex_CountsEachResourceOnce_WhileWritesMoveThem()
    {
        // A filter walked over the lastModified index (the range is not the whole filter): PATCHes
        // move users to the index's end while the walk runs, where it would meet them again.
        using var acme = server.CreateClient(ScimServerFixture.AcmeToken);
        string prefix = Unique("moving");
        // More than the 1,024 positions the walk reads from the index at a time.
        var ids = await CreateAsync(acme, prefix, 2_500);
        using var done = new CancellationTokenSource();
        var failures = new ConcurrentBag<string>();
        var writer = Task.Run(async () =>
        {
            var random = new Random(7);
            while (!done.IsCancellationRequested)
            {
                var reply = await acme.Send(HttpMethod.Patch, "/tenants/acme/scim/v2/Users/" + ids[random.Next(ids.Count)],
                    Patch(new JsonObject { ["op"] = "replace", ["path"] = "title", ["value"] = "t" + random.Next() }));
                if (reply.Status != HttpStatusCode.OK)
                {
                    failures.Add(reply.Text);
                }
            }
        });

        try
        {
            for (int i = 0; i < 25; i++)
            {
                var list = (await acme.Get("/tenants/acme/scim/v2/Users?count=1000&attributes=id&filter="
                    + Uri.EscapeDataString($"meta.lastModified gt \"2000-01-01T00:00:00Z\" and userName co \"{prefix}\""))).Expect(HttpStatusCode.OK).Body!;
                // Each matches throughout: counted once and listed at most once.
                var listed = Ids(list).ToList();
                Assert.Equal(listed.Count, listed.Distinct().Count());
                Assert.Equal(ids.Count, (int)list["totalResults"]!);
            }
        }
        finally
        {
            await done.CancelAsync();
            await writer;
        }

        Assert.Empty(failures);
        foreach (var id in ids)
        {
            await acme.Delete("/tenants/acme/scim/v2/Users/" + id);
        }
    }

    [Fact]
    public async Task ACursor_KeepsItsKind_WhenWritesMakeAnotherPlanCheaper()
    {
        // emails.value eq (a lookup of 5) and meta.lastModified gt T (a range of 2 when paging
        // starts): the range is cheaper, so page 1 walks it and hands out a keyset cursor. Writes
        // then grow the range past the lookup; page 2 must still follow the cursor it was given.
        using var acme = server.CreateClient(ScimServerFixture.AcmeToken);
        string email = Unique("shared") + "@example.com";
        var sharing = new List<string>();
        for (int i = 0; i < 5; i++)
        {
            var user = User(Unique("mail"));
            user["emails"] = new JsonArray(new JsonObject { ["value"] = email, ["type"] = "work" });
            sharing.Add((await acme.Send(HttpMethod.Post, "/tenants/acme/scim/v2/Users", user)).Expect(HttpStatusCode.Created).Id);
        }

        var others = await CreateAsync(acme, "other", 20);
        await Task.Delay(20);
        string since = DateTime.UtcNow.ToString("yyyy-MM-dd'T'HH:mm:ss.fffffff'Z'", System.Globalization.CultureInfo.InvariantCulture);
        await Task.Delay(20);
        foreach (var id in sharing.Take(2))
        {
            (await acme.Send(HttpMethod.Patch, "/tenants/acme/scim/v2/Users/" + id, Patch(new JsonObject { ["op"] = "replace", ["path"] = "title", ["value"] = "moved" }))).Expect(HttpStatusCode.OK);
        }

        string query = "/tenants/acme/scim/v2/Users?count=1&attributes=id&filter=" + Uri.EscapeDataString($"emails.value eq \"{email}\" and meta.lastModified gt \"{since}\"");
        var first = (await acme.Get(query + "&cursor=")).Expect(HttpStatusCode.OK).Body!;
        Assert.Equal(2, (int)first["totalResults"]!);
        string cursor = (string)first["nextCursor"]!;

        foreach (var id in others)
        {
            (await acme.Send(HttpMethod.Patch, "/tenants/acme/scim/v2/Users/" + id, Patch(new JsonObject { ["op"] = "replace", ["path"] = "title", ["value"] = "moved" }))).Expect(HttpStatusCode.OK);
        }

        var second = (await acme.Get(query + "&cursor=" + Uri.EscapeDataString(cursor))).Expect(HttpStatusCode.OK).Body!;
        Assert.Equal(new[] { sharing[0], sharing[1] }.Order(), Ids(first).Concat(Ids(second)).Order());
        Assert.Null(second["nextCursor"]);
        foreach (var id in sharing.Concat(others))
        {
            await acme.Delete("/tenants/acme/scim/v2/Users/" + id);
        }
    }

    private static async Task<List<string>> CreateAsync(HttpClient client, string prefix, int count, string basePath = "/tenants/acme/scim/v2")
    {
        var ids = new List<string>();
        for (int start = 0; start < count; start += 100)
        {
            var operations = new JsonArray();
            for (int i = start; i < Math.Min(count, start + 100); i++)
            {
                operations.Add(new JsonObject { ["method"] = "POST", ["path"] = "/Users", ["bulkId"] = "u" + i, ["data"] = User(Unique(prefix)) });
            }

            var reply = (await client.Send(HttpMethod.Post, basePath + "/Bulk", new JsonObject { ["schemas"] = new JsonArray("urn:ietf:params:scim:api:messages:2.0:BulkRequest"), ["Operations"] = operations })).Expect(HttpStatusCode.OK);
            ids.AddRange(reply.Body!["Operations"]!.AsArray().Select(r => ((string)r!["location"]!).Split('/')[^1]));
        }

        return ids;
    }
}
