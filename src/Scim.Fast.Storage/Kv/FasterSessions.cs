using System.Collections.Concurrent;
using System.Runtime.InteropServices;

using FASTER.core;

namespace Scim.Fast.Storage.Kv;

/// <summary>
/// FASTER client sessions for many threads. A FASTER session is single-threaded; a request thread
/// takes one for one operation. Slots are picked by the processor the thread runs on, so two
/// threads reading at once (a scan on both cores) use two slots and touch no shared lock: a
/// <see cref="ConcurrentBag{T}"/> here took a Monitor on nearly every take and return (its
/// per-thread lists hold one or two sessions, and a take from another thread's list locks), and a
/// thread-time profile of a two-thread scan showed most samples under it. When every slot is busy
/// (more threads than slots at one instant) a spare session comes from a bag. A read that goes to
/// disk on an awaited path keeps its session until the I/O completes, so a burst of cold reads
/// makes as many spares as it has reads in flight; past <see cref="MaxIdleSpares"/> idle ones, a
/// returned spare is disposed rather than kept, so the burst's sessions do not stay for the
/// process's life (they did: every one kept, and walked by every checkpoint's refresh).
/// </summary>
internal sealed class FasterSessions : IDisposable
{
    /// <summary>Spare sessions kept idle for the next burst; more are disposed as they come back.</summary>
    internal const int MaxIdleSpares = 64;

    private readonly Func<ClientSession<SpanByte, SpanByte, SpanByte, SpanByteAndMemory, Empty, SpanByteFunctions<Empty>>> _create;
    private readonly Slot[] _slots;
    private readonly ConcurrentBag<Slot> _spares = [];
    private readonly ConcurrentDictionary<Slot, byte> _allSpares = new();

    // Reads of disposed spares, so the total never goes back; changed with the set of spares under
    // the lock, which Reads also takes (both cold: a scrape, a retiring burst).
    private readonly Lock _retiring = new();
    private long _retiredReads;
    private int _idleSpares;

    public FasterSessions(Func<ClientSession<SpanByte, SpanByte, SpanByte, SpanByteAndMemory, Empty, SpanByteFunctions<Empty>>> create)
    {
        _create = create;
        _slots = new Slot[Math.Max(4, Environment.ProcessorCount * 2)];
        for (int i = 0; i < _slots.Length; i++)
        {
            _slots[i] = new Slot(create(), isSpare: false);
        }
    }

    /// <summary>A session with its slot; give it back with <see cref="Return"/>.</summary>
    public sealed class Slot(ClientSession<SpanByte, SpanByte, SpanByte, SpanByteAndMemory, Empty, SpanByteFunctions<Empty>> session, bool isSpare)
    {
        public ClientSession<SpanByte, SpanByte, SpanByte, SpanByteAndMemory, Empty, SpanByteFunctions<Empty>> Session { get; } = session;

        public bool IsSpare { get; } = isSpare;

        // 1 while a thread uses the session or a checkpoint refreshes it; padded to a cache line so
        // that two threads taking neighbouring slots do not share one.
        private Flag _busy;

        public bool TryTake() => Interlocked.CompareExchange(ref _busy.Value, 1, 0) == 0;

        public void Take() => Volatile.Write(ref _busy.Value, 1);

        public void Release() => Volatile.Write(ref _busy.Value, 0);

        /// <summary>Counts a read (by the thread holding the slot: no other writer, no atomic needed).</summary>
        public void CountRead() => _busy.Reads++;

        public long Reads => Volatile.Read(ref _busy.Reads);
    }

    [StructLayout(LayoutKind.Explicit, Size = 64)]
    private struct Flag
    {
        [FieldOffset(0)]
        public int Value;

        // Beside the flag, in the slot's own cache line.
        [FieldOffset(8)]
        public long Reads;
    }

    /// <summary>Reads counted by every session so far.</summary>
    public long Reads
    {
        get
        {
            long reads = 0;
            foreach (var slot in _slots)
            {
                reads += slot.Reads;
            }

            lock (_retiring)
            {
                foreach (var (spare, _) in _allSpares)
                {
                    reads += spare.Reads;
                }

                return reads + _retiredReads;
            }
        }
    }

    /// <summary>Sessions open now: the slots and the spares kept.</summary>
    public int Count => _slots.Length + _allSpares.Count;

    public Slot Rent()
    {
        int start = Thread.GetCurrentProcessorId();
        for (int i = 0; i < _slots.Length; i++)
        {
            var slot = _slots[(int)((uint)(start + i) % (uint)_slots.Length)];
            if (slot.TryTake())
            {
                return slot;
            }
        }

        if (_spares.TryTake(out var spare))
        {
            Interlocked.Decrement(ref _idleSpares);
            // A checkpoint may be refreshing it this instant: wait for that, never share it.
            var wait = default(SpinWait);
            while (!spare.TryTake())
            {
                wait.SpinOnce();
            }

            return spare;
        }

        spare = new Slot(_create(), isSpare: true);
        spare.Take();
        _allSpares.TryAdd(spare, 0);
        return spare;
    }

    public void Return(Slot slot)
    {
        if (!slot.IsSpare)
        {
            slot.Release();
            return;
        }

        if (Interlocked.Increment(ref _idleSpares) > MaxIdleSpares)
        {
            // Enough kept already: this one stays taken (a checkpoint's refresh skips it) and goes.
            Interlocked.Decrement(ref _idleSpares);
            lock (_retiring)
            {
                _retiredReads += slot.Reads;
                _allSpares.TryRemove(slot, out _);
            }

            slot.Session.Dispose();
            return;
        }

        slot.Release();
        _spares.Add(slot);
    }

    /// <summary>Refreshes every session no thread is using (a checkpoint waits for each to see its phases).</summary>
    public void RefreshIdle()
    {
        // Called every millisecond while a checkpoint runs: the spares are walked in place (Keys
        // would copy them under every lock of the dictionary each time).
        foreach (var slot in _slots)
        {
            RefreshIfIdle(slot);
        }

        foreach (var (spare, _) in _allSpares)
        {
            RefreshIfIdle(spare);
        }
    }

    private static void RefreshIfIdle(Slot slot)
    {
        if (slot.TryTake())
        {
            try
            {
                slot.Session.Refresh();
            }
            finally
            {
                slot.Release();
            }
        }
    }

    public void Dispose()
    {
        foreach (var slot in _slots.Concat(_allSpares.Keys))
        {
            slot.Session.Dispose();
        }
    }
}
