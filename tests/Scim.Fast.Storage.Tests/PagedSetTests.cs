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
}
