using System.Runtime.InteropServices;
using System.Text;

namespace Scim.Fast.Storage.Resources;

// How a leaf keeps its entries' text: bytes in one array per leaf, compared without strings.
internal sealed partial class CountedTree
{
    /// <summary>
    /// Where one entry's text sits in its leaf: the key at <see cref="Start"/>, then the id (at an
    /// even offset when it is UTF-16), unless the id is the key. Lengths are in bytes, shifted left
    /// two, with the text's form in the low two bits (<see cref="AsciiText"/>, <see cref="WideText"/>,
    /// <see cref="PackedUuid"/>).
    /// </summary>
    private readonly record struct Place(int Start, int Key, int Id)
    {
        public const int SameAsKey = -1;
    }

    // The forms of an entry's text. Resource ids are the server's UUIDs (ResourceIds, RFC 9562):
    // kept as their 32 hex digits two to a byte they take 16 bytes instead of 36, and each user has
    // one in every ordered index (issue 14: the trees' bytes were most of what a stored user adds to
    // the heap). Only the lowercase canonical form is packed, so unpacking gives back the same text,
    // and packed bytes compare as the text does ('0'-'9' < 'a'-'f', dashes in the same places).
    private const int AsciiText = 0;   // one byte a char
    private const int WideText = 1;    // UTF-16 as bytes
    private const int PackedUuid = 2;  // a lowercase canonical UUID in 16 bytes
    private const int UuidLength = 36;
    private const int PackedLength = 16;

    /// <summary>
    /// A position in the leaves' form (ASCII bytes, UTF-16 as bytes or a packed UUID), to compare
    /// with entries and to write into a leaf.
    /// </summary>
    private readonly ref struct Probe(ReadOnlySpan<byte> key, int keyForm, ReadOnlySpan<byte> id, int idForm, bool idIsKey)
    {
        public readonly ReadOnlySpan<byte> Key = key;
        public readonly int KeyForm = keyForm;
        public readonly ReadOnlySpan<byte> Id = id;
        public readonly int IdForm = idForm;
        public readonly bool IdIsKey = idIsKey;
    }

    /// <summary>
    /// Entries' text in order (see <see cref="Texts"/>): ASCII bytes, or UTF-16 as bytes when wide.
    /// A span given out holds until the tree changes, or, for a packed id given out as text, until
    /// the next <see cref="Key"/> (for a key) or <see cref="Id"/> (for an id) call.
    /// </summary>
    public ref struct TextCursor
    {
        private Leaf? _leaf;
        private int _index;

        // Packed ids given out as text: the key's in the first half, the id's in the second.
        private byte[] _unpacked;

        internal static TextCursor Over(CountedTree tree) => new() { _leaf = tree.FirstLeaf(), _index = -1, _unpacked = new byte[2 * UuidLength] };

        // Before the first entry strictly above the position (which need not be an entry).
        internal static TextCursor After(CountedTree tree, OrderedPosition position)
        {
            var leaf = tree.Descend(position, null);
            int at = Search(leaf, tree.ProbeOf(position));
            return new() { _leaf = leaf, _index = at >= 0 ? at : ~at - 1, _unpacked = new byte[2 * UuidLength] };
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

        public readonly ReadOnlySpan<byte> Key(out bool wide) => AsText(KeyOf(_leaf!, _index, out int form), form, _unpacked.AsSpan(0, UuidLength), out wide);

        public readonly ReadOnlySpan<byte> Id(out bool wide) => AsText(IdOf(_leaf!, _index, out int form), form, _unpacked.AsSpan(UuidLength), out wide);

        /// <summary>Whether the current entry's id is its key (stored once).</summary>
        public readonly bool IdIsKey => _leaf!.Places[_index].Id == Place.SameAsKey;

        /// <summary>The current entry as strings (to resume after it: <see cref="TextsAfter"/>).</summary>
        public readonly OrderedPosition Position => PositionAt(_leaf!, _index);

        private static ReadOnlySpan<byte> AsText(ReadOnlySpan<byte> text, int form, Span<byte> room, out bool wide)
        {
            wide = form == WideText;
            if (form != PackedUuid)
            {
                return text;
            }

            Unpack(text, room);
            return room;
        }
    }

    private Probe ProbeOf(OrderedPosition position) => ProbeOf(position, ref _scratch);

    // The probe of a position: ASCII text encoded (or a UUID packed) into scratch, other text used
    // in place as UTF-16.
    private static Probe ProbeOf(OrderedPosition position, ref byte[] scratch)
    {
        string key = position.Key, id = position.Id;
        bool idIsKey = string.Equals(key, id, StringComparison.Ordinal);
        int need = key.Length + (idIsKey ? 0 : id.Length);
        if (scratch.Length < need)
        {
            scratch = new byte[Math.Max(need, scratch.Length * 2)];
        }

        var keyText = Encode(key, scratch.AsSpan(0, key.Length), out int keyForm);
        int idForm = keyForm;
        var idText = idIsKey ? keyText : Encode(id, scratch.AsSpan(key.Length, id.Length), out idForm);
        return new Probe(keyText, keyForm, idText, idForm, idIsKey);
    }

    private static ReadOnlySpan<byte> Encode(string text, Span<byte> room, out int form)
    {
        if (Ascii.FromUtf16(text, room, out int written) != System.Buffers.OperationStatus.Done)
        {
            form = WideText;
            return MemoryMarshal.AsBytes(text.AsSpan());
        }

        return Packable(room[..written], room, out form);
    }

    // ASCII text as the leaves keep it: packed into the start of `room` when it is a lowercase
    // canonical UUID (room may be the text itself: the packed bytes are copied in only once every
    // digit has been read, and nothing is written when the text turns out not to be one).
    private static ReadOnlySpan<byte> Packable(ReadOnlySpan<byte> ascii, Span<byte> room, out int form)
    {
        form = AsciiText;
        if (ascii.Length != UuidLength || ascii[8] != '-' || ascii[13] != '-' || ascii[18] != '-' || ascii[23] != '-')
        {
            return ascii;
        }

        // Each byte is two digits side by side (every group of a UUID has an even count).
        Span<byte> packed = stackalloc byte[PackedLength];
        var pairs = PairStarts;
        for (int k = 0; k < PackedLength; k++)
        {
            int high = Nibble(ascii[pairs[k]]), low = Nibble(ascii[pairs[k] + 1]);
            if ((high | low) > 15)
            {
                return ascii;
            }

            packed[k] = (byte)(high << 4 | low);
        }

        packed.CopyTo(room);
        form = PackedUuid;
        return room[..PackedLength];
    }

    // Where each packed byte's two digits start in the 36 characters.
    private static ReadOnlySpan<byte> PairStarts => [0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34];

    private static ReadOnlySpan<byte> HexDigits => "0123456789abcdef"u8;

    // A lowercase hex digit's value; 16 or more for anything else (uppercase too: see PackedUuid).
    private static int Nibble(byte c)
    {
        uint digit = (uint)(c - '0');
        if (digit < 10)
        {
            return (int)digit;
        }

        uint letter = (uint)(c - 'a');
        return letter < 6 ? (int)letter + 10 : 16;
    }

    // The 36 characters of a packed UUID, as ASCII bytes.
    private static void Unpack(ReadOnlySpan<byte> packed, Span<byte> text)
    {
        text[8] = text[13] = text[18] = text[23] = (byte)'-';
        var pairs = PairStarts;
        var digits = HexDigits;
        for (int k = 0; k < PackedLength; k++)
        {
            text[pairs[k]] = digits[packed[k] >> 4];
            text[pairs[k] + 1] = digits[packed[k] & 0xF];
        }
    }

    private static int Bytes(int length) => length >> 2;

    private static int FormOf(int length) => length & 3;

    private static int LengthOf(int bytes, int form) => bytes << 2 | form;

    private static int IdOffset(Place place) => FormOf(place.Id) == WideText ? (Bytes(place.Key) + 1) & ~1 : Bytes(place.Key);

    // Bytes an entry takes in Text, rounded up to even so every entry starts aligned for UTF-16.
    private static int Size(Place place) =>
        ((place.Id == Place.SameAsKey ? Bytes(place.Key) : IdOffset(place) + Bytes(place.Id)) + 1) & ~1;

    private static ReadOnlySpan<byte> KeyOf(Leaf leaf, int index, out int form)
    {
        var place = leaf.Places[index];
        form = FormOf(place.Key);
        return leaf.Text.AsSpan(place.Start, Bytes(place.Key));
    }

    private static ReadOnlySpan<byte> IdOf(Leaf leaf, int index, out int form)
    {
        var place = leaf.Places[index];
        if (place.Id == Place.SameAsKey)
        {
            return KeyOf(leaf, index, out form);
        }

        form = FormOf(place.Id);
        return leaf.Text.AsSpan(place.Start + IdOffset(place), Bytes(place.Id));
    }

    // Entry against probe, key then id, ordinally (the order of PositionOrder on the strings).
    private static int Compare(Leaf leaf, int index, in Probe probe)
    {
        int order = Compare(KeyOf(leaf, index, out int keyForm), keyForm, probe.Key, probe.KeyForm);
        return order != 0 ? order : Compare(IdOf(leaf, index, out int idForm), idForm, probe.Id, probe.IdForm);
    }

    // Ordinal order of two texts, each in one of the leaves' forms: UTF-16 code units compared as
    // numbers, a packed UUID as its text unless both are packed.
    private static int Compare(ReadOnlySpan<byte> a, int aForm, ReadOnlySpan<byte> b, int bForm)
    {
        if (aForm == bForm)
        {
            return aForm == WideText
                ? MemoryMarshal.Cast<byte, char>(a).SequenceCompareTo(MemoryMarshal.Cast<byte, char>(b))
                : a.SequenceCompareTo(b);
        }

        Span<byte> text = stackalloc byte[UuidLength];
        if (aForm == PackedUuid)
        {
            Unpack(a, text);
            return Compare(text, AsciiText, b, bForm);
        }

        if (bForm == PackedUuid)
        {
            Unpack(b, text);
            return Compare(a, aForm, text, AsciiText);
        }

        return aForm == WideText ? -CompareMixed(b, MemoryMarshal.Cast<byte, char>(a)) : CompareMixed(a, MemoryMarshal.Cast<byte, char>(b));
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
        string key = StringOf(KeyOf(leaf, index, out int keyForm), keyForm);
        return new OrderedPosition(key, leaf.Places[index].Id == Place.SameAsKey ? key : StringOf(IdOf(leaf, index, out int idForm), idForm));
    }

    private static string StringOf(ReadOnlySpan<byte> text, int form)
    {
        switch (form)
        {
            case WideText:
                return new string(MemoryMarshal.Cast<byte, char>(text));
            case PackedUuid:
                Span<byte> uuid = stackalloc byte[UuidLength];
                Unpack(text, uuid);
                return Encoding.ASCII.GetString(uuid);
            default:
                return Encoding.ASCII.GetString(text);
        }
    }

    // Writes the probe's text into the leaf and puts its place at index `at`.
    private static void InsertAt(Leaf leaf, int at, in Probe probe)
    {
        int key = LengthOf(probe.Key.Length, probe.KeyForm);
        int id = probe.IdIsKey ? Place.SameAsKey : LengthOf(probe.Id.Length, probe.IdForm);
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

        // Room to grow in the left half; none when it kept everything (Add: keys that only grow).
        Repack(leaf, right.Count == 0 ? leaf.Live : leaf.Live + leaf.Live / 2);
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
