using System.Text;

using Scim.Fast.Storage.Resources;

namespace Scim.Fast.Storage.Tests;

/// <summary>
/// The ordered indexes' snapshot file on disk: what is saved loads back entry for entry, every tree
/// (ASCII, other UTF-16 text and surrogate pairs alike), damage is refused (the store rebuilds), and
/// files in the first layout still load.
/// </summary>
public sealed class OrderedIndexSnapshotTests
{
    private const long Mark = 4242;

    private static CountedTree Tree(IEnumerable<OrderedPosition> positions) =>
        CountedTree.FromSorted([.. positions.Order(PositionOrder.Instance)]);

    private static List<KeyValuePair<(uint, byte, byte), CountedTree>> Sample()
    {
        var ids = Enumerable.Range(0, 3_000).Select(i => $"id-{i:D5}").ToList();
        ids.Add("id-" + new string('é', 300)); // longer than the loader's character buffer, not ASCII
        return
        [
            new((1, 1, 0), Tree(ids.Select(id => new OrderedPosition(id, id)))),
            new((1, 1, 1), Tree(ids.Select((id, i) => new OrderedPosition($"NAME-{i % 97:D3}-ÄÖ", id)))),
            new((1, 1, 2), Tree([])),
            new((1, 2, 0), Tree([new("g1", "g1"), new("g2", "g2")])),
            new((2, 1, 1), Tree([new("b", "lone-id"), new("a", "other-id")])), // no id tree for this tenant
            new((2, 1, 2), Tree([new("\ud83d\ude00", "x"), new("\uffff", "é"), new("\ue000", "\ud83d\ude00"), new("z", "z")])),
        ];
    }

    [Fact]
    public void Saved_LoadsBackEntryForEntry()
    {
        using var directory = new TempDirectory();
        string path = Path.Combine(directory.Path, "ordered.snapshot");
        var saved = Sample();
        OrderedIndexSnapshot.Save(path, Mark, saved);

        Assert.True(OrderedIndexSnapshot.Matches(path, Mark));
        Assert.False(OrderedIndexSnapshot.Matches(path, Mark + 1));
        Assert.Null(OrderedIndexSnapshot.TryLoad(path, Mark + 1));
        var loaded = OrderedIndexSnapshot.TryLoad(path, Mark);
        Assert.NotNull(loaded);
        Assert.Equal(saved.Count, loaded.Count);
        foreach (var (key, tree) in saved)
        {
            Assert.Equal(tree.All(), loaded[key].All());
        }

        // The id tree is written one string an entry and still knows its keys are its ids.
        Assert.True(loaded[(1, 1, 0)].KeysAreIds);
        Assert.False(loaded[(1, 1, 1)].KeysAreIds);
    }

    [Fact]
    public void AnEntryWhoseIdIsItsKey_IsKeptOnce_AfterALoad()
    {
        using var directory = new TempDirectory();
        string path = Path.Combine(directory.Path, "ordered.snapshot");
        OrderedIndexSnapshot.Save(path, Mark, [new((1, 1, 1), Tree([new("a", "a"), new("b", "c")]))]);
        var tree = OrderedIndexSnapshot.TryLoad(path, Mark)![(1, 1, 1)];
        Assert.False(tree.KeysAreIds);

        // With ("b", "c") gone every entry's id is its key: the next snapshot writes one string each.
        Assert.True(tree.Remove(new OrderedPosition("b", "c")));
        Assert.True(tree.KeysAreIds);
        Assert.Equal([new OrderedPosition("a", "a")], tree.All());
    }

    [Fact]
    public void DamagedFiles_AreRefused()
    {
        using var directory = new TempDirectory();
        string path = Path.Combine(directory.Path, "ordered.snapshot");
        OrderedIndexSnapshot.Save(path, Mark, Sample());
        byte[] good = File.ReadAllBytes(path);

        // Truncated anywhere.
        foreach (int length in new[] { 10, 20, good.Length / 2, good.Length - 1 })
        {
            File.WriteAllBytes(path, good[..length]);
            Assert.Null(OrderedIndexSnapshot.TryLoad(path, Mark));
        }

        // Two entries swapped: out of order.
        byte[] swapped = (byte[])good.Clone();
        int first = IndexOf(swapped, "id-00001"), second = IndexOf(swapped, "id-00002");
        Encoding.ASCII.GetBytes("id-00002").CopyTo(swapped, first);
        Encoding.ASCII.GetBytes("id-00001").CopyTo(swapped, second);
        File.WriteAllBytes(path, swapped);
        Assert.Null(OrderedIndexSnapshot.TryLoad(path, Mark));

        // A directory count no directory could hold, or a tree claiming more entries than bytes:
        // refused, not an allocation sized by it (an OutOfMemoryException would stop the store).
        long directoryOffset = BitConverter.ToInt64(good, good.Length - 8);
        byte[] hugeCount = (byte[])good.Clone();
        BitConverter.GetBytes(int.MaxValue).CopyTo(hugeCount, (int)directoryOffset);
        File.WriteAllBytes(path, hugeCount);
        Assert.Null(OrderedIndexSnapshot.TryLoad(path, Mark));
        byte[] hugeTree = (byte[])good.Clone();
        BitConverter.GetBytes(int.MaxValue).CopyTo(hugeTree, (int)directoryOffset + 4 + 7);   // the first entry's count
        File.WriteAllBytes(path, hugeTree);
        Assert.Null(OrderedIndexSnapshot.TryLoad(path, Mark));

        Assert.Null(OrderedIndexSnapshot.TryLoad(Path.Combine(directory.Path, "missing"), Mark));
    }

    [Fact]
    public void FilesInTheFirstLayout_StillLoad()
    {
        using var directory = new TempDirectory();
        string path = Path.Combine(directory.Path, "ordered.snapshot");
        var saved = Sample();
        using (var writer = new BinaryWriter(File.Create(path), Encoding.UTF8))
        {
            writer.Write(0x314E5041534F4453); // "SDOSAPN1"
            writer.Write(Mark);
            writer.Write(saved.Sum(s => s.Value.Count));
            foreach (var ((tenant, type, index), tree) in saved)
            {
                foreach (var position in tree.All())
                {
                    writer.Write(tenant);
                    writer.Write(type);
                    writer.Write(index);
                    writer.Write(position.Key);
                    writer.Write(position.Id);
                }
            }
        }

        Assert.True(OrderedIndexSnapshot.Matches(path, Mark));
        var loaded = OrderedIndexSnapshot.TryLoad(path, Mark);
        Assert.NotNull(loaded);
        foreach (var (key, tree) in saved.Where(s => s.Value.Count > 0))
        {
            Assert.Equal(tree.All(), loaded[key].All());
        }
    }

    private static int IndexOf(byte[] haystack, string needle) => haystack.AsSpan().IndexOf(Encoding.ASCII.GetBytes(needle));
}
