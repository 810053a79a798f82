namespace Scim.Fast.Storage.Resources;

/// <summary>
/// A B+tree of (key, id) positions that knows how many entries each subtree holds (an order-statistic
/// tree): inserting, removing, finding the rank of a position and finding the position at a rank are
/// all O(log n), so a deep startIndex, or the number of entries in a range, costs a descent, not a
/// walk (DESIGN-NOTES §9). Entries sit in arrays of leaves linked both ways (a few objects per 128
/// entries instead of one per entry: less for the GC to trace than a red-black tree).
/// </summary>
/// <remarks>
/// Not thread-safe: the ordered index locks each tree. Removal never rebalances: a leaf that empties
/// is unlinked, an underfull one stays (depth only grows with the most entries a tree ever held, and
/// a split halves a node, so pages of churn cannot make it deep).
/// </remarks>
internal sealed class CountedTree
{
    private const int LeafCapacity = 128;
    private const int BranchCapacity = 64;

    private static readonly PositionOrder s_order = PositionOrder.Instance;

    private Node _root = new Leaf();

    // The descent of the current Add or Remove, reused (they run under the tree's lock): one list
    // per change was a few percent of what an initial sync allocated.
    private readonly List<(Branch Branch, int Child)> _path = new(8);

    public int Count => _root.Count;

    private abstract class Node
    {
        public int Count;
    }

    private sealed class Leaf : Node
    {
        public readonly OrderedPosition[] Items = new OrderedPosition[LeafCapacity];
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

    // A leaf's live entries are Items[0..Count).

    /// <summary>Adds the position; false when it is there already.</summary>
    public bool Add(OrderedPosition entry)
    {
        var path = _path;
        path.Clear();
        var leaf = Descend(entry, path);
        int at = Search(leaf, entry);
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
            Insert(leaf.Items, leaf.Count, at, entry);
            leaf.Count++;
            return true;
        }

        // Split the full leaf in two halves, then place the entry in its half.
        var right = new Leaf();
        int half = LeafCapacity / 2;
        Array.Copy(leaf.Items, half, right.Items, 0, LeafCapacity - half);
        Array.Clear(leaf.Items, half, LeafCapacity - half);
        right.Count = LeafCapacity - half;
        leaf.Count = half;
        if (at <= half)
        {
            Insert(leaf.Items, leaf.Count, at, entry);
            leaf.Count++;
        }
        else
        {
            Insert(right.Items, right.Count, at - half, entry);
            right.Count++;
        }

        right.Next = leaf.Next;
        right.Previous = leaf;
        if (leaf.Next is not null)
        {
            leaf.Next.Previous = right;
        }

        leaf.Next = right;
        InsertChild(path, path.Count - 1, leaf, right, right.Items[0]);
        return true;
    }

    /// <summary>Removes the position; false when it was not there.</summary>
    public bool Remove(OrderedPosition entry)
    {
        var path = _path;
        path.Clear();
        var leaf = Descend(entry, path);
        int at = Search(leaf, entry);
        if (at < 0)
        {
            return false;
        }

        Array.Copy(leaf.Items, at + 1, leaf.Items, at, leaf.Count - at - 1);
        leaf.Items[--leaf.Count] = default;
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

        return true;
    }

    public bool Contains(OrderedPosition entry) => Search(Descend(entry, null), entry) >= 0;

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

        int at = Search((Leaf)node, position);
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
                    output.Add(leaf.Items[offset]);
                }

                leaf = leaf.Previous;
                offset = leaf is null ? 0 : leaf.Count - 1;
            }
            else
            {
                for (; offset < leaf.Count && remaining > 0; offset++, remaining--)
                {
                    output.Add(leaf.Items[offset]);
                }

                leaf = leaf.Next;
                offset = 0;
            }
        }
    }

    /// <summary>Every entry in order (for snapshots and Verify).</summary>
    public IEnumerable<OrderedPosition> All()
    {
        var node = _root;
        while (node is Branch branch)
        {
            node = branch.Children[0];
        }

        for (var leaf = (Leaf?)node; leaf is not null; leaf = leaf.Next)
        {
            for (int i = 0; i < leaf.Count; i++)
            {
                yield return leaf.Items[i];
            }
        }
    }

    /// <summary>A tree of entries already in order and distinct (snapshot loads, rebuilds), built bottom-up.</summary>
    public static CountedTree FromSorted(IReadOnlyList<OrderedPosition> sorted)
    {
        var tree = new CountedTree();
        if (sorted.Count == 0)
        {
            return tree;
        }

        // Leaves filled to three quarters, so the first inserts after a load do not split at once.
        const int leafFill = LeafCapacity * 3 / 4;
        const int branchFill = BranchCapacity * 3 / 4;
        var level = new List<Node>();
        Leaf? previous = null;
        for (int start = 0; start < sorted.Count; start += leafFill)
        {
            var leaf = new Leaf { Count = Math.Min(leafFill, sorted.Count - start) };
            for (int i = 0; i < leaf.Count; i++)
            {
                leaf.Items[i] = sorted[start + i];
            }

            leaf.Previous = previous;
            if (previous is not null)
            {
                previous.Next = leaf;
            }

            previous = leaf;
            level.Add(leaf);
        }

        while (level.Count > 1)
        {
            var parents = new List<Node>();
            for (int start = 0; start < level.Count; start += branchFill)
            {
                var branch = new Branch { Length = Math.Min(branchFill, level.Count - start) };
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

    private static OrderedPosition First(Node node)
    {
        while (node is Branch branch)
        {
            node = branch.Children[0];
        }

        return ((Leaf)node).Items[0];
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
    private static int Search(Leaf leaf, OrderedPosition position)
    {
        int low = 0, high = leaf.Count - 1;
        while (low <= high)
        {
            int middle = (low + high) >>> 1;
            int order = s_order.Compare(leaf.Items[middle], position);
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
}
