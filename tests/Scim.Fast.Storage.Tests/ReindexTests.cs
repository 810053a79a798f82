using System.Text;

using Scim.Fast.Storage.Resources;

namespace Scim.Fast.Storage.Tests;

/// <summary>
/// Index entries added to stored resources without a new version (the background build of an index
/// a catalogue added), on the real store on disk, live and through log replay.
/// </summary>
public sealed class ReindexTests
{
    private const byte User = 1;
    private const byte Ordered = 2;
    private const byte Lookup = IndexEntry.FirstLookupIndex;
    private static readonly TenantId s_tenant = new(3);

    private static byte[] Body(string text) => Encoding.UTF8.GetBytes(text);

    private static List<string> Ids(ResourceStore store, byte index) =>
        store.Page(s_tenant, User, index, after: null, 100).Select(p => p.Id).ToList();

    [Fact]
    public async Task Reindex_AddsEntries_KeepsVersionAndBody_RefusesOtherVersions_AndReplays()
    {
        using var directory = new TempDirectory();
        await using (var store = ResourceStore.Open(directory.Path, ResourceStoreTests.Small))
        {
            store.WaitForOrderedIndexes();
            Assert.Null(store.BuiltIndexes(User));
            foreach (var id in new[] { "u1", "u2", "u3" })
            {
                await store.CreateAsync(s_tenant, User, id, id + "-name", null, Body("{" + id + "}"), [new(0, id)]);
            }

            await store.CheckpointAsync();

            // u1 at version 1 gets an ordered and a lookup entry; nothing else about it changes.
            Assert.Equal(StoreStatus.Ok, await store.ReindexAsync(s_tenant, User, "u1", 1, [new(0, "u1"), new(Ordered, "K1"), new(Lookup, "A@X")]));
            var u1 = store.Get(s_tenant, User, "u1")!;
            Assert.Equal((1L, "{u1}"), (u1.Version, Encoding.UTF8.GetString(u1.Body)));
            Assert.Equal(["u1"], Ids(store, Ordered));
            Assert.Equal(["u1"], store.FindByLookup(s_tenant, User, Lookup, "A@X"));

            // Another version than the stored one is refused: the write that made it carried its own entries.
            Assert.Equal(StoreStatus.VersionMismatch, await store.ReindexAsync(s_tenant, User, "u2", 7, [new(0, "u2"), new(Ordered, "K2")]));
            await store.ReplaceAsync(s_tenant, User, "u3", null, "u3-name", null, Body("{u3 v2}"), [new(0, "u3"), new(Ordered, "K3")]);
            Assert.Equal(StoreStatus.VersionMismatch, await store.ReindexAsync(s_tenant, User, "u3", 1, [new(0, "u3")]));
            Assert.Equal(StoreStatus.NotFound, await store.ReindexAsync(s_tenant, User, "nobody", 1, [new(0, "nobody")]));
            Assert.Equal(["u1", "u3"], Ids(store, Ordered));

            // u2 is reindexed and then rewritten: replay must end with the rewrite's entries.
            Assert.Equal(StoreStatus.Ok, await store.ReindexAsync(s_tenant, User, "u2", 1, [new(0, "u2"), new(Ordered, "K2"), new(Lookup, "B@X")]));
            await store.ReplaceAsync(s_tenant, User, "u2", 1, "u2-name", null, Body("{u2 v2}"), [new(0, "u2"), new(Ordered, "K2b")]);
            Assert.Empty(store.FindByLookup(s_tenant, User, Lookup, "B@X")!);

            store.MarkIndexesBuilt(User, ["0 ordered id", "2 ordered x", "128 lookup y"]);
            Assert.Equal(["0 ordered id", "2 ordered x", "128 lookup y"], store.BuiltIndexes(User));
            Assert.Empty(store.Verify());
        }

        // No checkpoint since the reindexing: all of it comes back from the log.
        await using (var reopened = ResourceStore.Open(directory.Path, ResourceStoreTests.Small))
        {
            reopened.WaitForOrderedIndexes();
            Assert.Equal(1L, reopened.Get(s_tenant, User, "u1")!.Version);
            Assert.Equal(["u1", "u2", "u3"], Ids(reopened, Ordered));
            Assert.Equal("K2b", reopened.Page(s_tenant, User, Ordered, after: null, 100).Single(p => p.Id == "u2").Key);
            Assert.Equal(["u1"], reopened.FindByLookup(s_tenant, User, Lookup, "A@X"));
            Assert.Empty(reopened.FindByLookup(s_tenant, User, Lookup, "B@X")!);
            Assert.Empty(reopened.Verify());
        }
    }
}
