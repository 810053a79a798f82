using System.Text;

using Scim.Fast.Storage.Feed;
using Scim.Fast.Storage.Resources;

namespace Scim.Fast.Storage.Tests;

/// <summary>
/// The change feed on the real store: a write's change rides in its log record, the projector
/// numbers it per tenant in commit order, and a reopen (with or without a checkpoint in between)
/// keeps the numbering and loses nothing: the log is kept until the projector has passed it.
/// </summary>
public sealed class ChangeFeedTests
{
    private const byte User = 1;
    private static readonly TenantId s_a = new(7);
    private static readonly TenantId s_b = new(8);

    private static byte[] Bytes(string text) => Encoding.UTF8.GetBytes(text);

    private static async Task<List<ChangeEntry>> ReadAllAsync(ResourceStore store, TenantId tenant, int expected)
    {
        var entries = new List<ChangeEntry>();
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (DateTime.UtcNow < deadline)
        {
            entries.Clear();
            Assert.Equal(FeedReadStatus.Ok, store.Feed.Read(tenant, 0, 10_000, entries));
            if (entries.Count >= expected)
            {
                break;
            }

            await store.Feed.Advanced.WaitAsync(TimeSpan.FromMilliseconds(200)).ContinueWith(_ => { });
        }

        return entries;
    }

    [Fact]
    public async Task Writes_BecomeEntries_InCommitOrder_PerTenant_AcrossReopens()
    {
        using var directory = new TempDirectory();
        var change = new WriteEvent(ChangeOperation.Create, ActiveChange.Activated, "req-1");
        await using (var store = ResourceStore.Open(directory.Path, ResourceStoreTests.Small))
        {
            Assert.Equal(StoreStatus.Ok, (await store.CreateAsync(s_a, User, "u1", "ada", "x1", Bytes("""{"userName":"ada"}"""), change: change)).Status);
            Assert.Equal(StoreStatus.Ok, (await store.CreateAsync(s_b, User, "u1", "bob", null, Bytes("""{"userName":"bob"}"""), change: change)).Status);

            // A write without a change (a cascade, an index build) is no entry.
            Assert.Equal(StoreStatus.Ok, (await store.CreateAsync(s_a, User, "u2", "eve", null, Bytes("{}"))).Status);
            Assert.Equal(StoreStatus.Ok, (await store.ReplaceAsync(s_a, User, "u1", 1, "ada", "x1", Bytes("""{"userName":"ada","active":false}"""),
                change: new WriteEvent(ChangeOperation.Patch, ActiveChange.Deactivated, "req-2", Bytes("""{"Operations":[]}""")))).Status);
            Assert.Equal(StoreStatus.Ok, await store.DeleteAsync(s_a, User, "u1", null, change: new WriteEvent(ChangeOperation.Delete, ActiveChange.None, "req-3")));

            var entries = await ReadAllAsync(store, s_a, 3);
            Assert.Equal([1L, 2L, 3L], entries.Select(e => e.Sequence));
            Assert.Equal([ChangeOperation.Create, ChangeOperation.Patch, ChangeOperation.Delete], entries.Select(e => e.Operation));
            Assert.Equal([1L, 2L, 3L], entries.Select(e => e.Version));
            Assert.Equal("""{"userName":"ada"}""", Encoding.UTF8.GetString(entries[0].Data.Span));
            Assert.Equal("""{"Operations":[]}""", Encoding.UTF8.GetString(entries[1].Data.Span));
            Assert.Equal(ActiveChange.Deactivated, entries[1].Active);
            Assert.Equal("x1", entries[2].ExternalId);
            Assert.Equal("req-3", entries[2].Transaction);
            Assert.Equal("u1", Assert.Single(await ReadAllAsync(store, s_b, 1)).Id);
        }

        // Reopened without a checkpoint: the projector's position and the entries come back from
        // the log (nothing was checkpointed), with the same numbers, and numbering goes on.
        await using (var store = ResourceStore.Open(directory.Path, ResourceStoreTests.Small))
        {
            Assert.Equal([1L, 2L, 3L], (await ReadAllAsync(store, s_a, 3)).Select(e => e.Sequence));
            Assert.Equal(StoreStatus.Ok, (await store.CreateAsync(s_a, User, "u3", "zed", null, Bytes("{}"), change: change)).Status);
            Assert.Equal(4, (await ReadAllAsync(store, s_a, 4))[3].Sequence);
            await store.CheckpointAsync();
            Assert.True(store.LogBeginAddress <= store.Feed.Position, "the log is kept from the projector's position on");
        }

        await using (var store = ResourceStore.Open(directory.Path, ResourceStoreTests.Small))
        {
            Assert.Equal([1L, 2L, 3L, 4L], (await ReadAllAsync(store, s_a, 4)).Select(e => e.Sequence));

            // Retention: entries older than the cutoff go, and a reader behind them is told.
            Assert.Equal(5, await store.Feed.SweepAsync(long.MaxValue));
            Assert.Equal(FeedReadStatus.Expired, store.Feed.Read(s_a, 0, 10, []));
            Assert.Equal((5L, 5L), store.Feed.Bounds(s_a));
        }
    }

    [Fact]
    public async Task AGroupsMembers_AreWrittenIntoItsCreateData()
    {
        using var directory = new TempDirectory();
        await using var store = ResourceStore.Open(directory.Path, ResourceStoreTests.Small);
        await store.CreateAsync(s_a, User, "m1", "m1", null, Bytes("{}"));
        var (status, _) = await store.CreateAsync(s_a, 2, "g1", "team", null, Bytes("""{"displayName":"team","members":[{"value":"stale"}]}"""),
            members: new MemberChange(false, ["m1"], []), change: new WriteEvent(ChangeOperation.Create, ActiveChange.None, null));
        Assert.Equal(StoreStatus.Ok, status);
        var entry = Assert.Single(await ReadAllAsync(store, s_a, 1));
        Assert.Equal("""{"displayName":"team","members":[{"value":"m1"}]}""", Encoding.UTF8.GetString(entry.Data.Span));
    }

    [Fact]
    public async Task WritesWithoutChanges_PastTheLogsMemory_AreFollowed_WithoutWaitingForAnotherWrite()
    {
        // An index build or a large cascade writes records with no change: the projector must still
        // move past them (log truncation waits for it), in this process and after a reopen.
        using var directory = new TempDirectory();
        string body = "{\"pad\":\"" + new string('x', 1000) + "\"}";
        await using (var store = ResourceStore.Open(directory.Path, ResourceStoreTests.Small))
        {
            var writes = new List<Task>();
            for (int i = 0; i < 3_000; i++)
            {
                writes.Add(store.CreateAsync(s_a, User, "n" + i, "name" + i, null, Bytes(body)).AsTask());
            }

            await Task.WhenAll(writes);
            await WaitForProjectorAsync(store);
        }

        await using (var reopened = ResourceStore.Open(directory.Path, ResourceStoreTests.Small))
        {
            await WaitForProjectorAsync(reopened);
        }
    }

    private static async Task WaitForProjectorAsync(ResourceStore store)
    {
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (store.FeedLagBytes > 1024 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50);
        }

        Assert.True(store.FeedLagBytes <= 1024, $"the projector is {store.FeedLagBytes:N0} bytes behind the committed log");
    }
}
