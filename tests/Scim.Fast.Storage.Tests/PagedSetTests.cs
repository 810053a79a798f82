using Scim.Fast.Storage.Kv;
using Scim.Fast.Storage.Resources;

namespace Scim.Fast.Storage.Tests;

/// <summary>The paged id sets behind memberships, on the real key-value store.</summary>
public sealed class PagedSetTests
{
    private static readonly TenantId s_tenant = new(3);

    [Fact]
    public void EmptiedLastPages_AreGivenBack_AndAddsRefillThem()
    {
        using var directory = new TempDirectory();
        using var kv = new FasterByteStore(directory.Path, new FasterByteStoreOptions { MemoryBytes = 1L << 22, PageBytes = 1L << 16, IndexBytes = 1L << 20, ReadCacheBytes = 0 });
        var set = new PagedSet(kv, (byte)'H', (byte)'P', (byte)'p');
        var ids = Enumerable.Range(0, 4 * PagedSet.PageSize).Select(i => "m" + i.ToString("D4", System.Globalization.CultureInfo.InvariantCulture)).ToList();
        set.AddMany(s_tenant, "g", ids);
        Assert.Equal(3, set.LastPage(s_tenant, "g"));

        // Empty page 1 (a hole), then pages 3 and 2: the last page steps back over the hole to 0.
        foreach (var id in ids.Skip(PagedSet.PageSize).Take(PagedSet.PageSize).Concat(ids.Skip(3 * PagedSet.PageSize)).Concat(ids.Skip(2 * PagedSet.PageSize).Take(PagedSet.PageSize)))
        {
            Assert.True(set.Remove(s_tenant, "g", id));
        }

        Assert.Equal(0, set.LastPage(s_tenant, "g"));
        Assert.Equal(ids.Take(PagedSet.PageSize), set.Enumerate(s_tenant, "g").Order());

        // New ids go on from there: no page past the old high-water mark.
        var more = Enumerable.Range(0, 2 * PagedSet.PageSize).Select(i => "n" + i.ToString("D4", System.Globalization.CultureInfo.InvariantCulture)).ToList();
        Assert.Equal(more.Count, set.AddMany(s_tenant, "g", more));
        Assert.True(set.LastPage(s_tenant, "g") <= 2);
        Assert.Equal(ids.Take(PagedSet.PageSize).Concat(more).Order(), set.Enumerate(s_tenant, "g").Order());
        Assert.Equal(3 * PagedSet.PageSize, set.Count(s_tenant, "g"));
        Assert.All(more, id => Assert.True(set.Contains(s_tenant, "g", id)));
    }

    // Small sets keep their page in the head (a user's groups read by one read): after any mix of
    // adds and removes, across the copy's size and a page's, the awaited readers (which use the
    // copy) must give exactly the pages' ids (which are the truth).
    [Fact]
    public async Task SmallSets_ReadFromTheHeadsCopy_MatchThePages_ThroughAddsAndRemoves()
    {
        using var directory = new TempDirectory();
        using var kv = new FasterByteStore(directory.Path, new FasterByteStoreOptions { MemoryBytes = 1L << 22, PageBytes = 1L << 16, IndexBytes = 1L << 20, ReadCacheBytes = 0 });
        var set = new PagedSet(kv, (byte)'h', (byte)'Q', (byte)'q');
        var random = new Random(11);
        var model = new Dictionary<string, HashSet<string>>();
        int fromHead = 0;
        for (int step = 0; step < 3000; step++)
        {
            string owner = "u" + random.Next(6);
            var ids = model.TryGetValue(owner, out var existing) ? existing : model[owner] = [];

            // Sizes wander around the copy's limit (8) and now and then past a page (64).
            int limit = step % 500 < 400 ? PagedSet.InlineIds : PagedSet.PageSize + 10;
            if (ids.Count > 0 && (ids.Count >= limit || random.Next(2) == 0))
            {
                var victim = ids.ElementAt(random.Next(ids.Count));
                Assert.True(set.Remove(s_tenant, owner, victim));
                ids.Remove(victim);
            }
            else
            {
                var batch = Enumerable.Range(0, 1 + random.Next(random.Next(4) == 0 ? 12 : 2)).Select(_ => "g-" + Guid.NewGuid()).ToList();
                Assert.Equal(batch.Count, set.AddMany(s_tenant, owner, batch));
                ids.UnionWith(batch);
            }

            var expected = ids.Order(StringComparer.Ordinal).ToList();
            Assert.Equal(expected, (await set.ReadAllAsync(s_tenant, owner)).Order(StringComparer.Ordinal));
            var streamed = new List<string>();
            await foreach (var id in set.EnumerateAsync(s_tenant, owner))
            {
                streamed.Add(id);
            }

            Assert.Equal(expected, streamed.Order(StringComparer.Ordinal));
            Assert.Equal(expected, set.Enumerate(s_tenant, owner).Order(StringComparer.Ordinal));
            Assert.Equal(ids.Count, set.Count(s_tenant, owner));
            if (set.HeadHoldsPage(s_tenant, owner))
            {
                Assert.True(ids.Count <= PagedSet.InlineIds && set.LastPage(s_tenant, owner) == 0);
                fromHead++;
            }
        }

        // Most steps keep the sets small: most reads came from the head.
        Assert.True(fromHead > 1000, $"{fromHead} of 3000 reads from the head");

        // Verify's check of a copy: every head agrees with its page; a copy that lost an id does not.
        var headKey = new byte[] { (byte)'h', 0, 0, 0, 3, (byte)'x' };
        set.AddMany(s_tenant, "x", ["g-1", "g-2"]);
        Assert.True(kv.TryRead(headKey, out var head));
        Assert.Null(set.CheckHeadCopy(headKey, head));
        foreach (var owner in model.Keys)
        {
            var key = new byte[] { (byte)'h', 0, 0, 0, 3 }.Concat(System.Text.Encoding.UTF8.GetBytes(owner)).ToArray();
            Assert.True(!kv.TryRead(key, out var value) || set.CheckHeadCopy(key, value) is null);
        }

        var stale = head.Take(head.Length - 5).ToArray();
        kv.Upsert(headKey, stale);
        Assert.NotNull(set.CheckHeadCopy(headKey, stale));
        Assert.Equal(["g-1"], await set.ReadAllAsync(s_tenant, "x"));
    }
}
