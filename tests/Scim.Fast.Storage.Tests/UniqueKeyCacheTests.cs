using System.Text;

using Scim.Fast.Storage.Resources;

namespace Scim.Fast.Storage.Tests;

/// <summary>
/// GetUniqueKeyAsync answers from memory after the first read (User.groups' display names): it
/// must never answer a name older than the last acknowledged write, however reads and writes race.
/// </summary>
public sealed class UniqueKeyCacheTests
{
    private const byte Group = 2;
    private static readonly TenantId s_tenant = new(5);

    private static byte[] Body(string text) => Encoding.UTF8.GetBytes(text);

    [Fact]
    public async Task Renames_AreSeenByTheNextRead_WhileReadersRaceThem()
    {
        using var directory = new TempDirectory();
        await using var store = ResourceStore.Open(directory.Path, ResourceStoreTests.Small);
        const int Groups = 4;
        const int Renames = 500;
        for (int g = 0; g < Groups; g++)
        {
            await store.CreateAsync(s_tenant, Group, "g" + g, $"g{g}-name-0", null, Body("{}"));
        }

        Assert.Equal("g0-name-0", await store.GetUniqueKeyAsync(s_tenant, Group, "g0"));
        Assert.Equal("g0-name-0", await store.GetUniqueKeyAsync(s_tenant, Group, "g0"));

        // Readers keep every name in and out of memory while each group is renamed; after a rename
        // is acknowledged, a read begun after it must see that name (or a later one).
        using var stop = new CancellationTokenSource();
        var readers = Enumerable.Range(0, 3).Select(r => Task.Run(async () =>
        {
            long reads = 0;
            while (!stop.IsCancellationRequested)
            {
                await store.GetUniqueKeyAsync(s_tenant, Group, "g" + (reads++ % Groups));
            }

            return reads;
        })).ToArray();

        var stale = new List<string>();
        await Task.WhenAll(Enumerable.Range(0, Groups).Select(g => Task.Run(async () =>
        {
            string id = "g" + g;
            for (int n = 1; n <= Renames; n++)
            {
                string name = $"g{g}-name-{n}";
                var (status, _) = await store.ReplaceAsync(s_tenant, Group, id, null, name, null, Body("{}"));
                Assert.Equal(StoreStatus.Ok, status);
                string? seen = await store.GetUniqueKeyAsync(s_tenant, Group, id);
                if (seen != name)
                {
                    lock (stale)
                    {
                        stale.Add($"{name} read as {seen}");
                    }
                }
            }
        })));
        await stop.CancelAsync();
        long total = (await Task.WhenAll(readers)).Sum();

        Assert.Empty(stale);
        Assert.True(total > Groups * Renames, $"readers raced {total} reads");
        for (int g = 0; g < Groups; g++)
        {
            Assert.Equal($"g{g}-name-{Renames}", await store.GetUniqueKeyAsync(s_tenant, Group, "g" + g));
        }

        // A deleted resource has no name, remembered or not.
        Assert.Equal(StoreStatus.Ok, await store.DeleteAsync(s_tenant, Group, "g0", null));
        Assert.Null(await store.GetUniqueKeyAsync(s_tenant, Group, "g0"));
    }

    // The interleavings the racing test above can only hope to hit, step by step.
    [Fact]
    public void AReadThatAWriteOvertook_LeavesNothingBehind()
    {
        var cache = new UniqueKeyCache(capacity: 8);

        // The write lands between the read and its put.
        long stamp = cache.Stamp;
        cache.Written(s_tenant, Group, "g1");
        cache.Put(s_tenant, Group, "g1", "old", stamp);
        Assert.False(cache.TryGet(s_tenant, Group, "g1", out _));

        // The write lands between the put's first look and its add: the second look takes it back.
        stamp = cache.Stamp;
        Assert.True(cache.MayPut(stamp));
        cache.Written(s_tenant, Group, "g1");
        cache.PutChecked(s_tenant, Group, "g1", "old", stamp);
        Assert.False(cache.TryGet(s_tenant, Group, "g1", out _));
        Assert.Equal(0, cache.Count);

        // The write lands after the put: its drop removes the entry.
        stamp = cache.Stamp;
        cache.Put(s_tenant, Group, "g1", "old", stamp);
        Assert.True(cache.TryGet(s_tenant, Group, "g1", out var kept));
        Assert.Equal("old", kept);
        cache.Written(s_tenant, Group, "g1");
        Assert.False(cache.TryGet(s_tenant, Group, "g1", out _));

        // Full: nothing more is kept; other tenants' entries are their own.
        for (int i = 0; i < 10; i++)
        {
            cache.Put(new TenantId((uint)i), Group, "g1", "n" + i, cache.Stamp);
        }

        Assert.Equal(8, cache.Count);
        Assert.True(cache.TryGet(new TenantId(3), Group, "g1", out var third));
        Assert.Equal("n3", third);
        Assert.False(cache.TryGet(new TenantId(9), Group, "g1", out _));
    }
}
