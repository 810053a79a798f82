using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Text;

using Microsoft.Win32.SafeHandles;

namespace Scim.Fast.Storage.Resources;

/// <summary>
/// The ordered indexes' snapshot file, written while writers are paused for a checkpoint and loaded
/// on restart instead of reading every resource back (DESIGN-NOTES §1).
/// <para>
/// Layout (version 2): magic, mark (the log address the snapshot is consistent with), then each
/// tree's entries in order — one string per entry when every key is its id (the id index), else key
/// then id (7-bit length + UTF-8, as <see cref="BinaryWriter"/> writes strings) — then a directory
/// (per tree: tenant, type, index, whether keys are ids, count, offset, length) and, last, the
/// directory's offset. Saving is one sequential pass, as before.
/// </para>
/// <para>
/// Loading reads the directory, then the trees in parallel: each tenant and type's id tree first,
/// whose strings become the ids every other tree of that tenant and type shares (one string per id
/// in memory), found by the bytes' characters without making a string per lookup. Version 1 files
/// (one pass, every entry key then id, ids shared through a dictionary of strings) still load.
/// </para>
/// </summary>
internal static class OrderedIndexSnapshot
{
    private const long MagicV1 = 0x314E5041534F4453; // "SDOSAPN1"
    private const long MagicV2 = 0x324E5041534F4453; // "SDOSAPN2"
    private const byte IdIndex = 0;

    private readonly record struct Entry(uint Tenant, byte Type, byte Index, bool KeysAreIds, int Count, long Offset, long Length);

    public static void Save(string path, long mark, IReadOnlyList<KeyValuePair<(uint Tenant, byte Type, byte Index), CountedTree>> trees)
    {
        string temporary = path + ".tmp";
        using (var stream = new FileStream(temporary, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20))
        using (var writer = new BinaryWriter(stream, Encoding.UTF8))
        {
            writer.Write(MagicV2);
            writer.Write(mark);
            var directory = new List<Entry>(trees.Count);
            foreach (var ((tenant, type, index), tree) in trees)
            {
                bool keysAreIds = true;
                foreach (var position in tree.All())
                {
                    if (!string.Equals(position.Key, position.Id, StringComparison.Ordinal))
                    {
                        keysAreIds = false;
                        break;
                    }
                }

                long offset = stream.Position;
                int count = 0;
                foreach (var position in tree.All())
                {
                    writer.Write(position.Key);
                    if (!keysAreIds)
                    {
                        writer.Write(position.Id);
                    }

                    count++;
                }

                directory.Add(new Entry(tenant, type, index, keysAreIds, count, offset, stream.Position - offset));
            }

            long directoryOffset = stream.Position;
            writer.Write(directory.Count);
            foreach (var entry in directory)
            {
                writer.Write(entry.Tenant);
                writer.Write(entry.Type);
                writer.Write(entry.Index);
                writer.Write(entry.KeysAreIds);
                writer.Write(entry.Count);
                writer.Write(entry.Offset);
                writer.Write(entry.Length);
            }

            writer.Write(directoryOffset);
            writer.Flush();
            stream.Flush(flushToDisk: true);
        }

        File.Move(temporary, path, overwrite: true);
    }

    /// <summary>Whether the snapshot at <paramref name="path"/> was taken at <paramref name="mark"/>.</summary>
    public static bool Matches(string path, long mark)
    {
        try
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 64);
            using var reader = new BinaryReader(stream);
            long magic = reader.ReadInt64();
            return (magic == MagicV1 || magic == MagicV2) && reader.ReadInt64() == mark;
        }
        catch (Exception e) when (e is IOException or EndOfStreamException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>
    /// The snapshot's mark and trees, read before the caller knows which mark it needs (while the
    /// key-value store recovers); null when there is no readable snapshot, null trees when damaged.
    /// </summary>
    public static (long Mark, Dictionary<(uint Tenant, byte Type, byte Index), CountedTree>? Trees)? TryLoadAny(string path)
    {
        try
        {
            using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read);
            Span<byte> header = stackalloc byte[16];
            if (RandomAccess.Read(handle, header, 0) != 16)
            {
                return null;
            }

            long mark = BinaryPrimitives.ReadInt64LittleEndian(header[8..]);
            return (mark, TryLoad(path, mark));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>The trees of a snapshot taken at <paramref name="mark"/>; null when it is missing, another mark, or damaged.</summary>
    public static Dictionary<(uint Tenant, byte Type, byte Index), CountedTree>? TryLoad(string path, long mark)
    {
        if (!File.Exists(path))
        {
            return null;
        }

        try
        {
            using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read, FileOptions.RandomAccess);
            long length = RandomAccess.GetLength(handle);
            Span<byte> header = stackalloc byte[16];
            if (length < 16 || RandomAccess.Read(handle, header, 0) != 16 || BinaryPrimitives.ReadInt64LittleEndian(header[8..]) != mark)
            {
                return null;
            }

            return BinaryPrimitives.ReadInt64LittleEndian(header) switch
            {
                MagicV2 => LoadV2(handle, length),
                MagicV1 => LoadV1(path, mark),
                _ => null,
            };
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // Any damage to the file (truncated, wrong counts): the caller rebuilds instead.
            return null;
        }
    }

    private static Dictionary<(uint, byte, byte), CountedTree>? LoadV2(SafeFileHandle handle, long length)
    {
        Span<byte> trailer = stackalloc byte[8];
        RandomAccess.Read(handle, trailer, length - 8);
        long directoryOffset = BinaryPrimitives.ReadInt64LittleEndian(trailer);
        if (directoryOffset < 16 || directoryOffset > length - 12)
        {
            return null;
        }

        var directoryBytes = new byte[length - 8 - directoryOffset];
        RandomAccess.Read(handle, directoryBytes, directoryOffset);
        using var reader = new BinaryReader(new MemoryStream(directoryBytes));
        int slots = reader.ReadInt32();
        // Each directory entry is 27 bytes: a count the directory cannot hold is damage (and must
        // not size an allocation).
        if (slots < 0 || slots > (directoryBytes.Length - 4) / 27)
        {
            return null;
        }

        var entries = new List<Entry>(slots);
        for (int i = 0; i < slots; i++)
        {
            var entry = new Entry(reader.ReadUInt32(), reader.ReadByte(), reader.ReadByte(), reader.ReadBoolean(), reader.ReadInt32(), reader.ReadInt64(), reader.ReadInt64());
            if (entry.Offset < 16 || entry.Length < 0 || entry.Offset + entry.Length > directoryOffset || entry.Count < 0 || entry.Count > entry.Length)
            {
                return null;
            }

            entries.Add(entry);
        }

        // The id trees first: their strings are the ids the other trees of their tenant and type share.
        var trees = new ConcurrentDictionary<(uint, byte, byte), CountedTree>();
        var ids = new ConcurrentDictionary<(uint, byte), HashSet<string>>();
        bool damaged = false;
        Parallel.ForEach(entries.Where(e => e.Index == IdIndex), entry =>
        {
            var shared = new HashSet<string>(entry.KeysAreIds ? entry.Count : 0, StringComparer.Ordinal);
            if (LoadTree(handle, entry, null, entry.KeysAreIds ? shared : null) is { } tree)
            {
                trees[(entry.Tenant, entry.Type, entry.Index)] = tree;
                ids[(entry.Tenant, entry.Type)] = shared;
            }
            else
            {
                damaged = true;
            }
        });
        Parallel.ForEach(entries.Where(e => e.Index != IdIndex), entry =>
        {
            if (LoadTree(handle, entry, ids.GetValueOrDefault((entry.Tenant, entry.Type)), null) is { } tree)
            {
                trees[(entry.Tenant, entry.Type, entry.Index)] = tree;
            }
            else
            {
                damaged = true;
            }
        });

        return damaged || trees.Count != entries.Count ? null : new Dictionary<(uint, byte, byte), CountedTree>(trees);
    }

    // One tree's entries, checked to be in strictly increasing order; null when damaged.
    private static CountedTree? LoadTree(SafeFileHandle handle, Entry entry, HashSet<string>? sharedIds, HashSet<string>? collectIds)
    {
        var lookup = sharedIds?.GetAlternateLookup<ReadOnlySpan<char>>();
        var positions = new List<OrderedPosition>(entry.Count);
        var reader = new SlotReader(handle, entry.Offset, entry.Length);
        Span<char> chars = stackalloc char[256];
        for (int i = 0; i < entry.Count; i++)
        {
            string key = Encoding.UTF8.GetString(reader.ReadString());
            string id;
            if (entry.KeysAreIds)
            {
                id = key;
                collectIds?.Add(key);
            }
            else
            {
                var bytes = reader.ReadString();
                id = lookup is { } shared && Find(shared, bytes, chars) is { } existing ? existing : Encoding.UTF8.GetString(bytes);
            }

            var position = new OrderedPosition(key, id);
            if (positions.Count > 0 && PositionOrder.Instance.Compare(positions[^1], position) >= 0)
            {
                return null;
            }

            positions.Add(position);
        }

        return reader.AtEnd ? CountedTree.FromSorted(positions) : null;
    }

    // The shared id spelled by these UTF-8 bytes, found without making a string (a UTF-8 string
    // has at most as many characters as bytes).
    private static string? Find(HashSet<string>.AlternateLookup<ReadOnlySpan<char>> shared, ReadOnlySpan<byte> bytes, Span<char> chars)
    {
        char[]? rented = bytes.Length > chars.Length ? System.Buffers.ArrayPool<char>.Shared.Rent(bytes.Length) : null;
        try
        {
            var buffer = rented ?? chars;
            return shared.TryGetValue(buffer[..Encoding.UTF8.GetChars(bytes, buffer)], out var existing) ? existing : null;
        }
        finally
        {
            if (rented is not null)
            {
                System.Buffers.ArrayPool<char>.Shared.Return(rented);
            }
        }
    }

    /// <summary>Strings of one tree's byte range, read through a 1 MiB buffer.</summary>
    private ref struct SlotReader(SafeFileHandle handle, long offset, long length)
    {
        private readonly byte[] _buffer = new byte[(int)Math.Clamp(length, 1, 1 << 20)];   // a small tree gets a small buffer
        private long _fileOffset = offset;
        private readonly long _end = offset + length;
        private int _start;
        private int _filled;

        public readonly bool AtEnd => _fileOffset == _end && _start == _filled;

        public ReadOnlySpan<byte> ReadString()
        {
            Ensure(5);
            int value = 0, shift = 0, used = 0;
            byte b;
            do
            {
                if (_start + used >= _filled || shift > 28)
                {
                    throw new InvalidDataException("Damaged string length in the snapshot.");
                }

                b = _buffer[_start + used++];
                value |= (b & 0x7F) << shift;
                shift += 7;
            }
            while ((b & 0x80) != 0);

            _start += used;
            Ensure(value);
            if (_filled - _start < value)
            {
                throw new InvalidDataException("Truncated snapshot.");
            }

            var span = _buffer.AsSpan(_start, value);
            _start += value;
            return span;
        }

        // At least count bytes buffered (or all that is left of the range).
        private void Ensure(int count)
        {
            if (_filled - _start >= count || _fileOffset == _end)
            {
                return;
            }

            if (count > _buffer.Length)
            {
                throw new InvalidDataException("A snapshot string longer than the read buffer.");
            }

            int kept = _filled - _start;
            Buffer.BlockCopy(_buffer, _start, _buffer, 0, kept);
            _start = 0;
            _filled = kept;
            while (_filled < _buffer.Length && _fileOffset < _end)
            {
                int read = RandomAccess.Read(handle, _buffer.AsSpan(_filled, (int)Math.Min(_buffer.Length - _filled, _end - _fileOffset)), _fileOffset);
                if (read == 0)
                {
                    throw new InvalidDataException("Truncated snapshot.");
                }

                _filled += read;
                _fileOffset += read;
            }
        }
    }

    // Version 1: one pass; every entry tenant, type, index, key, id; ids shared through a dictionary.
    private static Dictionary<(uint, byte, byte), CountedTree>? LoadV1(string path, long mark)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20);
        using var reader = new BinaryReader(stream, Encoding.UTF8);
        if (reader.ReadInt64() != MagicV1 || reader.ReadInt64() != mark)
        {
            return null;
        }

        int count = reader.ReadInt32();
        var trees = new Dictionary<(uint, byte, byte), CountedTree>();
        List<OrderedPosition>? current = null;
        (uint, byte, byte) currentKey = default;
        var ids = new Dictionary<string, string>(StringComparer.Ordinal);
        for (int i = 0; i < count; i++)
        {
            var slotKey = (reader.ReadUInt32(), reader.ReadByte(), reader.ReadByte());
            string key = reader.ReadString();
            string id = reader.ReadString();
            if (ids.TryGetValue(id, out var shared))
            {
                id = shared;
            }
            else
            {
                ids[id] = id;
            }

            var position = new OrderedPosition(key, id);
            if (current is null || slotKey != currentKey)
            {
                if (current is not null)
                {
                    trees[currentKey] = CountedTree.FromSorted(current);
                }

                // Written in order: a tree seen before, or a position out of order, is damage.
                if (trees.ContainsKey(slotKey) || (current is not null && slotKey.CompareTo(currentKey) < 0))
                {
                    return null;
                }

                current = [];
                currentKey = slotKey;
            }
            else if (PositionOrder.Instance.Compare(current[^1], position) >= 0)
            {
                return null;
            }

            current.Add(position);
        }

        if (current is not null)
        {
            trees[currentKey] = CountedTree.FromSorted(current);
        }

        return trees;
    }
}
