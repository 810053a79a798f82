using System.Buffers;
using System.Runtime.InteropServices;
using System.Text;

namespace Scim.Fast.Storage.Resources;

/// <summary>
/// A B+tree of (key, id) positions that knows how many entries each subtree holds (an order-statistic
/// tree): inserting, removing, finding the rank of a position and finding the position at a rank are
/// all O(log n), so a deep startIndex, or the number of entries in a range, costs a descent, not a
/// walk (DESIGN-NOTES §9).
/// </summary>
/// <remarks>
/// <para>
/// A leaf keeps its entries' keys and ids as bytes in one array (one byte a char when the text is
/// ASCII, else UTF-16; a resource id's UUID in 16 bytes) and their places in an array of structs:
/// three objects per up to 128 entries and no reference per entry, so the garbage collector neither
/// traces millions of strings nor scans old leaves for references to young ones (with a string per
/// key, a fifth of an initial sync's CPU was the GC, issue 14). Strings are made again only for what
/// a read returns. Branches keep their separators as strings (one per leaf).
/// </para>
/// <para>
/// Not thread-safe: the ordered index locks each tree. Removal never rebalances: a leaf that empties
/// is unlinked, an underfull one stays (depth only grows with the most entries a tree ever held, and
/// a split halves a node, so pages of churn cannot make it deep).
/// </para>
/// </remarks>
internal sealed partial class CountedTree
{
    private const int LeafCapacity = 128;
    private const int BranchCapacity = 64;

    // Leaves built from sorted input are filled to three quarters, so the first inserts after a
    // load do not split at once.
    private const int LeafFill = LeafCapacity * 3 / 4;
    private const int BranchFill = BranchCapacity * 3 / 4;

    private static readonly PositionOrder s_order = PositionOrder.Instance;

    private Node _root = new Leaf();

    // The descent of the current Add or Remove, reused (they run under the tree's lock): one list
    // per change was a few percent of what an initial sync allocated.
    private readonly List<(Branch Branch, int Child)> _path = new(8);

    // Room for a probe's ASCII bytes, reused likewise.
    private byte[] _scratch = new byte[256];

    public int Count => _root.Count;

    private abstract class Node
    {
        public int Count;
    }

    private sealed class Leaf : Node
    {
        // Live entries are Places[0..Count), in order; their text is in Text, in no particular
        // order, with gaps where removed entries were (Repack closes them).
        public readonly Place[] Places = new Place[LeafCapacity];
        public byte[] Text = [];
        public int Used;   // bytes of Text written so far
        public int Live;   // bytes the live entries hold
        public Leaf? Next;
        public Leaf? Previous;
    }

    private sealed class Branch : Node
    {
        // Children[i] holds entries at or above Keys[i] (Keys[0] is unused: child 0 takes anything
        // lower) and below Keys[i + 1]. A separator may be lower than its child's first entry after a
        // removal; it still routes correctly.
        public readonly Node[] Children = new Node[BranchCapacity];
        public readonly OrderedPosition[] Keys = new OrderedPosition[BranchCapacity];
        public int Length;
    }

    /// <summary>Adds the position; false when it is there already.</summary>
    public bool Add(OrderedPosition entry)
    {
        var probe = ProbeOf(entry);
        var path = _path;
        path.Clear();
        var leaf = Descend(entry, path);
        int at = Search(leaf, probe);
        if (at >= 0)
        {
            return false;
        }

        at = ~at;
        foreach (var (branch, _) in path)
        {
            branch.Count++;
        }

        if (leaf.Count < LeafCapacity)
        {
            InsertAt(leaf, at, probe);
            return true;
        }

        // Split the full leaf in two halves, then place the entry in its half. An entry past the
        // last of the last leaf starts a leaf of its own instead: keys that only grow (lastModified,
        // numbered names of an initial sync) would otherwise leave every leaf half empty for good,
        // its 128 places and its text's spare room with it. The full leaf's text is trimmed then.
        var right = new Leaf();
        bool appends = at == LeafCapacity && leaf.Next is null;
        int half = appends ? LeafCapacity : LeafCapacity / 2;
        MoveTail(leaf, half, right);
        if (!appends && at <= half)
        {
            InsertAt(leaf, at, probe);
        }
        else
        {
            InsertAt(right, at - half, probe);
        }

        right.Next = leaf.Next;
        right.Previous = leaf;
        if (leaf.Next is not null)
        {
            leaf.Next.Previous = right;
        }

        leaf.Next = right;
        InsertChild(path, path.Count - 1, leaf, right, PositionAt(right, 0));
        return true;
    }

    /// <summary>How many leaves hold the entries, and the bytes their text takes (how full and how compact: tests).</summary>
    public (int Leaves, long TextBytes) LeafStatistics()
    {
        int leaves = 0;
        long bytes = 0;
        for (var leaf = FirstLeaf(); leaf is not null; leaf = leaf.Next)
        {
            leaves++;
            bytes += leaf.Live;
        }

        return (leaves, bytes);
    }

    /// <summary>Removes the position; false when it was not there.</summary>
    public bool Remove(OrderedPosition entry)
    {
        var probe = ProbeOf(entry);
        var path = _path;
        path.Clear();
        var leaf = Descend(entry, path);
        int at = Search(leaf, probe);
        if (at < 0)
        {
            return false;
        }

        leaf.Live -= Size(leaf.Places[at]);
        Array.Copy(leaf.Places, at + 1, leaf.Places, at, leaf.Count - at - 1);
        leaf.Places[--leaf.Count] = default;
        foreach (var (branch, _) in path)
        {
            branch.Count--;
        }

        if (leaf.Count == 0 && path.Count > 0)
        {
            if (leaf.Previous is not null)
            {
                leaf.Previous.Next = leaf.Next;
            }

            if (leaf.Next is not null)
            {
                leaf.Next.Previous = leaf.Previous;
            }

            RemoveChild(path, path.Count - 1);
        }
        else if (leaf.Text.Length > 4096 && leaf.Live < leaf.Text.Length / 4)
        {
            // Mostly gaps after removals: give the memory back.
            Repack(leaf, leaf.Live + leaf.Live / 2);
        }

        return true;
    }

    public bool Contains(OrderedPosition entry) => Search(Descend(entry, null), ProbeOf(entry)) >= 0;

    /// <summary>How many entries sort strictly below <paramref name="position"/> (which need not be an entry).</summary>
    public int Rank(OrderedPosition position)
    {
        int rank = 0;
        var node = _root;
        while (node is Branch branch)
        {
            int child = ChildFor(branch, position);
            for (int i = 0; i < child; i++)
            {
                rank += branch.Children[i].Count;
            }

            node = branch.Children[child];
        }

        int at = Search((Leaf)node, ProbeOf(position));
        return rank + (at >= 0 ? at : ~at);
    }

    /// <summary>
    /// Up to <paramref name="count"/> entries from rank <paramref name="rank"/> (0-based) towards
    /// higher ranks, or towards lower ranks when <paramref name="descending"/>, stopping before
    /// rank <paramref name="stop"/> (exclusive; below for descending).
    /// </summary>
    public void CopyFrom(int rank, int count, bool descending, int stop, List<OrderedPosition> output)
    {
        if (rank < 0 || rank >= Count || count <= 0)
        {
            return;
        }

        var (leaf, offset) = Select(rank);
        int remaining = descending ? Math.Min(count, rank - stop) : Math.Min(count, stop - rank);
        while (remaining > 0 && leaf is not null)
        {
            if (descending)
            {
                for (; offset >= 0 && remaining > 0; offset--, remaining--)
                {
                    output.Add(PositionAt(leaf, offset));
                }

                leaf = leaf.Previous;
                offset = leaf is null ? 0 : leaf.Count - 1;
            }
            else
            {
                for (; offset < leaf.Count && remaining > 0; offset++, remaining--)
                {
                    output.Add(PositionAt(leaf, offset));
                }

                leaf = leaf.Next;
                offset = 0;
            }
        }
    }

    /// <summary>Every entry in order, as strings (Verify and tests; snapshots read <see cref="Texts"/>).</summary>
    public IEnumerable<OrderedPosition> All()
    {
        for (var leaf = FirstLeaf(); leaf is not null; leaf = leaf.Next)
        {
            for (int i = 0; i < leaf.Count; i++)
            {
                yield return PositionAt(leaf, i);
            }
        }
    }

    /// <summary>
    /// Every entry's text in order, without making strings (snapshot saves). Only while nothing
    /// changes the tree: a change may repack a leaf's bytes under the cursor (hold the tree's lock,
    /// and start again with <see cref="TextsAfter"/> after letting go of it).
    /// </summary>
    public TextCursor Texts() => TextCursor.Over(this);

    /// <summary>Like <see cref="Texts"/>, from the first entry strictly above <paramref name="position"/>.</summary>
    public TextCursor TextsAfter(OrderedPosition position) => TextCursor.After(this, position);

    /// <summary>Whether every entry's key is its id (the id index).</summary>
    public bool KeysAreIds
    {
        get
        {
            for (var leaf = FirstLeaf(); leaf is not null; leaf = leaf.Next)
            {
                for (int i = 0; i < leaf.Count; i++)
                {
                    if (leaf.Places[i].Id != Place.SameAsKey)
                    {
                        return false;
                    }
                }
            }

            return true;
        }
    }

    /// <summary>A tree of entries already in order and distinct (rebuilds, tests), built bottom-up.</summary>
    public static CountedTree FromSorted(IReadOnlyList<OrderedPosition> sorted)
    {
        var builder = new Builder();
        foreach (var position in sorted)
        {
            if (!builder.Add(position))
            {
                throw new ArgumentException("Positions must be distinct and in order.", nameof(sorted));
            }
        }

        return builder.Build();
    }

    private Leaf FirstLeaf()
    {
        var node = _root;
        while (node is Branch branch)
        {
            node = branch.Children[0];
        }

        return (Leaf)node;
    }

    // The leaf a position belongs in, recording the branches and child slots passed on the way.
    private Leaf Descend(OrderedPosition position, List<(Branch Branch, int Child)>? path)
    {
        var node = _root;
        while (node is Branch branch)
        {
            int child = ChildFor(branch, position);
            path?.Add((branch, child));
            node = branch.Children[child];
        }

        return (Leaf)node;
    }

    // The last child whose separator is at or below the position (child 0 when none is).
    private static int ChildFor(Branch branch, OrderedPosition position)
    {
        int low = 1, high = branch.Length - 1;
        while (low <= high)
        {
            int middle = (low + high) >>> 1;
            if (s_order.Compare(branch.Keys[middle], position) <= 0)
            {
                low = middle + 1;
            }
            else
            {
                high = middle - 1;
            }
        }

        return low - 1;
    }

    // Binary search in a leaf: the index, or the complement of where it would go.
    private static int Search(Leaf leaf, in Probe probe)
    {
        int low = 0, high = leaf.Count - 1;
        while (low <= high)
        {
            int middle = (low + high) >>> 1;
            int order = Compare(leaf, middle, probe);
            if (order == 0)
            {
                return middle;
            }

            if (order < 0)
            {
                low = middle + 1;
            }
            else
            {
                high = middle - 1;
            }
        }

        return ~low;
    }

    // The leaf and offset of the entry at a rank (0 <= rank < Count).
    private (Leaf Leaf, int Offset) Select(int rank)
    {
        var node = _root;
        while (node is Branch branch)
        {
            int child = 0;
            while (rank >= branch.Children[child].Count)
            {
                rank -= branch.Children[child].Count;
                child++;
            }

            node = branch.Children[child];
        }

        return ((Leaf)node, rank);
    }

    private static void Insert<TItem>(TItem[] items, int length, int at, TItem item)
    {
        Array.Copy(items, at, items, at + 1, length - at);
        items[at] = item;
    }

    // After a split of path[level]'s child into left and right: add right beside left, splitting
    // branches up the path as they fill (a new root when the root splits).
    private void InsertChild(List<(Branch Branch, int Child)> path, int level, Node left, Node right, OrderedPosition separator)
    {
        if (level < 0)
        {
            var root = new Branch { Length = 2, Count = left.Count + right.Count };
            root.Children[0] = left;
            root.Children[1] = right;
            root.Keys[1] = separator;
            _root = root;
            return;
        }

        var (branch, child) = path[level];
        if (branch.Length < BranchCapacity)
        {
            Insert(branch.Children, branch.Length, child + 1, right);
            Insert(branch.Keys, branch.Length, child + 1, separator);
            branch.Length++;
            return;
        }

        // Split the full branch; the new child goes to whichever half holds its slot.
        var sibling = new Branch();
        int half = BranchCapacity / 2;
        Array.Copy(branch.Children, half, sibling.Children, 0, BranchCapacity - half);
        Array.Copy(branch.Keys, half, sibling.Keys, 0, BranchCapacity - half);
        Array.Clear(branch.Children, half, BranchCapacity - half);
        Array.Clear(branch.Keys, half, BranchCapacity - half);
        sibling.Length = BranchCapacity - half;
        branch.Length = half;
        var target = child + 1 <= half ? branch : sibling;
        int slot = child + 1 <= half ? child + 1 : child + 1 - half;
        Insert(target.Children, target.Length, slot, right);
        Insert(target.Keys, target.Length, slot, separator);
        target.Length++;
        branch.Count = Sum(branch);
        sibling.Count = Sum(sibling);
        InsertChild(path, level - 1, branch, sibling, sibling.Keys[0]);
    }

    // path[level]'s child emptied: drop it, and the branch too if that empties it.
    private void RemoveChild(List<(Branch Branch, int Child)> path, int level)
    {
        var (branch, child) = path[level];
        Array.Copy(branch.Children, child + 1, branch.Children, child, branch.Length - child - 1);
        Array.Copy(branch.Keys, child + 1, branch.Keys, child, branch.Length - child - 1);
        branch.Length--;
        branch.Children[branch.Length] = null!;
        branch.Keys[branch.Length] = default;
        if (branch.Length == 0 && level > 0)
        {
            RemoveChild(path, level - 1);
        }
        else if (branch.Length == 0)
        {
            _root = new Leaf();
        }
        else if (branch == _root && branch.Length == 1)
        {
            // A root with one child: the child becomes the root (keeps descents short after mass removal).
            _root = branch.Children[0];
        }
    }

    private static int Sum(Branch branch)
    {
        int sum = 0;
        for (int i = 0; i < branch.Length; i++)
        {
            sum += branch.Children[i].Count;
        }

        return sum;
    }

    /// <summary>Builds a tree bottom-up from entries given in strictly increasing order (snapshot loads, rebuilds).</summary>
    internal sealed class Builder
    {
        private readonly List<Node> _leaves = [];
        private Leaf? _leaf;
        private byte[] _bytes = new byte[256];
        private char[] _chars = new char[128];

        /// <summary>Appends a position; false when it is not above the last one.</summary>
        public bool Add(OrderedPosition position)
        {
            var probe = ProbeOf(position, ref _bytes);
            return Append(probe);
        }

        /// <summary>
        /// Appends a position given as UTF-8 (as snapshots store it; the id omitted when
        /// <paramref name="idIsKey"/>); false when it is not above the last one.
        /// </summary>
        public bool AddUtf8(ReadOnlySpan<byte> key, ReadOnlySpan<byte> id, bool idIsKey)
        {
            // An entry whose id equals its key keeps one copy, as when it was added as strings.
            idIsKey = idIsKey || key.SequenceEqual(id);
            if (_chars.Length < key.Length + id.Length)
            {
                _chars = new char[Math.Max(key.Length + id.Length, _chars.Length * 2)];
            }

            // Packed ids go to _bytes (256 bytes at least: room for two).
            var keyText = FromUtf8(key, _chars, _bytes.AsSpan(0, PackedLength), out int keyForm, out int used);
            int idForm = keyForm;
            var idText = idIsKey ? keyText : FromUtf8(id, _chars.AsSpan(used), _bytes.AsSpan(PackedLength, PackedLength), out idForm, out _);
            return Append(new Probe(keyText, keyForm, idText, idForm, idIsKey));
        }

        public CountedTree Build()
        {
            if (_leaf is not null)
            {
                Finish(_leaf);
            }

            var tree = new CountedTree();
            if (_leaves.Count == 0)
            {
                return tree;
            }

            var level = _leaves;
            while (level.Count > 1)
            {
                var parents = new List<Node>();
                for (int start = 0; start < level.Count; start += BranchFill)
                {
                    var branch = new Branch { Length = Math.Min(BranchFill, level.Count - start) };
                    for (int i = 0; i < branch.Length; i++)
                    {
                        var child = level[start + i];
                        branch.Children[i] = child;
                        branch.Keys[i] = First(child);
                        branch.Count += child.Count;
                    }

                    parents.Add(branch);
                }

                level = parents;
            }

            tree._root = level[0];
            return tree;
        }

        private bool Append(in Probe probe)
        {
            var last = _leaf is { Count: > 0 } ? _leaf : _leaves.Count > 0 ? (Leaf)_leaves[^1] : null;
            if (last is not null && Compare(last, last.Count - 1, probe) >= 0)
            {
                return false;
            }

            if (_leaf is null || _leaf.Count == LeafFill)
            {
                if (_leaf is not null)
                {
                    Finish(_leaf);
                }

                var leaf = new Leaf { Previous = _leaf };
                if (_leaf is not null)
                {
                    _leaf.Next = leaf;
                    leaf.Text = new byte[Math.Max(256, _leaf.Text.Length)];
                }

                _leaf = leaf;
            }

            InsertAt(_leaf, _leaf.Count, probe);
            return true;
        }

        // A full leaf joins the level, with room in its text for the quarter of entries it has room
        // for. A leaf is started with the previous one's size, which usually fits: copied again only
        // when growing left it far larger.
        private void Finish(Leaf leaf)
        {
            int room = leaf.Live + leaf.Live / 3;
            if (leaf.Text.Length > room + room / 2)
            {
                Repack(leaf, room);
            }

            _leaves.Add(leaf);
        }

        private static OrderedPosition First(Node node)
        {
            while (node is Branch branch)
            {
                node = branch.Children[0];
            }

            return PositionAt((Leaf)node, 0);
        }

        // UTF-8 as the tree keeps text: the bytes themselves when ASCII (a UUID packed into
        // `packed`), else decoded to UTF-16 in room.
        private static ReadOnlySpan<byte> FromUtf8(ReadOnlySpan<byte> utf8, Span<char> room, Span<byte> packed, out int form, out int used)
        {
            used = 0;
            if (Ascii.IsValid(utf8))
            {
                return Packable(utf8, packed, out form);
            }

            form = WideText;
            used = Encoding.UTF8.GetChars(utf8, room);
            return MemoryMarshal.AsBytes(room[..used]);
        }
    }
}
