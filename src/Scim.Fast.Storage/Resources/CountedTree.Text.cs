using System.Runtime.InteropServices;
using System.Text;

namespace Scim.Fast.Storage.Resources;

// How a leaf keeps its entries' text: bytes in one array per leaf, compared without strings.
internal sealed partial class CountedTree
{
    /// <summary>
    /// Where one entry's text sits in its leaf: the key at <see cref="Start"/>, then the id (at an
    /// even offset when it is UTF-16), unless the id is the key. Lengths are in bytes, shifted left
    /// one with the low bit set for UTF-16 text (clear for ASCII, one byte a char).
    /// </summary>
    private readonly record struct Place(int Start, int Key, int Id)
    {
        public const int SameAsKey = -1;
    }

    /// <summary>
    /// A position in the leaves' form (ASCII bytes or UTF-16 as bytes), to compare with entries
    /// and to write into a leaf.
    /// </summary>
    private readonly ref struct Probe(ReadOnlySpan<byte> key, bool keyWide, ReadOnlySpan<byte> id, bool idWide, bool idIsKey)
    {
        public readonly ReadOnlySpan<byte> Key = key;
        public readonly bool KeyWide = keyWide;
        public readonly ReadOnlySpan<byte> Id = id;
        public readonly bool IdWide = idWide;
        public readonly bool IdIsKey = idIsKey;
    }

    /// <summary>Entries' text in order (see <see cref="Texts"/>): ASCII bytes, or UTF-16 as bytes when wide.</summary>
    public ref struct TextCursor
    {
        private Leaf? _leaf;
        private int _index;

        internal static TextCursor Over(CountedTree tree) => new() { _leaf = tree.FirstLeaf(), _index = -1 };

        // Before the first entry strictly above the position (which need not be an entry).
        internal static TextCursor After(CountedTree tree, OrderedPosition position)
        {
            var leaf = tree.Descend(position, null);
            int at = Search(leaf, tree.ProbeOf(position));
            return new() { _leaf = leaf, _index = at >= 0 ? at : ~at - 1 };
        }

        public bool MoveNext()
        {
            _index++;
            while (_leaf is not null && _index >= _leaf.Count)
            {
                _leaf = _leaf.Next;
                _index = 0;
            }

            return _leaf is not null;
        }

        public readonly ReadOnlySpan<byte> Key(out bool wide) => KeyOf(_leaf!, _index, out wide);

        public readonly ReadOnlySpan<byte> Id(out bool wide) => IdOf(_leaf!, _index, out wide);

        /// <summary>Whether the current entry's id is its key (stored once).</summary>
        public readonly bool IdIsKey => _leaf!.Places[_index].Id == Place.SameAsKey;

        /// <summary>The current entry as strings (to resume after it: <see cref="TextsAfter"/>).</summary>
        public readonly OrderedPosition Position => PositionAt(_leaf!, _index);
    }

    private Probe ProbeOf(OrderedPosition position) => ProbeOf(position, ref _scratch);

    // The probe of a position: ASCII text encoded into scratch, other text used in place as UTF-16.
    private static Probe ProbeOf(OrderedPosition position, ref byte[] scratch)
    {
        string key = position.Key, id = position.Id;
        bool idIsKey = string.Equals(key, id, StringComparison.Ordinal);
        int need = key.Length + (idIsKey ? 0 : id.Length);
        if (scratch.Length < need)
        {
            scratch = new byte[Math.Max(need, scratch.Length * 2)];
        }

        var keyText = Encode(key, scratch.AsSpan(0, key.Length), out bool keyWide);
        bool idWide = keyWide;
        var idText = idIsKey ? keyText : Encode(id, scratch.AsSpan(key.Length, id.Length), out idWide);
        return new Probe(keyText, keyWide, idText, idWide, idIsKey);
    }

    private static ReadOnlySpan<byte> Encode(string text, Span<byte> room, out bool wide)
    {
        wide = Ascii.FromUtf16(text, room, out int written) != System.Buffers.OperationStatus.Done;
        return wide ? MemoryMarshal.AsBytes(text.AsSpan()) : room[..written];
    }

    private static int Bytes(int length) => length >> 1;

    private static bool IsWide(int length) => (length & 1) != 0;

    private static int IdOffset(Place place) => IsWide(place.Id) ? (Bytes(place.Key) + 1) & ~1 : Bytes(place.Key);

    // Bytes an entry takes in Text, rounded up to even so every entry starts aligned for UTF-16.
    private static int Size(Place place) =>
        ((place.Id == Place.SameAsKey ? Bytes(place.Key) : IdOffset(place) + Bytes(place.Id)) + 1) & ~1;

    private static ReadOnlySpan<byte> KeyOf(Leaf leaf, int index, out bool wide)
    {
        var place = leaf.Places[index];
        wide = IsWide(place.Key);
        return leaf.Text.AsSpan(place.Start, Bytes(place.Key));
    }

    private static ReadOnlySpan<byte> IdOf(Leaf leaf, int index, out bool wide)
    {
        var place = leaf.Places[index];
        if (place.Id == Place.SameAsKey)
        {
            return KeyOf(leaf, index, out wide);
        }

        wide = IsWide(place.Id);
        return leaf.Text.AsSpan(place.Start + IdOffset(place), Bytes(place.Id));
    }

    // Entry against probe, key then id, ordinally (the order of PositionOrder on the strings).
    private static int Compare(Leaf leaf, int index, in Probe probe)
    {
        int order = Compare(KeyOf(leaf, index, out bool keyWide), keyWide, probe.Key, probe.KeyWide);
        return order != 0 ? order : Compare(IdOf(leaf, index, out bool idWide), idWide, probe.Id, probe.IdWide);
    }

    // Ordinal order of two texts, each ASCII bytes or UTF-16: UTF-16 code units compared as numbers.
    private static int Compare(ReadOnlySpan<byte> a, bool aWide, ReadOnlySpan<byte> b, bool bWide)
    {
        if (aWide == bWide)
        {
            return aWide
                ? MemoryMarshal.Cast<byte, char>(a).SequenceCompareTo(MemoryMarshal.Cast<byte, char>(b))
                : a.SequenceCompareTo(b);
        }

        return aWide ? -CompareMixed(b, MemoryMarshal.Cast<byte, char>(a)) : CompareMixed(a, MemoryMarshal.Cast<byte, char>(b));
    }

    private static int CompareMixed(ReadOnlySpan<byte> ascii, ReadOnlySpan<char> wide)
    {
        int length = Math.Min(ascii.Length, wide.Length);
        for (int i = 0; i < length; i++)
        {
            int difference = ascii[i] - wide[i];
            if (difference != 0)
            {
                return difference;
            }
        }

        return ascii.Length - wide.Length;
    }

    // The entry as strings (one string when its id is its key): what reads hand out.
    private static OrderedPosition PositionAt(Leaf leaf, int index)
    {
        string key = StringOf(KeyOf(leaf, index, out bool keyWide), keyWide);
        return new OrderedPosition(key, leaf.Places[index].Id == Place.SameAsKey ? key : StringOf(IdOf(leaf, index, out bool idWide), idWide));
    }

    private static string StringOf(ReadOnlySpan<byte> text, bool wide) =>
        wide ? new string(MemoryMarshal.Cast<byte, char>(text)) : Encoding.ASCII.GetString(text);

    // Writes the probe's text into the leaf and puts its place at index `at`.
    private static void InsertAt(Leaf leaf, int at, in Probe probe)
    {
        int key = probe.Key.Length << 1 | (probe.KeyWide ? 1 : 0);
        int id = probe.IdIsKey ? Place.SameAsKey : probe.Id.Length << 1 | (probe.IdWide ? 1 : 0);
        int size = Size(new Place(0, key, id));
        if (leaf.Used + size > leaf.Text.Length)
        {
            int needed = leaf.Live + size;
            Repack(leaf, needed + needed / 2);
        }

        var place = new Place(leaf.Used, key, id);
        probe.Key.CopyTo(leaf.Text.AsSpan(place.Start));
        if (!probe.IdIsKey)
        {
            probe.Id.CopyTo(leaf.Text.AsSpan(place.Start + IdOffset(place)));
        }

        leaf.Used += size;
        leaf.Live += size;
        Insert(leaf.Places, leaf.Count, at, place);
        leaf.Count++;
    }

    // Moves the entries from index `from` on to the empty leaf `right` (a split).
    private static void MoveTail(Leaf leaf, int from, Leaf right)
    {
        int bytes = 0;
        for (int i = from; i < leaf.Count; i++)
        {
            bytes += Size(leaf.Places[i]);
        }

        right.Text = new byte[Math.Max(64, bytes + bytes / 2)];
        for (int i = from; i < leaf.Count; i++)
        {
            var place = leaf.Places[i];
            int size = Size(place);
            leaf.Text.AsSpan(place.Start, size).CopyTo(right.Text.AsSpan(right.Used));
            right.Places[right.Count++] = place with { Start = right.Used };
            right.Used += size;
        }

        right.Live = right.Used;
        Array.Clear(leaf.Places, from, leaf.Count - from);
        leaf.Count = from;
        leaf.Live -= bytes;
        Repack(leaf, leaf.Live + leaf.Live / 2);
    }

    // Copies the live entries' text, in order, into a new array of `capacity` bytes (at least what
    // they hold): closes the gaps removals and moves left.
    private static void Repack(Leaf leaf, int capacity)
    {
        var text = new byte[Math.Max(64, (Math.Max(capacity, leaf.Live) + 7) & ~7)];
        int used = 0;
        for (int i = 0; i < leaf.Count; i++)
        {
            var place = leaf.Places[i];
            int size = Size(place);
            leaf.Text.AsSpan(place.Start, size).CopyTo(text.AsSpan(used));
            leaf.Places[i] = place with { Start = used };
            used += size;
        }

        leaf.Text = text;
        leaf.Used = used;
        leaf.Live = used;
    }
}
