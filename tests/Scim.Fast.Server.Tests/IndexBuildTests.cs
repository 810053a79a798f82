using System.Net;
using System.Text.Json.Nodes;

using Scim.Fast.Core.Resources;
using Scim.Fast.Storage.Resources;

namespace Scim.Fast.Server.Tests;

/// <summary>
/// An index the catalogue declares but the store was written without (an index added since) is
/// built in the background on open; until it is, queries on it scan (here: hit the scan limit),
/// never answer from the incomplete index. Real server, real store on disk.
/// </summary>
public sealed class IndexBuildTests : IAsyncLifetime
{
    private const int Users = 120;
    private const string Range = "/scim/v2/Users?filter=" + "meta.lastModified ge \"2000-01-01T00:00:00Z\"" + "&count=200";

    private readonly LimitedScans _server = new();

    private sealed class LimitedScans : ScimServerFixture
    {
        protected override IEnumerable<string> ExtraArguments => ["--Scim:Limits:ScanFreeResources=10", "--Scim:Limits:MaxScannedResources=50"];
    }

    public Task InitializeAsync() => _server.InitializeAsync();

    public Task DisposeAsync() => _server.DisposeAsync();

    [Fact]
    public async Task AMissingIndex_IsBuiltOnOpen_QueriesScanUntilItIs_AndVersionsDoNotChange()
    {
        // A new store has every index of the catalogue.
        Assert.Empty(_server.Handler.Users.IndexesBuilding);
        var etags = new Dictionary<string, string>();
        for (int i = 0; i < Users; i++)
        {
            var user = new JsonObject { ["schemas"] = new JsonArray("urn:ietf:params:scim:schemas:core:2.0:User"), ["userName"] = $"built{i:D3}", ["emails"] = new JsonArray(new JsonObject { ["value"] = $"b{i}@example.com" }) };
            var created = (await _server.Client.Send(HttpMethod.Post, "/scim/v2/Users", user)).Expect(HttpStatusCode.Created);
            etags[created.Id] = created.ETag!;
        }

        Assert.Equal(Users, (int)(await _server.Client.Get(Range)).Expect(HttpStatusCode.OK).Body!["totalResults"]!);
        await _server.StopAsync();

        // Make it a store from before meta.lastModified was indexed: no entries of that index, and
        // a record of the indexes it was built with that lacks it.
        string storeDirectory = Path.Combine(_server.DataDirectory, "store");
        await using (var store = ResourceStore.Open(storeDirectory))
        {
            store.WaitForOrderedIndexes();
            foreach (var position in store.Walk(default, Protocol.StoreTypes.User, UserIndexes.Id).ToList())
            {
                var stored = store.Get(default, Protocol.StoreTypes.User, position.Id)!;
                var entries = Entries(store, position.Id);
                Assert.Equal(StoreStatus.Ok, await store.ReindexAsync(default, Protocol.StoreTypes.User, position.Id, stored.Version, entries));
            }

            store.MarkIndexesBuilt(Protocol.StoreTypes.User, ["0 ordered id case-exact", "1 ordered userName folded", "128 lookup emails.value folded"]);
            Assert.Equal(0, store.OrderedCount(default, Protocol.StoreTypes.User, UserIndexes.LastModified));
            await store.CheckpointAsync();
        }

        await _server.StartAsync();

        // Never an answer from the half-built index: the scan limit (50 of 120) or the whole answer.
        var deadline = DateTime.UtcNow.AddSeconds(60);
        var first = await _server.Client.Get(Range);
        Assert.True(first.Status is HttpStatusCode.OK or HttpStatusCode.BadRequest, first.Text);
        if (first.Status == HttpStatusCode.BadRequest)
        {
            first.AssertError(HttpStatusCode.BadRequest, "tooMany");
        }
        else
        {
            Assert.Equal(Users, (int)first.Body!["totalResults"]!);
        }

        while (_server.Handler.Users.IndexesBuilding.Count > 0)
        {
            Assert.True(DateTime.UtcNow < deadline, "the index build did not finish in 60 s");
            await Task.Delay(50);
        }

        var list = (await _server.Client.Get(Range)).Expect(HttpStatusCode.OK).Body!;
        Assert.Equal(Users, (int)list["totalResults"]!);
        Assert.Equal(Users, list["Resources"]!.AsArray().Count);
        var sorted = (await _server.Client.Get("/scim/v2/Users?sortBy=meta.lastModified&sortOrder=descending&count=3")).Expect(HttpStatusCode.OK).Body!;
        Assert.Equal(Users, (int)sorted["totalResults"]!);
        Assert.Equal("built119", (string?)sorted["Resources"]![0]!["userName"]);

        // The build kept every version (no ETag changed) and the store is consistent.
        foreach (var (id, etag) in etags)
        {
            Assert.Equal(etag, (await _server.Client.Get("/scim/v2/Users/" + Uri.EscapeDataString(id))).Expect(HttpStatusCode.OK).ETag);
        }

        Assert.Contains(LastModifiedIndex, _server.Store.BuiltIndexes(Protocol.StoreTypes.User)!);
        Assert.Empty(_server.Store.Verify());

        // Built is remembered: a restart builds nothing.
        await _server.RestartAsync();
        Assert.Empty(_server.Handler.Users.IndexesBuilding);
        Assert.Equal(Users, (int)(await _server.Client.Get(Range)).Expect(HttpStatusCode.OK).Body!["totalResults"]!);

        // The same number recorded under another definition (here: folded keys) is another index:
        // built again, and recorded under the catalogue's definition.
        await _server.StopAsync();
        await using (var store = ResourceStore.Open(storeDirectory))
        {
            store.MarkIndexesBuilt(Protocol.StoreTypes.User, ["0 ordered id case-exact", "1 ordered userName folded", "2 ordered meta.lastModified folded", "128 lookup emails.value folded"]);
            await store.CheckpointAsync();
        }

        await _server.StartAsync();
        while (!_server.Store.BuiltIndexes(Protocol.StoreTypes.User)!.Contains(LastModifiedIndex))
        {
            Assert.True(DateTime.UtcNow < deadline.AddSeconds(60), "the rebuild after a definition change did not finish");
            await Task.Delay(50);
        }

        Assert.DoesNotContain("2 ordered meta.lastModified folded", _server.Store.BuiltIndexes(Protocol.StoreTypes.User)!);
        Assert.Equal(Users, (int)(await _server.Client.Get(Range)).Expect(HttpStatusCode.OK).Body!["totalResults"]!);
    }

    private const string LastModifiedIndex = "2 ordered meta.lastModified instant";

    // The resource's entries without those of the lastModified index.
    private static List<IndexEntry> Entries(ResourceStore store, string id)
    {
        var kept = new List<IndexEntry> { new(UserIndexes.Id, id) };
        var stored = store.Get(default, Protocol.StoreTypes.User, id)!;
        kept.Add(new IndexEntry(UserIndexes.UserNameOrder, stored.UniqueKey!.ToUpperInvariant()));
        var user = System.Text.Json.JsonDocument.Parse(stored.Body);
        foreach (var email in user.RootElement.GetProperty("emails").EnumerateArray())
        {
            kept.Add(new IndexEntry(UserIndexes.Emails, email.GetProperty("value").GetString()!.ToUpperInvariant()));
        }

        return kept;
    }
}
