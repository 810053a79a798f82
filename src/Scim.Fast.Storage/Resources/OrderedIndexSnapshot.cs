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
/// Loading reads the directory, then the trees in parallel, each entry's bytes straight into its
/// tree's leaves (which keep text, not strings: <see cref="CountedTree"/>). Version 1 files (one
/// pass, every entry key then id) still load.
/// </para>
/// </summary>
internal static class OrderedIndexSnapshot
{
    private const long MagicV1 = 0x314E5041534F4453; // "SDOSAPN1"
    private const long MagicV2 = 0x324E5041534F4453; // "SDOSAPN2"
    private const byte IdIndex = 0;

    private readonly record struct Entry(uint Tenant, byte Type, byte Index, bool KeysAreIds, int Count, long Offset, long Length);

    // Entries written a time under a tree's lock: about a third of a millisecond of writes held
    // back on that tree, then the lock is let go and taken again.
    internal const int EntriesPerLock = 4096;

    /// <summary>Writes trees nothing else changes (tests, tools).</summary>
    public static void Save(string path, long mark, IReadOnlyList<KeyValuePair<(uint Tenant, byte Type, byte Index), CountedTree>> trees)
    {
        var gated = new List<((uint Tenant, byte Type, byte Index), CountedTree, object)>(trees.Count);
        foreach (var (key, tree) in trees)
        {
            gated.Add((key, tree, new object()));
        }

        SaveUnderLocks(path, mark, gated);
    }

    /// <summary>
    /// Writes every tree, in order, headed by <paramref name="mark"/>. Each tree is read a chunk at
    /// a time under its lock (<paramref name="trees"/>' Gate, the lock its writers take), so writes
    /// go on meanwhile: the snapshot is fuzzy. Every entry added before the save started and not
    /// removed during it is in the file; an entry added or removed during the save may or may not
    /// be. Replay from the mark redoes every change after it (add and remove are idempotent, and a
    /// resource's changes replay in the order they were made), so what a restart loads converges.
    /// </summary>
    public static void SaveUnderLocks(string path, long mark, IReadOnlyList<((uint Tenant, byte Type, byte Index) Key, CountedTree Tree, object Gate)> trees)
    {
        string temporary = path + ".tmp";
        using (var stream = new FileStream(temporary, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20))
        using (var writer = new BinaryWriter(stream, Encoding.UTF8))
        {
            writer.Write(MagicV2);
            writer.Write(mark);
            var directory = new List<Entry>(trees.Count);
            var chunk = new MemoryStream();
            var chunkWriter = new BinaryWriter(chunk, Encoding.UTF8);
            var utf8 = new byte[256];
            foreach (var ((tenant, type, index), tree, gate) in trees)
            {
                writer.Flush();
                long offset = stream.Position;

                // Written as if every key were its id (the id index: each text once) until an entry
                // says otherwise; then this tree starts again with ids.
                bool keysAreIds = true;
                int count = 0;
                OrderedPosition? after = null;
                bool done = false;
                while (!done)
                {
                    chunk.SetLength(0);
                    int inChunk = 0;
                    bool restart = false;
                    lock (gate)
                    {
                        var texts = after is { } position ? tree.TextsAfter(position) : tree.Texts();
                        done = true;
                        while (texts.MoveNext())
                        {
                            if (keysAreIds && !texts.IdIsKey)
                            {
                                restart = true;
                                break;
                            }

                            WriteUtf8(chunkWriter, texts.Key(out bool keyWide), keyWide, ref utf8);
                            if (!keysAreIds)
                            {
                                WriteUtf8(chunkWriter, texts.Id(out bool idWide), idWide, ref utf8);
                            }

                            if (++inChunk == EntriesPerLock)
                            {
                                after = texts.Position;
                                done = false;
                                break;
                            }
                        }
                    }

                    if (restart)
                    {
                        writer.Flush();
                        stream.SetLength(offset);
                        stream.Position = offset;
                        keysAreIds = false;
                        count = 0;
                        after = null;
                        done = false;
                        continue;
                    }

                    chunkWriter.Flush();
                    writer.Write(chunk.GetBuffer(), 0, (int)chunk.Length);
                    count += inChunk;
                }

                writer.Flush();
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

    // A string as BinaryWriter writes one (7-bit length, UTF-8), from a tree's text: ASCII is
    // already UTF-8; UTF-16 is encoded (lone surrogates become U+FFFD, as BinaryWriter did).
    private static void WriteUtf8(BinaryWriter writer, ReadOnlySpan<byte> text, bool wide, ref byte[] utf8)
    {
        if (!wide)
        {
            writer.Write7BitEncodedInt(text.Length);
            writer.Write(text);
            return;
        }

        var chars = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, char>(text);
        int most = Encoding.UTF8.GetMaxByteCount(chars.Length);
        if (utf8.Length < most)
        {
            utf8 = new byte[most];
        }

        int length = Encoding.UTF8.GetBytes(chars, utf8);
        writer.Write7BitEncodedInt(length);
        writer.Write(utf8, 0, length);
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

        var trees = new ConcurrentDictionary<(uint, byte, byte), CountedTree>();
        bool damaged = false;
        Parallel.ForEach(entries, entry =>
        {
            if (LoadTree(handle, entry) is { } tree)
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

    // One tree's entries, checked to be in strictly increasing order; null when damaged. The bytes go
    // into the tree's leaves as they are (ASCII) or decoded, without a string per entry.
    private static CountedTree? LoadTree(SafeFileHandle handle, Entry entry)
    {
        var builder = new CountedTree.Builder();
        var reader = new SlotReader(handle, entry.Offset, entry.Length);
        var key = new byte[256];
        for (int i = 0; i < entry.Count; i++)
        {
            // The key is copied out: reading the id may move the reader's buffer under it.
            var read = reader.ReadString();
            if (key.Length < read.Length)
            {
                key = new byte[Math.Max(read.Length, key.Length * 2)];
            }

            read.CopyTo(key);
            var keyText = key.AsSpan(0, read.Length);
            if (!builder.AddUtf8(keyText, entry.KeysAreIds ? keyText : reader.ReadString(), entry.KeysAreIds))
            {
                return null;
            }
        }

        return reader.AtEnd ? builder.Build() : null;
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

    // Version 1: one pass; every entry tenant, type, index, key, id.
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
        for (int i = 0; i < count; i++)
        {
            var slotKey = (reader.ReadUInt32(), reader.ReadByte(), reader.ReadByte());
            string key = reader.ReadString();
            string id = reader.ReadString();

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
