using System.Buffers;

namespace Scim.Fast.Storage.Resources;

/// <summary>
/// Memory for one batch's encoded log records: slices of pooled 1 MiB chunks, all returned once the
/// batch is applied (the log and the key-value store copy what they keep). An array per record was
/// a tenth of what an initial sync allocated, and ArrayPool on its own keeps far fewer arrays of a
/// size than a batch holds at once.
/// </summary>
internal sealed class BatchArena : IDisposable
{
    private const int ChunkBytes = 1 << 20;

    private readonly List<byte[]> _rented = [];
    private byte[]? _chunk;
    private int _used;

    /// <summary><paramref name="length"/> bytes, valid until <see cref="Dispose"/>.</summary>
    public Memory<byte> Take(int length)
    {
        if (length > ChunkBytes / 4)
        {
            // A large record gets an array of its own instead of wasting most of a chunk.
            var own = ArrayPool<byte>.Shared.Rent(length);
            _rented.Add(own);
            return own.AsMemory(0, length);
        }

        if (_chunk is null || ChunkBytes - _used < length)
        {
            _chunk = ArrayPool<byte>.Shared.Rent(ChunkBytes);
            _rented.Add(_chunk);
            _used = 0;
        }

        var slice = _chunk.AsMemory(_used, length);
        _used += length;
        return slice;
    }

    public void Dispose()
    {
        foreach (var array in _rented)
        {
            ArrayPool<byte>.Shared.Return(array);
        }

        _rented.Clear();
        _chunk = null;
    }
}
