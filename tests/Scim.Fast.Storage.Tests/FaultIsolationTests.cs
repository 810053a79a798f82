using System.Text;

using Scim.Fast.Storage.Kv;
using Scim.Fast.Storage.Resources;

namespace Scim.Fast.Storage.Tests;

/// <summary>
/// Faults a caller causes must never stop the store for everybody: a cancelled write either happens
/// before its record is logged (nothing written) or completes; a record too large for the log is
/// refused before it is logged.
/// </summary>
public sealed class FaultIsolationTests
{
    private const byte User = 1;
    private const byte Group = 2;
    private static readonly TenantId s_tenant = new(9);

    private static byte[] Body(string text) => Encoding.UTF8.GetBytes(text);

    private static List<NewResource> Batch(int count, string prefix) =>
        [.. Enumerable.Range(0, count).Select(i => new NewResource($"{prefix}-{i}", $"{prefix}-name-{i}", null, Body("{\"n\":" + i + "}"), [new IndexEntry(0, $"{prefix}-{i}")]))];

    // A batch whose last item, when the store reads it (under every lock, just before the batch is
    // logged), cancels the caller's token: the window in which a cancellation used to stop the store.
    private sealed class CancellingList(List<NewResource> items, CancellationTokenSource cancellation) : IReadOnlyList<NewResource>
    {
        public NewResource this[int index]
        {
            get
            {
                if (index == items.Count - 1)
                {
                    cancellation.Cancel();
                }

                return items[index];
            }
        }

        public int Count => items.Count;

        public IEnumerator<NewResource> GetEnumerator() => items.GetEnumerator();

        System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();
    }

    [Fact]
    public async Task ABatchCancelledJustBeforeItIsLogged_WritesNothing_AndTheStoreKeepsWorking()
    {
        using var directory = new TempDirectory();
        await using var store = ResourceStore.Open(directory.Path, ResourceStoreTests.Small);
        var items = Batch(50, "late");
        using var cancellation = new CancellationTokenSource();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await store.CreateBatchAsync(s_tenant, User, new CancellingList(items, cancellation), cancellation.Token));

        Assert.All(items, item => Assert.Null(store.Get(s_tenant, User, item.Id)));
        var (status, _) = await store.CreateAsync(s_tenant, User, "after", "after-name", null, Body("{}"));
        Assert.Equal(StoreStatus.Ok, status);
        var again = await store.CreateBatchAsync(s_tenant, User, items);
        Assert.All(again, r => Assert.Equal(StoreStatus.Ok, r.Status));
        Assert.Empty(store.Verify());
    }

    [Fact]
    public async Task CancelledBatches_NeverStopTheStore()
    {
        using var directory = new TempDirectory();
        await using var store = ResourceStore.Open(directory.Path, ResourceStoreTests.Small);

        // Cancel at many points of a batch (lock acquisition, record preparation, enqueue): each
        // batch ends either cancelled with nothing written or complete, and the store keeps taking
        // writes. A cancellation in the preparation window used to stop the store.
        int cancelled = 0, completed = 0;
        for (int round = 0; round < 40; round++)
        {
            var items = Batch(400, "r" + round);
            using var cancellation = new CancellationTokenSource();
            cancellation.CancelAfter(TimeSpan.FromTicks(round * 2_500));
            try
            {
                var results = await store.CreateBatchAsync(s_tenant, User, items, cancellation.Token);
                Assert.All(results, r => Assert.Equal(StoreStatus.Ok, r.Status));
                completed++;
                Assert.All(items, item => Assert.NotNull(store.Get(s_tenant, User, item.Id)));
            }
            catch (OperationCanceledException)
            {
                cancelled++;
                Assert.All(items, item => Assert.Null(store.Get(s_tenant, User, item.Id)));
            }

            var (status, _) = await store.CreateAsync(s_tenant, User, "after-" + round, "after-name-" + round, null, Body("{}"));
            Assert.Equal(StoreStatus.Ok, status);
        }

        Assert.Equal(40, cancelled + completed);
        Assert.Empty(store.Verify());
    }

    [Fact]
    public async Task ARecordLargerThanALogPage_IsRefused_AndTheStoreKeepsWorking()
    {
        using var directory = new TempDirectory();
        await using (var store = ResourceStore.Open(directory.Path, ResourceStoreTests.Small))
        {
            // The small options use 64 KiB log pages; 5,000 member ids do not fit in one record.
            var members = Enumerable.Range(0, 5_000).Select(i => $"member-{i:D8}").ToList();
            var huge = new NewResource("g-huge", "huge", null, Body("{}"), null, new MemberChange(false, members, []));

            var batch = await store.CreateBatchAsync(s_tenant, Group, [huge, new NewResource("g-ok", "ok", null, Body("{}"))]);
            Assert.Equal(StoreStatus.TooLarge, batch[0].Status);
            Assert.Equal(StoreStatus.Ok, batch[1].Status);

            var (single, _) = await store.CreateAsync(s_tenant, Group, "g-huge-2", "huge-2", null, Body("{}"), null, new MemberChange(false, members, []));
            Assert.Equal(StoreStatus.TooLarge, single);

            // Nothing of the refused groups was written; the store still writes.
            Assert.Null(store.Get(s_tenant, Group, "g-huge"));
            Assert.Null(store.FindByUniqueKey(s_tenant, Group, "huge"));
            Assert.Equal(StoreStatus.Ok, (await store.CreateAsync(s_tenant, Group, "g-after", "after", null, Body("{}"))).Status);
            Assert.Empty(store.Verify());
        }

        // And the log replays (no half-written record in it).
        await using var reopened = ResourceStore.Open(directory.Path, ResourceStoreTests.Small);
        Assert.NotNull(reopened.Get(s_tenant, Group, "g-after"));
        Assert.Empty(reopened.Verify());
    }

    // Room for a group of 100,000 members in memory (the small options would page it to disk).
    private static readonly ResourceStoreOptions s_roomy = ResourceStoreTests.Small with
    {
        KeyValue = new FasterByteStoreOptions { MemoryBytes = 1L << 27, PageBytes = 1L << 20, IndexBytes = 1L << 24, ReadCacheBytes = 1L << 20 },
    };

    private static async Task<List<string>> FillGroupAsync(ResourceStore store, string groupId, int count)
    {
        var members = Enumerable.Range(0, count).Select(i => $"member-{i:D7}").ToList();
        for (int i = 0; i < count; i += 2_000)
        {
            await store.ChangeMembersAsync(s_tenant, groupId, false, members.GetRange(i, Math.Min(2_000, count - i)), []);
        }

        return members;
    }

    [Theory]
    [InlineData("removeAll")]
    [InlineData("put")]
    public async Task EmptyingABigGroup_LetsOtherWritesThrough_AndLeavesNoStaleEntry(string how)
    {
        using var directory = new TempDirectory();
        var other = new TenantId(10);
        await using (var store = ResourceStore.Open(directory.Path, s_roomy))
        {
            var (created, version) = await store.CreateAsync(s_tenant, Group, "big", "big", null, Body("{}"));
            Assert.Equal(StoreStatus.Ok, created);
            var members = await FillGroupAsync(store, "big", 100_000);

            // Emptying the group visits 100,000 members. It used to hold every lock stripe while it
            // did, so a write of another tenant, issued after it, finished only after it.
            Task emptying = how == "removeAll"
                ? store.ChangeMembersAsync(s_tenant, "big", true, [], []).AsTask()
                : store.ReplaceAsync(s_tenant, Group, "big", version, "big", null, Body("{}"), null, new MemberChange(true, ["member-0000007", "newcomer"], [])).AsTask();
            var (bystander, _) = await store.CreateAsync(other, User, "bystander", "bystander", null, Body("{}"));
            Assert.Equal(StoreStatus.Ok, bystander);
            Assert.False(emptying.IsCompleted, "a write of another tenant waited for the whole group to be emptied");
            await emptying;

            var expected = how == "removeAll" ? new List<string>() : ["member-0000007", "newcomer"];
            Assert.Equal(expected, store.GetMembers(s_tenant, "big").Order());
            Assert.Equal(expected.Count, store.MemberCount(s_tenant, "big"));
            Assert.Empty(store.GetGroupsOf(s_tenant, members[12_345]));
            Assert.Equal(how == "put" ? ["big"] : [], store.GetGroupsOf(s_tenant, "member-0000007"));
            Assert.Empty(store.Verify());
        }

        // Replay reaches the same state.
        await using var reopened = ResourceStore.Open(directory.Path, s_roomy);
        Assert.Equal(how == "put" ? 2 : 0, reopened.MemberCount(s_tenant, "big"));
        Assert.Empty(reopened.GetGroupsOf(s_tenant, "member-0050000"));
        Assert.Empty(reopened.Verify());
    }

    [Fact]
    public async Task MembersReaddedWhileAGroupIsBeingEmptied_StayMembersBothWays()
    {
        using var directory = new TempDirectory();
        await using var store = ResourceStore.Open(directory.Path, s_roomy);
        var members = await FillGroupAsync(store, "g", 20_000);

        // Re-adds and removals race the detaching of the former members; whichever order they
        // land in, the group's set and every member's groups agree.
        var emptying = store.ChangeMembersAsync(s_tenant, "g", true, [], []).AsTask();
        var readded = members.Where((_, i) => i % 1_000 == 0).ToList();
        var changes = new List<Task>();
        foreach (var member in readded)
        {
            changes.Add(store.ChangeMembersAsync(s_tenant, "g", false, [member], []).AsTask());
        }

        changes.Add(store.ChangeMembersAsync(s_tenant, "g", false, [], [members[1]]).AsTask());
        await Task.WhenAll(changes);
        await emptying;

        Assert.Equal(readded.Order(), store.GetMembers(s_tenant, "g").Order());
        foreach (var member in readded)
        {
            Assert.Equal(["g"], store.GetGroupsOf(s_tenant, member));
        }

        Assert.Empty(store.GetGroupsOf(s_tenant, members[1]));
        Assert.Empty(store.GetGroupsOf(s_tenant, members[19_999]));
        Assert.Empty(store.Verify());
    }
}
