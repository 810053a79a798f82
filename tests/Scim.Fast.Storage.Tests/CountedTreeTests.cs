using Scim.Fast.Storage.Resources;

namespace Scim.Fast.Storage.Tests;

/// <summary>
/// The order-statistic B+tree behind the ordered indexes, against SortedSet as the reference: random
/// adds and removes (enough to split and empty leaves and branches), then ranks, pages from any
/// rank in both directions, ranges and counts.
/// </summary>
public sealed class CountedTreeTests
{
    private static OrderedPosition Position(Random random) =>
        new(((char)('a' + random.Next(26))).ToString() + random.Next(5_000).ToString("D4", System.Globalization.CultureInfo.InvariantCulture), "id" + random.Next(40));

    [Theory]
    [InlineData(1, 30_000)]
    [InlineData(2, 3_000)]
    [InlineData(3, 100)]
    public void AgreesWithASortedSet_ThroughChurn(int seed, int operations)
    {
        var random = new Random(seed);
        var tree = new CountedTree();
        var reference = new SortedSet<OrderedPosition>(PositionOrder.Instance);
        for (int step = 0; step < operations; step++)
        {
            var position = Position(random);

            // Grow for the first half, then mostly shrink: leaves and branches empty and go.
            bool add = step < operations / 2 ? random.Next(10) < 8 : random.Next(10) < 2;
            if (add)
            {
                Assert.Equal(reference.Add(position), tree.Add(position));
            }
            else
            {
                var existing = reference.Count > 0 && random.Next(2) == 0 ? reference.ElementAt(random.Next(reference.Count)) : position;
                Assert.Equal(reference.Remove(existing), tree.Remove(existing));
            }

            Assert.Equal(reference.Count, tree.Count);
            if (step % 997 == 0)
            {
                Check(tree, reference, random);
            }
        }

        Check(tree, reference, random);

        // Drain it completely, then use it again.
        foreach (var position in reference.ToList())
        {
            Assert.True(tree.Remove(position));
        }

        Assert.Equal(0, tree.Count);
        Assert.Empty(tree.All());
        Assert.True(tree.Add(new OrderedPosition("k", "i")));
        Assert.Equal([new OrderedPosition("k", "i")], tree.All());
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(95)]
    [InlineData(96)]
    [InlineData(10_000)]
    public void FromSorted_BuildsATreeThatKeepsWorking(int count)
    {
        var sorted = Enumerable.Range(0, count).Select(i => new OrderedPosition("k" + i.ToString("D6", System.Globalization.CultureInfo.InvariantCulture), "id")).ToList();
        var tree = CountedTree.FromSorted(sorted);
        var reference = new SortedSet<OrderedPosition>(sorted, PositionOrder.Instance);
        var random = new Random(count);
        Check(tree, reference, random);
        for (int i = 0; i < 2_000; i++)
        {
            var position = new OrderedPosition("k" + random.Next(count + 100).ToString("D6", System.Globalization.CultureInfo.InvariantCulture), random.Next(2) == 0 ? "id" : "id2");
            if (random.Next(3) == 0)
            {
                Assert.Equal(reference.Remove(position), tree.Remove(position));
            }
            else
            {
                Assert.Equal(reference.Add(position), tree.Add(position));
            }
        }

        Check(tree, reference, random);
    }

    // Keys that only grow (lastModified as the server writes it, numbered names of an initial sync)
    // fill each leaf before starting the next: half-empty leaves would keep 128 places and spare
    // text each for good. Leaves hold 128 entries; in random order they average about 70 % full.
    [Fact]
    public void KeysThatOnlyGrow_FillTheirLeaves_AndTheTreeKeepsWorking()
    {
        const int Count = 50_000;
        var random = new Random(8);
        var tree = new CountedTree();
        var reference = new SortedSet<OrderedPosition>(PositionOrder.Instance);
        var start = new DateTime(2026, 12, 7, 0, 0, 0, DateTimeKind.Utc);
        for (int i = 0; i < Count; i++)
        {
            var position = new OrderedPosition(start.AddTicks(i * 37).ToString("O", System.Globalization.CultureInfo.InvariantCulture), Guid.NewGuid().ToString());
            Assert.True(tree.Add(position));
            reference.Add(position);
        }

        Assert.InRange(tree.LeafStatistics().Leaves, Count / 128, Count / 128 + 1);
        Check(tree, reference, random);

        // Removed from the tail past the last leaf (it empties and goes), then appended again.
        for (int i = 0; i < 200; i++)
        {
            var last = reference.Max;
            Assert.True(tree.Remove(last));
            reference.Remove(last);
        }

        for (int i = 0; i < 300; i++)
        {
            var next = new OrderedPosition(start.AddTicks((Count + i) * 37).ToString("O", System.Globalization.CultureInfo.InvariantCulture), Guid.NewGuid().ToString());
            Assert.True(tree.Add(next));
            reference.Add(next);
        }

        Check(tree, reference, random);

        // Entries landing between them afterwards split those full leaves as usual.
        for (int i = 0; i < 5_000; i++)
        {
            var position = new OrderedPosition(start.AddTicks(random.Next(Count * 37)).ToString("O", System.Globalization.CultureInfo.InvariantCulture), Guid.NewGuid().ToString());
            Assert.Equal(reference.Add(position), tree.Add(position));
        }

        Check(tree, reference, random);
    }

    [Fact]
    public void RangesAndPrefixes_SelectWhatTheirKeysSay()
    {
        var keys = new[] { "ALICE", "ALICIA", "ALI", "AL", "BOB", "ALI\uFFFF", "ALJ", "" };
        var tree = CountedTree.FromSorted([.. keys.Select(k => new OrderedPosition(k, "1")).Order(PositionOrder.Instance)]);
        Assert.Equal(["ALI", "ALICE", "ALICIA", "ALI\uFFFF"], Keys(tree, OrderedRange.StartingWith("ALI")));
        Assert.Equal(["BOB"], Keys(tree, OrderedRange.GreaterThan("ALJ")));
        Assert.Equal(["ALJ", "BOB"], Keys(tree, OrderedRange.AtLeast("ALJ")));
        Assert.Equal(["", "AL"], Keys(tree, OrderedRange.LessThan("ALI")));
        Assert.Equal(["", "AL", "ALI"], Keys(tree, OrderedRange.AtMost("ALI")));
        Assert.Equal(["ALICE", "ALICIA"], Keys(tree, OrderedRange.GreaterThan("ALI").Intersect(OrderedRange.LessThan("ALI\uFFFF"))));
        Assert.Equal(keys.Length, Keys(tree, OrderedRange.StartingWith("")).Count);
    }

    // Leaves keep ASCII text as one byte a char and anything else as UTF-16, side by side: the order
    // must still be the strings' ordinal order, across both forms, surrogates and U+FFFF included,
    // with long keys and ids equal to their keys (stored once).
    [Theory]
    [InlineData(4, 20_000)]
    [InlineData(5, 2_000)]
    public void MixedText_KeepsOrdinalOrder_ThroughChurn(int seed, int operations)
    {
        string[] pieces = ["a", "A", "z", "~", "\u007f", "\u0080", "é", "ſ", "K", "\u212a", "\ud83d\ude00", "\ud83d", "\ue000", "\uffff", "0", "", "-", "\0", "\u00fe", "\u00ff", "\u0100"];
        var random = new Random(seed);
        string Text(int most)
        {
            var builder = new System.Text.StringBuilder();
            int length = random.Next(most);
            for (int i = 0; i < length; i++)
            {
                builder.Append(pieces[random.Next(pieces.Length)]);
            }

            if (random.Next(50) == 0)
            {
                builder.Append('x', random.Next(300, 3_000));   // long enough to take most of a leaf
            }

            return builder.ToString();
        }

        Churn(operations, random, () =>
        {
            string key = Text(6);
            return random.Next(4) == 0 ? new OrderedPosition(key, key) : new OrderedPosition(key, Text(4));
        });
    }

    // Adds (two thirds of the way mostly) and removes (then mostly) against a SortedSet, checked as
    // it goes, then once more whole and rebuilt from sorted input.
    private static (CountedTree Tree, SortedSet<OrderedPosition> Reference) Churn(int operations, Random random, Func<OrderedPosition> next)
    {
        var tree = new CountedTree();
        var reference = new SortedSet<OrderedPosition>(PositionOrder.Instance);
        for (int step = 0; step < operations; step++)
        {
            var position = next();
            bool add = step < operations * 2 / 3 ? random.Next(10) < 8 : random.Next(10) < 3;
            if (add)
            {
                Assert.Equal(reference.Add(position), tree.Add(position));
            }
            else
            {
                var existing = reference.Count > 0 && random.Next(3) > 0 ? reference.ElementAt(random.Next(reference.Count)) : position;
                Assert.Equal(reference.Remove(existing), tree.Remove(existing));
            }

            if (step % 1_999 == 0)
            {
                Check(tree, reference, random);
            }
        }

        Check(tree, reference, random);
        Check(CountedTree.FromSorted([.. reference]), reference, random);
        return (tree, reference);
    }

    // Lowercase canonical UUIDs (the server's resource ids) are kept packed, 16 bytes for their 36
    // characters: order and text must stay the strings' own, among near misses that must not be
    // packed (uppercase, a non-hex digit, a dash moved, one character short or long) and other text,
    // as keys, as ids and as both; and through the text cursor and builder that snapshots use.
    [Theory]
    [InlineData(6, 20_000)]
    [InlineData(7, 2_000)]
    public void Uuids_KeepTheirTextAndOrder_AmongNearMisses_ThroughChurn(int seed, int operations)
    {
        var random = new Random(seed);
        string[] bases = [.. Enumerable.Range(0, 4).Select(_ => Guid.NewGuid().ToString())];
        const string Hex = "0123456789abcdef";
        string Uuid()
        {
            // A few bases with a digit or two changed: entries share long prefixes.
            var chars = bases[random.Next(bases.Length)].ToCharArray();
            for (int changes = random.Next(1, 3); changes > 0; changes--)
            {
                int at = random.Next(chars.Length);
                if (chars[at] != '-')
                {
                    chars[at] = Hex[random.Next(Hex.Length)];
                }
            }

            return new string(chars);
        }

        string Text() => random.Next(10) switch
        {
            0 or 1 or 2 => Uuid(),
            3 => Uuid().ToUpperInvariant(),
            4 => Uuid().Remove(random.Next(36), 1).Insert(random.Next(35), "g-/:`F\u00e9 \0"[random.Next(9)].ToString()),
            5 => Uuid()[..random.Next(36)],
            6 => Uuid() + "x",
            7 => random.Next(2) == 0 ? Uuid()[..20] + "\u00e9" + Uuid()[21..] : Uuid() + "\u00e9",
            8 => "-" + Uuid()[1..],
            _ => "user" + random.Next(100),
        };

        var (tree, reference) = Churn(operations, random, () =>
        {
            string key = Text();
            return random.Next(5) switch
            {
                0 => new OrderedPosition(key, key),
                // One key, ids of every form side by side (packed beside wide, wide beside packed).
                1 => new OrderedPosition(bases[0], random.Next(2) == 0 ? Uuid() : Uuid()[..10] + "\u00e9"),
                2 => new OrderedPosition("\u00e9" + random.Next(3), random.Next(2) == 0 ? Uuid() : "\u00e9" + Uuid()),
                _ => new OrderedPosition(key, Text()),
            };
        });

        // As a snapshot saves and loads: the cursor's text (UTF-8 here) into the builder, both
        // spans taken before either is read; and resuming after any entry (TextsAfter).
        var builder = new CountedTree.Builder();
        var texts = tree.Texts();
        while (texts.MoveNext())
        {
            var keyText = texts.Key(out bool keyWide);
            var idText = texts.Id(out bool idWide);
            Assert.True(builder.AddUtf8(Utf8(keyText, keyWide), Utf8(idText, idWide), texts.IdIsKey));
        }

        Check(builder.Build(), reference, random);
        var list = reference.ToList();
        for (int trial = 0; trial < 20 && list.Count > 0; trial++)
        {
            int from = random.Next(list.Count);
            var after = tree.TextsAfter(list[from]);
            for (int i = from + 1; i < Math.Min(list.Count, from + 300); i++)
            {
                Assert.True(after.MoveNext());
                Assert.Equal(list[i], after.Position);
            }
        }

        // The server's ids are kept in 16 bytes, not 36 (what this form is for).
        var ids = new CountedTree();
        for (int i = 0; i < 1_000; i++)
        {
            string id = Guid.NewGuid().ToString();
            Assert.True(ids.Add(new OrderedPosition(id, id)));
        }

        Assert.Equal(16 * 1_000, ids.LeafStatistics().TextBytes);

        static byte[] Utf8(ReadOnlySpan<byte> text, bool wide) =>
            wide ? System.Text.Encoding.UTF8.GetBytes(new string(System.Runtime.InteropServices.MemoryMarshal.Cast<byte, char>(text))) : text.ToArray();
    }

    private static List<string> Keys(CountedTree tree, OrderedRange range) =>
        [.. tree.All().Where(p => InRange(p, range)).Select(p => p.Key)];

    private static bool InRange(OrderedPosition position, OrderedRange range) =>
        (range.Above is not { } above || PositionOrder.Instance.Compare(position, above) > 0)
        && (range.Below is not { } below || PositionOrder.Instance.Compare(position, below) < 0);

    // Ranks of entries and of positions between them, and pages from random ranks both ways.
    private static void Check(CountedTree tree, SortedSet<OrderedPosition> reference, Random random)
    {
        var list = reference.ToList();
        Assert.Equal(list, tree.All());
        for (int i = 0; i < list.Count; i += Math.Max(1, list.Count / 50))
        {
            Assert.Equal(i, tree.Rank(list[i]));
            Assert.True(tree.Contains(list[i]));
            Assert.Equal(i + 1, tree.Rank(list[i] with { Id = list[i].Id + "\0" }));
        }

        for (int trial = 0; trial < 20 && list.Count > 0; trial++)
        {
            int start = random.Next(list.Count);
            int count = random.Next(1, 300);
            var ascending = new List<OrderedPosition>();
            tree.CopyFrom(start, count, descending: false, stop: list.Count, ascending);
            Assert.Equal(list.Skip(start).Take(count), ascending);

            int stop = random.Next(-1, start);
            var descending = new List<OrderedPosition>();
            tree.CopyFrom(start, count, descending: true, stop: stop, descending);
            Assert.Equal(list.Take(start + 1).Reverse().Take(Math.Min(count, start - stop)), descending);
        }
    }
}
