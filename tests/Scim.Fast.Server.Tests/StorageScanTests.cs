using System.Globalization;
using System.Net;
using System.Text.Json.Nodes;

using static Scim.Fast.Server.Tests.ScimHttp;

namespace Scim.Fast.Server.Tests;

/// <summary>
/// Scans read in storage order (ResourceEndpoint.StorageScan.cs) on a real server: that they
/// answer at all (the metric), and that writes running beside them, which leave older copies in
/// the log and move resources past the range a scan took, never make a scan miss, repeat or
/// miscount a resource that matched throughout. The differential test
/// (<see cref="StorageScanDifferentialTests"/>) checks results against the reference.
/// </summary>
public sealed class StorageScanTests(StorageScanServerFixture server) : IClassFixture<StorageScanServerFixture>
{
    [Fact]
    public async Task Scans_AreReadInStorageOrder()
    {
        await CreateAsync("storage-order-", 12, title: null);
        using var admin = Admin();
        long before = await StorageScansAsync(admin);
        (await server.Client.Get("/scim/v2/Users?filter=" + Uri.EscapeDataString("title co \"a\"") + "&count=3")).Expect(HttpStatusCode.OK);
        (await server.Client.Get("/scim/v2/Users?sortBy=title&count=3")).Expect(HttpStatusCode.OK);

        // The counter is the process's (other servers of the test run may add to it); /metrics caches 300 ms.
        await Task.Delay(400);
        long after = await StorageScansAsync(admin);
        Assert.True(after >= before + 2, $"scim_query_storage_scans_total went from {before} to {after}");
    }

    [Fact]
    public async Task ScansBesideWrites_FindEveryResourceThatMatchedThroughout_Once()
    {
        // 40 users that match (their title), among 400 that do not; then PATCHes rewrite the 40
        // (displayName only: they keep matching) while scans and sorts run.
        var matching = await CreateAsync("steady-", 40, title: "steady-title");
        await CreateAsync("other-", 400, title: "other-title");
        var expectedIds = matching.Order(StringComparer.Ordinal).ToList();

        using var stop = new CancellationTokenSource();
        int patches = 0;
        var writer = Task.Run(async () =>
        {
            int round = 0;
            while (!stop.IsCancellationRequested)
            {
                foreach (string id in matching)
                {
                    var patch = new JsonObject
                    {
                        ["schemas"] = new JsonArray("urn:ietf:params:scim:api:messages:2.0:PatchOp"),
                        ["Operations"] = new JsonArray(new JsonObject { ["op"] = "replace", ["path"] = "displayName", ["value"] = "round " + round.ToString(CultureInfo.InvariantCulture) + new string('x', round % 40) }),
                    };
                    var patched = await server.Client.Send(HttpMethod.Patch, "/scim/v2/Users/" + id, patch);
                    Assert.True(patched.Status is HttpStatusCode.OK or HttpStatusCode.NoContent, $"PATCH {patched.Status}");
                    Interlocked.Increment(ref patches);
                }

                round++;
            }
        });

        try
        {
            string filter = "filter=" + Uri.EscapeDataString("title eq \"steady-title\"") + "&attributes=id";
            for (int i = 0; i < 30; i++)
            {
                // The whole match, in id order, exactly once each.
                var whole = (await server.Client.Get("/scim/v2/Users?" + filter + "&count=100")).Expect(HttpStatusCode.OK).Body!;
                Assert.Equal(40, (int)whole["totalResults"]!);
                Assert.Equal(expectedIds, Ids(whole));

                // A page of it.
                var page = (await server.Client.Get("/scim/v2/Users?" + filter + "&startIndex=11&count=5")).Expect(HttpStatusCode.OK).Body!;
                Assert.Equal(40, (int)page["totalResults"]!);
                Assert.Equal(expectedIds.Skip(10).Take(5), Ids(page));

                // A sort without a filter: the 40 sort first by title ("steady" > "other" descending),
                // ties by id in the sort's direction.
                var sorted = (await server.Client.Get("/scim/v2/Users?sortBy=title&sortOrder=descending&count=5&attributes=id")).Expect(HttpStatusCode.OK).Body!;
                Assert.Equal(expectedIds.AsEnumerable().Reverse().Take(5), Ids(sorted));
            }
        }
        finally
        {
            await stop.CancelAsync();
            await writer;
        }

        // The scans did run beside writes.
        Assert.True(patches > 40, $"only {patches} PATCHes ran beside the scans");
    }

    private async Task<List<string>> CreateAsync(string prefix, int count, string? title)
    {
        var ids = new List<string>(count);
        for (int i = 0; i < count; i++)
        {
            var user = User(prefix + i.ToString("D4", CultureInfo.InvariantCulture), null);
            if (title is not null)
            {
                user["title"] = title;
            }

            var created = (await server.Client.Send(HttpMethod.Post, "/scim/v2/Users", user)).Expect(HttpStatusCode.Created).Body!;
            ids.Add((string)created["id"]!);
        }

        return ids;
    }

    private static List<string> Ids(JsonNode list) =>
        [.. (list["Resources"]?.AsArray() ?? []).Select(r => (string)r!["id"]!)];

    private HttpClient Admin() => server.CreateClient(StorageScanServerFixture.AdminToken);

    private static async Task<long> StorageScansAsync(HttpClient admin) =>
        MetricsTests.Value(await admin.GetStringAsync("/metrics"), "scim_query_storage_scans_total");
}
