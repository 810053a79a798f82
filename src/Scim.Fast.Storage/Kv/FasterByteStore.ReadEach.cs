using FASTER.core;

namespace Scim.Fast.Storage.Kv;

/// <summary>
/// Reads of many keys at once on one session, the disk reads among them overlapped
/// (<see cref="ReadEach"/>): what a scan's block of candidates asks for.
/// </summary>
public sealed partial class FasterByteStore
{
    /// <summary>Writes key <paramref name="index"/> of a <see cref="ReadEach"/> into <paramref name="destination"/>; returns its length.</summary>
    public delegate int KeyWriter(int index, Span<byte> destination);

    /// <summary>Receives the value of key <paramref name="index"/> of a <see cref="ReadEach"/> (valid during the call only).</summary>
    public delegate void ValueReader(int index, ReadOnlySpan<byte> value);

    /// <summary>The most keys one <see cref="ReadEach"/> takes.</summary>
    public const int MaxReadEach = 256;

    // Room per key of a ReadEach for values read from disk (a value that does not fit gets a pooled
    // buffer from FASTER instead), pinned for the thread's life.
    private const int ReadEachRoom = 2048;

    [ThreadStatic]
    private static byte[]? t_readEachRooms;

    /// <summary>
    /// Reads up to <see cref="MaxReadEach"/> keys on one session. A value in memory (the log or the
    /// read cache) is handed to <paramref name="onValue"/> at once, in key order; keys whose records
    /// are on disk are all requested before any is waited for, so their reads overlap, and their
    /// values follow as the reads complete (in any order). Absent keys are skipped. A scan of a
    /// store whose records left memory (after a restart, or a read cache smaller than the data)
    /// waited for one disk read at a time.
    /// </summary>
    public unsafe void ReadEach(int count, KeyWriter writeKey, ValueReader onValue)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(count, MaxReadEach);
        var rooms = t_readEachRooms ??= GC.AllocateUninitializedArray<byte>(MaxReadEach * ReadEachRoom, pinned: true);
        Span<byte> key = stackalloc byte[ResourceKeyRoom];
        Dictionary<string, int>? pending = null;
        List<int>? again = null;
        var lease = _sessions.Rent();
        try
        {
            var session = lease.Session;
            fixed (byte* roomsPointer = rooms)
            fixed (byte* keyPointer = key)
            {
                for (int i = 0; i < count; i++)
                {
                    lease.CountRead();
                    int keyLength = writeKey(i, key);
                    var spanKey = new SpanByte(keyLength, (IntPtr)keyPointer);

                    // Each key its own room: a pending read writes into it when it completes.
                    var output = new SpanByteAndMemory(roomsPointer + (i * ReadEachRoom), ReadEachRoom);
                    var status = session.Read(ref spanKey, ref output);
                    if (status.IsPending)
                    {
                        Interlocked.Increment(ref _pendingReads);
                        Interlocked.Increment(ref _blockingReads);
                        if (!(pending ??= new Dictionary<string, int>(StringComparer.Ordinal)).TryAdd(Convert.ToBase64String(key[..keyLength]), i))
                        {
                            // The same key twice: its completions could not be told apart, so this
                            // one is read again once the first has come in (then from memory).
                            (again ??= []).Add(i);
                        }

                        continue;
                    }

                    Hand(i, status, ref output, onValue);
                }
            }

            if (pending is null)
            {
                return;
            }

            session.CompletePendingWithOutputs(out var completed, wait: true);
            using (completed)
            {
                while (completed.Next())
                {
                    ref var current = ref completed.Current;
                    var output = current.Output;
                    string pendingKey = Convert.ToBase64String(current.Key.AsReadOnlySpan());
                    if (pending.Remove(pendingKey, out int index))
                    {
                        Hand(index, current.Status, ref output, onValue);
                    }
                    else
                    {
                        output.Memory?.Dispose();
                    }
                }
            }
        }
        finally
        {
            _sessions.Return(lease);
        }

        foreach (int index in again ?? [])
        {
            int keyLength = writeKey(index, key);
            if (TryReadOutput(key[..keyLength], out var output))
            {
                HandFound(index, ref output, onValue);
            }
        }
    }

    // The longest key ReadEach writes (a resource key: 6 bytes and an id of at most 1,024 UTF-8 bytes).
    private const int ResourceKeyRoom = 6 + 1024;

    private static void Hand(int index, Status status, ref SpanByteAndMemory output, ValueReader onValue)
    {
        if (!status.Found)
        {
            output.Memory?.Dispose();
            return;
        }

        HandFound(index, ref output, onValue);
    }

    private static void HandFound(int index, ref SpanByteAndMemory output, ValueReader onValue)
    {
        if (output.IsSpanByte)
        {
            onValue(index, output.SpanByte.AsReadOnlySpan());
            return;
        }

        using var memory = output.Memory;
        onValue(index, memory.Memory.Span[..output.Length]);
    }
}
