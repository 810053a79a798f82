using System.Buffers;
using System.Text;

using Scim.Fast.Storage.Kv;

namespace Scim.Fast.Storage.Tests;

/// <summary>The FASTER key-value waist on disk: CRUD, larger than memory, checkpoint and reopen.</summary>
public sealed class FasterByteStoreTests
{
    private static readonly FasterByteStoreOptions s_tiny = new() { MemoryBytes = 1L << 20, PageBytes = 1L << 16, IndexBytes = 1L << 20 };

    private static byte[] Key(int i) => Encoding.UTF8.GetBytes("t1/User/" + i);

    private static byte[] Value(int i, int size) => Encoding.UTF8.GetBytes(i + ":" + new string((char)('a' + (i % 26)), size));

    [Fact]
    public void UpsertReadDelete_RoundTrip()
    {
        using var directory = new TempDirectory();
        using var store = new FasterByteStore(directory.Path, s_tiny);

        store.Upsert(Key(1), Value(1, 10));
        store.Upsert(Key(2), Value(2, 10));
        store.Upsert(Key(1), Value(1, 500)); // replace with a larger value

        Assert.True(store.TryRead(Key(1), out var one));
        Assert.Equal(Value(1, 500), one);
        store.Delete(Key(2));
        Assert.False(store.TryRead(Key(2), out _));
        Assert.False(store.TryRead(Key(3), out _));
    }

    // The in-memory log's pages are allocated ahead of the writes (LogPages: a write that
    // allocated one inside FASTER's epoch kept the other writers retrying). Once the background
    // allocation is done, eight pages' worth of upserts allocate less than one page.
    [Fact]
    public async Task Upserts_AcrossPages_DoNotAllocateThePages_OnceAllocatedAhead()
    {
        using var directory = new TempDirectory();
        using var store = new FasterByteStore(directory.Path, s_tiny);
        store.AllocatePagesInBackground(Task.CompletedTask);
        await store.PagesAllocated;
        byte[] value = new byte[1_000];
        byte[][] keys = [.. Enumerable.Range(0, (int)(8 * s_tiny.PageBytes / value.Length)).Select(Key)];
        store.Upsert(Key(-1), value); // first call: statics and the like

        long before = GC.GetAllocatedBytesForCurrentThread();
        foreach (byte[] key in keys)
        {
            store.Upsert(key, value);
        }

        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.True(allocated < s_tiny.PageBytes, $"{allocated:N0} bytes allocated by {keys.Length} upserts across 8 pages of {s_tiny.PageBytes:N0}");
        Assert.True(store.TryRead(keys[^1], out var last) && last.Length == value.Length);
    }

    // Pages are allocated while writes run: each one under every write stripe, so no write is
    // crossing into it meanwhile, and never one FASTER has allocated already (its records would be
    // gone). Records written before, in the pages FASTER allocated itself, and writers filling the
    // log past its memory beside the allocation: nothing is lost.
    [Fact]
    public async Task PagesAllocatedBesideWrites_LoseNoWrite()
    {
        using var directory = new TempDirectory();
        using var store = new FasterByteStore(directory.Path, s_tiny with { MemoryBytes = 1L << 22 });
        for (int i = 0; i < 1_000; i++)
        {
            store.Upsert(Key(-i - 1), Value(-i - 1, 300)); // about five pages, in memory
        }

        var start = new TaskCompletionSource();
        var writers = Enumerable.Range(0, 4).Select(w => Task.Run(async () =>
        {
            await start.Task;
            for (int i = 0; i < 2_000; i++)
            {
                store.Upsert(Key((w * 10_000) + i), Value((w * 10_000) + i, 300));
            }
        })).ToArray();

        store.AllocatePagesInBackground(start.Task);
        start.SetResult();
        await Task.WhenAll(writers);
        await store.PagesAllocated;

        foreach (int key in Enumerable.Range(-1_000, 1_000).Concat(Enumerable.Range(0, 4).SelectMany(w => Enumerable.Range(w * 10_000, 2_000))))
        {
            Assert.True(store.TryRead(Key(key), out var read), $"key {key} lost");
            Assert.Equal(Value(key, 300), read);
        }
    }

    [Fact]
    public void LargerThanMemory_ReadsColdRecordsFromDisk()
    {
        using var directory = new TempDirectory();
        using var store = new FasterByteStore(directory.Path, s_tiny);

        // About 8 MiB of records through a 1 MiB in-memory log: most end up on disk only.
        for (int i = 0; i < 20_000; i++)
        {
            store.Upsert(Key(i), Value(i, 400));
        }

        for (int i = 0; i < 20_000; i += 7)
        {
            Assert.True(store.TryRead(Key(i), out var value), $"record {i} missing");
            Assert.Equal(Value(i, 400), value);
        }
    }

    [Fact]
    public void ReadEach_HandsOverEveryValue_InMemoryAndOnDisk_OnceEach()
    {
        using var directory = new TempDirectory();
        using var store = new FasterByteStore(directory.Path, s_tiny with { ReadCacheBytes = 0 });

        // Most records end up on disk only; some values are larger than ReadEach's room per key
        // (2 KB), and every fifth key is never written.
        int Size(int i) => i % 13 == 0 ? 3000 : 100 + (i % 500);
        for (int i = 0; i < 20_000; i++)
        {
            if (i % 5 != 0)
            {
                store.Upsert(Key(i), Value(i, Size(i)));
            }
        }

        long pendingBefore = store.PendingReads;
        var random = new Random(7);
        var asked = Enumerable.Range(0, 20_000).OrderBy(_ => random.Next()).ToArray();
        var seen = new HashSet<int>();
        for (int start = 0; start < asked.Length; start += FasterByteStore.MaxReadEach)
        {
            int count = Math.Min(FasterByteStore.MaxReadEach, asked.Length - start);
            var batch = asked.AsSpan(start, count).ToArray();
            store.ReadEach(
                count,
                (i, destination) =>
                {
                    var key = Key(batch[i]);
                    key.CopyTo(destination);
                    return key.Length;
                },
                (i, value) =>
                {
                    int n = batch[i];
                    Assert.True(seen.Add(n), $"record {n} handed over twice");
                    Assert.True(value.SequenceEqual(Value(n, Size(n))), $"record {n} has another value");
                });
        }

        Assert.Equal(Enumerable.Range(0, 20_000).Where(i => i % 5 != 0).Order(), seen.Order());
        Assert.True(store.PendingReads - pendingBefore > 10_000, $"only {store.PendingReads - pendingBefore} reads went to disk: the test did not test the disk path");
    }

    [Fact]
    public void ReadEach_HandsOverAKeyAskedTwice_ToBothIndexes_FromDisk()
    {
        using var directory = new TempDirectory();
        using var store = new FasterByteStore(directory.Path, s_tiny with { ReadCacheBytes = 0 });
        for (int i = 0; i < 20_000; i++)
        {
            store.Upsert(Key(i), Value(i, 100 + (i % 500)));
        }

        // Early keys (on disk by now), each asked for twice in one batch, with an absent one.
        int[] batch = [1, 2, 1, 3, 2, 1, 40_000, 3];
        long pendingBefore = store.PendingReads;
        var handed = new List<int>();
        store.ReadEach(
            batch.Length,
            (i, destination) =>
            {
                var key = Key(batch[i]);
                key.CopyTo(destination);
                return key.Length;
            },
            (i, value) =>
            {
                Assert.True(value.SequenceEqual(Value(batch[i], 100 + (batch[i] % 500))), $"index {i} has another value");
                handed.Add(i);
            });

        Assert.Equal([0, 1, 2, 3, 4, 5, 7], handed.Order());
        Assert.True(store.PendingReads > pendingBefore, "no read went to disk: the test did not test the disk path");
    }

    [Fact]
    public async Task ReadAsync_AwaitsColdRecords_AndAnswersMissingKeys()
    {
        using var directory = new TempDirectory();
        using var store = ColdStore(directory);

        // Sixteen reads in flight at a time, most of them on disk: each is awaited, none blocks.
        long pendingBefore = store.PendingReads;
        int completedAtOnce = 0;
        for (int start = 0; start < 20_000; start += 16 * 7)
        {
            var reads = new List<(int Index, ArrayBufferWriter<byte> Buffer, ValueTask<bool> Read)>();
            for (int i = start; i < Math.Min(20_000, start + 16 * 7); i += 7)
            {
                var buffer = new ArrayBufferWriter<byte>();
                var read = store.TryReadAsync(Key(i), buffer);
                completedAtOnce += read.IsCompleted ? 1 : 0;
                reads.Add((i, buffer, read));
            }

            foreach (var (index, buffer, read) in reads)
            {
                Assert.True(await read, $"record {index} missing");
                Assert.Equal(Value(index, 400), buffer.WrittenSpan.ToArray());
            }
        }

        Assert.True(store.PendingReads - pendingBefore > 1_000, $"only {store.PendingReads - pendingBefore} reads went to disk: the test did not test the cold path");
        Assert.True(completedAtOnce > 0, "no read completed synchronously (the hot path)");
        Assert.False(await store.TryReadAsync(Key(99_999), new ArrayBufferWriter<byte>()));
        var three = new ArrayBufferWriter<byte>();
        Assert.True(await store.TryReadAsync(Key(3), three));
        Assert.Equal(Value(3, 400), three.WrittenSpan.ToArray());
    }

    private const int BurstUnderTheThrottle = 110;

    // A burst of cold reads holds a session per read in flight; afterwards only a bounded number
    // stay (every one of them used to, for the life of the process). The burst's answers are right,
    // the sessions kept still work, and the read count does not go back when sessions are retired.
    [Fact]
    public async Task ABurstOfColdReads_LeavesABoundedNumberOfSessions()
    {
        using var directory = new TempDirectory();
        using var store = ColdStore(directory);

        int before = store.SessionCount;
        long pendingBefore = store.PendingReads;

        // The burst is issued while the device holds its reads back, so every read that goes to
        // disk keeps its session until the hold ends, however fast this machine's disk answers (a
        // burst issued freely sometimes completed each read before the next was asked for). It
        // stays under the device's throttle (FASTER's 120 pending I/Os, past which issuing waits
        // for reads to finish); the hold ends by itself after 30 s should issuing wait anyway.
        var reads = new List<(int Index, ArrayBufferWriter<byte> Buffer, ValueTask<bool> Read)>();
        int duringBurst;
        long readsDuring;
        var hold = store.HoldReads();
        using (var safety = new Timer(_ => hold.Dispose(), null, TimeSpan.FromSeconds(30), Timeout.InfiniteTimeSpan))
        {
            for (int i = 0; i < BurstUnderTheThrottle; i++)
            {
                var buffer = new ArrayBufferWriter<byte>();
                int index = (i * 197) % 20_000;
                reads.Add((index, buffer, store.TryReadAsync(Key(index), buffer)));
            }

            duringBurst = store.SessionCount;
            readsDuring = store.Reads;
            hold.Dispose();
        }

        foreach (var (index, buffer, read) in reads)
        {
            Assert.True(await read, $"record {index} missing");
            Assert.Equal(Value(index, 400), buffer.WrittenSpan.ToArray());
        }

        Assert.True(store.PendingReads - pendingBefore > BurstUnderTheThrottle / 2, $"only {store.PendingReads - pendingBefore} reads went to disk: the burst did not hold sessions");
        Assert.True(duringBurst > before + FasterSessions.MaxIdleSpares, $"{duringBurst} sessions during the burst, {before} before: the burst did not need spares");
        Assert.True(store.SessionCount <= before + FasterSessions.MaxIdleSpares, $"{store.SessionCount} sessions kept after the burst ({before} before, {duringBurst} during it)");
        Assert.True(store.Reads >= readsDuring, "the read count went back when spare sessions were disposed");

        // The sessions kept (and new ones) still read, hot and cold.
        for (int i = 0; i < 20_000; i += 97)
        {
            var buffer = new ArrayBufferWriter<byte>();
            Assert.True(await store.TryReadAsync(Key(i), buffer));
            Assert.Equal(Value(i, 400), buffer.WrittenSpan.ToArray());
        }
    }

    // Spare sessions disposed while checkpoints run: FASTER waits for every session to pass each
    // checkpoint phase, and a session that goes away mid-checkpoint must not leave it waiting.
    [Fact]
    public async Task SparesRetiredDuringCheckpoints_LetTheCheckpointsFinish()
    {
        using var directory = new TempDirectory();
        using var store = ColdStore(directory);

        using var stop = new CancellationTokenSource();
        var bursts = Task.Run(async () =>
        {
            int rounds = 0;
            while (!stop.IsCancellationRequested || rounds < 3)
            {
                var reads = new List<(int Index, ArrayBufferWriter<byte> Buffer, ValueTask<bool> Read)>();
                for (int i = 0; i < 500; i++)
                {
                    int index = (rounds * 500 + i) * 13 % 20_000;
                    var buffer = new ArrayBufferWriter<byte>();
                    reads.Add((index, buffer, store.TryReadAsync(Key(index), buffer)));
                }

                foreach (var (index, buffer, read) in reads)
                {
                    Assert.True(await read, $"record {index} missing");
                    Assert.Equal(Value(index, 400), buffer.WrittenSpan.ToArray());
                }

                rounds++;
            }

            return rounds;
        });

        for (int checkpoint = 0; checkpoint < 5; checkpoint++)
        {
            store.Upsert(Key(checkpoint), Value(checkpoint, 400));
            var taken = store.CheckpointAsync();
            Assert.True(await Task.WhenAny(taken, Task.Delay(TimeSpan.FromSeconds(30))) == taken, $"checkpoint {checkpoint} did not finish in 30 s while spare sessions came and went");
            await taken;
        }

        stop.Cancel();
        Assert.True(await bursts >= 3);
        Assert.True(store.SessionCount <= 4 + FasterSessions.MaxIdleSpares, $"{store.SessionCount} sessions kept");
    }

    [Fact]
    public void ScanLog_ReadsFlushedPagesFromTheSegmentFiles_RecordForRecordAsFastersIterator()
    {
        // Values up to 9 KB in 64 KiB pages (records that do not fit end a page early), 256 KiB
        // segments (many files), rewrites (older copies) and deletes (tombstones), and keys of
        // another prefix between them.
        using var directory = new TempDirectory();
        using var store = new FasterByteStore(directory.Path, s_tiny with { ReadCacheBytes = 0, SegmentBytes = 1L << 18 });
        var random = new Random(7);
        for (int i = 0; i < 8_000; i++)
        {
            int n = random.Next(2_000);
            if (random.Next(10) == 0)
            {
                store.Delete(Key(n));
            }
            else if (random.Next(8) == 0)
            {
                store.Upsert(Encoding.UTF8.GetBytes("other/" + n), Value(n, random.Next(0, 300)));
            }
            else
            {
                store.Upsert(Key(n), Value(n, random.Next(0, 9_000)));
            }
        }

        var (begin, tail) = store.LogExtent;
        Assert.True(store.HeadAddress - begin > 8 * (1L << 18), $"only {store.HeadAddress - begin} bytes flushed below the head");

        var fromIterator = Records(reader => store.ScanWithIterator(begin, tail, "t1/"u8, reader));
        var fromFiles = Records(reader => store.ScanLog(begin, tail, "t1/"u8, reader));
        Assert.True(fromIterator.Count > 5_000, $"{fromIterator.Count} records");
        Assert.Equal(fromIterator, fromFiles);

        // Parts cut at page boundaries, read one after the other, are the whole.
        var inParts = new List<string>();
        foreach (var (from, to) in store.SplitLog(begin, tail, 5))
        {
            inParts.AddRange(Records(reader => store.ScanLog(from, to, "t1/"u8, reader)));
        }

        Assert.Equal(fromIterator, inParts);

        // Every live key's current value is among what the scan met.
        var met = new HashSet<string>(fromFiles);
        for (int n = 0; n < 2_000; n++)
        {
            if (store.TryRead(Key(n), out var value))
            {
                Assert.Contains(Convert.ToHexString(Key(n)) + "=" + Convert.ToHexString(value), met);
            }
        }

        static List<string> Records(Action<FasterByteStore.LogRecordReader> scan)
        {
            var records = new List<string>();
            scan((key, value) => records.Add(Convert.ToHexString(key) + "=" + Convert.ToHexString(value)));
            return records;
        }
    }

    // 20,000 records of 400 bytes in a store of 1 MiB and no read cache: most reads go to disk.
    private static FasterByteStore ColdStore(TempDirectory directory)
    {
        var store = new FasterByteStore(directory.Path, s_tiny with { ReadCacheBytes = 0 });
        for (int i = 0; i < 20_000; i++)
        {
            store.Upsert(Key(i), Value(i, 400));
        }

        return store;
    }

    // A reopen reads back only what recovery needs (the tail's page), not the in-memory part of the
    // log (that took half of a restart at 1,000,000 users): records that were in memory when the
    // store closed come from disk on their first read after it, and are right.
    [Fact]
    public async Task Reopen_DoesNotPreloadTheLog_RecordsThatWereInMemoryAreReadFromDisk()
    {
        using var directory = new TempDirectory();
        using (var store = new FasterByteStore(directory.Path, s_tiny with { ReadCacheBytes = 0 }))
        {
            // ~600 KB of records: all within the 1 MiB in memory when the store closes.
            for (int i = 0; i < 5_000; i++)
            {
                store.Upsert(Key(i), Value(i, 100));
            }

            await store.CheckpointAsync();
        }

        using var reopened = new FasterByteStore(directory.Path, s_tiny with { ReadCacheBytes = 0 });
        long pendingBefore = reopened.PendingReads;
        for (int i = 0; i < 5_000; i += 50)
        {
            Assert.True(reopened.TryRead(Key(i), out var value));
            Assert.Equal(Value(i, 100), value);
        }

        Assert.True(reopened.PendingReads - pendingBefore >= 50, $"{reopened.PendingReads - pendingBefore} of 100 reads went to disk: the log was preloaded");
    }

    [Fact]
    public async Task Checkpoint_ThenReopen_RecoversEverything()
    {
        using var directory = new TempDirectory();
        using (var store = new FasterByteStore(directory.Path, s_tiny))
        {
            for (int i = 0; i < 5_000; i++)
            {
                store.Upsert(Key(i), Value(i, 100));
            }

            store.Delete(Key(42));
            await store.CheckpointAsync();
        }

        using var reopened = new FasterByteStore(directory.Path, s_tiny);
        for (int i = 0; i < 5_000; i++)
        {
            bool found = reopened.TryRead(Key(i), out var value);
            Assert.Equal(i != 42, found);
            if (found)
            {
                Assert.Equal(Value(i, 100), value);
            }
        }
    }

    [Fact]
    public async Task AnIndexCheckpointWithoutItsLogCheckpoint_RecoversThePairBefore()
    {
        // The index is checkpointed apart from the log, just before it; a crash between the two
        // leaves an index checkpoint newer than the newest log checkpoint. Recovery must take the
        // pair before (and later checkpoints must still work).
        using var directory = new TempDirectory();
        using (var store = new FasterByteStore(directory.Path, s_tiny))
        {
            for (int i = 0; i < 2_000; i++)
            {
                store.Upsert(Key(i), Value(i, 100));
            }

            await store.CheckpointAsync();
            for (int i = 2_000; i < 4_000; i++)
            {
                store.Upsert(Key(i), Value(i, 100));
            }

            await store.CheckpointIndexAsync();
            store.Upsert(Key(0), Value(0, 7));
        }

        using (var reopened = new FasterByteStore(directory.Path, s_tiny))
        {
            for (int i = 0; i < 4_000; i++)
            {
                // What the log checkpoint held, nothing after it (the store's own log replays that).
                Assert.True(reopened.TryRead(Key(i), out var value) == i < 2_000, $"key {i}");
                if (i < 2_000)
                {
                    Assert.Equal(Value(i, 100), value);
                }
            }

            reopened.Upsert(Key(5_000), Value(5_000, 10));
            await reopened.CheckpointAsync();
        }

        using var again = new FasterByteStore(directory.Path, s_tiny);
        Assert.True(again.TryRead(Key(5_000), out _));
        Assert.True(again.TryRead(Key(1_999), out _));
    }

    [Fact]
    public async Task ConcurrentWriters_UsePooledSessions()
    {
        using var directory = new TempDirectory();
        using var store = new FasterByteStore(directory.Path, s_tiny);

        await Parallel.ForAsync(0, 8, async (writer, ct) =>
        {
            await Task.Yield();
            for (int i = writer; i < 8_000; i += 8)
            {
                store.Upsert(Key(i), Value(i, 50));
            }
        });

        for (int i = 0; i < 8_000; i++)
        {
            Assert.True(store.TryRead(Key(i), out var value));
            Assert.Equal(Value(i, 50), value);
        }
    }

    [Fact]
    public async Task ConcurrentWritesOfOneKey_LeaveEveryOtherKeyScannable()
    {
        // Four writers each put their own keys and, between them, the same shared key (as the
        // store's markers and the feed's heads are written). Before writes of one key were
        // serialized, FASTER left records its scan could not size: ScanAll then missed live keys,
        // or crashed the process reading garbage (the pages here spill to disk, as in production).
        using var directory = new TempDirectory();
        using var store = new FasterByteStore(directory.Path, s_tiny with { ReadCacheBytes = 0 });
        const int Writers = 4, Each = 10_000;
        var writers = new Task[Writers];
        for (int w = 0; w < Writers; w++)
        {
            int writer = w;
            writers[w] = Task.Run(() =>
            {
                var random = new Random(writer);
                for (int i = 0; i < Each; i++)
                {
                    store.Upsert(Encoding.UTF8.GetBytes($"own/{writer}/{i}"), new byte[random.Next(1, 100)]);
                    store.Upsert("shared"u8, new byte[random.Next(1, 100)]);
                }
            });
        }

        await Task.WhenAll(writers);
        var scanned = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (key, _) in store.ScanAll())
        {
            scanned.Add(Encoding.UTF8.GetString(key));
        }

        int missing = 0;
        for (int w = 0; w < Writers; w++)
        {
            for (int i = 0; i < Each; i++)
            {
                missing += scanned.Contains($"own/{w}/{i}") ? 0 : 1;
            }
        }

        Assert.Equal(0, missing);
        Assert.Contains("shared", scanned);
    }
}
